// Lighthouse's default (mobile) run, in Debian's Chromium, on the pages a
// new admin meets first: sign-in signed out, then the applications list
// and the register form signed in. Prints a Markdown table.
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
    rows.join("\n"),
);
