// Open a page in headless Chromium (Debian's, driven by playwright-core), wait until `text`
// is visible, save a screenshot and print the page's visible text.
//   node tests/browser/render.mjs URL TEXT SCREENSHOT.png [WIDTHxHEIGHT] [FULLPAGE.png]
// With a viewport (e.g. 1400x900) SCREENSHOT is what a person sees on the first screen,
// FULLPAGE the whole page, and the output is JSON instead: the text of every element that
// lies on the first screen, and where each table and image is (for the layout checks).
import { chromium } from "playwright-core";

const [url, text, screenshot, viewport, fullPage] = process.argv.slice(2);
const [width, height] = (viewport || "1280x1600").split("x").map(Number);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width, height } });
  const requests = [];
  page.on("request", (r) => { if (!r.url().startsWith("data:") && r.url() !== url) requests.push(r.url()); });
  await page.goto(url, { waitUntil: "networkidle" });
  await page.getByText(text, { exact: false }).first().waitFor({ timeout: 30000 });
  await page.screenshot({ path: screenshot });
  if (fullPage) await page.screenshot({ path: fullPage, fullPage: true });
  if (!viewport) {
    console.log(await page.innerText("body"));
  } else {
    const layout = await page.evaluate((screen) => {
      const box = (e) => { const r = e.getBoundingClientRect(); return { top: r.top + scrollY, bottom: r.bottom + scrollY, height: r.height, width: r.width }; };
      const seen = (e) => { const r = e.getBoundingClientRect(); return r.height > 0 && r.top >= 0 && r.bottom <= screen; };
      return {
        firstScreen: [...document.querySelectorAll("td, th, caption, h1, h2")].filter(seen).map((e) => e.innerText),
        tables: [...document.querySelectorAll("table")].filter((t) => t.getClientRects().length).map((t) => ({ id: t.id, className: t.className, ...box(t) })),
        images: [...document.querySelectorAll("img")].map(box),
        pageWidth: document.documentElement.scrollWidth,
      };
    }, height);
    console.log(JSON.stringify({ ...layout, requests }));
  }
} finally {
  await browser.close();
}
