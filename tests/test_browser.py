"""The compare page in a real browser: headless Chromium renders the boards, figures, plots.

`make test` installs Debian's chromium; outside CI the test skips when it is absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    assert '<td class="board">sim</td>' in html and '<td class="board">fpga-bench</td>' in html
    assert "0.4691" in html and html.count("<img") == 3
    shot = tmp_path / "compare.png"
    taken = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", page)
    assert shot.is_file(), taken.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    # matplotlib's default blue (31, 119, 180) only appears if the plots were drawn.
    blue = np.abs(pixels - [31, 119, 180]).sum(axis=1) < 30
    assert blue.sum() > 2000
