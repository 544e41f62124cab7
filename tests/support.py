"""Constants and helpers shared by pytest-think's own tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pytest_think.boards import PACKAGED_BOARDS

REPO = Path(__file__).resolve().parent.parent
DIGITS_MODEL = REPO / "fixtures" / "models" / "digits_mlp.onnx"
DIGITS_VECTORS = REPO / "fixtures" / "vectors" / "digits_test.npz"


def sim_board_data(**overrides: Any) -> dict[str, Any]:
    """The shipped sim board as a dict, with top-level sections replaced or merged."""
    data: dict[str, Any] = yaml.safe_load((PACKAGED_BOARDS / "sim.yaml").read_text())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data
