// The console's sign-in through an OpenID provider, in a real browser (Debian's chromium driven
// by playwright-core): the provider on loopback (tests/browser/oidc-provider.mjs), its own
// login and consent pages, back to the console signed in with the name, organisation and role
// of the ID token; then a person the provider knows but who has no console role, refused.
//
// Run by tests/api/console_oidc.rs with
//   BRYGGA_URL          the gateway's base URL
//   BRYGGA_LABEL        what the console's sign-in button names the provider
//   BRYGGA_TOOLS        the folder scripts/browser-tools.sh installed the tools into
//   BRYGGA_SCREENSHOTS  where to write the screenshots
//   BRYGGA_CHROMIUM     the browser (default /usr/bin/chromium)
// Prints a JSON summary of what it saw; any failure exits non-zero naming the step.

import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(join(process.env.BRYGGA_TOOLS, "package.json"));
const { chromium } = require("playwright-core");

const base = process.env.BRYGGA_URL;
const shots = process.env.BRYGGA_SCREENSHOTS;
mkdirSync(shots, { recursive: true });

/// Signs in through the provider as `login` in a fresh browser context; the page at the end.
async function signIn(browser, login, shot) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${base}/console/login`);
  await page.getByRole("link", { name: `Logga in med ${process.env.BRYGGA_LABEL}` }).click();
  // The provider's own login page, then its consent page.
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill("any password at all");
  await page.locator('button[type="submit"]').click();
  await page.locator('button[type="submit"]').click();
  // Back at the gateway: signed in, the callback's page goes on to the console; refused,
  // the callback answers the sign-in page with the reason.
  await page.waitForURL((url) => url.href.startsWith(base), { timeout: 10000 });
  await page
    .locator("h1, [role=alert]")
    .filter({ hasText: /Översikt|misslyckades/ })
    .first()
    .waitFor({ timeout: 10000 });
  await page.screenshot({ path: join(shots, shot), fullPage: true });
  return page;
}

const browser = await chromium.launch({
  executablePath: process.env.BRYGGA_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const summary = {};
try {
  const page = await signIn(browser, "rut.oidc", "console-oidc-signed-in.png");
  summary.signed_in = {
    path: new URL(page.url()).pathname,
    heading: await page.getByRole("heading", { level: 1 }).textContent(),
    who: await page.locator("header .who").textContent(),
  };
  // The session is the console's like any other: the cases page is the coordinator's.
  await page.getByRole("link", { name: "Ärenden" }).click();
  summary.signed_in.cases_heading = await page.getByRole("heading", { level: 1 }).textContent();

  const refused = await signIn(browser, "stranger", "console-oidc-refused.png");
  summary.stranger = {
    path: new URL(refused.url()).pathname,
    alert: await refused.getByRole("alert").textContent(),
  };
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
