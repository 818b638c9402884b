import { test, expect, type Page, type TestInfo } from "@playwright/test";
import { writeFileSync } from "node:fs";
import { ADMIN, ensureUser, hydrated, open, rerun, signIn } from "./helpers";

test.describe.configure({ mode: "serial" });

// A retry reruns every test of this file against the same server and
// database. The tests count the domain's applications from none, so a rerun
// first removes what the try before it left (removed applications neither
// count nor hold their names); the member it signs in as may exist already.
test.beforeAll(async ({ browser }, testInfo) => {
  if (!rerun(testInfo)) return;
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, testInfo);
  await open(page, "/applications", testInfo);
  const boxes = page.getByRole("checkbox", { name: /^Select (?!all applications$)/ });
  const count = await boxes.count();
  if (count > 0) {
    for (const box of await boxes.all()) await box.check();
    const many = count === 1 ? "1 application" : `${count} applications`;
    await page.getByRole("button", { name: "Remove", exact: true }).click();
    await page.getByRole("button", { name: `Remove ${many}`, exact: true }).click();
    await expect(page.getByText(`Removed ${many}.`)).toBeVisible();
  }
  await context.close();
});

// A 1×1 PNG, an SVG and a file too large to be an icon.
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d4948445200000001000000010806000000" +
    "1f15c4890000000d49444154789c6300010000050001" +
    "0d0a2db40000000049454e44ae426082",
  "hex",
);

function file(testInfo: TestInfo, name: string, contents: Buffer | string): string {
  const p = testInfo.outputPath(name);
  writeFileSync(p, contents);
  return p;
}

async function fillSettings(page: Page, name: string, fields: { callback?: string; website?: string; icon?: string } = {}) {
  await page.getByLabel("Application Name").fill(name);
  await page.getByLabel("Description").fill(`${name}: posture checks for the VPN`);
  await page.getByLabel(/clients:read/).check();
  if (fields.icon) await page.getByLabel("Icon File").setInputFiles(fields.icon);
  await page.getByLabel("Website URL").fill(fields.website ?? "https://nac.example.com");
  await page.getByLabel("Callback URL").fill(fields.callback ?? "http://127.0.0.1/opswat");
}

async function register(page: Page, testInfo: TestInfo, name: string, icon?: string) {
  await open(page, "/applications/new", testInfo);
  await fillSettings(page, name, { icon });
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page).toHaveURL(/\/applications\/[0-9a-f-]{36}/);
  await expect(page.getByRole("heading", { name })).toBeVisible();
}

