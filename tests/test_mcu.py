"""Boards on a serial line only: the mcu-uart family and its twin behind a pty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

from pytest_think.boards import load_board
from pytest_think.errors import BoardConfigError

DIGITS_TEST = f"""
def test_digits(dut, reference):
    run = dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
    reference.check(run)
"""


def _board(pytester: pytest.Pytester, **changes: object) -> Path:
    data = yaml.safe_load((REPO / "boards" / "mcu-uart.yaml").read_text())
    data["twin"]["uart"]["models"] = [str(DIGITS_MODEL)]
    for key, value in changes.items():
        data[key] = value
    boards = pytester.path / "boards"
    boards.mkdir(exist_ok=True)
    path = boards / "mcu-uart.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_digits_over_a_noisy_uart(pytester: pytest.Pytester) -> None:
    data = yaml.safe_load((REPO / "boards" / "mcu-uart.yaml").read_text())
    _board(
        pytester,
        twin={
            "uart": {**data["twin"]["uart"], "ber": 1e-4, "seed": 5, "models": [str(DIGITS_MODEL)]}
        },
    )
    pytester.makepyfile(DIGITS_TEST)
    result = pytester.runpytest("--board=mcu-uart", "--emulate", "--think-json=out.json")
    result.assert_outcomes(passed=1)
    doc = json.loads((pytester.path / "out.json").read_text())
    assert doc["board"]["identity"]["serial"].startswith("/dev/pts/")
    assert doc["board"]["agent"]["agent"] == "think-agent"
    (test,) = doc["tests"]
    assert test["vectors"] == 450 and test["compare"]["mismatches"] == 0
    link = test["stream"]["link"]
    assert link["bad_frames"] > 0  # noise was met, counted and repaired
    # The shipped board file's frames adapt: the noise shrank them from where they started.
    assert link["frame_shrinks"] > 0 and link["frame_bytes_smallest"] < 512


def test_missing_serial_port_errors_with_its_name(pytester: pytest.Pytester) -> None:
    _board(pytester, serial={"url": "/dev/ttyTHINK9", "baud": 115200}, twin=None)
    pytester.makepyfile(DIGITS_TEST)
    result = pytester.runpytest("--board=mcu-uart")
    result.assert_outcomes(errors=0, failed=1)
    result.stdout.fnmatch_lines(["LinkError: serial port /dev/ttyTHINK9: *No such file*"])


def test_model_not_in_the_firmware(pytester: pytest.Pytester, tmp_path: Path) -> None:
    other = tmp_path / "jets.onnx"
    other.write_bytes(DIGITS_MODEL.read_bytes())
    _board(pytester)
    pytester.makepyfile(
        f"""
        def test_other(dut):
            dut.run({str(other)!r}, {str(DIGITS_VECTORS)!r})
        """
    )
    result = pytester.runpytest("--board=mcu-uart", "--emulate")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["AgentRefused: agent refused loading jets.onnx: no_model: *"])


def test_mcu_board_needs_a_serial_section(pytester: pytest.Pytester) -> None:
    _board(pytester, serial=None, ssh={"host": "mcu.lab", "user": "x"})
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--board=mcu-uart")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*field 'serial': family mcu-uart needs the serial line*"])


def _serial_board(tmp_path: Path, **serial: object) -> Path:
    data = yaml.safe_load((REPO / "boards" / "mcu-uart.yaml").read_text())
    data["serial"] = {"url": "/dev/ttyUSB0", "baud": 921600, **serial}
    path = tmp_path / "mcu.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        ({}, (128, 4096)),  # the defaults
        ({"frame_bytes": 32768}, (128, 32768)),  # a larger start raises the default maximum
        ({"frame_bytes": 64}, (64, 4096)),  # a smaller one lowers the default minimum
        ({"frame_bytes_min": 512, "frame_bytes_max": 512}, (512, 512)),  # fixed
    ],
)
def test_serial_frame_sizes_range(
    tmp_path: Path, serial: dict[str, int], expected: tuple[int, int]
) -> None:
    config = load_board(_serial_board(tmp_path, **serial)).serial
    assert config is not None and config.frame_bytes_range == expected


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (
            {"frame_bytes": 512, "frame_bytes_max": 256},
            "field 'serial': frame_bytes 512 must lie within frame_bytes_min 128 and "
            "frame_bytes_max 256",
        ),
        (
            {"frame_bytes_min": 1024},
            "field 'serial': frame_bytes 512 must lie within frame_bytes_min 1024",
        ),
        ({"frame_bytes_min": 32}, "field 'serial.frame_bytes_min': Input should be greater"),
    ],
)
def test_serial_frame_sizes_out_of_order_are_refused(
    tmp_path: Path, serial: dict[str, int], expected: str
) -> None:
    path = _serial_board(tmp_path, **serial)
    with pytest.raises(BoardConfigError) as error:
        load_board(path)
    assert str(error.value).startswith(f"board file {path}: ")
    assert expected in str(error.value) and "\n" not in str(error.value)
