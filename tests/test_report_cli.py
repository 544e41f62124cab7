"""`think report`: the Allure HTML from allure-results, with the Allure 3 command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

from pytest_think.cli import find_allure


def _think(cwd: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "pytest_think.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
    )


def test_report_inputs_it_cannot_use_are_one_line_each(tmp_path: Path) -> None:
    empty = tmp_path / "allure-results"
    empty.mkdir()
    proc = _think(tmp_path, "report", str(empty), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"think report: allure results directory {empty} holds no test results; run pytest "
        f"--alluredir {empty} first\n"
    )
    proc = _think(tmp_path, "report", str(tmp_path / "nope"), "-o", str(tmp_path / "out"))
    assert proc.stderr == f"think report: allure results directory {tmp_path / 'nope'} not found\n"
    (empty / "x-result.json").write_text("{}")
    # No allure on PATH and none installed where it runs: say how to get it.
    proc = _think(tmp_path, "report", str(empty), "-o", str(tmp_path / "out"), path="/usr/bin:/bin")
    assert proc.returncode == 2
    assert proc.stderr.startswith("think report: the Allure command line is not installed: npm")


@pytest.mark.skipif(
    find_allure() is None and not (REPO / "node_modules/.bin/allure").exists()
    and not os.environ.get("CI"),
    reason="the Allure command line is not installed (make test installs it with npm)",
)  # fmt: skip
def test_report_generates_the_allure_html(sim_allure_results: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = _think(REPO, "report", str(sim_allure_results), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "index.html").is_file()
    assert "digits" in "".join(p.read_text() for p in (out / "data" / "test-results").glob("*"))
