"""Fixtures of the lab suites: which design implements a model on the board under test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_think.dut import BoardConnection

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# The digits MLP as each family's hardware runs it (fixtures/make_designs.py).
DIGITS_DESIGNS = {
    "generic": "digits-cpu/design.yaml",
    "nvidia-jetson": "digits-jetson/design.yaml",
    "xilinx-fpga": "digits-dpu-zcu102/design.yaml",
    "xilinx-kria": "digits-dpu-kv260/design.yaml",
    "kalray-mppa": "digits-kann/design.yaml",
    "coral-edgetpu": "digits-coral/design.yaml",
}


@pytest.fixture
def digits_design(board: BoardConnection) -> Path:
    """The digits design for this board's family; skipped for families that have none."""
    name = DIGITS_DESIGNS.get(board.board.family)
    if name is None:
        pytest.skip(f"no digits design for family '{board.board.family}'")
    # FPGA bitstreams are large and synthetic: written on first use, not committed.
    sys.path.insert(0, str(FIXTURES))
    from make_designs import ensure_bitstreams

    ensure_bitstreams()
    return FIXTURES / "designs" / name
