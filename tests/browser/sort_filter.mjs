// The compare page's tables as a reader uses them, in headless Chromium (playwright-core):
// type FILTER into the filter box, then unfold the first suite and click the heading HEADING
// of its first table twice; print JSON: the rows left visible, and the column's values in
// shown order after each click.
//   node tests/browser/sort_filter.mjs URL FILTER HEADING
import { chromium } from "playwright-core";

const [url, filter, heading] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url, { waitUntil: "networkidle" });
  await page.fill("input.filter", filter);
  const visible = await page.$$eval("#suites tbody tr", (rows) =>
    rows.filter((r) => !r.hidden).map((r) => r.innerText));
  await page.fill("input.filter", "");
  await page.locator("#suites details summary").first().click();  // unfold the first suite
  const table = page.locator("#suites table.sortable").first();
  const th = table.locator("th", { hasText: heading }).first();
  const index = await th.evaluate((e) => e.cellIndex);
  const values = () => table.evaluate((t, i) =>
    [...t.tBodies[0].rows].map((r) => r.cells[i].dataset.v ?? r.cells[i].innerText), index);
  await th.click();
  const column = await values();
  await th.click();
  const again = await values();
  console.log(JSON.stringify({ visible, column, again }));
} finally {
  await browser.close();
}
