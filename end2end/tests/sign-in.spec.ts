import { test, expect } from "@playwright/test";
import { ADMIN, expectAddress, hydrated, open, signIn } from "./helpers";

test("a signed-out visit to /applications lands on the sign-in page and returns after it", async ({ page }, testInfo) => {
  await open(page, "/applications", testInfo);
  await expect(page).toHaveURL(/\/login\?next=%2Fapplications|\/login\?next=\/applications/);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByText("Customer ID")).toBeVisible();
  await expect(page.getByRole("heading", { name: "Applications", level: 1 })).toBeVisible();
  expectAddress(page, /^\/applications$/);
  await expect(page.getByText("Domain ID")).toBeVisible();
});

test("a wrong password is refused without saying whether the account exists", async ({ page }, testInfo) => {
  await open(page, "/login", testInfo);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill("not the password at all");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toHaveText("Email or password is incorrect.");
  await expect(page.getByLabel("Email")).toHaveValue(ADMIN.email);

  await page.getByLabel("Email").fill("nobody@keyport.test");
  await page.getByLabel("Password").fill("not the password at all");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toHaveText("Email or password is incorrect.");
});

test("sign out ends the session", async ({ page }, testInfo) => {
  await signIn(page, testInfo);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await open(page, "/applications", testInfo);
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
});

test("a session that ends while the console is open sends the next page to sign-in, and back after it", async ({ page }, testInfo) => {
  await signIn(page, testInfo);
  await page.context().clearCookies();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Connected apps" }).click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  expectAddress(page, /^\/login\?next=\/connected$/);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Connected applications", level: 1 })).toBeVisible();
  expectAddress(page, /^\/connected$/);
});

test("the site's files go out compressed, and are kept for good under names that carry their content's hash", async ({ request }) => {
  const html = await (await request.get("/login")).text();
  const files = [...html.matchAll(/\/pkg\/[\w.-]+\.(?:wasm|js|css)/g)].map((m) => m[0]);
  expect(files.some((f) => f.endsWith(".wasm"))).toBe(true);
  for (const file of new Set(files)) {
    expect(file, "a hashed name").toMatch(/\.[\w-]{22}\.(wasm|js|css)$/);
    for (const encoding of ["br", "gzip"]) {
      const response = await request.get(file, { headers: { "Accept-Encoding": encoding } });
      expect(response.status()).toBe(200);
      expect(response.headers()["content-encoding"], `${file} as ${encoding}`).toBe(encoding);
      expect(response.headers()["vary"]).toMatch(/accept-encoding/i);
      expect(response.headers()["cache-control"]).toBe("public, max-age=31536000, immutable");
    }
  }
});

test("a page loaded on demand keeps its title while it comes alive, its code preloaded with it", async ({ page, context }, testInfo) => {
  await signIn(page, testInfo);
  await (await context.newCDPSession(page)).send("Emulation.setCPUThrottlingRate", { rate: 4 });
  // Every title the document has had since it first had one.
  await page.addInitScript(() => {
    const titles: string[] = [];
    (window as unknown as { titles: string[] }).titles = titles;
    const note = () => {
      const title = document.title;
      if ((titles.length > 0 || title) && titles[titles.length - 1] !== title) titles.push(title);
    };
    new MutationObserver(note).observe(document, { subtree: true, childList: true, characterData: true });
  });
  const chunks: string[] = [];
  page.on("request", (r) => {
    if (/\/pkg\/chunk_/.test(r.url())) chunks.push(r.url());
  });
  const response = await page.goto("/users");
  await expect(page.getByRole("heading", { name: "Users", level: 1 })).toBeVisible();
  await page.waitForLoadState("networkidle");
  // Without JavaScript nothing comes alive, and nothing watches the title.
  if (hydrated(testInfo)) {
    expect(await page.evaluate(() => (window as unknown as { titles: string[] }).titles)).toEqual(["Users · Keyport"]);
  }
  // The page names the chunks it needs, and the browser asks for each once.
  const preloaded = [...(await response!.text()).matchAll(/<link[^>]+href="(\/pkg\/chunk_[^"]+\.wasm)"/g)].map((m) => m[1]);
  expect(preloaded.length).toBeGreaterThan(0);
  expect(new Set(chunks).size).toBe(chunks.length);
});