test("register an application with every field and reveal its credentials", async ({ page, context }, testInfo) => {
  await signIn(page, testInfo);
  await expect(page.getByText("0 / 63 applications")).toBeVisible();
  await page.getByRole("link", { name: "Register New Application" }).click();
  await expect(page.getByRole("heading", { name: "Register New Application" })).toBeVisible();
  if (hydrated(testInfo)) await expect(page.locator("body[data-hydrated]")).toHaveCount(1);

  const icon = file(testInfo, "icon.png", PNG);
  await fillSettings(page, "NAC Gateway", { icon });
  if (hydrated(testInfo)) {
    await expect(page.getByAltText("Icon preview")).toBeVisible();
  }
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page).toHaveURL(/\/applications\/[0-9a-f-]{36}$/);
  await expect(page.getByRole("heading", { name: "NAC Gateway" })).toBeVisible();
  if (hydrated(testInfo)) await expect(page.locator("body[data-hydrated]")).toHaveCount(1);

  // The client ID is not a secret: it shows plainly, with Copy.
  await expect(page.getByRole("button", { name: "Show Client ID" })).toHaveCount(0);
  const clientId = (await page.locator(".credential", { hasText: "Client ID" }).locator("code").textContent())!.trim();
  expect(clientId).toMatch(/^[0-9a-f]{32}$/);
  if (hydrated(testInfo)) {
    await context.grantPermissions(["clipboard-read", "clipboard-write"]);
    await page.getByRole("button", { name: "Copy Client ID" }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(clientId);
  }

  await page.getByRole("button", { name: "Show Client Secret" }).click();
  const secretCode = page.locator(".credential", { hasText: "Client Secret" }).locator("code");
  await expect(secretCode).toHaveText(/^kps_[A-Za-z0-9_-]{43}$/);
  const secret = (await secretCode.textContent())!.trim();

  await page.getByRole("button", { name: "Show OAuth Credentials" }).click();
  const combined = (await page.locator(".credential", { hasText: "OAuth Credentials" }).locator("code").textContent())!.trim();
  expect(Buffer.from(combined, "base64").toString()).toBe(`${clientId}:${secret}`);

  if (hydrated(testInfo)) {
    await page.getByRole("button", { name: "Copy Client Secret" }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await expect(page.locator(".snippet code")).toContainText(`-u '${clientId}:${secret}'`);
  } else {
    await expect(page.getByRole("button", { name: "Copy Client Secret" })).toBeHidden();
  }

  // The icon is served from the database.
  const iconUrl = await page.locator("h1 img").getAttribute("src");
  const response = await page.request.get(iconUrl!);
  expect(response.headers()["content-type"]).toBe("image/png");

  // And the list shows it, with the secret hidden until Show.
  await open(page, "/applications", testInfo);
  await expect(page.getByText("1 / 63 applications")).toBeVisible();
  const row = page.getByRole("row", { name: /NAC Gateway/ });
  await expect(row.getByText("••••••••")).toBeVisible();
  if (hydrated(testInfo)) {
    await row.getByRole("button", { name: "Copy client ID" }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(clientId);
    await expect(row.getByRole("button", { name: "Copy client ID" })).toHaveText("Copied");
  } else {
    await expect(row.getByRole("button", { name: "Copy client ID" })).toBeHidden();
  }
  // Revealing is a POST: the live row reveals in place, a page without
  // WebAssembly posts its form and comes back showing the secret once.
  if (hydrated(testInfo)) await page.evaluate(() => ((window as any).stayed = true));
  await row.getByRole("button", { name: "Show secret of NAC Gateway" }).click();
  await expect(page.getByRole("row", { name: /NAC Gateway/ }).getByText(secret)).toBeVisible();
  if (hydrated(testInfo)) {
    expect(await page.evaluate(() => (window as any).stayed)).toBe(true);
    await page.getByRole("row", { name: /NAC Gateway/ }).getByRole("button", { name: "Copy client secret" }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  }
  await page.getByRole("link", { name: "Hide secret of NAC Gateway" }).click();
  await expect(page.getByRole("row", { name: /NAC Gateway/ }).getByText(secret)).toBeHidden();
});

test("each invalid field gets its own message and the form keeps what was typed", async ({ page }, testInfo) => {
  await signIn(page, testInfo);
  const cases: Array<[string, (p: Page) => Promise<void>, string, RegExp]> = [
    ["name", async (p) => p.getByLabel("Application Name").fill("   "), "#name-error", /Enter an application name/],
    ["ftp", async (p) => p.getByLabel("Callback URL").fill("ftp://x"), "#callback_url-error", /must start with https:\/\//],
    ["http", async (p) => p.getByLabel("Callback URL").fill("http://example.com/cb"), "#callback_url-error", /loopback/],
    ["fragment", async (p) => p.getByLabel("Callback URL").fill("https://x/#frag"), "#callback_url-error", /fragment/],
    ["svg", async (p) => p.getByLabel("Icon File").setInputFiles(file(testInfo, "logo.svg", '<svg xmlns="http://www.w3.org/2000/svg"/>')), "#icon-error", /SVG is not accepted/],
    ["big", async (p) => p.getByLabel("Icon File").setInputFiles(file(testInfo, "big.png", Buffer.concat([PNG, Buffer.alloc(1024 * 1024)]))), "#icon-error", /at most 256 KiB/],
  ];
  for (const [label, spoil, errorId, message] of cases) {
    await open(page, "/applications/new", testInfo);
    await fillSettings(page, `Bad ${label}`);
    await spoil(page);
    await page.getByRole("button", { name: "Create" }).click();
    await expect(page.locator(errorId), label).toHaveText(message);
    await expect(page.getByRole("alert")).toContainText("Please correct the fields marked below.");
    await expect(page.getByLabel("Description")).toHaveValue(`Bad ${label}: posture checks for the VPN`);
    await expect(page.getByLabel("Website URL")).toHaveValue("https://nac.example.com");
    await expect(page.getByLabel(/clients:read/)).toBeChecked();
  }
  await open(page, "/applications", testInfo);
  await expect(page.getByText("1 / 63 applications")).toBeVisible();
});

test("tick two applications and remove them after a confirmation naming how many", async ({ page }, testInfo) => {
  await signIn(page, testInfo);
  await register(page, testInfo, "Second App");
  await open(page, "/applications", testInfo);
  const remove = page.getByRole("button", { name: "Remove", exact: true });
  if (hydrated(testInfo)) await expect(remove).toBeDisabled();
  await page.getByRole("checkbox", { name: "Select NAC Gateway" }).check();
  await page.getByRole("checkbox", { name: "Select Second App" }).check();
  await expect(remove).toBeEnabled();
  await remove.click();
  if (hydrated(testInfo)) {
    await expect(page.getByRole("alertdialog")).toContainText("Remove 2 applications?");
  } else {
    await expect(page.getByRole("heading", { name: "Remove 2 applications?" })).toBeVisible();
    await expect(page.getByText("NAC Gateway")).toBeVisible();
  }
  await page.getByRole("button", { name: "Remove 2 applications" }).click();
  await expect(page.getByText("Removed 2 applications.")).toBeVisible();
  await expect(page.getByText("0 / 63 applications")).toBeVisible();
  await expect(page.getByText("No applications yet.")).toBeVisible();
});

test("the 64th application is refused with the limit named", async ({ page }, testInfo) => {
  await signIn(page, testInfo);
  // 63 registrations through the same server function the form posts to.
  for (let i = 1; i <= 63; i++) {
    const response = await page.request.post("/rpc/applications/create", {
      headers: { Origin: new URL(page.url()).origin, Accept: "application/json" },
      multipart: { name: `Bulk ${String(i).padStart(2, "0")}`, permissions: "clients:read" },
    });
    expect(response.status()).toBe(200);
  }
  await open(page, "/applications", testInfo);
  await expect(page.getByText("63 / 63 applications")).toBeVisible();
  await open(page, "/applications/new", testInfo);
  await fillSettings(page, "One Too Many");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.locator("#name-error")).toHaveText(/already holds 63 of its 63 applications/);

  // Select all, remove all.
  await open(page, "/applications", testInfo);
  if (hydrated(testInfo)) {
    await page.getByRole("checkbox", { name: "Select all applications" }).check();
  } else {
    for (const box of await page.getByRole("checkbox", { name: /^Select Bulk/ }).all()) await box.check();
  }
  await page.getByRole("button", { name: "Remove", exact: true }).click();
  await page.getByRole("button", { name: "Remove 63 applications" }).click();
  await expect(page.getByText("Removed 63 applications.")).toBeVisible();
});

test("a member cannot see or reach another user's application", async ({ page, browser }, testInfo) => {
  await signIn(page, testInfo);
  await register(page, testInfo, "Admin Only App");
  const adminAppUrl = page.url();

  const member = `member-${testInfo.project.name}@keyport.test`;
  ensureUser(testInfo, member, "member");
  const memberContext = await browser.newContext();
  const memberPage = await memberContext.newPage();
  await signIn(memberPage, testInfo, member, ADMIN.password);
  await expect(memberPage.getByText("0 / 63").or(memberPage.getByText("1 / 63"))).toBeVisible();
  await expect(memberPage.getByText("Admin Only App")).toBeHidden();
  await expect(memberPage.getByText("No applications yet.")).toBeVisible();
  await open(memberPage, adminAppUrl, testInfo);
  await expect(memberPage.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expect(memberPage.getByText("Admin Only App")).toBeHidden();
  await memberContext.close();
});
