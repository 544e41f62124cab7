"""`think compare`: boards side by side, and one clear line for files it cannot use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

QDQ_MODEL = REPO / "fixtures" / "designs" / "digits-dpu-zcu102" / "digits_mlp_int8_qdq.onnx"


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


def test_a_test_running_several_models_has_a_row_and_a_point_per_model(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(
        f"""
        def test_variants(dut, reference, record_table):
            rows = []
            for bits, model in ((32, {str(DIGITS_MODEL)!r}), (8, {str(QDQ_MODEL)!r})):
                run = dut.run(model, {str(DIGITS_VECTORS)!r})
                report = reference.check(
                    run, against={str(DIGITS_MODEL)!r}, max_mismatch_fraction=1.0
                )
                rows.append([bits, report.accuracy["device"]])
            record_table("precision", ["bits", "accuracy"], rows, plot=("bits", ["accuracy"]))
        """
    )
    pytester.runpytest("--board=sim", "--think-json=sim.json").assert_outcomes(passed=1)
    sim = pytester.path / "sim.json"
    doc = json.loads(sim.read_text())
    (test,) = doc["tests"]
    assert [Path(r["model"]).stem for r in test["runs"]] == ["digits_mlp", "digits_mlp_int8_qdq"]
    # The same runs on a metered bench board, energy measured for each model.
    doc["board"].update(name="bench", twin=False)
    test["energies"] = [
        {
            "model": run["model"],
            "model_sha256": run["model_sha256"],
            "valid": True,
            "reason": None,
            "mj_per_inference": mj,
        }
        for run, mj in zip(test["runs"], (0.52, 0.31))
    ]
    test["energy"] = test["energies"][-1]
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(doc))
    out = tmp_path / "compare"
    proc = _think("compare", str(sim), str(bench), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    markdown = (out / "compare.md").read_text()
    assert "| test_variants [digits_mlp] | mJ/inference | — | 0.52 |" in markdown
    assert "| test_variants [digits_mlp_int8_qdq] | mJ/inference | — | 0.31 |" in markdown
    # The int8 model loses accuracy against the float reference; the float one does not.
    assert "| test_variants [digits_mlp] | accuracy Δ vs reference (pt) | +0.00 | +0.00 |" in (
        markdown
    )
    assert "| test_variants [digits_mlp_int8_qdq] | top-1 agreement | 0.9956 | 0.9956 |" in (
        markdown
    )
    # The recorded trade-off: a table per board, one plot with a line per board.
    assert "## test_variants: precision — bench" in markdown
    assert (
        "| 8 | 0.9733 |" in markdown and "![test_variants: precision](tradeoff_0.png)" in markdown
    )
    assert (out / "tradeoff_0.png").read_bytes()[:4] == b"\x89PNG"
    assert "<caption>test_variants: precision — sim</caption>" in (out / "index.html").read_text()


def test_results_written_by_the_first_pytest_think_still_load(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    # Written by the first release of the results file (before energy, consoles, flashes):
    # fields added since are gaps.
    old = Path(__file__).parent / "data" / "results-0.1.0-first-schema.json"
    out = tmp_path / "compare"
    renamed = tmp_path / "old.json"
    doc = json.loads(old.read_text())
    doc["board"]["name"] = "sim-first-release"
    renamed.write_text(json.dumps(doc))
    proc = _think("compare", str(renamed), str(two_runs[1]), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    markdown = (out / "compare.md").read_text()
    assert "| test | figure | sim-first-release | fpga-bench |" in markdown
    assert "| test_digits_mlp_accuracy | accuracy | 0.9778 | — |" in markdown
