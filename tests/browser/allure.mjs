// Open an Allure 3 report (headless Chromium, driven by playwright-core), save a screenshot of
// its overview as it opens, then show every metadata line and every branch of the results
// tree and print the page's visible text.
//   node tests/browser/allure.mjs URL SCREENSHOT.png [WIDTH HEIGHT]
import { chromium } from "playwright-core";

const [url, screenshot, width = "1400", height = "900"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: +width, height: +height } });
  await page.goto(url, { waitUntil: "networkidle" });
  await page.getByText("Metadata").first().waitFor({ timeout: 30000 });
  await page.screenshot({ path: screenshot });
  const more = page.getByRole("button", { name: "Show more" });
  if (await more.count()) await more.first().click();
  // Open each branch once: opening one shows its children's branches.
  const opened = new Set();
  for (;;) {
    const sections = page.locator("[data-testid=tree-section]");
    const ids = await sections.evaluateAll((els) => els.map((e) => e.dataset.treeNodeId));
    const next = ids.find((id) => !opened.has(id));
    if (next === undefined) break;
    opened.add(next);
    await page.locator(`[data-tree-node-id="${next}"] [data-testid=tree-arrow]`).first().click();
  }
  console.log(await page.innerText("body"));
} finally {
  await browser.close();
}
