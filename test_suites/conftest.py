"""Fixtures of the lab suites: which design implements a model on the board under test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_think import Board

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
def design_tolerance() -> dict[str, float]:
    """How a quantized port of the digits MLP is judged against the float model: nearly every
    vector classified alike, outputs pointing the same way, few elements off by more than a
    quantization step."""
    return {
        "rtol": 0.05,
        "atol": 0.5,
        "max_mismatch_fraction": 0.01,
        "min_top1_agreement": 0.99,
        "min_cosine": 0.98,
    }


@pytest.fixture
def digits_design(board: Board) -> Path:
    """The digits design for this board's family; skipped for families that have none."""
    name = DIGITS_DESIGNS.get(board.config.family)
    if name is None:
        pytest.skip(f"no digits design for family '{board.config.family}'")
    # FPGA bitstreams are large and synthetic: written on first use, not committed.
    sys.path.insert(0, str(FIXTURES))
    from make_designs import ensure_bitstreams

    ensure_bitstreams()
    return FIXTURES / "designs" / name


# Pipelines of the digits MLP, by family: (segments, design); the board's device count decides
# how many segments it can run.
PIPELINES = {
    "generic": [
        (1, "digits-cpu/design.yaml"),
        (2, "digits-cpu-pipeline-2/design.yaml"),
        (3, "digits-cpu-pipeline-3/design.yaml"),
    ],
    "coral-edgetpu": [
        (1, "digits-coral/design.yaml"),
        (2, "digits-coral/pipeline-2.yaml"),
        (3, "digits-coral/pipeline-3.yaml"),
        (4, "digits-coral/pipeline-4.yaml"),
    ],
}


@pytest.fixture
def pipeline_designs(board: Board) -> list[tuple[int, Path]]:
    """The segmented designs this board can run, whole model first; skipped where none."""
    designs = PIPELINES.get(board.config.family)
    if designs is None:
        pytest.skip(f"no segmented designs for family '{board.config.family}'")
    devices = board.config.options.get("devices")
    usable = [(n, FIXTURES / "designs" / d) for n, d in designs if not devices or n <= len(devices)]
    if len(usable) < 2:
        pytest.skip(
            f"board '{board.config.name}' has {len(devices or [])} device(s): a pipeline needs 2"
        )
    return usable
