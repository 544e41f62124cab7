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
from pytest_think.transport.serial import SerialLink
from pytest_think.vectors import VectorSet


@pytest.fixture
def uart(tmp_path: Path) -> Iterator[str]:
    """A UART twin at 921600 baud with a bit-error rate of 1e-4; yields its port."""
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
            "1e-4",
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


def test_vectors_cross_a_noisy_uart_exactly_once(uart: str) -> None:
    x = np.load(DIGITS_VECTORS)["input"][:300]
    link = SerialLink(uart, 921600)
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
    assert result.vectors_per_frame == 2  # 512-byte frames on a serial line
    assert result.link["bad_frames"] > 0


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
