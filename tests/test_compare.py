"""`think compare`: boards side by side, and one clear line for files it cannot use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _think(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_think.cli", *args], capture_output=True, text=True
    )


def test_compare_writes_a_self_contained_page_with_both_boards(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "compare"
    proc = _think("compare", str(two_runs[0]), str(two_runs[1]), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "index.html").read_text()
    assert "<td class='board'>sim</td>" in page and "<td class='board'>fpga-bench</td>" in page
    assert page.count("data:image/png;base64,") == 3 and "http" not in page.split("<body>")[1]
    markdown = (out / "compare.md").read_text()
    assert "| test | figure | sim | fpga-bench |" in markdown
    assert "| test_digits | top-1 agreement | 1.0000 | 1.0000 |" in markdown
    # A test that ran on one board only, and energy where only one board has a meter: gaps.
    assert "| test_only_on_sim | outcome | passed | — |" in markdown
    assert "| test_energy | mJ/inference | — | 0.4691 |" in markdown
    for plot in ("latency_energy.png", "agreement.png", "throughput.png"):
        assert (out / plot).read_bytes()[:4] == b"\x89PNG"


def test_files_compare_cannot_use_are_one_line_each(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    sim = two_runs[0]
    future = tmp_path / "future.json"
    future.write_text(json.dumps({**json.loads(sim.read_text()), "schema_version": 99}))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"results": []}))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    blocker = tmp_path / "file"
    blocker.write_text("")
    cases = [
        (
            [str(future)],
            f"results file {future}: schema_version 99, this pytest-think reads 1; compare it "
            "with the pytest-think version that wrote it",
        ),
        (
            [str(other)],
            f"results file {other}: not a pytest-think results file (no schema "
            "'pytest-think/results'); write one with pytest --think-json",
        ),
        ([str(garbage)], f"results file {garbage}: not JSON ("),
        ([str(tmp_path / "missing.json")], f"results file {tmp_path / 'missing.json'} not found"),
        ([str(sim), str(sim)], f"results file {sim}: board 'sim' is already in another file"),
    ]
    for files, message in cases:
        proc = _think("compare", *files, "-o", str(tmp_path / "out"))
        assert proc.returncode == 2
        assert proc.stderr.startswith(f"think compare: {message}"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    proc = _think("compare", str(sim), "-o", str(blocker / "sub"))
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"think compare: output directory {blocker / 'sub'}:")
