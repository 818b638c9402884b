import { test, expect } from "@playwright/test";
import { ADMIN, expectAddress, open, signIn } from "./helpers";

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
