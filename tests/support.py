"""Constants and helpers shared by pytest-think's own tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
import yaml
from click.testing import CliRunner, Result

from pytest_think.boards import PACKAGED_BOARDS

REPO = Path(__file__).resolve().parent.parent
DIGITS_MODEL = REPO / "fixtures" / "models" / "digits_mlp.onnx"
DIGITS_VECTORS = REPO / "fixtures" / "vectors" / "digits_test.npz"


# A suite session run by a test is bounded by its progress, not by its length: each of its
# tests has its own limit (the ini's `timeout`, extended by what energy measurements declare,
# which print a line per trial), so it prints something at least that often. Twice that
# silence and it is hung. The test that runs it has no limit of its own (`SESSION_TEST`).
# tests/conftest.py sets `TEST_LIMIT_S` from the ini the suites share with these tests.
TEST_LIMIT_S = 300.0
SESSION_TEST = pytest.mark.timeout(0)


def run_suites(
    tmp_path: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`pytest <args>` from the repository root in a fresh process, as a lab runs the suites;
    its output and its results JSON (which must have been written). A session that prints
    nothing for twice `TEST_LIMIT_S` is killed and fails the test with what it printed."""
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider"]
    proc = subprocess.Popen(
        [*command, f"--think-json={results}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # each outcome as it comes
    )
    out, err = bytearray(), bytearray()
    last_output = [time.monotonic()]
    silence_s = 2 * TEST_LIMIT_S

    def follow(stream: IO[bytes], into: bytearray) -> None:
        while chunk := stream.read1(1 << 16):  # type: ignore[attr-defined]
            into += chunk
            last_output[0] = time.monotonic()

    readers = [
        threading.Thread(target=follow, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=follow, args=(proc.stderr, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    while proc.poll() is None:
        if time.monotonic() - last_output[0] > silence_s:
            proc.kill()
            proc.wait()
            raise AssertionError(
                f"{' '.join(args)}: no output for {silence_s:g} s, killed\n"
                + out.decode(errors="replace")[-3000:]
                + err.decode(errors="replace")[-2000:]
            )
        time.sleep(0.5)
    for reader in readers:
        reader.join()
    done = subprocess.CompletedProcess(
        command, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    )
    assert results.is_file(), done.stdout[-3000:] + done.stderr[-2000:]
    doc: dict[str, Any] = json.loads(results.read_text())
    return done, doc


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


def think_check(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """`think check ARGS`, run in this process."""
    from pytest_think.cli import main

    return CliRunner().invoke(main, ["check", *args], env=env)


def one_invalid_line(result: Result, *names: str) -> str:
    """The one `invalid:` line of a refused `think check`, which names each of `names`."""
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
    line = result.output.strip()
    assert line.startswith("invalid: "), line
    for name in names:
        assert name in line, line
    return line


def no_traceback(text: str) -> None:
    """Neither a traceback nor a frame of pytest-think's code in a session's output."""
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    assert not re.search(r"pytest_think/[\w/]+\.py:\d+", text), "a frame of our code leaked out"
