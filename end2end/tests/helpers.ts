import { expect, type CDPSession, type ConsoleMessage, type Page, type Request, type TestInfo } from "@playwright/test";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";

export const ADMIN = { email: "admin@keyport.test", password: "correct horse battery staple" };

function run(testInfo: TestInfo): { setupUrl: string; dir: string } {
  const mode = testInfo.project.name.replace(/-(setup|more|domains|accessibility)$/, "");
  return JSON.parse(readFileSync(path.join(__dirname, "..", ".run", `${mode}.json`), "utf8"));
}

export function setupUrl(testInfo: TestInfo): string {
  return run(testInfo).setupUrl;
}

/** Runs a `keyport` command against the mode's database, as an operator would. */
function keyport(testInfo: TestInfo, args: string[], input?: string): string {
  const { dir } = run(testInfo);
  const result = spawnSync(path.join(__dirname, "..", "..", "target/release/keyport"), args, {
    input,
    env: { ...process.env, KEYPORT_DATABASE_URL: `sqlite://${dir}/keyport.db`, KEYPORT_MASTER_KEY_FILE: `${dir}/master.key` },
    encoding: "utf8",
  });
  if (result.status !== 0) throw new CommandFailed(`keyport ${args[0]} ${args[1]}`, result.stderr);
  return result.stdout;
}

/** A `keyport` command that exited with an error, with what it printed on stderr. */
class CommandFailed extends Error {
  constructor(command: string, readonly stderr: string) {
    super(`${command} failed: ${stderr}`);
  }
}

/** Creates a console user with `keyport admin create`. */
export function createUser(testInfo: TestInfo, email: string, role: string, password = ADMIN.password) {
  keyport(testInfo, ["admin", "create", "--email", email, "--role", role, "--password-stdin"], password + "\n");
}

/**
 * Creates a console user unless one with this email exists already, as it
 * does when a retry reruns a serial file against the same database. Only
 * that refusal (`keyport: email: A user with this email already exists`)
 * is passed over; for a user whose state a rerun must not inherit, name a
 * new one with `uniqueEmail` instead.
 */
export function ensureUser(testInfo: TestInfo, email: string, role: string, password = ADMIN.password) {
  try {
    createUser(testInfo, email, role, password);
  } catch (e) {
    if (!(e instanceof CommandFailed && /^keyport: email: A user with this email already exists$/m.test(e.stderr))) throw e;
  }
}

/**
 * "" on a test's first run; "r1", "r2"… when it runs again against the same
 * server and database: a retry (Playwright reruns a serial file whole, the
 * tests that passed with it) or a --repeat-each repetition. For the names a
 * rerun must not reuse: the server refuses a second application, API,
 * permission or user of the same name, and a locator must not find what the
 * first try left behind.
 */
export function rerun(testInfo: TestInfo): string {
  const n = testInfo.repeatEachIndex * (testInfo.project.retries + 1) + testInfo.retry;
  return n === 0 ? "" : `r${n}`;
}

/** `name` as this run uses it: unchanged the first time, "<name> r1" on a rerun. */
export function uniqueName(testInfo: TestInfo, name: string): string {
  const tag = rerun(testInfo);
  return tag ? `${name} ${tag}` : name;
}

/** `email` as this run uses it: unchanged the first time, "<local>-r1@<domain>" on a rerun. */
export function uniqueEmail(testInfo: TestInfo, email: string): string {
  const tag = rerun(testInfo);
  return tag ? email.replace("@", `-${tag}@`) : email;
}

/** `text` as a regular expression that matches it literally. */
export function literally(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Registers a client application with `keyport client create`. */
export function createClient(
  testInfo: TestInfo,
  owner: string,
  name: string,
  permissions: string[],
  callbackUrl = "",
): { client_id: string; client_secret: string } {
  const args = ["client", "create", "--email", owner, "--name", name, "--permissions", permissions.join(",")];
  if (callbackUrl) args.push("--callback-url", callbackUrl, "--website-url", "https://gateway.example.com");
  return JSON.parse(keyport(testInfo, args));
}

export function hydrated(testInfo: TestInfo): boolean {
  return testInfo.project.use.javaScriptEnabled !== false;
}

/**
 * Opens a page and, in the hydrated mode, waits until the WASM has taken
 * over. A page that never comes alive fails with the document's status and
 * policy, and what the browser reported meanwhile: panics, console errors,
 * requests that failed.
 */
export async function open(page: Page, url: string, testInfo: TestInfo) {
  const reported: string[] = [];
  const onError = (e: Error) => reported.push(`page error: ${e.message}`);
  const onConsole = (m: ConsoleMessage) => {
    if (m.type() === "error") reported.push(`console: ${m.text()}`);
  };
  const onFailed = (r: Request) => reported.push(`request failed: ${r.url()} (${r.failure()?.errorText})`);
  page.on("pageerror", onError);
  page.on("console", onConsole);
  page.on("requestfailed", onFailed);
  let document = "no response";
  try {
    const response = await page.goto(url);
    if (response) {
      const csp = response.headers()["content-security-policy"] ?? "none";
      document = `${response.status()} ${response.url()}, Content-Security-Policy: ${csp}`;
    }
    if (hydrated(testInfo)) {
      await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
    }
  } catch (e) {
    throw new Error(
      `${(e as Error).message}\nThe document: ${document}\nThe browser reported:\n${reported.join("\n") || "nothing"}`,
    );
  } finally {
    page.off("pageerror", onError);
    page.off("console", onConsole);
    page.off("requestfailed", onFailed);
  }
}

/**
 * The address bar's path and query, now: for the step right after a form
 * whose page has shown, where waiting for the address would hide an address
 * that never follows the page.
 */
export function expectAddress(page: Page, pattern: RegExp) {
  const url = new URL(page.url());
  expect(url.pathname + url.search).toMatch(pattern);
}

/**
 * Visits `path` signed out and signs in on the sign-in page it sends to,
 * each field filled the moment it shows (not once the page has come alive).
 * Where that leads is for the test to say.
 */
export async function signInAt(page: Page, path: string, email = ADMIN.email, password = ADMIN.password) {
  await page.goto(path);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

export async function signIn(page: Page, testInfo: TestInfo, email = ADMIN.email, password = ADMIN.password) {
  await open(page, "/login", testInfo);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Applications", level: 1 })).toBeVisible();
  expectAddress(page, /^\/applications$/);
}

/**
 * How a slow machine or a slow network is played to Chromium (CDP), for the
 * tests that race the user (`make race` picks them by these names).
 */
export const slowdowns: [string, (cdp: CDPSession) => Promise<unknown>][] = [
  ["a throttled CPU", (cdp) => cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 })],
  // DevTools' "Fast 3G": 1.6 Mbit/s down, 750 kbit/s up, 150 ms.
  [
    "a slow network",
    (cdp) =>
      cdp.send("Network.emulateNetworkConditions", {
        offline: false,
        latency: 150,
        downloadThroughput: (1.6 * 1024 * 1024) / 8,
        uploadThroughput: (750 * 1024) / 8,
      }),
  ],
];
