"""Constants and helpers shared by pytest-think's own tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from pytest_think.boards import PACKAGED_BOARDS

REPO = Path(__file__).resolve().parent.parent
DIGITS_MODEL = REPO / "fixtures" / "models" / "digits_mlp.onnx"
DIGITS_VECTORS = REPO / "fixtures" / "vectors" / "digits_test.npz"


def run_suites(
    tmp_path: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`pytest <args>` from the repository root in a fresh process, as a lab runs the suites;
    its output and its results JSON (which must have been written)."""
    results = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *args,
            "-p",
            "no:cacheprovider",
            f"--think-json={results}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert results.is_file(), proc.stdout[-3000:] + proc.stderr[-2000:]
    doc: dict[str, Any] = json.loads(results.read_text())
    return proc, doc


def sim_board_data(**overrides: Any) -> dict[str, Any]:
    """The shipped sim board as a dict, with top-level sections replaced or merged."""
    data: dict[str, Any] = yaml.safe_load((PACKAGED_BOARDS / "sim.yaml").read_text())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def make_bitstream(path: Path, size: int, *, sync: bool = True) -> Path:
    """A synthetic .bit.bin: dummy words, bus-width pattern, then the sync word, byte-swapped
    per 32-bit word like bootgen/bit2bin output, padded to `size` bytes."""
    words = [0xFFFFFFFF] * 8 + [0x000000BB, 0x11220044, 0xFFFFFFFF, 0xFFFFFFFF]
    words.append(0xAA995566 if sync else 0x12345678)
    head = b"".join(w.to_bytes(4, "little") for w in words)  # little-endian = byte-swapped
    path.write_bytes(head + bytes(size - len(head)))
    return path


def write_design(directory: Path, name: str, family: str, **files: Path) -> Path:
    """A design.yaml in `directory` naming `files` by role (paths relative to it)."""
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "name": name,
        "family": family,
        "reference": str(DIGITS_MODEL),
        "files": {role: str(path.relative_to(directory)) for role, path in files.items()},
    }
    path = directory / "design.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def zcu102_twin_file(base: Path, **twin: Any) -> Path:
    """boards/fpga-zcu102.yaml with `twin` fields replaced, written under `base`."""
    data = yaml.safe_load((REPO / "boards" / "fpga-zcu102.yaml").read_text())
    data["twin"].update(twin)
    board_file = base / "zcu102.yaml"
    board_file.write_text(yaml.safe_dump(data))
    return board_file


def zcu102_design(base: Path, size: int) -> Path:
    """A design for the ZCU102 (a synthetic .bit.bin of `size` bytes) in `base`/design."""
    d = base / "design"
    d.mkdir()
    bitstream = make_bitstream(d / "d.bit.bin", size)
    return write_design(d, "digits-zcu102", "xilinx-fpga", bitstream=bitstream)


@contextmanager
def bench_twin(base: Path, board_file: Path, name: str, **fpga: Any) -> Iterator[tuple[Any, Path]]:
    """A running twin of `board_file` (with `fpga` overrides) and a boards dir holding `name`,
    a board file that reaches it as hardware: no --emulate, so several pytest sessions meet
    the same board, as on a bench."""
    from pytest_think.boards import load_board
    from pytest_think.emulator.launcher import TwinProcess

    data = yaml.safe_load(board_file.read_text())
    data["name"] = name
    if fpga:
        data["twin"]["fpga"] = {**data["twin"]["fpga"], **fpga}
    spec = base / f"{name}-twin.yaml"
    spec.write_text(yaml.safe_dump(data))
    board = load_board(spec)
    boards = base / "boards"
    boards.mkdir(exist_ok=True)
    with TwinProcess.start(board, base / "twin") as twin:
        reached = {**twin.board(board).model_dump(mode="json"), "twin": None}
        (boards / f"{name}.yaml").write_text(yaml.safe_dump(reached))
        yield twin, boards
