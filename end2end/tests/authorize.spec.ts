import { test, expect, type TestInfo } from "@playwright/test";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { ADMIN, createClient, createUser } from "./helpers";

// The authorization code flow as a third-party product plays it: it sends
// the browser to Keyport, catches the redirect on its loopback callback,
// exchanges the code over plain HTTP and calls the management API.

test.describe.configure({ mode: "serial" });

/** A loopback HTTP server standing in for the product's callback endpoint. */
async function callbackServer() {
  let deliver: (url: URL) => void = () => {};
  const received = new Promise<URL>((resolve) => (deliver = resolve));
  const server = http.createServer((request, response) => {
    deliver(new URL(request.url ?? "/", "http://127.0.0.1"));
    response.writeHead(200, { "content-type": "text/html" }).end("<h1>Signed in to the gateway</h1>");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/callback`, received, close: () => server.close() };
}

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

function baseUrl(testInfo: TestInfo): string {
  return testInfo.project.use.baseURL!;
}

function authorizeUrl(clientId: string, callback: string, challenge: string, state: string): string {
  const query = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: callback,
    scope: "clients:read",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  return `/oauth2/authorize?${query}`;
}

async function exchange(testInfo: TestInfo, client: { client_id: string; client_secret: string }, code: string, callback: string, verifier: string) {
  const basic = Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64");
  return fetch(`${baseUrl(testInfo)}/oauth2/token`, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: callback, code_verifier: verifier }),
  });
}

async function signInAs(page: import("@playwright/test").Page, email: string) {
  await expect(page).toHaveURL(/\/login\?next=\/oauth2\/authorize/);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("a third-party application gets a token for the user who approves", async ({ page }, testInfo) => {
  const callback = await callbackServer();
  try {
    createUser(testInfo, "operator@keyport.test", "domain_admin");
    const client = createClient(testInfo, ADMIN.email, "Posture Gateway", ["clients:read", "audit:read"], callback.url);
    const { verifier, challenge } = pkce();
    const state = randomBytes(8).toString("hex");

    await page.goto(authorizeUrl(client.client_id, callback.url, challenge, state));
    await signInAs(page, "operator@keyport.test");

    await expect(page.getByRole("heading", { name: "Authorize Posture Gateway" })).toBeVisible();
    await expect(page.getByText("operator@keyport.test")).toBeVisible();
    await expect(page.locator(".consent-permissions li")).toHaveCount(1);
    await expect(page.locator(".consent-permissions")).toContainText("clients:read");
    // The host the browser returns to is named on its own.
    await expect(page.locator(".returns-host")).toHaveText(new URL(callback.url).hostname);
    await page.getByRole("button", { name: "Approve" }).click();

    const back = await callback.received;
    expect(back.pathname).toBe("/callback");
    expect(back.searchParams.get("state")).toBe(state);
    expect(back.searchParams.get("iss")).toBe(baseUrl(testInfo));
    const code = back.searchParams.get("code")!;
    expect(code).toBeTruthy();
    await expect(page.getByRole("heading", { name: "Signed in to the gateway" })).toBeVisible();

    const token = await exchange(testInfo, client, code, callback.url, verifier);
    expect(token.status).toBe(200);
    const { access_token, scope } = await token.json();
    expect(scope).toBe("clients:read");
    const api = await fetch(`${baseUrl(testInfo)}/api/v1/clients`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(api.status).toBe(200);
    expect((await api.json()).map((c: { name: string }) => c.name)).toContain("Posture Gateway");

    const replay = await exchange(testInfo, client, code, callback.url, verifier);
    expect(replay.status).toBe(400);
    expect((await replay.json()).error).toBe("invalid_grant");

    // The user sees the connection and takes it back.
    await page.goto("/connected");
    await expect(page.getByRole("cell", { name: /^Posture Gateway/ })).toBeVisible();
    await page.getByRole("button", { name: "Disconnect Posture Gateway" }).click();
    await expect(page.getByText("No application can act for you.")).toBeVisible();
  } finally {
    callback.close();
  }
});

test("a user who denies is sent back with access_denied", async ({ page }, testInfo) => {
  const callback = await callbackServer();
  try {
    createUser(testInfo, "member@keyport.test", "member");
    const client = createClient(testInfo, ADMIN.email, "Branch VPN", ["clients:read"], callback.url);
    const { challenge } = pkce();
    const state = randomBytes(8).toString("hex");

    await page.goto(authorizeUrl(client.client_id, callback.url, challenge, state));
    await signInAs(page, "member@keyport.test");
    await expect(page.getByRole("heading", { name: "Authorize Branch VPN" })).toBeVisible();
    await page.getByRole("button", { name: "Deny" }).click();

    const back = await callback.received;
    expect(back.searchParams.get("error")).toBe("access_denied");
    expect(back.searchParams.get("state")).toBe(state);
    expect(back.searchParams.get("code")).toBeNull();
  } finally {
    callback.close();
  }
});

test("a request for an unregistered redirect is shown, never followed", async ({ page }, testInfo) => {
  const client = createClient(testInfo, ADMIN.email, "Listed Gateway", ["clients:read"], "http://127.0.0.1:9/callback");
  await page.goto("/login");
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/applications$/);

  const response = await page.goto(authorizeUrl(client.client_id, "https://evil.example/callback", pkce().challenge, "s"));
  expect(response!.status()).toBe(400);
  await expect(page.getByRole("heading", { name: "This request cannot be completed" })).toBeVisible();
  await expect(page.getByRole("alert")).toContainText("not the callback URL registered for Listed Gateway");
  expect(page.url()).toContain("/oauth2/authorize");
});
