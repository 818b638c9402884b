// Lighthouse's default (mobile) run, in Debian's Chromium, on the pages a
// new admin meets first: sign-in signed out, then the applications list
// and the register form signed in. Prints two Markdown tables: the scores,
// and where the time goes (the WebAssembly transferred, its compile and
// run, and the same page measured under applied throttling rather than
// simulated).
//
//   node audit.mjs <base URL> <session cookie>

import lighthouse from "lighthouse";
import * as chromeLauncher from "chrome-launcher";

const [base, cookie] = process.argv.slice(2);
const pages = [
  ["/login", {}],
  ["/applications", { Cookie: cookie }],
  ["/applications/new", { Cookie: cookie }],
];

const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  chromeFlags: ["--headless=new", "--no-sandbox", "--disable-gpu"],
});
const rows = [];
const times = [];
let version = "";
try {
  for (const [path, extraHeaders] of pages) {
    const { lhr } = await lighthouse(`${base}${path}`, {
      port: chrome.port,
      logLevel: "error",
      extraHeaders,
      onlyCategories: ["performance", "accessibility", "best-practices"],
    });
    if (new URL(lhr.finalDisplayedUrl).pathname !== path) {
      throw new Error(`${path} ended at ${lhr.finalDisplayedUrl}`);
    }
    version = lhr.lighthouseVersion;
    const score = (id) => Math.round(lhr.categories[id].score * 100);
    const ms = (id) => Math.round(lhr.audits[id].numericValue);
    const boot = lhr.audits["bootup-time"].details?.items ?? [];
    const sum = (key) => Math.round(boot.reduce((n, item) => n + (item[key] ?? 0), 0));
    const wasm = lhr.audits["network-requests"].details.items.filter((r) => r.url.endsWith(".wasm"));
    const wasmKiB = Math.round(wasm.reduce((n, r) => n + r.transferSize, 0) / 1024);
    const largest = lhr.audits["lcp-breakdown-insight"]?.details?.items?.[1]?.nodeLabel ?? "?";
    const applied = await lighthouse(`${base}${path}`, {
      port: chrome.port,
      logLevel: "error",
      extraHeaders,
      onlyCategories: ["performance"],
      throttlingMethod: "devtools",
    });
    const appliedMs = (id) => Math.round(applied.lhr.audits[id].numericValue);
    times.push(
      `| ${path} | ${largest} | ${wasmKiB} | ${sum("scriptParseCompile")} | ${sum("scripting")} ` +
        `| ${appliedMs("first-contentful-paint")} | ${appliedMs("largest-contentful-paint")} | ${appliedMs("interactive")} |`,
    );
    rows.push(
      `| ${path} | ${score("performance")} | ${score("accessibility")} | ${score("best-practices")} ` +
        `| ${ms("first-contentful-paint")} | ${ms("largest-contentful-paint")} | ${ms("interactive")} ` +
        `| ${ms("total-blocking-time")} | ${Math.round(lhr.audits["total-byte-weight"].numericValue / 1024)} |`,
    );
  }
} finally {
  await chrome.kill();
}
console.log(
  `Lighthouse ${version}, mobile preset (simulated slow 4G, CPU 4x slower)\n\n` +
    "| page | performance | accessibility | best practices | FCP ms | LCP ms | interactive ms | blocking ms | KiB |\n" +
    "|---|---|---|---|---|---|---|---|---|\n" +
    rows.join("\n") +
    "\n\nWhere the time goes: the WebAssembly transferred, its compile and run on the main thread (ms, at 4x " +
    "slowdown), and the same page under applied throttling (Chromium slowed to slow 4G and 4x CPU, measured)\n\n" +
    "| page | largest paint | WebAssembly KiB | compile ms | script ms | applied FCP ms | applied LCP ms | applied interactive ms |\n" +
    "|---|---|---|---|---|---|---|---|\n" +
    times.join("\n"),
);
