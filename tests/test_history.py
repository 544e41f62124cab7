"""`think history` over many runs, and the `revision` the results JSON carries for it: the
tests' git commit (and dirty flag), and each flashed design's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from results_docs import doc, entry, run, write
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

from pytest_think.cli import main
from pytest_think.pytest.schema import results_adapter
from pytest_think.revision import git_revision

COMMITS = ["1111111aaaaaaa", "2222222bbbbbbb", "3333333ccccccc"]


def _runs(directory: Path) -> Path:
    """Three runs of board sim a day apart, each at a commit; the second 20 % slower, the third
    with an energy figure; a one-vector case (a conformance test) in each."""
    directory.mkdir()
    for day, (commit, p50) in enumerate(zip(COMMITS, [100, 120, 100]), start=1):
        one = run("case", "C", 300)
        one["vectors"] = one["latency"]["device_ns"]["n"] = 1
        tests = [
            entry("t.py::test_digits", [run("digits", "D", p50)]),
            entry("t.py::test_case", [one]),
        ]
        if day == 3:
            tests[0]["energy"] = {"valid": True, "mj_per_inference": 0.5, "trials": []}
        write(
            directory / f"run{day}.json",
            doc(
                tests,
                created=f"2026-12-0{day}T09:00:00+00:00",
                revision={"commit": commit, "dirty": day == 2},
            ),
        )
    return directory


def test_history_draws_each_board_and_model_over_the_runs(tmp_path: Path) -> None:
    runs = _runs(tmp_path / "runs")
    (runs / "notes.txt").write_text("not results")
    (runs / "other.json").write_text('{"a": 1}')
    out = tmp_path / "history"
    result = CliRunner().invoke(main, ["history", str(runs), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'index.html'} (and 1 plots) for 3 runs of 1 boards" in result.stdout
    assert result.stderr.splitlines() == [
        f"think history: skipped results file {runs / 'notes.txt'}: not JSON (Expecting value: "
        "line 1 column 1 (char 0))",
        f"think history: skipped results file {runs / 'other.json'}: not a pytest-think results "
        "file (no schema 'pytest-think/results'); write one with pytest --think-json",
    ]
    assert [p.name for p in out.glob("*.png")] == ["000-sim-test-digits.png"]
    page = (out / "index.html").read_text()
    # Self-contained: the plot inlined, nothing fetched.
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page
    # Runs in date order, each labelled with its commit (+: a dirty tree).
    positions = [page.index(f"2026-12-0{d} 09:00 {c[:8]}") for d, c in enumerate(COMMITS, 1)]
    assert positions == sorted(positions) and "2222222b+" in page
    assert "<td>100 (99.5–100)</td>" in page and "<td>120 (120–120)</td>" in page
    assert "1 series of single-vector cases (conformance) left out" in page


def test_history_input_that_is_no_results_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2")
    named = CliRunner().invoke(main, ["history", str(junk), "-o", str(tmp_path / "o")])
    assert named.exit_code == 2
    assert named.stderr == f"think history: results file {junk}: not JSON (Expecting ',' " \
        "delimiter: line 1 column 6 (char 5))\n"  # fmt: skip
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = CliRunner().invoke(main, ["history", str(empty), "-o", str(tmp_path / "o")])
    assert nothing.exit_code == 2 and nothing.stderr == (
        f"think history: no results files in {empty}; write them with pytest --think-json PATH\n"
    )


NODE = shutil.which("node")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    not (NODE and CHROMIUM and (REPO / "node_modules" / "playwright-core").is_dir())
    and not os.environ.get("CI"),
    reason="Chromium or playwright-core is not installed (make test installs them)",
)
def test_the_history_page_renders_in_chromium(tmp_path: Path) -> None:
    out = tmp_path / "history"
    result = CliRunner().invoke(main, ["history", str(_runs(tmp_path / "runs")), "-o", str(out)])
    assert result.exit_code == 0, result.output
    shot = tmp_path / "history.png"
    shown = subprocess.run(
        ["node", str(REPO / "tests" / "browser" / "render.mjs"), (out / "index.html").as_uri(),
         "THINK history: 3 runs", str(shot)],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = shown.stdout
    assert "test_digits" in text and all(c[:8] in text for c in COMMITS)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    # matplotlib's default blue (31, 119, 180) only shows where the plot was drawn.
    assert (np.abs(pixels - [31, 119, 180]).sum(axis=1) < 30).sum() > 1000


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_results_carry_the_revision_of_the_tests_and_of_each_design(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    assert git_revision(tmp_path) is None  # no repository: no revision, no error
    designs = tmp_path / "designs"
    (designs / "digits").mkdir(parents=True)
    (designs / "digits" / "design.yaml").write_text(
        f"name: digits\nfamily: generic\nreference: {DIGITS_MODEL}\n"
        f"files:\n  model: {DIGITS_MODEL}\n"
    )
    _git(designs, "init", "-q")
    _git(designs, "add", ".")
    _git(designs, "commit", "-qm", "design")
    pytester.makepyfile(
        f"""
        def test_design(dut):
            dut.run_design({str(designs / "digits" / "design.yaml")!r}, {str(DIGITS_VECTORS)!r})
        """
    )
    _git(pytester.path, "init", "-q")
    _git(pytester.path, "add", ".")
    _git(pytester.path, "commit", "-qm", "tests")
    pytester.runpytest("--board=sim", "--think-json=clean.json").assert_outcomes(passed=1)
    clean = json.loads((pytester.path / "clean.json").read_text())
    assert clean["revision"] == {"commit": _git(pytester.path, "rev-parse", "HEAD"), "dirty": False}
    flash = clean["tests"][0]["flash"][0]
    assert flash["revision"] == {"commit": _git(designs, "rev-parse", "HEAD"), "dirty": False}
    # A tracked file changed: dirty; the results and the baseline entry meet the schema.
    test_file = next(pytester.path.glob("test_*.py"))
    test_file.write_text(test_file.read_text() + "\n# changed\n")
    pytester.runpytest(
        "--board=sim", "--think-json=dirty.json", "--think-baseline=clean.json"
    ).assert_outcomes(passed=1)
    dirty = json.loads((pytester.path / "dirty.json").read_text())
    assert dirty["revision"]["dirty"] is True
    assert dirty["baseline"]["revision"] == clean["revision"]
    results_adapter().validate_python(dirty)
