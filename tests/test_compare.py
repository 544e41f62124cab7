"""`think compare`: boards and runs side by side, and one clear line for files it cannot use."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

from pytest_think.report.compare_html import plain
from pytest_think.report.compare_plots import KEY_AT, MAX_CATEGORIES, plots, style, sweeps
from pytest_think.report.comparison import build
from pytest_think.report.headline import headlines

QDQ_MODEL = REPO / "fixtures" / "designs" / "digits-dpu-zcu102" / "digits_mlp_int8_qdq.onnx"


def _think(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_think.cli", *args], capture_output=True, text=True
    )


def _test(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in doc["tests"] if t["nodeid"].endswith(name))


def test_compare_writes_a_self_contained_page_with_both_boards(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "compare"
    proc = _think("compare", str(two_runs[0]), str(two_runs[1]), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "index.html").read_text()
    assert "<td class='name board'>sim</td>" in page
    assert "<td class='name board'>fpga-bench</td>" in page
    body = page.split("<body>")[1]
    assert "http" not in body and "src='data:image/png;base64," in body
    # The headline: the model's device p50, in plain digits, in words with its unit.
    sim = json.loads(two_runs[0].read_text())
    p50 = plain(_test(sim, "test_digits")["latency"]["device_ns"]["p50"] / 1e3)
    first = body.split("<h2>Plots</h2>")[0]
    assert "<caption title='digits_mlp'>digits_mlp</caption>" in first
    assert "latency p50, µs" in first and f">{p50}<" in first
    assert not re.search(r"\de[+-]\d", first)  # never 3.764e+04
    markdown = (out / "compare.md").read_text()
    assert "## digits_mlp" in markdown and "| figure | sim | fpga-bench |" in markdown
    # Energy where only one board has a meter: in its suite's table, a gap on the other.
    assert "<td data-v='0.4691'>0.469</td>" in page
    assert "test_only_on_sim" in page
    assert (out / "latency_energy.png").exists() is False  # no model measured energy
    assert (out / "headline_0.png").read_bytes()[:4] == b"\x89PNG"


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
    unrelated = tmp_path / "unrelated.json"
    doc = json.loads(sim.read_text())
    for test in doc["tests"]:
        test["nodeid"] = test["nodeid"].replace("::test_", "::test_other_")
    unrelated.write_text(json.dumps(doc))
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
        ([str(sim), str(sim)], f"results file {sim} is given twice; give each run once"),
        (
            [str(sim), str(unrelated)],
            f"results file {sim} has no test in common with {unrelated}; compare results of "
            "the same test suites",
        ),
        (
            [str(sim), str(two_runs[1]), "--label", "one"],
            "--label given 1 times for 2 results files; give one label per file",
        ),
        (
            [str(sim), "--baseline", str(two_runs[1]), "--threshold", "latency:fast"],
            "--threshold: 'latency:fast' needs a threshold that is a number ≥ 0, e.g. latency:5%",
        ),
    ]
    for files, message in cases:
        proc = _think("compare", *files, "-o", str(tmp_path / "out"))
        assert proc.returncode == 2
        assert proc.stderr.startswith(f"think compare: {message}"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    proc = _think("compare", str(sim), "-o", str(blocker / "sub"))
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"think compare: output directory {blocker / 'sub'}:")


def _later_run(doc: dict[str, Any], factor: float, created: str) -> dict[str, Any]:
    """The same board's run at `created`, its device times (and their intervals) × factor."""
    later = copy.deepcopy(doc)
    later["created"] = created
    for test in later["tests"]:
        for item in [test, *test.get("runs", [])]:  # a test's every run, as readers take them
            _scale(item, factor)
    return later


