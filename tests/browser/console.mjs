// The web console in a real browser: Debian's chromium driven by playwright-core.
//
// Run by tests/api/browser.rs against a gateway on loopback with
//   BRYGGA_URL          the gateway's base URL
//   BRYGGA_USERNAME     an operator's account, and BRYGGA_PASSWORD its password
//   BRYGGA_COORDINATOR  a coordinator's account (same password), whose organisation a
//                       deviation is addressed to
//   BRYGGA_REGION_COORDINATOR  the region's coordinator, who opens the person's
//                       (BRYGGA_PERSON) case timeline
//   BRYGGA_OUTSIDER     a coordinator of a municipality that takes no part in the case
//   BRYGGA_AUDITOR      the region's auditor, who reads the log and the person's extract
//   BRYGGA_TOOLS        the folder scripts/browser-tools.sh installed the tools into
//   BRYGGA_SCREENSHOTS  where to write each page's screenshot
//   BRYGGA_CHROMIUM     the browser (default /usr/bin/chromium)
// It signs in by keyboard, reads the overview, checks every page with axe-core (no serious or
// critical violation), switches to English, signs out, and prints a JSON summary of what it
// saw for the Rust test to check. Any failure exits non-zero naming the step.

import { createRequire } from "node:module";
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(join(process.env.BRYGGA_TOOLS, "package.json"));
const { chromium } = require("playwright-core");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const base = process.env.BRYGGA_URL;
const shots = process.env.BRYGGA_SCREENSHOTS;
mkdirSync(shots, { recursive: true });

function check(condition, what) {
  if (!condition) {
    console.error(`failed: ${what}`);
    process.exit(1);
  }
}

/// The serious and critical accessibility violations of the page, as "rule: target" lines.
async function violations(page) {
  // Through the DevTools protocol, which the page's Content-Security-Policy does not govern.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const found = await globalThis.axe.run(document, { resultTypes: ["violations"] });
    return found.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  return result;
}

