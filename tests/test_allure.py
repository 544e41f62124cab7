"""Allure results for lab review: steps, attachments, labels, environment, categories."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO


def _results(alluredir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in alluredir.glob("*-result.json")]


def _steps(item: dict) -> list[str]:
    names = []
    for step in item.get("steps", []):
        names.append(step["name"])
        names.extend(_steps(step))
    return names


def _attachments(item: dict) -> list[str]:
    found = [a["name"] for a in item.get("attachments", [])]
    for step in item.get("steps", []):
        found.extend(_attachments(step))
    return found


def test_sim_run_has_steps_attachments_labels_and_environment(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    write_board("noisy", twin={"faults": {"output_offset": 0.25, "perturb_every": 9}})
    pytester.makepyfile(
        f"""
        def test_digits(dut, reference, record_table):
            run = dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
            reference.check(run, rtol=1e-4, atol=1e-5)
            record_table("sweep", ["x", "y"], [[1, 0.5], [2, 0.7]], plot=("x", ["y"]))

        import pytest

        @pytest.mark.parametrize("board_spec", ["noisy"], scope="session")
        def test_disagrees(dut, reference):
            run = dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
            reference.check(run)
        """
    )
    result = pytester.runpytest("--board=sim", "--alluredir=allure")
    result.assert_outcomes(passed=1, failed=1)
    alluredir = pytester.path / "allure"
    results = {r["name"].split("[")[0]: r for r in _results(alluredir)}
    passed = results["test_digits"]
    steps = _steps(passed)
    assert "deploy digits_mlp.onnx and stream the vectors through it" in steps
    assert "compare 450 vectors with onnxruntime on the host" in steps
    attachments = _attachments(passed)
    assert "latency (device vs host)" in attachments
    # A recorded trade-off table: its CSV and its plot.
    kinds = {a["type"] for a in passed["attachments"] if a["name"] == "sweep"}
    assert kinds == {"text/csv", "image/png"}
    labels = {(label["name"], label["value"]) for label in passed["labels"]}
    assert {("board", "sim"), ("family", "generic"), ("parentSuite", "sim")} <= labels
    # The failing test carries the worst mismatches as CSV.
    assert "worst mismatches" in _attachments(results["test_disagrees"])
    # Attachments are real files: a PNG and CSV text.
    sources = {
        a["name"]: alluredir / a["source"]
        for r in results.values()
        for a in r.get("attachments", [])
        + [x for s in r.get("steps", []) for x in s.get("attachments", [])]
    }
    assert sources["latency (device vs host)"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sources["worst mismatches"].read_text().startswith("vector,output,position,got")
    # The board is each result's parameter (a test's own board_spec parameter hidden).
    assert [p["value"] for p in passed["parameters"]] == ["'sim'"]
    params = {p["name"]: p for p in results["test_disagrees"]["parameters"]}
    assert params["board"]["value"] == "'noisy'" and params["board_spec"]["mode"] == "hidden"
    # Every board a test used, a line per board and field.
    environment = (alluredir / "environment.properties").read_text().splitlines()
    assert "boards=sim, noisy" in environment
    assert "sim.family=generic" in environment and "noisy.family=generic" in environment
    assert "sim.target=digital twin" in environment
    assert any(line.startswith("sim.agent.version=") for line in environment)
    categories = json.loads((alluredir / "categories.json").read_text())
    assert [c["name"] for c in categories] == [
        "Kernel trouble on the console",
        "Flash / hardware faults",
        "Invalid energy measurements",
        "Link / infrastructure failures",
        "Numerical mismatches",
    ]


def test_fpga_twin_run_attaches_flash_output_board_file_and_power_trace(
    pytester: pytest.Pytester,
) -> None:
    sys_path = str(REPO / "fixtures")
    pytester.makepyfile(
        f"""
        import sys
        import pytest
        sys.path.insert(0, {sys_path!r})
        from make_designs import ensure_bitstreams

        DESIGN = {str(REPO / "fixtures/designs/digits-dpu-zcu102/design.yaml")!r}

        def test_design(dut, reference):
            ensure_bitstreams()
            run = dut.run_design(DESIGN, {str(DIGITS_VECTORS)!r})
            reference.check(run, rtol=0.05, atol=0.5, max_mismatch_fraction=0.01)

        @pytest.mark.energy(window_s=1.0, trials=1, idle_s=0.5)
        def test_energy(energy):
            energy.measure({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
        """
    )
    board = REPO / "boards" / "fpga-zcu102.yaml"
    result = pytester.runpytest(f"--board={board}", "--emulate", "--alluredir=allure")
    result.assert_outcomes(passed=2)
    alluredir = pytester.path / "allure"
    results = {r["name"]: r for r in _results(alluredir)}
    design = results["test_design[fpga-zcu102]"]  # the board in the name, as in a campaign
    assert "flash digits-dpu-zcu102" in _attachments(design)
    flash = next(a for a in design["attachments"] if a["name"] == "flash digits-dpu-zcu102")
    assert (
        "BIN FILE loaded through FPGA manager successfully"
        in (alluredir / flash["source"]).read_text()
    )
    power = next(
        a for a in results["test_energy[fpga-zcu102]"]["attachments"] if a["name"] == "power trace"
    )
    assert (alluredir / power["source"]).read_bytes()[:4] == b"\x89PNG"
    # The board file is attached to each test (from the board fixture's setup).
    containers = [json.loads(p.read_text()) for p in alluredir.glob("*-container.json")]
    board_files = [
        a for c in containers for b in c.get("befores", []) for a in b.get("attachments", [])
        if a["name"] == "board file (secrets redacted)"
    ]  # fmt: skip
    assert board_files
    text = (alluredir / board_files[0]["source"]).read_text()
    assert '"family": "xilinx-fpga"' in text and "THINK_ZCU102_ROOT_PASSWORD" in text
    environment = (alluredir / "environment.properties").read_text()
    assert "fpga-zcu102.meter=Keysight Technologies,N6705C" in environment
    assert "fpga-zcu102.design=digits-dpu-zcu102" in environment
    assert "fpga-zcu102.design.sha256=" in environment
    assert "fpga-zcu102.kernel=Linux xilinx-zcu102-2022_2" in environment
