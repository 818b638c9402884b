import { test, expect, type Locator, type Page, type TestInfo } from "@playwright/test";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import {
  ADMIN,
  createClient,
  ensureUser,
  expectAddress,
  literally,
  open,
  rerun,
  signIn,
  signInAt,
  slowdowns,
  uniqueEmail,
  uniqueName,
} from "./helpers";

// The authorization code flow as a third-party product plays it: it sends
// the browser to Keyport, catches the redirect on its loopback callback,
// exchanges the code over plain HTTP and calls the management API.

test.describe.configure({ mode: "serial" });

// A retry reruns every test of this file against the same server and
// database: what a try registers carries a name of its own (`uniqueName`,
// `uniqueEmail`: unchanged on the first try), and locators match it exactly,
// so that what an earlier try left behind is neither refused as taken nor
// found instead.

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

/**
 * The API that one test registers and the next issues tokens for. Its
 * identifier and permission names are unique across APIs: a rerun
 * registers one of its own, on another host with the same path.
 */
function reportingApi(testInfo: TestInfo) {
  const tag = rerun(testInfo);
  const prefix = tag ? `reports-${tag}` : "reports";
  return {
    name: uniqueName(testInfo, "Reporting API"),
    identifier: `https://${prefix}.keyport.test/api`,
    read: `${prefix}:read`,
    write: `${prefix}:write`,
  };
}

