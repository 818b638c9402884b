import { test, expect, type Page, type TestInfo } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { hydrated, open, signIn } from "./helpers";

// Every page, signed out and signed in as a super admin with two domains,
// checked by axe-core: no violation of any impact, in both modes.

test.describe.configure({ mode: "serial" });

/**
 * axe-core runs in the page, so it needs JavaScript: without it, the page
 * the no-JavaScript visitor gets (same cookies, same server markup) is
 * loaded in a second tab with JavaScript on but Keyport's scripts and
 * WebAssembly refused, so that it stays exactly as the server drew it.
 */
async function asServed(page: Page, testInfo: TestInfo, url: string): Promise<Page> {
  if (hydrated(testInfo)) return page;
  const context = await page.context().browser()!.newContext({
    baseURL: testInfo.project.use.baseURL,
    javaScriptEnabled: true,
    storageState: await page.context().storageState(),
  });
  const served = await context.newPage();
  await served.route(/\/pkg\/.*\.(js|wasm)$/, (route) => route.abort());
  await served.goto(url);
  return served;
}

async function checked(page: Page, testInfo: TestInfo, url: string, { app = true } = {}) {
  if (app) {
    await open(page, url, testInfo);
  } else {
    // A path the server has no route for: a plain page, no app to wait for.
    await page.goto(url);
  }
  await expect(page.locator("h1").first()).toBeVisible();
  // Every page names itself; a lazy page sets its title once its code runs.
  await expect(page).toHaveTitle(/Keyport$/);
  const target = await asServed(page, testInfo, url);
  const { violations } = await new AxeBuilder({ page: target }).analyze();
  if (target !== page) await target.context().close();
  const found = violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.map((n) => n.target.join(" ")).join("\n  ")}`,
  );
  expect.soft(found, `${url}\n${found.join("\n")}`).toEqual([]);
}

test("pages a visitor sees before signing in", async ({ page }, testInfo) => {
  for (const url of ["/login", "/login?next=%2Fapplications", "/login/verify", "/setup", "/welcome?token=not-a-link"]) {
    await checked(page, testInfo, url);
  }
  await checked(page, testInfo, "/no-such-page", { app: false });
});

test("every page of the portal", async ({ page }, testInfo) => {
  // Twenty-one pages, each loaded and analysed.
  test.setTimeout(240_000);
  await signIn(page, testInfo);
  // An application of the second domain, found the way an admin would (the
  // first of them: a retry of domains.spec registers one of its own).
  await open(page, "/domains?q=branch+gateway", testInfo);
  const link = page.getByRole("region", { name: "Applications found" }).getByRole("link", { name: /^Branch gateway/ }).first();
  const app = (await link.getAttribute("href"))!;
  const branch = (await page.getByRole("row", { name: /Branch office/ }).last().locator("code").first().textContent())!.trim();
  for (const url of [
    "/applications",
    `/applications?domain=${branch}`,
    "/applications?unused=1",
    `/applications/new?domain=${branch}`,
    app,
    `/applications/remove?ids=${app.split("/").pop()}`,
    "/applications/removed",
    "/permissions",
    "/apis",
    "/registration",
    "/connected",
    "/audit",
    "/users",
    `/users?domain=${branch}`,
    "/domains",
    "/domains?q=gateway",
    "/domains?q=nothing+at+all",
    "/tools/token",
    "/account",
    "/confirm?next=%2Fusers",
    "/oauth2/authorize?client_id=nobody&response_type=code",
  ]) {
    await checked(page, testInfo, url);
  }
});
