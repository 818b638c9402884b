import { test, expect } from "@playwright/test";
import { ADMIN, open, setupUrl, expectAddress } from "./helpers";

test("first-run setup creates the first administrator with the logged token", async ({ page }, testInfo) => {
  // Without the token the form refuses.
  await open(page, "/setup", testInfo);
  await expect(page.getByRole("heading", { name: "Set up Keyport" })).toBeVisible();
  await page.getByLabel("Setup token").fill("wrong-token");
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await page.getByLabel("Confirm password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Create administrator" }).click();
  await expect(page.getByRole("alert")).toContainText("This setup link is not valid");
  await expect(page.getByLabel("Email")).toHaveValue(ADMIN.email);

  // With the link from the server log, it works.
  await open(page, setupUrl(testInfo), testInfo);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await page.getByLabel("Confirm password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Create administrator" }).click();
  await expect(page.getByRole("heading", { name: "Applications" })).toBeVisible();
  expectAddress(page, /^\/applications$/);
  await expect(page.getByText(ADMIN.email)).toBeVisible();

  // And only once.
  await open(page, setupUrl(testInfo), testInfo);
  await expect(page.getByText("Keyport is already set up.")).toBeVisible();
});
