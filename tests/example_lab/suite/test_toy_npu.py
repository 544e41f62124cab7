"""A lab's suite on its own family: flash the NPU image, stream the digits, check them."""

from pathlib import Path

import pytest

from pytest_think import Board, Dut, NotCapable, ReferenceChecker

HERE = Path(__file__).resolve().parent.parent
DESIGN = HERE / "designs" / "digits-npu" / "design.yaml"
VECTORS = HERE.parent.parent / "fixtures" / "vectors" / "digits_test.npz"


def test_board_identifies_its_npu(board: Board) -> None:
    assert board.identity["npu_firmware"] == "2.3.1"


def test_design_runs_and_matches_the_reference(dut: Dut, reference: ReferenceChecker) -> None:
    run = dut.run_design(DESIGN, VECTORS)
    reference.check(run)
    assert dut.board.identity["npu_state"] in ("idle", "running")
    assert run.count == 450


def test_second_flash_is_skipped(dut: Dut) -> None:
    assert dut.flash(DESIGN).flashed is False


def test_trtexec_is_not_for_this_board(dut: Dut) -> None:
    with pytest.raises(NotCapable, match=r"\(family toy-npu\) cannot benchmark"):
        dut.trtexec(DESIGN)
