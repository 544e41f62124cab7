"""Every board file in boards/ runs the test suites on its twin, as a lab would run them."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import REPO, SESSION_TEST, run_suites

BOARDS = sorted(p.stem for p in (REPO / "boards").glob("*.yaml"))
METERED = {"fpga-zcu102", "jetson-orin-nano", "jetson-tx1", "coral-devboard", "kalray-mppa"}


def test_there_are_boards_for_every_family() -> None:
    import yaml

    families = {
        yaml.safe_load((REPO / "boards" / f"{b}.yaml").read_text())["family"] for b in BOARDS
    }
    assert {
        "generic",
        "xilinx-fpga",
        "xilinx-kria",
        "kalray-mppa",
        "nvidia-jetson",
        "coral-edgetpu",
        "mcu-uart",
    } <= families


# Boards with segmented designs and the devices to run them (test_suites/conftest.py).
PIPELINED = {"sim", "arm64-linux", "coral-usb"}
# Boards whose dut_pool is over TPUs, which run Edge TPU designs, not ONNX models.
POOLED_TPUS = {"coral-usb"}


@SESSION_TEST
@pytest.mark.parametrize("board", BOARDS)
def test_suites_pass_on_the_twin(board: str, tmp_path: Path) -> None:
    proc, doc = run_suites(
        tmp_path,
        "test_suites",
        f"--board={board}",
        "--emulate",
        # Onboard sensors stamp samples to about ±10 ms: 2 s keeps the alignment well
        # inside the 1 % rule on a loaded machine (1 s sits right at it).
        "--energy-window=2",
        "--energy-trials=3",
        # The ONNX conformance cases run once, on sim, and the trade-off suites (several
        # energy measurements each) on sim and one metered twin: tests/test_lab_suites.py.
        "-m",
        "not conformance",
        "-k",
        "not early_exit and not pruned",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"think: board {board} (family " in proc.stdout and "digital twin" in proc.stdout
    assert doc["board"]["name"] == board and doc["board"]["twin"] is True
    outcomes = {t["nodeid"]: t["outcome"] for t in doc["tests"]}

    def expected(nodeid: str) -> str:
        # Every family but the serial-only one has a digits design (test_suites/conftest.py);
        # energy needs a meter in the board file; pipelines need segmented designs for the
        # family (CPU boards, Edge TPUs) and, on TPUs, two devices.
        if "_design" in nodeid and board == "mcu-uart":
            return "skipped"
        if "energy" in nodeid and board not in METERED:
            return "skipped"
        if "test_pipeline" in nodeid and board not in PIPELINED:
            return "skipped"
        if "large_vectors" in nodeid:  # slow: --run-slow
            return "skipped"
        if "test_digits_over_the_pool" in nodeid and board in POOLED_TPUS:
            return "skipped"
        return "passed"

    assert outcomes and outcomes == {nodeid: expected(nodeid) for nodeid in outcomes}
    energy = [t["energy"] for t in doc["tests"] if "energy" in t]
    assert len(energy) == (board in METERED)
    for e in energy:  # T1 on every metered twin
        truth = e["twin_truth_mj_per_inference"]
        assert e["valid"] and abs(e["mj_per_inference"] - truth) <= 0.01 * truth