const browser = await chromium.launch({
  executablePath: process.env.BRYGGA_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const summary = { pages: {}, console_errors: [] };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") summary.console_errors.push(message.text());
  });

  // Not signed in: the console sends the person to the sign-in page.
  await page.goto(`${base}/console`);
  check(page.url().endsWith("/console/login"), `redirected to sign in, at ${page.url()}`);
  summary.pages.login = {
    title: await page.title(),
    violations: await violations(page),
  };
  await page.screenshot({ path: join(shots, "console-login.png"), fullPage: true });

  // A wrong password: told so, still on the sign-in page.
  await page.getByLabel("Användarnamn").fill(process.env.BRYGGA_USERNAME);
  await page.getByLabel("Lösenord").fill("not the password at all");
  await page.getByRole("button", { name: "Logga in" }).click();
  summary.pages.refused = { alert: await page.getByRole("alert").textContent() };

  // (The refused sign-in's 401 is the one error the browser may log.)
  summary.console_errors = [];

  // By keyboard: type, Tab to the password, Enter to sign in.
  await page.getByLabel("Användarnamn").fill("");
  await page.getByLabel("Användarnamn").focus();
  await page.keyboard.type(process.env.BRYGGA_USERNAME);
  await page.keyboard.press("Tab");
  await page.keyboard.type(process.env.BRYGGA_PASSWORD);
  await Promise.all([
    page.waitForURL((url) => url.pathname === "/console", { timeout: 10000 }),
    page.keyboard.press("Enter"),
  ]);
  const queues = page.getByRole("table", { name: "Leveranser per prenumeration" });
  summary.pages.overview = {
    title: await page.title(),
    heading: await page.getByRole("heading", { level: 1 }).textContent(),
    queue_rows: await queues.locator("tbody tr").evaluateAll((rows) =>
      rows.map((row) => Array.from(row.children, (cell) => cell.textContent.trim())),
    ),
    deviation_rows: await page
      .getByRole("table", { name: "Avvikelser som väntar på svar" })
      .locator("tbody tr")
      .evaluateAll((rows) => rows.map((row) => Array.from(row.children, (c) => c.textContent.trim()))),
    violations: await violations(page),
  };
  await page.screenshot({ path: join(shots, "console-overview.png"), fullPage: true });

  // The first Tab reaches the skip link, which leads to the content.
  await page.keyboard.press("Tab");
  summary.pages.overview.first_tab = await page.evaluate(() => document.activeElement.textContent);

  // The dead letters, on the deliveries page: one delivered again.
  await page.getByRole("link", { name: "Leveranser" }).click();
  await page.getByLabel("Status").selectOption("dead");
  await page.getByRole("button", { name: "Visa" }).click();
  const deliveries = page.getByRole("table", { name: "Leveranser" });
  const deadBefore = await deliveries.locator("tbody tr").count();
  await page.screenshot({ path: join(shots, "console-deliveries.png"), fullPage: true });
  const violationsThere = await violations(page);
  await deliveries.getByRole("button", { name: /^Leverera igen/ }).first().click();
  check((await page.getByRole("status").textContent()).includes("lades tillbaka i kön"), "told of the redelivery");
  // The worker delivers it; the page shows it once reloaded (bounded).
  await page.getByLabel("Status").selectOption("delivered");
  await page.getByRole("button", { name: "Visa" }).click();
  let delivered = 0;
  for (let i = 0; i < 100 && delivered === 0; i++) {
    delivered = await page.getByRole("table", { name: "Leveranser" }).locator("tbody tr").count();
    if (delivered === 0) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await page.reload();
    }
  }
  summary.pages.deliveries = {
    dead_before: deadBefore,
    delivered_after: delivered,
    violations: violationsThere,
  };
  // What the gateway offers vendors.
  await page.getByRole("link", { name: "Anslutning" }).click();
  summary.pages.conformance = {
    heading: await page.getByRole("heading", { level: 1 }).textContent(),
    dialects: await page.locator("section[aria-labelledby=dialects] h3").count(),
    violations: await violations(page),
  };
  await page.screenshot({ path: join(shots, "console-conformance.png"), fullPage: true });
  await page.getByRole("link", { name: "Översikt" }).click();

  // In English.
  await page.getByRole("link", { name: "In English" }).click();
  summary.pages.english = {
    heading: await page.getByRole("heading", { level: 1 }).textContent(),
    lang: await page.evaluate(() => document.documentElement.lang),
  };

  // Signing out ends the session: the console sends the person to sign in again.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/console\/login$/);
  await page.goto(`${base}/console`);
  summary.pages.signed_out = { url: page.url() };

  // The coordinator answers the deviation addressed to her organisation.
  await page.goto(`${base}/console/login?lang=sv`);
  await page.getByLabel("Användarnamn").fill(process.env.BRYGGA_COORDINATOR);
  await page.getByLabel("Lösenord").fill(process.env.BRYGGA_PASSWORD);
  await Promise.all([
    page.waitForURL((url) => url.pathname === "/console", { timeout: 10000 }),
    page.getByRole("button", { name: "Logga in" }).click(),
  ]);
  await page.getByRole("link", { name: "Avvikelser" }).click();
  const listed = page.getByRole("table", { name: "Avvikelser" }).locator("tbody tr");
  const deviationsListed = await listed.count();
  const listViolations = await violations(page);
  await listed.first().getByRole("link").click();
  await page.getByRole("button", { name: "Kvittera" }).click();
  await page.getByLabel("Vad har gjorts åt avvikelsen?").fill("Rutinen för kallelser är ändrad.");
  const deviationViolations = await violations(page);
  await page.screenshot({ path: join(shots, "console-deviation.png"), fullPage: true });
  await page.getByRole("button", { name: "Skicka svar" }).click();
  summary.pages.deviation = {
    listed: deviationsListed,
    status: await page.locator("dl dd").first().textContent(),
    answer_form_left: await page.getByRole("button", { name: "Skicka svar" }).count(),
    violations: listViolations.concat(deviationViolations),
  };

  // Signing out, then the region's coordinator finds the person's case and opens its
  // timeline for a stated purpose: the SIP invitation is there, withheld from Östersund.
  await page.getByRole("button", { name: "Logga ut" }).click();
  await page.waitForURL(/\/console\/login$/);
  await page.getByLabel("Användarnamn").fill(process.env.BRYGGA_REGION_COORDINATOR);
  await page.getByLabel("Lösenord").fill(process.env.BRYGGA_PASSWORD);
  await Promise.all([
    page.waitForURL((url) => url.pathname === "/console", { timeout: 10000 }),
    page.getByRole("button", { name: "Logga in" }).click(),
  ]);
  await page.getByRole("link", { name: "Ärenden" }).click();
  const searchViolations = await violations(page);
  await page.getByLabel(/^Personnummer/).fill(process.env.BRYGGA_PERSON);
  await page.getByLabel("Syfte").selectOption({ label: "utredning av avvikelse" });
  await page.getByRole("button", { name: "Sök ärenden" }).click();
  check(!page.url().includes(process.env.BRYGGA_PERSON), "the personnummer stays out of the URL");
  await page.getByRole("table", { name: "Ärenden" }).getByRole("link").first().click();
  await page.getByRole("heading", { name: "Tidsfrister" }).waitFor();
  const invitation = page.locator("ol.timeline > li").filter({ hasText: "Kallelse till SIP" });
  summary.pages.timeline = {
    heading: await page.getByRole("heading", { level: 1 }).textContent(),
    steps: await page.locator("ol.timeline > li h3").evaluateAll((hs) =>
      hs.map((h) => h.firstChild.textContent.trim()),
    ),
    withheld: await invitation.locator("td.withheld").evaluateAll((cells) =>
      cells.map((cell) => [cell.parentElement.querySelector("th").textContent, cell.textContent]),
    ),
    clocks: await page
      .getByRole("table", { name: "Tidsfrister" })
      .locator("tbody tr")
      .evaluateAll((rows) => rows.map((row) => Array.from(row.children, (c) => c.textContent.trim()))),
    violations: searchViolations.concat(await violations(page)),
  };
  await page.screenshot({ path: join(shots, "console-timeline.png"), fullPage: true });
  // The first screenful and the withheld step, as the README shows them.
  await page.screenshot({ path: join(shots, "console-timeline-top.png") });
  await invitation.screenshot({ path: join(shots, "console-timeline-step.png") });
  const timelineUrl = page.url();

  // The statistics: every chart drawn by the vendored uPlot from the table beside it.
  await page.getByRole("link", { name: "Statistik" }).click();
  await page.locator("figure.chart[data-rendered=true]").first().waitFor({ timeout: 10000 });
  const admissions = page.locator("figure#admission-notices");
  summary.pages.statistics = {
    charts: await page.locator("figure.chart").count(),
    rendered: await page.locator("figure.chart[data-rendered=true]").count(),
    canvases: await page.locator("figure.chart canvas").count(),
    table: await admissions.locator(":scope > table > tbody > tr").evaluateAll((rows) =>
      rows.map((row) => Array.from(row.children, (c) => c.textContent.trim())),
    ),
    drawn: JSON.parse(await admissions.locator(".plot").getAttribute("data-series")),
    violations: await violations(page),
  };
  await page.screenshot({ path: join(shots, "console-statistics.png"), fullPage: true });

  // Another municipality's coordinator is refused the case, as if it did not exist.
  await page.getByRole("button", { name: "Logga ut" }).click();
  await page.waitForURL(/\/console\/login$/);
  await page.getByLabel("Användarnamn").fill(process.env.BRYGGA_OUTSIDER);
  await page.getByLabel("Lösenord").fill(process.env.BRYGGA_PASSWORD);
  await Promise.all([
    page.waitForURL((url) => url.pathname === "/console", { timeout: 10000 }),
    page.getByRole("button", { name: "Logga in" }).click(),
  ]);
  // (The refusal's 404 is the one error the browser logs here.)
  const errorsBefore = summary.console_errors.length;
  const refused = await page.goto(timelineUrl);
  summary.console_errors.splice(errorsBefore);
  summary.pages.outsider = {
    status: refused.status(),
    alert: await page.getByRole("alert").textContent(),
    violations: await violations(page),
  };

  // The region's auditor: the organisation's log, and the person's extract.
  await page.goto(`${base}/console`);
  await page.getByRole("button", { name: "Logga ut" }).click();
  await page.waitForURL(/\/console\/login$/);
  await page.getByLabel("Användarnamn").fill(process.env.BRYGGA_AUDITOR);
  await page.getByLabel("Lösenord").fill(process.env.BRYGGA_PASSWORD);
  await Promise.all([
    page.waitForURL((url) => url.pathname === "/console", { timeout: 10000 }),
    page.getByRole("button", { name: "Logga in" }).click(),
  ]);
  await page.getByRole("link", { name: "Loggen" }).click();
  const logViolations = await violations(page);
  await page.screenshot({ path: join(shots, "console-audit.png"), fullPage: true });
  await page.getByLabel(/^Personnummer/).fill(process.env.BRYGGA_PERSON);
  await page.getByRole("button", { name: "Visa utdraget" }).click();
  summary.pages.audit = {
    extract_actions: await page
      .getByRole("table", { name: "Loggen" })
      .locator("tbody tr td:nth-child(4)")
      .allTextContents(),
    violations: logViolations.concat(await violations(page)),
  };
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
