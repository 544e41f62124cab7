"""A lab adds a family and its twin through entry points alone: tests/example_lab, installed
as a lab would install it, then its suite run on its board's twin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

EXAMPLE = REPO / "tests" / "example_lab"
BOARD = EXAMPLE / "boards" / "toy-npu.yaml"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package installed into a directory of its own (no network, no build
    isolation: the build backend is the one the dev environment has)."""
    target = tmp_path_factory.mktemp("site")
    # Built from a copy: a build leaves build/ and *.egg-info beside the sources.
    source = tmp_path_factory.mktemp("source") / "example_lab"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert (target / "think_toy_npu" / "family.py").is_file()
    return target


def _run(args: list[str], site: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site) if site else ""}
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_without_the_package_the_family_is_unknown(tmp_path: Path) -> None:
    proc = _run(["pytest_think.cli", "check", str(BOARD)], None, tmp_path)
    assert proc.returncode == 1
    assert "unknown family 'toy-npu'" in proc.stderr


def test_check_knows_the_family_and_its_twin(site: Path, tmp_path: Path) -> None:
    assert _run(["pytest_think.cli", "check", str(BOARD)], site, tmp_path).returncode == 0
    typo = tmp_path / "typo.yaml"
    typo.write_text(BOARD.read_text().replace("firmware_version", "firmware"))
    proc = _run(["pytest_think.cli", "check", str(typo)], site, tmp_path)
    assert proc.returncode == 1
    assert "field 'twin.npu.firmware': unknown field" in proc.stderr


def test_the_labs_suite_runs_on_its_twin(site: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    # As the lab runs it, from its own repository: the board by name from its boards/.
    proc = _run(
        ["pytest", "--board=toy-npu", f"--think-json={results}", "-p", "no:cacheprovider"],
        site,
        EXAMPLE,
    )
    assert "4 passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
    doc = json.loads(results.read_text())
    assert doc["board"]["family"] == "toy-npu" and doc["board"]["twin"] is True
    flashes = [f for t in doc["tests"] for f in t.get("flash", [])]
    assert [f["flashed"] for f in flashes] == [True, False]
    assert flashes[0]["log"] == ["slot 1: digits_mlp.npu loaded"]
