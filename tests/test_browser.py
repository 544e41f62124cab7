"""The compare page in a real browser: headless Chromium renders the boards, figures, plots.

`make test` installs Debian's chromium; outside CI the test skips when it is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Chromium is not installed (make test installs Debian's chromium)",
)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None, "CI must have Chromium: make test installs it"
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compare_page_renders_boards_figures_and_plots(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "compare"
    subprocess.run(
        [sys.executable, "-m", "pytest_think.cli", "compare", *map(str, two_runs), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    page = (out / "index.html").as_uri()
    dom = _chromium(tmp_path, "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert '<td class="name board">sim</td>' in html
    assert '<td class="name board">fpga-bench</td>' in html
    assert "0.469" in html and html.count("<img") == 1
    shot = tmp_path / "compare.png"
    taken = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", page)
    assert shot.is_file(), taken.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    # matplotlib's default blue (31, 119, 180) only appears if the plots were drawn.
    blue = np.abs(pixels - [31, 119, 180]).sum(axis=1) < 30
    assert blue.sum() > 2000


REPO = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
PLAYWRIGHT = REPO / "node_modules" / "playwright-core"


needs_playwright = pytest.mark.skipif(
    not (NODE and PLAYWRIGHT.is_dir()) and not os.environ.get("CI"),
    reason="node or playwright-core missing (make test installs them with npm)",
)


def _compare_page(two_runs: tuple[Path, Path], tmp_path: Path) -> str:
    """`think compare` of the two runs; the page's file URL."""
    out = tmp_path / "compare"
    made = subprocess.run(
        [sys.executable, "-m", "pytest_think.cli", "compare", *map(str, two_runs), "-o", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return (out / "index.html").as_uri()


def _node(script: str, *args: str) -> Any:
    """A tests/browser script's JSON output (playwright-core driving Debian's Chromium)."""
    shown = subprocess.run(
        [str(NODE), str(REPO / "tests" / "browser" / script), *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, **({"CHROMIUM": CHROMIUM} if CHROMIUM else {})},
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    return json.loads(shown.stdout)


@needs_playwright
def test_compare_first_screen_shows_boards_and_headline_figures(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    from pytest_think.report.compare_html import plain

    page = _compare_page(two_runs, tmp_path)
    width, height = 1400, 900
    first, whole = tmp_path / "first.png", tmp_path / "page.png"
    layout = _node("render.mjs", page, "Headline", str(first), f"{width}x{height}", str(whole))
    seen = layout["firstScreen"]
    # What a person must see without scrolling: every board, and each board's headline
    # figures of the model (its device p50 and throughput, as the results file has them).
    for path in two_runs:
        doc = json.loads(path.read_text())
        assert doc["board"]["name"] in seen
        run = next(t for t in doc["tests"] if t["nodeid"].endswith("::test_digits"))
        p50 = plain(run["latency"]["device_ns"]["p50"] / 1e3)
        throughput = plain(run["throughput_per_s"])
        assert any(text.endswith(p50) for text in seen), (p50, seen)
        assert any(text.endswith(throughput) for text in seen), (throughput, seen)
    assert "latency p50, µs" in seen and "vectors/s" in seen
    # No table before the first plot is longer than the screen; nothing scrolls sideways;
    # nothing was fetched (the page is self-contained).
    plot_top = min(image["top"] for image in layout["images"])
    before = [t for t in layout["tables"] if t["top"] < plot_top]
    assert before and all(t["height"] <= height for t in before)
    assert layout["pageWidth"] <= width
    assert layout["requests"] == []
    from PIL import Image

    assert Image.open(first).size == (width, height)
    assert Image.open(whole).size[1] >= height


@needs_playwright
def test_compare_tables_filter_and_sort_in_chromium(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    page = _compare_page(two_runs, tmp_path)
    result = _node("sort_filter.mjs", page, "test_only_on_sim", "device p50")
    # The filter leaves the rows that name the test: it ran on one board only.
    assert len(result["visible"]) == 1 and "test_only_on_sim" in result["visible"][0]
    # A click on a heading sorts by its numbers (gaps last), a second click the other way.
    column = result["column"]
    numeric = [v for v in column if v.replace(".", "", 1).replace("e-", "", 1).isdigit()]
    assert len(numeric) >= 3 and column[: len(numeric)] == numeric  # numbers first, then gaps
    assert [float(v) for v in numeric] == sorted(float(v) for v in numeric)
    assert result["again"] == column[::-1]
