// Second factors: an authenticator app and recovery codes, step-up before a
// secret is shown, and passkeys. These run against the "factors" server
// (global-setup.ts): under http://localhost:3103, since browsers refuse
// passkeys at an IP address, and with step-up asked after 15 s
// (KEYPORT_STEP_UP_TTL) instead of 5 minutes.
//
// Each test makes its own super admin with the command line (their role
// needs a second factor, with a 7-day grace period), named after the
// project and the try: a retry runs against the same database.
import { test, expect, type Page, type TestInfo } from "@playwright/test";
import { createHmac } from "node:crypto";
import { ADMIN, createClient, createUser, expectAddress, hydrated, open, signInAt, slowdowns } from "./helpers";

/** "" the first time a test runs, "-r1", "-r2"… when it runs again. */
function tag(testInfo: TestInfo): string {
  const n = testInfo.repeatEachIndex * (testInfo.project.retries + 1) + testInfo.retry;
  return n === 0 ? "" : `-r${n}`;
}

/** A user of this test alone: `totp-factors-hydrated@keyport.test`. */
function newUser(testInfo: TestInfo, who: string): string {
  const email = `${who}-${testInfo.project.name}${tag(testInfo)}@keyport.test`;
  createUser(testInfo, email, "super_admin");
  return email;
}

/** RFC 4648 base32, as an authenticator app reads the key it is given. */
function base32(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of text.replace(/[\s=]/g, "").toUpperCase()) {
    const digit = alphabet.indexOf(c);
    if (digit < 0) throw new Error(`not base32: ${text}`);
    value = (value << 5) | digit;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
      value &= (1 << bits) - 1;
    }
  }
  return Buffer.from(bytes);
}

/**
 * The 6-digit code an authenticator app shows for `secret` at `seconds`
 * (RFC 6238: HMAC-SHA-1 over the 30-second step, RFC 4226's dynamic
 * truncation).
 */
function totp(secret: string, seconds = Date.now() / 1000): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / 30)));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, "0");
}

/** Signs in with the password; where that leads is for the test to say. */
async function signInWithPassword(page: Page, testInfo: TestInfo, email: string) {
  await open(page, "/login", testInfo);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

async function expectApplications(page: Page, email: string) {
  await expect(page.getByRole("heading", { name: "Applications", level: 1 })).toBeVisible();
  expectAddress(page, /^\/applications$/);
  await expect(page.locator("header").getByText(email, { exact: true })).toBeVisible();
}

/** After the right password, a user with a second factor is asked for it. */
async function expectSecondStep(page: Page) {
  await expect(page.getByRole("heading", { name: "Two-step sign-in", level: 1 })).toBeVisible();
  await expect(page).toHaveURL(/\/login\/verify\?next=%2Fapplications$/);
}

async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
}

const REMINDER = "Your role needs a passkey or an authenticator app: set one up by";

