import { expect, type Page, type TestInfo } from "@playwright/test";
import { readFileSync } from "node:fs";
import path from "node:path";

export const ADMIN = { email: "admin@keyport.test", password: "correct horse battery staple" };

export function setupUrl(testInfo: TestInfo): string {
  const mode = testInfo.project.name.replace(/-setup$/, "");
  const file = path.join(__dirname, "..", ".run", `${mode}.json`);
  return JSON.parse(readFileSync(file, "utf8")).setupUrl;
}

export function hydrated(testInfo: TestInfo): boolean {
  return testInfo.project.use.javaScriptEnabled !== false;
}

/** Opens a page and, in the hydrated mode, waits until the WASM has taken over. */
export async function open(page: Page, url: string, testInfo: TestInfo) {
  await page.goto(url);
  if (hydrated(testInfo)) {
    await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  }
}

export async function signIn(page: Page, testInfo: TestInfo, email = ADMIN.email, password = ADMIN.password) {
  await open(page, "/login", testInfo);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/applications$/);
}
