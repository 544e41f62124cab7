"""pyserial links to a microcontroller twin behind a pseudo-terminal, paced at the baud rate."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS

from pytest_think.agent_client import AgentClient
from pytest_think.errors import LinkError
from pytest_think.stream import StreamResult
from pytest_think.transport.serial import SerialLink
from pytest_think.vectors import VectorSet


def twin(tmp_path: Path, ber: float) -> Iterator[str]:
    """A UART twin at 921600 baud with bit-error rate `ber`; yields its port."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest_think.emulator.families.mcu_uart",
            str(tmp_path),
            str(DIGITS_MODEL),
            "--baud",
            "921600",
            "--ber",
            str(ber),
            "--seed",
            "3",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout and proc.stdin
    yield json.loads(proc.stdout.readline())["port"]
    proc.stdin.close()
    proc.wait(timeout=10)


@pytest.fixture
def uart(tmp_path: Path) -> Iterator[str]:
    """A UART twin with a bit-error rate of 1e-4."""
    yield from twin(tmp_path, 1e-4)


@pytest.fixture
def clean_uart(tmp_path: Path) -> Iterator[str]:
    """A UART twin on a clean line."""
    yield from twin(tmp_path, 0.0)


def stream_digits(port: str, count: int, frame_range: tuple[int, int]) -> StreamResult:
    """`count` digits through the twin at `port`, checked against onnxruntime's outputs."""
    x = np.load(DIGITS_VECTORS)["input"][:count]
    link = SerialLink(port, 921600, frame_bytes=512, frame_bytes_range=frame_range)
    client = AgentClient(link, result_timeout=30)
    try:
        assert client.hello(30)["agent"] == "think-agent"
        client.load(DIGITS_MODEL.name, "sha", "onnxruntime", {}, 30)
        result = client.stream(VectorSet(Path("v.npz"), {"input": x}, None))
    finally:
        client.bye()
    expected = ort.InferenceSession(str(DIGITS_MODEL)).run(None, {"input": x})
    for name, want in zip(result.output_names, expected):
        np.testing.assert_array_equal(result.outputs[name], want)
    assert len(result.device_ns) == count
    return result


def test_vectors_cross_a_noisy_uart_exactly_once(uart: str) -> None:
    result = stream_digits(uart, 300, (512, 512))
    assert result.vectors_per_frame == 2  # fixed 512-byte frames
    assert result.link["bad_frames"] > 0
    assert "frame_bytes" not in result.link  # a fixed size has nothing to report


def test_frames_shrink_on_a_noisy_uart(uart: str) -> None:
    link = stream_digits(uart, 300, (128, 4096)).link
    assert link["frame_shrinks"] > 0 and link["frame_bytes_smallest"] < 512
    # Every halving followed a corrupted frame, counted: ours NAKed, or one of the agent's.
    assert link["frame_shrinks"] <= link["naks_received"] + link["bad_frames"]


def test_frames_grow_on_a_clean_uart(clean_uart: str) -> None:
    result = stream_digits(clean_uart, 450, (128, 4096))
    link = result.link
    assert link["frame_grows"] > 0 and link["frame_bytes_largest"] > 512
    assert link["frame_shrinks"] <= link["naks_received"] + link["bad_frames"]  # 0 if clean
    assert result.frames < 450 // result.vectors_per_frame  # larger frames than the first


def test_port_that_does_not_exist() -> None:
    with pytest.raises(LinkError, match=r"^serial port /dev/ttyTHINK9: .*No such file"):
        SerialLink("/dev/ttyTHINK9", 115200)


def test_port_held_by_another_program(uart: str) -> None:
    first = SerialLink(uart, 921600)
    try:
        with pytest.raises(LinkError, match=rf"^serial port {uart}: .*lock"):
            SerialLink(uart, 921600)
    finally:
        first.close()