test("an authenticator app: set up, then asked for at sign-in, with a recovery code in its place", async ({ page }, testInfo) => {
  const email = newUser(testInfo, "totp");
  await signInWithPassword(page, testInfo, email);
  await expectApplications(page, email);

  // The role needs a second factor: every page reminds, with a link.
  const reminder = page.locator("header").getByText(REMINDER);
  await expect(reminder).toBeVisible();
  await reminder.getByRole("link", { name: "Set it up" }).click();
  await expect(page.getByRole("heading", { name: "Account", level: 1 })).toBeVisible();
  expectAddress(page, /^\/account$/);
  await expect(page.getByRole("heading", { name: "Authenticator app" })).toBeVisible();

  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  const qr = page.getByRole("img", { name: "QR code to scan with your authenticator app" });
  await expect(qr).toBeVisible();
  await expect(qr.locator("svg")).toHaveCount(1);
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);

  // The code of now turns it on; that step is spent.
  await page.getByLabel("Code from the app").fill(totp(secret));
  await page.getByRole("button", { name: "Turn on" }).click();
  await expect(page.getByRole("heading", { name: "Save your recovery codes" })).toBeVisible();
  const codes = (await page.getByTestId("recovery-codes").getByRole("listitem").allTextContents()).map((c) => c.trim());
  expect(codes).toHaveLength(10);
  for (const code of codes) expect(code).toMatch(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
  expect(new Set(codes).size).toBe(10);
  await expect(page.getByRole("button", { name: "Remove Authenticator app" })).toBeVisible();
  await expect(page.getByText("10 of 10 recovery codes left.")).toBeVisible();

  await open(page, "/applications", testInfo);
  await expectApplications(page, email);
  await expect(page.getByText(REMINDER)).toHaveCount(0);

  // The password alone no longer signs in: the app's next code does (the
  // server takes a step either side of now, never one already used).
  await signOut(page);
  await signInWithPassword(page, testInfo, email);
  await expectSecondStep(page);
  await expect(page.getByRole("button", { name: "Use your passkey" })).toHaveCount(0);
  await page.getByLabel("Code", { exact: true }).fill(totp(secret, Date.now() / 1000 + 30));
  await page.getByRole("button", { name: "Verify" }).click();
  await expectApplications(page, email);

  // A recovery code works in its place, once.
  await signOut(page);
  await signInWithPassword(page, testInfo, email);
  await expectSecondStep(page);
  await page.getByLabel("Code", { exact: true }).fill(codes[0]);
  await page.getByRole("button", { name: "Verify" }).click();
  await expectApplications(page, email);

  await page.getByRole("banner").getByRole("link", { name: "Account", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Account", level: 1 })).toBeVisible();
  await expect(page.getByText("9 of 10 recovery codes left.")).toBeVisible();
});

// The same as the impatient user does it on a slow machine or network:
// from a signed-out visit to the Account page, each step the moment its
// control shows, the address and the page agreeing after each.
for (const [slowdown, slow] of slowdowns) {
  test(`an authenticator app set up and asked for, from a signed-out visit, acting the moment each control shows, on ${slowdown}`, async ({ page, context }, testInfo) => {
    await slow(await context.newCDPSession(page));
    const email = newUser(testInfo, `raced-totp-${slowdown.split(" ").pop()!.toLowerCase()}`);

    await signInAt(page, "/account", email);
    await expect(page.getByRole("heading", { name: "Account", level: 1 })).toBeVisible();
    expectAddress(page, /^\/account$/);
    await page.getByRole("button", { name: "Set up an authenticator app" }).click();
    const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await page.getByLabel("Code from the app").fill(totp(secret));
    await page.getByRole("button", { name: "Turn on" }).click();
    await expect(page.getByRole("heading", { name: "Save your recovery codes" })).toBeVisible();
    await expect(page.getByTestId("recovery-codes").getByRole("listitem")).toHaveCount(10);
    expectAddress(page, /^\/account(\?.*)?$/);

    await signOut(page);
    await signInAt(page, "/applications", email);
    await expectSecondStep(page);
    await page.getByLabel("Code", { exact: true }).fill(totp(secret, Date.now() / 1000 + 30));
    await page.getByRole("button", { name: "Verify" }).click();
    await expectApplications(page, email);
    await expect(page.getByText("Loading…")).toHaveCount(0);
  });
}

test("showing a secret asks again once the last check is older than the step-up lifetime", async ({ page }, testInfo) => {
  // 16 s of waiting for a 15-s lifetime.
  test.setTimeout(90_000);
  const email = newUser(testInfo, "step-up");
  const name = `Step-up ${testInfo.project.name}${tag(testInfo)}`;
  const client = createClient(testInfo, email, name, ["clients:read"]);
  expect(client.client_secret).toMatch(/^kps_/);

  // Signing in counts as a check; it is fresh for 15 s.
  await signInWithPassword(page, testInfo, email);
  await expectApplications(page, email);
  await page.getByRole("link", { name, exact: true }).click();
  await expect(page.getByRole("heading", { name, level: 1 })).toBeVisible();
  await expect(page).toHaveURL(/\/applications\/[0-9a-f-]{36}$/);
  const applicationPath = new URL(page.url()).pathname;
  if (hydrated(testInfo)) await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  await page.waitForTimeout(16_000);

  await page.getByRole("button", { name: "Show Client Secret" }).click();
  if (hydrated(testInfo)) {
    // A dialog asks in place (the user has no second factor: their
    // password), then the secret shows without another click.
    const dialog = page.getByRole("dialog", { name: "Confirm it is you" });
    await expect(dialog).toBeVisible();
    await expect(dialog.getByRole("button", { name: "Use your passkey" })).toHaveCount(0);
    await dialog.getByLabel("Password").fill(ADMIN.password);
    await dialog.getByRole("button", { name: "Confirm" }).click();
    await expect(dialog).toHaveCount(0);
    await expect(page.locator("code.secret")).toHaveText(client.client_secret);
  } else {
    // The post is sent to the confirmation page, which returns here.
    await expect(page.getByRole("heading", { name: "Confirm it is you", level: 1 })).toBeVisible();
    expectAddress(page, /^\/confirm\?next=/);
    expect(new URL(page.url()).searchParams.get("next")).toBe(applicationPath);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Confirm" }).click();
    await expect(page.getByRole("heading", { name, level: 1 })).toBeVisible();
    expectAddress(page, new RegExp(`^${applicationPath}$`));
    await expect(page.locator("code.secret")).toHaveCount(0);
    await page.getByRole("button", { name: "Show Client Secret" }).click();
    await expect(page.locator("code.secret")).toHaveText(client.client_secret);
  }
  await expect(page.getByRole("link", { name: "Hide Client Secret" })).toBeVisible();
});

test("a passkey: added on the Account page, then a second factor and a sign-in of its own", async ({ page }, testInfo) => {
  test.skip(!hydrated(testInfo), "passkeys need JavaScript");
  // Chromium's virtual authenticator stands in for the device: it belongs
  // to this page, which the whole test keeps.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  const email = newUser(testInfo, "passkey");
  await signInWithPassword(page, testInfo, email);
  await expectApplications(page, email);
  await open(page, "/account", testInfo);
  await expect(page.getByRole("heading", { name: "Passkeys" })).toBeVisible();
  // Typed as soon as the field shows, maybe before the page (a chunk of its
  // own) is live: the click waits for the button to be enabled, and the
  // name typed meanwhile must count.
  await page.getByLabel("Name", { exact: true }).fill("Test laptop");
  await page.getByRole("button", { name: "Add a passkey" }).click();
  await expect(page.getByRole("button", { name: "Remove Test laptop" })).toBeVisible();
  await expect(page.getByRole("cell", { name: "Test laptop", exact: true })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Save your recovery codes" })).toBeVisible();
  await expect(page.getByTestId("recovery-codes").getByRole("listitem")).toHaveCount(10);
  // A passkey the browser can offer without being told whose it is.
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  expect(credentials).toHaveLength(1);
  expect(credentials[0].isResidentCredential).toBe(true);

  // After the password, the passkey is the second factor.
  await signOut(page);
  await signInWithPassword(page, testInfo, email);
  await expectSecondStep(page);
  await page.getByRole("button", { name: "Use your passkey" }).click();
  await expectApplications(page, email);

  // And it signs in on its own, no email typed.
  await signOut(page);
  await open(page, "/login", testInfo);
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await expectApplications(page, email);
});
