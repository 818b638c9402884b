// Starts one release `keyport` per test mode, each on a fresh SQLite file,
// reads the one-time setup link from its output as an admin would, and
// stops them all when the run ends. Each server's output is kept in
// `.run/<mode>.log`.
//
// A third server, "factors", serves the second-factor tests under
// http://localhost:3103: browsers refuse passkeys (WebAuthn) at an IP
// address. It asks for step-up after 15 s instead of 5 minutes, so that a
// test can see it asked. Its run file is written under the name of each
// project that uses it (`factors-hydrated`, `factors-nojs`).
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(__dirname, "..");
const binary = path.join(root, "target/release/keyport");
export const runDir = path.join(__dirname, ".run");

async function waitFor(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become healthy within ${timeoutMs} ms`);
}

function start(
  name: string,
  port: number,
  options: { env?: Record<string, string>; runFiles?: string[] } = {},
): Promise<{ child: ChildProcess; dir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), `keyport-e2e-${name}-`));
  const child = spawn(binary, ["serve"], {
    cwd: dir,
    env: {
      ...process.env,
      KEYPORT_BIND: `127.0.0.1:${port}`,
      KEYPORT_DATABASE_URL: `sqlite://${dir}/keyport.db`,
      KEYPORT_MASTER_KEY_FILE: `${dir}/master.key`,
      // The shortest lifetime, so that a test can see a token expire.
      KEYPORT_TOKEN_TTL: "60",
      LEPTOS_SITE_ROOT: path.join(root, "target/site"),
      LEPTOS_OUTPUT_NAME: "keyport",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`${name}: no setup link in output:\n${output}`)), 20_000);
    const log = path.join(runDir, `${name}.log`);
    child.stdout!.on("data", (chunk) => {
      appendFileSync(log, chunk);
      output += chunk;
      const match = output.match(/create the first administrator at (\S+)/);
      if (match) {
        clearTimeout(timer);
        for (const file of options.runFiles ?? [name]) {
          writeFileSync(path.join(runDir, `${file}.json`), JSON.stringify({ setupUrl: match[1], dir }));
        }
        // The address it listens on, whatever host name its pages use.
        waitFor(`http://127.0.0.1:${port}/healthz`, 10_000).then(() => resolve({ child, dir }), reject);
      }
    });
    child.stderr!.on("data", (chunk) => {
      appendFileSync(log, chunk);
      output += chunk;
    });
    child.on("exit", (code) => reject(new Error(`${name}: keyport exited with ${code}:\n${output}`)));
  });
}

export default async function globalSetup() {
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const servers = await Promise.all([
    start("hydrated", 3101),
    start("nojs", 3102),
    start("factors", 3103, {
      env: { KEYPORT_PUBLIC_URL: "http://localhost:3103", KEYPORT_STEP_UP_TTL: "15" },
      runFiles: ["factors-hydrated", "factors-nojs"],
    }),
  ]);
  return async () => {
    for (const { child, dir } of servers) {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
