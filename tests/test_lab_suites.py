"""The lab suites that tests/test_every_board.py leaves out: ONNX conformance (once, on sim)
and the trade-off suites, whose several energy measurements run on one metered twin."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import SESSION_TEST, run_suites

from pytest_think.pytest.results import model_entries


@SESSION_TEST
def test_onnx_conformance_on_sim(tmp_path: Path) -> None:
    import onnx

    data = Path(onnx.__file__).parent / "backend" / "test" / "data"
    cases = [p for k in ("pytorch-converted", "pytorch-operator") for p in (data / k).iterdir()]
    proc, doc = run_suites(tmp_path, "test_suites/test_onnx_conformance.py", "--board=sim")
    assert proc.returncode == 0, proc.stdout[-3000:]
    outcomes = [t["outcome"] for t in doc["tests"]]
    assert len(outcomes) == len(cases) and set(outcomes) <= {"passed", "xfailed"}
    # onnxruntime runs most cases; those it cannot (operators of old opsets) are xfails that
    # say why, not skips.
    assert outcomes.count("passed") >= 0.6 * len(cases)
    for test in doc["tests"]:
        if test["outcome"] == "xfailed":
            assert "the board's backend cannot run" in test["message"], test
            # The model as the board holds it, not where its twin keeps the board's files.
            assert "/home/think/.think/models/" in test["message"], test
            assert "/root/home/" not in test["message"], test
        else:  # checked against the case's expected outputs, and the row says so
            (entry,) = model_entries(test)
            run = entry.run
            assert run is not None
            assert run["compare"] is None
            assert run["expected"]["against"] == "ONNX expected outputs", run
            assert run["expected"]["passed"] is True
    assert "ok vs ONNX expected outputs" in proc.stdout


@SESSION_TEST
@pytest.mark.parametrize("board", ["sim", "fpga-zcu102"])
def test_tradeoff_suites_record_tables_and_energy_per_variant(board: str, tmp_path: Path) -> None:
    proc, doc = run_suites(
        tmp_path,
        "test_suites/test_early_exit.py",
        "test_suites/test_pruning.py",
        f"--board={board}",
        "--emulate",
        # 2 s, as the every-board runs: a 1 s window's edges sit at the alignment rule's 1 %
        # on a loaded machine (the measurement is then invalid, and the test fails).
        "--energy-window=2",
        "--energy-trials=1",
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    early, pruning = doc["tests"]
    tables = {t["name"]: t for t in early["tables"] + pruning["tables"]}
    sweep = tables["early-exit threshold sweep"]
    shares = [row[1] for row in sweep["rows"]]
    assert shares == sorted(shares, reverse=True) and shares[-1] == 0.0
    assert [row[0] for row in tables["pruning"]["rows"]] == [0, 25, 50, 75]
    assert [r["label"] for r in pruning["runs"]] == [
        "0% pruned",
        "25% pruned",
        "50% pruned",
        "75% pruned",
    ]
    # Every table gives a variant or an exit the accuracy its run has in the results JSON
    # (the compare page's figures): the same output of the two-exit network throughout.
    run_accuracy = [r["accuracy"]["device"] for r in pruning["runs"]]
    assert [row[1] for row in tables["pruning"]["rows"]] == run_accuracy
    cost = next(t for t in pruning["tables"] if t["name"].startswith("pruning: accuracy against"))
    assert [row[1] for row in cost["rows"]] == run_accuracy
    whole, early_only = early["runs"]
    assert [row[1] for row in tables["exits"]["rows"]] == [
        early_only["accuracy"]["device"],
        whole["accuracy"]["device"],
    ]
    assert sweep["rows"][-1][2] == whole["accuracy"]["device"]  # nobody leaves early
    metered = board == "fpga-zcu102"
    energies = pruning.get("energies", [])
    assert len(energies) == (4 if metered else 0)
    if metered:
        # Each variant's energy is its own model's, and the sweep is costed with the exits'.
        assert [e["label"] for e in energies] == [r["label"] for r in pruning["runs"]]
        assert [e["model_sha256"] for e in energies] == [r["model_sha256"] for r in pruning["runs"]]
        assert all(e["valid"] for e in energies + early["energies"])
        assert all(row[4] is not None for row in sweep["rows"])
    else:
        assert all(row[4] is None for row in sweep["rows"])
