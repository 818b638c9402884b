import { test, expect, type Page, type TestInfo } from "@playwright/test";
import { writeFileSync } from "node:fs";
import {
  ADMIN,
  createClient,
  createUser,
  expectAddress,
  hydrated,
  literally,
  open,
  signIn,
  signInAt,
  slowdowns,
  uniqueEmail,
  uniqueName,
} from "./helpers";

// What an admin does over the years: rotate without downtime, read usage,
// find unused clients, undo a removal, manage users, inspect tokens.

test.describe.configure({ mode: "serial" });

// A retry reruns every test of this file against the same server and
// database, where the first try's applications and users stay: each try
// names its own (`uniqueName`, `uniqueEmail`: unchanged on the first try).

type Client = { client_id: string; client_secret: string };

function baseUrl(testInfo: TestInfo): string {
  return testInfo.project.use.baseURL!;
}

async function tokenStatus(testInfo: TestInfo, id: string, secret: string): Promise<number> {
  const basic = Buffer.from(`${id}:${secret}`).toString("base64");
  const response = await fetch(`${baseUrl(testInfo)}/oauth2/token`, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials",
  });
  return response.status;
}

async function accessToken(testInfo: TestInfo, client: Client): Promise<string> {
  const basic = Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64");
  const response = await fetch(`${baseUrl(testInfo)}/oauth2/token`, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials",
  });
  expect(response.status).toBe(200);
  return (await response.json()).access_token;
}