def _device_times(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The device-time statistics of every test and run of a results document."""
    found = []
    for test in doc["tests"]:
        for item in [test, *test.get("runs", [])]:
            device = (item.get("latency") or {}).get("device_ns")
            if device:
                found.append(device)
    return found


def _scale(item: dict[str, Any], factor: float) -> None:
    device = (item.get("latency") or {}).get("device_ns")
    if device:
        for key in ("p50", "p99", "p50_lo", "p50_hi", "mean", "min", "max"):
            if device.get(key) is not None:
                device[key] *= factor


def test_runs_of_one_board_are_columns_with_changes_beyond_noise_marked(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    sim = two_runs[0]
    doc = json.loads(sim.read_text())
    device = _test(doc, "test_digits")["latency"]["device_ns"]
    lo, hi = device["p50_lo"], device["p50_hi"]
    assert lo <= device["p50"] <= hi and lo < hi
    # Every run's interval, whichever the headline takes: the spreads differ from run to run
    # (and with the machine's load), so the factors are set by the widest and the narrowest.
    widths = [d["p50_hi"] / d["p50_lo"] for d in _device_times(doc) if d.get("p50_lo")]
    # Slower by more than the threshold and outside every interval: a regression. Slower by
    # half the narrowest interval's width: every interval overlaps its own, within noise
    # whatever the threshold.
    slow = 1.0 + max(0.2, 2 * (max(widths) - 1))
    within = (1.0 + min(widths)) / 2
    slower = tmp_path / "slower.json"
    slower.write_text(json.dumps(_later_run(doc, slow, "2026-12-02T09:30:00+00:00")))
    same = tmp_path / "same.json"
    same.write_text(json.dumps(_later_run(doc, within, "2026-12-03T09:30:00+00:00")))

    comparison = build([slower, same], baseline=sim)
    day = doc["created"][:16].replace("T", " ")
    assert [c.name for c in comparison.columns] == [
        f"sim · {day}",
        "sim · 2026-12-02 09:30",
        "sim · 2026-12-03 09:30",
    ]
    (head,) = [h for h in headlines(comparison) if h.model == "digits_mlp"]
    regression = head.delta(comparison, "sim · 2026-12-02 09:30", "latency")
    unchanged = head.delta(comparison, "sim · 2026-12-03 09:30", "latency")
    assert regression is not None and regression.verdict == "regression"
    assert abs(regression.change - (slow - 1)) < 1e-9
    assert unchanged is not None and unchanged.verdict == "unchanged"
    assert unchanged.beyond_noise is False

    out = tmp_path / "compare"
    proc = _think(
        "compare", str(slower), str(same), "--baseline", str(sim), "-o", str(out),
        "--label", "monday", "--label", "tuesday", "--label", "wednesday",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    page = (out / "index.html").read_text()
    first = page.split("<h2>Plots</h2>")[0]
    assert "monday <span class='note'>(baseline)</span></td>" in first
    assert "<span class='d regression' title='device latency p50: " in first
    assert f">{regression.change_text}</span>" in first
    assert f">{unchanged.change_text} ≈</span>" in first
    markdown = (out / "compare.md").read_text()
    assert "| figure | monday | tuesday | wednesday |" in markdown
    assert f"({regression.change_text}, regression)" in markdown


def test_a_test_running_several_models_has_a_headline_and_sweep_per_model(
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
    # The same runs on a metered bench board, energy measured for each model, its table
    # recorded with an energy column and a plot of its own (as the suites do with a meter).
    doc["board"].update(name="bench", twin=False)
    test["energies"] = [
        {
            "model": run["model"],
            "model_sha256": run["model_sha256"],
            "valid": True,
            "reason": None,
            "mj_per_inference": mj,
            "us_per_inference": 40.0 + mj,
        }
        for run, mj in zip(test["runs"], (0.52, 0.31))
    ]
    test["energy"] = test["energies"][-1]
    (table,) = test["tables"]
    table["columns"].append("mJ/inference")
    for row, mj in zip(table["rows"], (0.52, 0.31)):
        row.append(mj)
    test["tables"].append(
        {
            "name": "precision: accuracy against mJ/inference",
            "columns": ["mJ/inference", "accuracy"],
            "rows": [[r[2], r[1]] for r in table["rows"]],
            "plot": {"x": "mJ/inference", "y": ["accuracy"]},
        }
    )
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(doc))

    comparison = build([sim, bench])
    heads = {h.model: h for h in headlines(comparison)}
    assert list(heads) == ["digits_mlp", "digits_mlp_int8_qdq"]
    int8 = next(r for r in test["runs"] if "int8" in r["model"])
    delta = (int8["accuracy"]["device"] - int8["accuracy"]["reference"]) * 100
    assert delta < 0  # the int8 model loses accuracy against the float reference
    for column in ("sim", "bench"):
        assert heads["digits_mlp_int8_qdq"].cells[column]["accuracy_delta"].value == delta
    assert heads["digits_mlp"].cells["bench"]["energy"].value == 0.52
    assert "energy" not in heads["digits_mlp"].cells["sim"]
    # The sweep overlays both boards on the columns their tables share; the energy sweep
    # is the metered board's alone, and says which column did not record it.
    found = {(s.x, s.y): s for s in sweeps(comparison)}
    assert set(found[("bits", "accuracy")].lines) == {"sim", "bench"}
    assert found[("bits", "accuracy")].lines["sim"] == found[("bits", "accuracy")].lines["bench"]
    assert set(found[("mJ/inference", "accuracy")].lines) == {"bench"}
    assert found[("mJ/inference", "accuracy")].missing == ["sim"]

    out = tmp_path / "compare"
    proc = _think("compare", str(sim), str(bench), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    markdown = (out / "compare.md").read_text()
    assert "## digits_mlp_int8_qdq" in markdown
    assert f"| accuracy Δ, points | {delta:+.2f} | {delta:+.2f} |" in markdown
    assert f"| mJ per inference | — | {plain(0.52)} |" in markdown
    assert (out / "latency_energy.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "index.html").read_text()
    assert "precision: accuracy against mJ/inference" in page
    assert page.count("<figure") == 4  # latency-energy, headline bars, two sweeps


def test_coinciding_lines_stay_distinguishable() -> None:
    # Every column differs from every other in marker, and markers shrink column by column,
    # so a line drawn over another still shows the one beneath.
    drawn = [style(n, 10) for n in range(10)]
    assert len({s["marker"] for s in drawn}) == 10
    sizes = [s["markersize"] for s in drawn]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 10


def test_no_plot_axis_has_more_than_twenty_models(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    doc = json.loads(two_runs[0].read_text())
    digits = _test(doc, "test_digits")
    doc["tests"] = []
    for n in range(MAX_CATEGORIES + 5):
        test = copy.deepcopy(digits)
        test["nodeid"] = f"test_many.py::test_model_{n}"
        test["model"] = f"/models/model_with_a_rather_long_name_number_{n}.onnx"
        doc["tests"].append(test)
    many = tmp_path / "many.json"
    many.write_text(json.dumps(doc))
    comparison = build([many])
    heads = headlines(comparison)
    assert len(heads) == MAX_CATEGORIES + 5
    files = plots(comparison, heads, tmp_path)
    bars = [caption for caption in files if caption.startswith("device latency")]
    assert bars == [
        "device latency and throughput per model (1 of 2)",
        "device latency and throughput per model (2 of 2)",
    ]
    # Long names are wrapped on the page, the full name on hover.
    out = tmp_path / "compare"
    proc = _think("compare", str(many), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "index.html").read_text()
    name = "model_with_a_rather_long_name_number_24"
    assert f"<caption title='{name}'>{name}</caption>" in page


def test_a_conformance_suite_is_a_pass_rate_with_the_failing_cases(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    doc = json.loads(two_runs[0].read_text())
    cases = 30
    doc["tests"] = [
        {
            "nodeid": f"test_conformance.py::test_case[op_{n}]",
            "outcome": "failed" if n % 10 == 3 else "passed",
            "message": "mismatch on output y" if n % 10 == 3 else None,
        }
        for n in range(cases)
    ]
    path = tmp_path / "conformance.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "compare"
    proc = _think("compare", str(path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "index.html").read_text()
    failing = [n for n in range(cases) if n % 10 == 3]
    passed = cases - len(failing)
    assert f"<td data-v='{passed / cases}'>{100 * passed / cases:.0f} %</td>" in page
    assert f"{len(failing)} of {cases} cases did not pass on every column" in page
    assert all(f">test_case[op_{n}]</td>" in page for n in failing)
    assert ">test_case[op_0]</td>" not in page  # passing cases are counted, not listed


def test_results_written_by_the_first_pytest_think_still_load(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    # Written by the first release of the results file (before energy, consoles, flashes,
    # the median's interval): fields added since are gaps.
    old = Path(__file__).parent / "data" / "results-0.1.0-first-schema.json"
    out = tmp_path / "compare"
    renamed, later = tmp_path / "old.json", tmp_path / "later.json"
    doc = json.loads(old.read_text())
    doc["board"]["name"] = "sim-first-release"
    renamed.write_text(json.dumps(doc))
    doc["board"]["name"] = "sim-later"
    later.write_text(json.dumps(doc))
    proc = _think("compare", str(later), "--baseline", str(renamed), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    markdown = (out / "compare.md").read_text()
    assert "| figure | sim-first-release | sim-later |" in markdown
    page = (out / "index.html").read_text()
    assert "test_digits_mlp_accuracy" in page and "<td data-v='97.77" in page


def test_many_columns_share_one_key_and_labels_name_each_files_boards(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    doc = json.loads(two_runs[0].read_text())
    runs = []
    for day in range(KEY_AT + 1):
        path = tmp_path / f"day-{day}.json"
        path.write_text(json.dumps({**doc, "created": f"2026-12-{day + 1:02d}T08:00:00+00:00"}))
        runs.append(path)
    comparison = build(runs)
    assert len({c.name for c in comparison.columns}) == KEY_AT + 1
    files = plots(comparison, headlines(comparison), tmp_path)
    assert next(iter(files)).startswith("key: ")  # drawn once, before the plots it explains
    # A file of several boards under one --label: a column per board, named by both.
    campaign = json.loads(two_runs[0].read_text())
    other = json.loads(two_runs[1].read_text())
    for test in campaign["tests"]:
        test["board"] = "sim"
    for test in other["tests"]:
        campaign["tests"].append({**test, "board": "fpga-bench"})
    campaign["boards"] = [campaign["board"], other["board"]]
    both = tmp_path / "campaign.json"
    both.write_text(json.dumps(campaign))
    labelled = build([both, two_runs[0]], labels=["campaign", "alone"])
    assert [c.name for c in labelled.columns] == [
        "campaign · sim",
        "campaign · fpga-bench",
        "alone",
    ]
