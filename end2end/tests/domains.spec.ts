import { test, expect, type Locator, type Page, type TestInfo } from "@playwright/test";
import { expectAddress, hydrated, literally, open, signIn, uniqueName } from "./helpers";

// A super admin runs a second domain: creates it, switches to it, registers
// an application there, fills it to its limit and finds the application
// from the domains page. Each step that follows a form checks the address
// bar as soon as the page shows, not eventually.

test.describe.configure({ mode: "serial" });

// A retry reruns every test of this file against the same server and
// database, where the first try's domain and application stay: each try
// creates its own (unchanged names on the first try, "Branch office r1" on
// a rerun), and finds them by their exact names.
const branch = (testInfo: TestInfo) => uniqueName(testInfo, "Branch office");
const gateway = (testInfo: TestInfo) => uniqueName(testInfo, "Branch gateway");

/** The row that names `name`. */
function rowOf(within: Page | Locator, name: string): Locator {
  return within.getByRole("row", { name: new RegExp(literally(name)) });
}

async function domainId(page: Page, testInfo: TestInfo, name: string): Promise<string> {
  await open(page, "/domains", testInfo);
  const row = rowOf(page, name);
  return (await row.locator("code").first().textContent())!.trim();
}

async function openSettings(page: Page, testInfo: TestInfo, name: string) {
  await open(page, "/domains", testInfo);
  await page.getByText(`Settings of ${name}`, { exact: false }).click();
}

test("create a second domain, switch to it and register an application there", async ({ page }, testInfo) => {
  const BRANCH = branch(testInfo);
  const GATEWAY = gateway(testInfo);
  await signIn(page, testInfo);
  await page.getByRole("link", { name: "Domains" }).click();
  await expect(page.getByRole("heading", { name: "Domains", level: 1 })).toBeVisible();
  expectAddress(page, /^\/domains$/);
  if (hydrated(testInfo)) await expect(page.locator("body[data-hydrated]")).toHaveCount(1);

  // A bad limit is refused next to its field, keeping what was typed.
  const form = page.getByRole("region", { name: "Create a domain" });
  await form.getByLabel("Name").fill(BRANCH);
  await form.getByLabel("Application limit").fill("1001");
  await form.getByRole("button", { name: "Create domain" }).click();
  await expect(form.locator("#app_limit-error")).toHaveText("Enter a whole number from 1 to 1000.");
  expectAddress(page, /^\/domains$/);
  await expect(form.getByLabel("Name")).toHaveValue(BRANCH);

  await form.getByLabel("Application limit").fill("2");
  await form.getByRole("button", { name: "Create domain" }).click();
  const row = rowOf(page, BRANCH);
  await expect(row).toContainText("0 / 2");
  expectAddress(page, /^\/domains$/);
  const id = (await row.locator("code").first().textContent())!.trim();
  expect(id).toMatch(/^[0-9a-f-]{36}$/);

  // Switch to it: the list and the header's Domain ID follow.
  await open(page, "/applications", testInfo);
  const ownDomain = (await page.getByTestId("domain-id").textContent())!.trim();
  expect(ownDomain).not.toBe(id);
  await page.getByLabel("Domain", { exact: true }).selectOption({ label: BRANCH });
  await page.getByRole("button", { name: "Switch" }).click();
  await expect(page.getByRole("heading", { name: "Applications", level: 1 })).toBeVisible();
  await expect(page.getByText(`0 / 2 applications in domain ${BRANCH}`)).toBeVisible();
  expectAddress(page, new RegExp(`^/applications\\?domain=${id}$`));
  await expect(page.getByTestId("domain-id")).toHaveText(id);

  // Register there.
  await page.getByRole("link", { name: "Register New Application" }).click();
  await expect(page.getByRole("heading", { name: "Register New Application", level: 1 })).toBeVisible();
  await expect(page.getByText(`0 / 2 applications in domain ${BRANCH}`)).toBeVisible();
  expectAddress(page, new RegExp(`^/applications/new\\?domain=${id}$`));
  await expect(page.getByTestId("domain-id")).toHaveText(id);
  if (hydrated(testInfo)) await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  await page.getByLabel("Application Name").fill(GATEWAY);
  await page.getByLabel(/clients:read/).check();
  await page.getByLabel("Website URL").fill("https://gateway.example.com");
  await page.getByLabel("Callback URL").fill("https://gateway.example.com/callback");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("heading", { name: GATEWAY, exact: true, level: 1 })).toBeVisible();
  expectAddress(page, /^\/applications\/[0-9a-f-]{36}$/);

  await open(page, `/applications?domain=${id}`, testInfo);
  await expect(page.getByText(`1 / 2 applications in domain ${BRANCH}`)).toBeVisible();
  await open(page, "/applications", testInfo);
  await expect(page.getByTestId("domain-id")).toHaveText(ownDomain);
});

test("a limit set to the current count makes Register refuse", async ({ page }, testInfo) => {
  const BRANCH = branch(testInfo);
  await signIn(page, testInfo);
  const id = await domainId(page, testInfo, BRANCH);
  await openSettings(page, testInfo, BRANCH);
  const row = rowOf(page, BRANCH);
  await expect(row.getByText("at least 1: it holds 1 now.")).toBeVisible();
  await row.getByLabel("Application limit").fill("1");
  await row.getByRole("button", { name: "Set limit" }).click();
  await expect(rowOf(page, BRANCH)).toContainText("1 / 1");
  expectAddress(page, /^\/domains$/);
  const entry = rowOf(page, BRANCH);
  await expect(entry.locator(".count")).toHaveClass(/full/);

  await open(page, `/applications/new?domain=${id}`, testInfo);
  await expect(page.getByText("This domain has reached its limit of 1 applications.")).toBeVisible();
  await page.getByLabel("Application Name").fill("One too many");
  await page.getByLabel(/clients:read/).check();
  await page.getByLabel("Website URL").fill("https://more.example.com");
  await page.getByLabel("Callback URL").fill("https://more.example.com/callback");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.locator("#name-error")).toHaveText(/holds 1 of its 1 applications/);
  expectAddress(page, new RegExp(`^/applications/new\\?domain=${id}$`));
});

test("a super admin finds an application in any domain and opens it", async ({ page }, testInfo) => {
  const BRANCH = branch(testInfo);
  const GATEWAY = gateway(testInfo);
  await signIn(page, testInfo);
  await open(page, "/domains", testInfo);
  await page.getByLabel("Find an application").fill("branch gateway");
  await page.getByRole("button", { name: "Search" }).click();
  const found = page.getByRole("region", { name: "Applications found" });
  await expect(rowOf(found, GATEWAY)).toContainText(BRANCH);
  expectAddress(page, /^\/domains\?q=branch\+gateway$/);
  await found.getByRole("link", { name: GATEWAY, exact: true }).click();
  await expect(page.getByRole("heading", { name: GATEWAY, exact: true, level: 1 })).toBeVisible();
  expectAddress(page, /^\/applications\/[0-9a-f-]{36}$/);
});
