import { defineConfig } from "@playwright/test";

// Every flow runs twice: hydrated (WASM loaded) and with JavaScript off,
// each against its own Keyport server and database (see global-setup.ts).
const chromium = {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

const modes = [
  { name: "hydrated", port: 3101, javaScriptEnabled: true },
  { name: "nojs", port: 3102, javaScriptEnabled: false },
];

export default defineConfig({
  testDir: "./tests",
  globalSetup: "./global-setup.ts",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 2,
  // One more try for a test that failed; one that passes only then is
  // listed as flaky, with the first failure's report.
  retries: 1,
  reporter: [["list"]],
  use: {
    launchOptions: chromium,
    viewport: { width: 1280, height: 800 },
    trace: "off",
  },
  projects: [
    ...modes.flatMap((mode) => [
      {
        name: `${mode.name}-setup`,
        testMatch: /first-run\.spec\.ts/,
        use: { baseURL: `http://127.0.0.1:${mode.port}`, javaScriptEnabled: mode.javaScriptEnabled },
      },
      {
        name: mode.name,
        testIgnore: /(first-run|authorize|operations|domains|accessibility|factors)\.spec\.ts/,
        dependencies: [`${mode.name}-setup`],
        use: { baseURL: `http://127.0.0.1:${mode.port}`, javaScriptEnabled: mode.javaScriptEnabled },
      },
      // The authorization code flow and the admin operations register
      // applications of their own: they run after the portal tests, whose
      // counts they would otherwise change.
      {
        name: `${mode.name}-more`,
        testMatch: /(authorize|operations)\.spec\.ts/,
        dependencies: [mode.name],
        use: { baseURL: `http://127.0.0.1:${mode.port}`, javaScriptEnabled: mode.javaScriptEnabled },
      },
      // A second domain changes what every super admin's page shows (a
      // domain switcher, a Move control): it comes last, and the
      // accessibility checks after it see every page as it is then.
      {
        name: `${mode.name}-domains`,
        testMatch: /domains\.spec\.ts/,
        dependencies: [`${mode.name}-more`],
        use: { baseURL: `http://127.0.0.1:${mode.port}`, javaScriptEnabled: mode.javaScriptEnabled },
      },
      {
        name: `${mode.name}-accessibility`,
        testMatch: /accessibility\.spec\.ts/,
        dependencies: [`${mode.name}-domains`],
        use: { baseURL: `http://127.0.0.1:${mode.port}`, javaScriptEnabled: mode.javaScriptEnabled },
      },
    ]),
    // Second factors run against a server of their own, under a host name
    // (browsers refuse passkeys at an IP address) and with a short step-up
    // lifetime (see global-setup.ts). Each test makes its own users with
    // the command line: no setup project.
    ...modes.map((mode) => ({
      name: `factors-${mode.name}`,
      testMatch: /factors\.spec\.ts/,
      use: { baseURL: "http://localhost:3103", javaScriptEnabled: mode.javaScriptEnabled },
    })),
  ],
});