/** Opens an application's page from the list. */
async function openApplication(page: Page, testInfo: TestInfo, name: string) {
  await open(page, "/applications", testInfo);
  await page.getByRole("link", { name, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
  if (hydrated(testInfo)) await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
}

async function revealSecret(page: Page): Promise<string> {
  await page.getByRole("button", { name: "Show Client Secret" }).click();
  const secret = page.locator(".credential", { hasText: "Client Secret" }).locator("code.secret");
  await expect(secret).toHaveText(/^kps_/);
  return (await secret.textContent())!;
}

// A token taken first and inspected last, once the server's 60 s token
// lifetime has run out.
let early: string;

test("rotate with a 1 h grace: both secrets work, then the old one is retired", async ({ page }, testInfo) => {
  const name = uniqueName(testInfo, `Gateway ${testInfo.project.name}`);
  const client = createClient(testInfo, ADMIN.email, name, ["clients:read"]);
  early = await accessToken(testInfo, client);
  await signIn(page, testInfo);
  await openApplication(page, testInfo, name);

  await page.getByLabel("Keep the current secret working for").selectOption({ label: "1 hour" });
  await page.getByRole("button", { name: "Rotate secret" }).click();
  await expect(page.getByRole("status")).toContainText("A new secret was issued");
  const previous = page.locator("tr.previous");
  await expect(previous).toContainText("Previous");
  await expect(previous.locator("strong")).toHaveText(/UTC$/);
  const fresh = await revealSecret(page);
  expect(fresh).not.toBe(client.client_secret);

  expect(await tokenStatus(testInfo, client.client_id, client.client_secret)).toBe(200);
  expect(await tokenStatus(testInfo, client.client_id, fresh)).toBe(200);

  await page.getByRole("button", { name: "Retire now" }).click();
  await expect(page.getByRole("status")).toContainText("The previous secret was retired");
  await expect(page.locator("tr.previous")).toHaveCount(0);
  expect(await tokenStatus(testInfo, client.client_id, client.client_secret)).toBe(401);
  expect(await tokenStatus(testInfo, client.client_id, fresh)).toBe(200);
});

test("usage shows as a chart and a sparkline, and unused clients can be listed", async ({ page }, testInfo) => {
  const used = uniqueName(testInfo, `Scanner ${testInfo.project.name}`);
  const idle = uniqueName(testInfo, `Forgotten ${testInfo.project.name}`);
  const client = createClient(testInfo, ADMIN.email, used, ["clients:read"]);
  createClient(testInfo, ADMIN.email, idle, ["clients:read"]);
  for (let i = 0; i < 3; i++) expect(await tokenStatus(testInfo, client.client_id, client.client_secret)).toBe(200);
  expect(await tokenStatus(testInfo, client.client_id, "kps_wrong")).toBe(401);

  await signIn(page, testInfo);
  await openApplication(page, testInfo, used);
  const chart = page.locator("figure.usage-chart");
  await expect(chart.locator("figcaption")).toContainText("Tokens issued: 3");
  await expect(chart.locator("figcaption")).toContainText("Failed authentications: 1");
  await expect(chart.getByRole("img")).toHaveAttribute("aria-label", /3 tokens issued and 1 failed/);

  await open(page, "/applications", testInfo);
  const row = page.locator("tr", { hasText: used });
  await expect(row.locator("svg.sparkline")).toHaveAttribute("aria-label", "3 tokens in 30 days");
  await page.getByRole("link", { name: "Not used for 90 days" }).click();
  await expect(page).toHaveURL(/unused=1/);
  await expect(page.getByRole("link", { name: idle, exact: true })).toBeVisible();
  await expect(page.getByRole("link", { name: used, exact: true })).toHaveCount(0);
});

test("remove an application and restore it with the same client ID", async ({ page }, testInfo) => {
  const name = uniqueName(testInfo, `Legacy VPN ${testInfo.project.name}`);
  const client = createClient(testInfo, ADMIN.email, name, ["clients:read"]);
  await signIn(page, testInfo);
  await open(page, "/applications", testInfo);
  await page.getByRole("checkbox", { name: `Select ${name}`, exact: true }).check();
  await page.getByRole("button", { name: "Remove", exact: true }).click();
  await page.getByRole("button", { name: "Remove 1 application" }).click();
  await expect(page.getByText("Removed 1 application.")).toBeVisible();
  expect(await tokenStatus(testInfo, client.client_id, client.client_secret)).toBe(401);

  await page.getByRole("link", { name: /Recently removed \(\d+\)/ }).click();
  await expect(page.getByRole("heading", { name: "Recently removed" })).toBeVisible();
  const row = page.locator("tr", { hasText: name });
  await expect(row).toContainText(client.client_id);
  await row.getByRole("button", { name: `Restore ${name}`, exact: true }).click();
  await expect(page).toHaveURL(/\/applications\/[^/?]+\?restored=1$/);
  await expect(page.getByRole("status")).toContainText("restored with its client ID and a new secret");
  const fresh = await revealSecret(page);
  expect(await tokenStatus(testInfo, client.client_id, client.client_secret)).toBe(401);
  expect(await tokenStatus(testInfo, client.client_id, fresh)).toBe(200);
  await open(page, "/applications", testInfo);
  await expect(page.locator("tr", { hasText: name })).toContainText(client.client_id);
});

test("create a member who sets a password, signs in, and is signed out when disabled", async ({ page, browser }, testInfo) => {
  const email = uniqueEmail(testInfo, `new-member-${testInfo.project.name}@keyport.test`);
  await signIn(page, testInfo);
  await open(page, "/users", testInfo);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Role", { exact: true }).selectOption("member");
  await page.getByRole("button", { name: "Create user" }).click();
  const link = page.locator("code.link");
  await expect(link).toHaveText(/\/welcome\?token=/);
  const url = (await link.textContent())!;
  await expect(page.locator("tr", { hasText: email })).toContainText("Waiting for password");

  const memberContext = await browser.newContext();
  const member = await memberContext.newPage();
  await open(member, url, testInfo);
  await expect(member.getByText(`For ${email}.`)).toBeVisible();
  await member.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await member.getByLabel("Confirm password").fill(ADMIN.password);
  await member.getByRole("button", { name: "Set password and sign in" }).click();
  await expect(member).toHaveURL(/\/applications$/);
  await expect(member.locator(".who .email")).toHaveText(email);

  await open(page, "/users", testInfo);
  await page.getByRole("button", { name: `Disable ${email}`, exact: true }).click();
  await expect(page.locator("tr", { hasText: email })).toContainText("Disabled");
  await member.goto("/applications");
  await expect(member).toHaveURL(/\/login\?next=/);
  await memberContext.close();
});

test("hand an application to another user; its client ID and secret keep working", async ({ page }, testInfo) => {
  // Names of their own on a retry: the first attempt's user and client stay.
  const suffix = `${testInfo.project.name}-${testInfo.retry}`;
  const heir = `heir-${suffix}@keyport.test`;
  createUser(testInfo, heir, "member");
  const name = `Handed over ${suffix}`;
  const client = createClient(testInfo, ADMIN.email, name, ["clients:read"]);
  await signIn(page, testInfo);
  await openApplication(page, testInfo, name);
  await page.getByLabel("Owner", { exact: true }).selectOption({ label: heir });
  await page.getByRole("button", { name: "Transfer ownership" }).click();
  await expect(page).toHaveURL(/\?transferred=\d+$/);
  await expect(page.getByRole("status")).toContainText("Ownership transferred");
  await expect(page.locator(".meta")).toContainText(`Owner ${heir}`);
  expect(await tokenStatus(testInfo, client.client_id, client.client_secret)).toBe(200);
});

test("inspect a valid token and, once it has expired, the same token", async ({ page }, testInfo) => {
  test.setTimeout(120_000);
  const client = createClient(testInfo, ADMIN.email, uniqueName(testInfo, `Inspected ${testInfo.project.name}`), ["clients:read"]);
  const valid = await accessToken(testInfo, client);
  await signIn(page, testInfo);

  const inspect = async (token: string) => {
    await open(page, "/tools/token", testInfo);
    await page.getByLabel("Access token").fill(token);
    await page.getByRole("button", { name: "Inspect" }).click();
  };
  await inspect(valid);
  await expect(page.locator(".verdict-line")).toHaveText(/^Valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  await expect(page.locator("pre.json").last()).toContainText(client.client_id);

  await inspect("not.a.token");
  await expect(page.locator(".verdict-line")).toHaveText("Not a token");

  // The first test's token outlives nothing: wait out its 60 s lifetime.
  const claims = JSON.parse(Buffer.from(early.split(".")[1], "base64url").toString());
  const wait = claims.exp * 1000 + 6_000 - Date.now();
  if (wait > 0) await page.waitForTimeout(wait);
  await inspect(early);
  await expect(page.locator(".verdict-line")).toHaveText(/^Expired at \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  await expect(page.locator("pre.json").first()).toContainText("at+jwt");
});

// The seeds' own workflow as an impatient user does it on a slow machine
// or network: each step taken the moment its element shows (not once the
// page has come alive), and after each the address and the page must
// agree, with nothing left "Loading…".
for (const [slowdown, slow] of slowdowns) {
  test(`register, reveal, rotate, remove and restore from a signed-out visit, acting the moment each control shows, on ${slowdown}`, async ({ page, context }, testInfo) => {
    await slow(await context.newCDPSession(page));
    const name = uniqueName(testInfo, `Raced gateway on ${slowdown}`);
    const icon = testInfo.outputPath("icon.png");
    writeFileSync(
      icon,
      Buffer.from(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000" +
          "1f15c4890000000d49444154789c6300010000050001" +
          "0d0a2db40000000049454e44ae426082",
        "hex",
      ),
    );

    await signInAt(page, "/applications");
    await page.getByRole("link", { name: "Register New Application" }).click();
    await expect(page).toHaveURL(/\/applications\/new(\?domain=[0-9a-f-]+)?$/);
    await page.getByLabel("Application Name").fill(name);
    await page.getByLabel("Description").fill("posture checks for the VPN");
    await page.getByLabel(/clients:read/).check();
    await page.getByLabel("Icon File").setInputFiles(icon);
    await page.getByLabel("Website URL").fill("https://nac.example.com");
    await page.getByLabel("Callback URL").fill("http://127.0.0.1/opswat");
    await page.getByRole("button", { name: "Create" }).click();

    await expect(page).toHaveURL(/\/applications\/[0-9a-f-]{36}$/);
    await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
    const clientId = page.locator(".credential", { hasText: "Client ID" }).locator("code");
    await expect(clientId).toHaveText(/^[0-9a-f]{32}$/);
    await expect(page.getByText("Loading…")).toHaveCount(0);
    const detail = new URL(page.url()).pathname;
    const id = await clientId.textContent();

    // Reveal, rotate with a grace period and retire the old secret.
    await page.getByRole("button", { name: "Show Client Secret" }).click();
    const secret = page.locator(".credential", { hasText: "Client Secret" }).locator("code.secret");
    await expect(secret).toHaveText(/^kps_/);
    const first = await secret.textContent();
    await page.getByLabel("Keep the current secret working for").selectOption({ label: "1 hour" });
    await page.getByRole("button", { name: "Rotate secret" }).click();
    await expect(page.getByRole("status")).toContainText("A new secret was issued");
    await expect(page.locator("tr.previous")).toContainText("Previous");
    expectAddress(page, new RegExp(`^${detail}\\?rotated=\\d+$`));
    await page.getByRole("button", { name: "Show Client Secret" }).click();
    await expect(secret).toHaveText(/^kps_/);
    expect(await secret.textContent()).not.toBe(first);
    await page.getByRole("button", { name: "Retire now" }).click();
    await expect(page.getByRole("status")).toContainText("The previous secret was retired");
    await expect(page.locator("tr.previous")).toHaveCount(0);
    expectAddress(page, new RegExp(`^${detail}\\?retired=1$`));

    // Remove it from the list with its checkbox, and restore it.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Applications", exact: true }).click();
    await page.getByRole("checkbox", { name: `Select ${name}`, exact: true }).check();
    await page.getByRole("button", { name: "Remove", exact: true }).click();
    await page.getByRole("button", { name: "Remove 1 application" }).click();
    await expect(page.getByText("Removed 1 application.")).toBeVisible();
    expectAddress(page, /^\/applications(\?.*)?$/);
    await page.getByRole("link", { name: /Recently removed \(\d+\)/ }).click();
    await page
      .locator("tr", { hasText: name })
      .getByRole("button", { name: `Restore ${name}`, exact: true })
      .click();
    await expect(page).toHaveURL(/\/applications\/[0-9a-f-]{36}\?restored=1$/);
    await expect(page.getByRole("status")).toContainText("restored with its client ID and a new secret");
    await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
    await expect(clientId).toHaveText(id!);
    await expect(page.getByText("Loading…")).toHaveCount(0);
  });

  test(`create a member and a domain from a signed-out visit, acting the moment each control shows, on ${slowdown}`, async ({ page, context }, testInfo) => {
    await slow(await context.newCDPSession(page));
    const email = uniqueEmail(testInfo, `raced-${slowdown.replaceAll(" ", "-")}@keyport.test`);
    const domain = uniqueName(testInfo, `Raced office on ${slowdown}`);

    await signInAt(page, "/users");
    await expect(page.getByRole("heading", { name: "Users", level: 1 })).toBeVisible();
    expectAddress(page, /^\/users$/);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Role", { exact: true }).selectOption("member");
    await page.getByRole("button", { name: "Create user" }).click();
    await expect(page.locator("code.link")).toHaveText(/\/welcome\?token=/);
    await expect(page.locator("tr", { hasText: email })).toContainText("Waiting for password");
    expectAddress(page, /^\/users$/);

    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Domains", exact: true }).click();
    const form = page.getByRole("region", { name: "Create a domain" });
    await form.getByLabel("Name").fill(domain);
    await form.getByLabel("Application limit").fill("5");
    await form.getByRole("button", { name: "Create domain" }).click();
    // Its name and then its ID: not a rerun's "… r1".
    await expect(page.getByRole("row", { name: new RegExp(`^${literally(domain)} Domain ID`) })).toContainText("0 / 5");
    expectAddress(page, /^\/domains$/);
    await expect(page.getByText("Loading…")).toHaveCount(0);
  });
}