/** A permission's checkbox, found by its scope: the label starts with it. */
function permission(within: Page | Locator, scope: string) {
  return within.getByRole("checkbox", { name: new RegExp(`^${literally(scope)}`) });
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

async function signInAs(page: Page, email: string) {
  await expect(page).toHaveURL(/\/login\?next=\/oauth2\/authorize/);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

test("a third-party application gets a token for the user who approves", async ({ page }, testInfo) => {
  const callback = await callbackServer();
  try {
    // A user of its own: an earlier try's may still be connected.
    const operator = uniqueEmail(testInfo, "operator@keyport.test");
    ensureUser(testInfo, operator, "domain_admin");
    // The vendor's application is owned by a domain admin: one a super
    // admin owns is not the operator's to list (domain::rules).
    const vendor = uniqueEmail(testInfo, "vendor@keyport.test");
    ensureUser(testInfo, vendor, "domain_admin");
    const name = uniqueName(testInfo, "Posture Gateway");
    const client = createClient(testInfo, vendor, name, ["clients:read", "audit:read"], callback.url);
    const { verifier, challenge } = pkce();
    const state = randomBytes(8).toString("hex");

    await page.goto(authorizeUrl(client.client_id, callback.url, challenge, state));
    await signInAs(page, operator);

    await expect(page.getByRole("heading", { name: `Authorize ${name}`, exact: true })).toBeVisible();
    await expect(page.getByText(operator)).toBeVisible();
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
    expect((await api.json()).map((c: { name: string }) => c.name)).toContain(name);

    const replay = await exchange(testInfo, client, code, callback.url, verifier);
    expect(replay.status).toBe(400);
    expect((await replay.json()).error).toBe("invalid_grant");

    // The user sees the connection and takes it back.
    await page.goto("/connected");
    await expect(page.getByRole("cell", { name: new RegExp(`^${literally(name)}`) })).toBeVisible();
    await page.getByRole("button", { name: `Disconnect ${name}`, exact: true }).click();
    await expect(page.getByText("No application can act for you.")).toBeVisible();
  } finally {
    callback.close();
  }
});

test("a user who denies is sent back with access_denied", async ({ page }, testInfo) => {
  const callback = await callbackServer();
  try {
    // Denying leaves nothing behind: an earlier try's member will do.
    ensureUser(testInfo, "member@keyport.test", "member");
    const name = uniqueName(testInfo, "Branch VPN");
    const client = createClient(testInfo, ADMIN.email, name, ["clients:read"], callback.url);
    const { challenge } = pkce();
    const state = randomBytes(8).toString("hex");

    await page.goto(authorizeUrl(client.client_id, callback.url, challenge, state));
    await signInAs(page, "member@keyport.test");
    await expect(page.getByRole("heading", { name: `Authorize ${name}`, exact: true })).toBeVisible();
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
  const name = uniqueName(testInfo, "Listed Gateway");
  const client = createClient(testInfo, ADMIN.email, name, ["clients:read"], "http://127.0.0.1:9/callback");
  await page.goto("/login");
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/applications$/);

  const response = await page.goto(authorizeUrl(client.client_id, "https://evil.example/callback", pkce().challenge, "s"));
  expect(response!.status()).toBe(400);
  await expect(page.getByRole("heading", { name: "This request cannot be completed" })).toBeVisible();
  await expect(page.getByRole("alert")).toContainText(`not the callback URL registered for ${name}`);
  expect(page.url()).toContain("/oauth2/authorize");
});

test("a public application registered in the portal signs its user in on any loopback port and stays connected", async ({ page }, testInfo) => {
  const name = uniqueName(testInfo, "Agent CLI");
  await signIn(page, testInfo);
  await open(page, "/applications/new", testInfo);
  await page.getByLabel("Application Name").fill(name);
  await page.getByRole("checkbox", { name: /clients:read/ }).check();
  await page.getByLabel("Callback URL").fill("http://127.0.0.1/callback");
  await page.getByRole("radio", { name: /^Public/ }).check();
  await page.getByRole("checkbox", { name: /Issue a refresh token/ }).check();
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("heading", { name, exact: true, level: 1 })).toBeVisible();
  expectAddress(page, /^\/applications\/[0-9a-f-]+$/);
  // No secret to show, rotate or copy; the sign-in it does instead.
  await expect(page.getByText("None: public client")).toBeVisible();
  await expect(page.getByRole("button", { name: "Show Client Secret" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Rotate secret" })).toHaveCount(0);
  await expect(page.getByRole("heading", { name: "Send the user to sign in" })).toBeVisible();
  const clientId = (await page.locator("code.client-id").textContent())!.trim();

  // The tool listens on whatever port it got; the registered callback has none.
  const callback = await callbackServer();
  try {
    const { verifier, challenge } = pkce();
    const state = randomBytes(8).toString("hex");
    const query = new URLSearchParams({
      response_type: "code",
      client_id: clientId,
      redirect_uri: callback.url,
      scope: "clients:read offline_access",
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    await page.goto(`/oauth2/authorize?${query}`);
    await expect(page.getByRole("heading", { name: `Authorize ${name}`, exact: true })).toBeVisible();
    await expect(page.locator(".consent-permissions")).toContainText("Stay connected");
    await page.getByRole("button", { name: "Approve" }).click();
    const back = await callback.received;
    expect(back.searchParams.get("state")).toBe(state);

    const token = (form: Record<string, string>) =>
      fetch(`${baseUrl(testInfo)}/oauth2/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ client_id: clientId, ...form }),
      });
    const exchanged = await token({
      grant_type: "authorization_code",
      code: back.searchParams.get("code")!,
      redirect_uri: callback.url,
      code_verifier: verifier,
    });
    expect(exchanged.status).toBe(200);
    const first = await exchanged.json();
    expect(first.scope).toBe("clients:read");
    expect(first.refresh_token).toMatch(/^kpr_/);
    const refreshed = await token({ grant_type: "refresh_token", refresh_token: first.refresh_token });
    expect(refreshed.status).toBe(200);
    const second = await refreshed.json();
    expect(second.refresh_token).not.toBe(first.refresh_token);

    // Connected apps shows the grant that stays connected; Disconnect ends it.
    await open(page, "/connected", testInfo);
    // Not a rerun's "<name> r1", left connected by an earlier try.
    const named = new RegExp(`${literally(name)}(?! r\\d)`);
    const row = page.getByRole("row", { name: named });
    await expect(row.getByText(/^Since /)).toBeVisible();
    await expect(row).toContainText("last used");
    await page.getByRole("button", { name: `Disconnect ${name}`, exact: true }).click();
    await expect(page.getByRole("row", { name: named })).toHaveCount(0);
    const after = await token({ grant_type: "refresh_token", refresh_token: second.refresh_token });
    expect(after.status).toBe(400);
    expect((await after.json()).error).toBe("invalid_grant");
  } finally {
    callback.close();
  }
});

test("an API registered on the APIs page gets tokens of its own", async ({ page }, testInfo) => {
  const api = reportingApi(testInfo);
  await signIn(page, testInfo);
  await open(page, "/apis", testInfo);
  await expect(page.getByRole("heading", { name: /Keyport management API/ })).toBeVisible();
  await page.getByLabel("Name").fill(api.name);
  await page.getByLabel("Identifier").fill(api.identifier);
  await page.getByLabel("Permissions").fill(`${api.read} Read the reports\n${api.write} Schedule reports`);
  await page.getByRole("button", { name: "Register API" }).click();
  await expect(page.getByRole("heading", { name: api.name, exact: true })).toBeVisible();
  const card = page.locator("section.card.api", { has: page.getByRole("heading", { name: api.name, exact: true }) });
  await card.getByText("What its owner publishes and checks").click();
  await expect(card.locator("pre").first()).toContainText(`"resource": "${api.identifier}"`);
  await expect(card).toContainText("/.well-known/oauth-protected-resource/api");
  await expect(card).toContainText(`audience: "${api.identifier}"`);

  // The application form shows the new API's permissions under its name.
  await open(page, "/applications/new", testInfo);
  const group = page.locator(".api-group", { has: page.locator(".api-name", { hasText: new RegExp(`^${literally(api.name)}$`) }) });
  await expect(permission(group, api.read)).toBeVisible();

  const client = createClient(testInfo, ADMIN.email, uniqueName(testInfo, "Report Fetcher"), ["clients:read", api.read]);
  const basic = Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64");
  const response = await fetch(`${baseUrl(testInfo)}/oauth2/token`, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", resource: api.identifier }),
  });
  expect(response.status).toBe(200);
  const { access_token, scope } = await response.json();
  expect(scope).toBe(api.read);
  const claims = JSON.parse(Buffer.from(access_token.split(".")[1], "base64url").toString());
  expect(claims.aud).toBe(api.identifier);
});

test("an initial access token from the registration page registers an agent, until it is revoked", async ({ page }, testInfo) => {
  const api = reportingApi(testInfo);
  const label = uniqueName(testInfo, "Support agents");
  const labelled = new RegExp(literally(label));
  const agentName = uniqueName(testInfo, "Support agent");
  await signIn(page, testInfo);
  await open(page, "/registration", testInfo);
  await expect(page.getByRole("heading", { name: "Client registration", level: 1 })).toBeVisible();
  await page.getByLabel("Label").fill(label);
  await page.getByLabel("Registrations").fill("2");
  // Every permission of the registered APIs is offered ticked; not Keyport's own.
  await expect(permission(page, api.read)).toBeChecked();
  await expect(page.getByRole("checkbox", { name: /clients:write/ })).not.toBeChecked();
  await permission(page, api.write).uncheck();
  await page.getByRole("button", { name: "Create token" }).click();
  const shown = page.getByTestId("initial-access-token");
  await expect(shown).toHaveText(/^kpi_/);
  expectAddress(page, /^\/registration/);
  const token = (await shown.textContent())!.trim();

  // The agent registers itself with it, as RFC 7591 says.
  const register = (metadata: object) =>
    fetch(`${baseUrl(testInfo)}/oauth2/register`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(metadata),
    });
  const agent = {
    client_name: agentName,
    redirect_uris: ["http://127.0.0.1/callback"],
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code", "refresh_token"],
    scope: api.read,
  };
  const widened = await register({ ...agent, scope: api.write });
  expect(widened.status).toBe(400);
  expect((await widened.json()).error).toBe("invalid_client_metadata");
  const registered = await register(agent);
  expect(registered.status).toBe(201);
  const body = await registered.json();
  expect(body.client_secret).toBeUndefined();
  expect(body.registration_access_token).toMatch(/^kpa_/);

  // The list marks it; the token shows one use spent.
  await open(page, "/applications", testInfo);
  await expect(page.getByRole("row", { name: new RegExp(literally(agentName)) })).toContainText(`registered by API (${label})`);
  await open(page, "/registration", testInfo);
  const row = page.getByRole("row", { name: labelled });
  await expect(row).toContainText("1 of 2");
  await expect(row).toContainText("Active");
  await expect(page.getByTestId("initial-access-token")).toHaveCount(0);

  // Revoked, it registers nothing more; what it registered stays.
  await row.getByRole("button", { name: `Revoke ${label}`, exact: true }).click();
  await expect(page.getByRole("row", { name: labelled })).toContainText("Revoked");
  await expect(page.getByRole("button", { name: `Revoke ${label}`, exact: true })).toHaveCount(0);
  const refused = await register({ ...agent, client_name: uniqueName(testInfo, "Another agent") });
  expect(refused.status).toBe(401);
  expect((await refused.json()).error).toBe("invalid_token");
  const read = await fetch(body.registration_client_uri, { headers: { authorization: `Bearer ${body.registration_access_token}` } });
  expect(read.status).toBe(200);
  expect((await read.json()).client_name).toBe(agentName);

  // Open registration's quota: past what the admins' applications leave it
  // is refused next to its field, within it kept.
  const quota = page.getByLabel("Clients that register themselves, at most");
  await quota.fill("100000");
  await page.getByRole("button", { name: "Save quota" }).click();
  await expect(page.locator(".field.invalid", { has: quota })).toContainText("Give a number from 0 to");
  expectAddress(page, /^\/registration/);
  await page.getByLabel("Clients that register themselves, at most").fill("5");
  await page.getByRole("button", { name: "Save quota" }).click();
  await expect(page.locator(".field.invalid")).toHaveCount(0);
  await open(page, "/registration", testInfo);
  await expect(page.getByLabel("Clients that register themselves, at most")).toHaveValue("5");
});

// Consent as the impatient user gives it on a slow machine or network: a
// signed-out arrival from the application, each step the moment its
// control shows, and the application gets its code.
for (const [slowdown, slow] of slowdowns) {
  test(`approve an application from a signed-out arrival, acting the moment each control shows, on ${slowdown}`, async ({ page, context }, testInfo) => {
    await slow(await context.newCDPSession(page));
    const callback = await callbackServer();
    try {
      const user = uniqueEmail(testInfo, `raced-consent-${slowdown.split(" ").pop()}@keyport.test`);
      ensureUser(testInfo, user, "member");
      const name = uniqueName(testInfo, `Raced consent on ${slowdown}`);
      const client = createClient(testInfo, ADMIN.email, name, ["clients:read"], callback.url);
      const { verifier, challenge } = pkce();
      const state = randomBytes(8).toString("hex");

      await page.goto(authorizeUrl(client.client_id, callback.url, challenge, state));
      await signInAs(page, user);
      await expect(page.getByRole("heading", { name: `Authorize ${name}`, exact: true })).toBeVisible();
      expectAddress(page, /^\/oauth2\/authorize\?/);
      await page.getByRole("button", { name: "Approve" }).click();

      const back = await callback.received;
      expect(back.searchParams.get("state")).toBe(state);
      await expect(page.getByRole("heading", { name: "Signed in to the gateway" })).toBeVisible();
      const token = await exchange(testInfo, client, back.searchParams.get("code")!, callback.url, verifier);
      expect(token.status).toBe(200);
    } finally {
      callback.close();
    }
  });

  test(`create an initial access token from a signed-out visit to the registration page, acting the moment each control shows, on ${slowdown}`, async ({ page, context }, testInfo) => {
    await slow(await context.newCDPSession(page));
    const label = uniqueName(testInfo, `Raced agents on ${slowdown}`);

    await signInAt(page, "/registration");
    await expect(page.getByRole("heading", { name: "Client registration", level: 1 })).toBeVisible();
    expectAddress(page, /^\/registration$/);
    await page.getByLabel("Label").fill(label);
    await page.getByLabel("Registrations").fill("1");
    await permission(page, "clients:read").check();
    await page.getByRole("button", { name: "Create token" }).click();
    const shown = page.getByTestId("initial-access-token");
    await expect(shown).toHaveText(/^kpi_/);
    expectAddress(page, /^\/registration/);
    await expect(page.getByText("Loading…")).toHaveCount(0);

    // The token registers an agent, as RFC 7591 says.
    const registered = await fetch(`${baseUrl(testInfo)}/oauth2/register`, {
      method: "POST",
      headers: { authorization: `Bearer ${(await shown.textContent())!.trim()}`, "content-type": "application/json" },
      body: JSON.stringify({
        client_name: uniqueName(testInfo, `Raced agent on ${slowdown}`),
        redirect_uris: ["http://127.0.0.1/callback"],
        token_endpoint_auth_method: "none",
      }),
    });
    expect(registered.status).toBe(201);
  });
}
