import { test, expect, type Page, type TestInfo } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { hydrated, open, signIn } from "./helpers";

// Every page, signed out and signed in as a super admin with two domains,
// checked by axe-core: no violation of any impact, in both modes.

test.describe.configure({ mode: "serial" });

async function checked(page: Page, testInfo: TestInfo, url: string) {
  await open(page, url, testInfo);
  if (hydrated(testInfo)) await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  await expect(page.locator("h1").first()).toBeVisible();
  const { violations } = await new AxeBuilder({ page }).analyze();
  const found = violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.map((n) => n.target.join(" ")).join("\n  ")}`,
  );
  expect(found, `${url}\n${found.join("\n")}`).toEqual([]);
}

test("pages a visitor sees before signing in", async ({ page }, testInfo) => {
  for (const url of ["/login", "/login?next=%2Fapplications", "/setup", "/welcome?token=not-a-link", "/no-such-page"]) {
    await checked(page, testInfo, url);
  }
});

test("every page of the portal", async ({ page }, testInfo) => {
  await signIn(page, testInfo);
  // An application of the second domain, found the way an admin would.
  await open(page, "/domains?q=branch+vpn", testInfo);
  const link = page.getByRole("region", { name: "Applications found" }).getByRole("link", { name: "Branch VPN" });
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
    "/connected",
    "/audit",
    "/users",
    `/users?domain=${branch}`,
    "/domains",
    "/domains?q=vpn",
    "/domains?q=nothing+at+all",
    "/tools/token",
    "/oauth2/authorize?client_id=nobody&response_type=code",
  ]) {
    await checked(page, testInfo, url);
  }
});
