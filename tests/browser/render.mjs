// Open a page in headless Chromium (Debian's, driven by playwright-core), wait until `text`
// is visible, save a screenshot and print the page's visible text.
//   node tests/browser/render.mjs URL TEXT SCREENSHOT.png
import { chromium } from "playwright-core";

const [url, text, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
  await page.goto(url, { waitUntil: "networkidle" });
  await page.getByText(text, { exact: false }).first().waitFor({ timeout: 30000 });
  await page.screenshot({ path: screenshot });
  console.log(await page.innerText("body"));
} finally {
  await browser.close();
}
