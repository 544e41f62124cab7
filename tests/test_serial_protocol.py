"""The frame protocol over a link that corrupts and drops bytes, as a UART does: every vector
completes exactly once with the right result, and the damage is counted."""

from __future__ import annotations

import itertools
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS

from pytest_think.agent import AGENT_DIR
from pytest_think.agent import think_frames as tf
from pytest_think.agent_client import AgentClient
from pytest_think.emulator.families.mcu_uart import Line
from pytest_think.transport.reliable import LinkCounts
from pytest_think.vectors import VectorSet


class NoisyPipeLink:
    """The agent's stdin/stdout as a wire with bit errors (rate `ber`) and dropped bytes."""

    reliable = False
    retransmit_after = 0.2
    frame_bytes = 512
    frame_bytes_range = (128, 4096)  # adapting to the noise, as the shipped board file does

    def __init__(self, ber: float, drop: float, seed: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(AGENT_DIR / "think_agent.py"), "--serial"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.infer_seqs: list[int] = []
        self.infer_vectors: list[int] = []
        # The UART twin's own wire model; pacing is not used here, only its faults.
        self.wire = Line(baud=10**9, ber=ber, drop=drop, seed=seed)

    @property
    def damaged_bytes(self) -> int:
        return self.wire.damaged_bytes

    def _wire(self, data: bytes) -> bytes:
        return self.wire.damage(data)

    def describe(self) -> str:
        return "noisy pipe"

    def send(self, data: bytes) -> None:
        assert self.proc.stdin
        _, _, ftype, seq, length = tf.HEADER.unpack_from(data)  # one whole frame per send
        if ftype == tf.INFER:  # the vectors in each INFER frame sent (repeats included)
            self.infer_seqs.append(seq)
            payload = data[tf.HEADER_SIZE : tf.HEADER_SIZE + length]
            self.infer_vectors.append(tf.decode_tensors(payload)[0].shape[0])
        self.proc.stdin.write(self._wire(data))
        self.proc.stdin.flush()

    def recv(self, n: int, timeout: float | None) -> bytes:
        assert self.proc.stdout
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise TimeoutError
        data = os.read(fd, n)
        return self._wire(data) if data else b""

    def close_input(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def stderr_tail(self, lines: int = 5) -> str:
        return ""

    def exit_status(self, timeout: float = 2.0) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        self.close_input()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def vectors() -> VectorSet:
    data = np.load(DIGITS_VECTORS)
    x = np.tile(data["input"], (3, 1))  # 1350 vectors, ~130 frames each way
    return VectorSet(Path("digits.npz"), {"input": x}, None)


@pytest.fixture
def expected(vectors: VectorSet) -> list[np.ndarray]:
    session = ort.InferenceSession(str(DIGITS_MODEL), providers=["CPUExecutionProvider"])
    return list(session.run(None, dict(vectors.inputs)))


@pytest.fixture
def link_factory() -> Iterator[object]:
    links: list[NoisyPipeLink] = []

    def make(ber: float, drop: float = 0.0, seed: int = 0) -> NoisyPipeLink:
        links.append(NoisyPipeLink(ber, drop, seed))
        return links[-1]

    yield make
    for link in links:
        link.close()


def _run(link: NoisyPipeLink, vectors: VectorSet) -> tuple[AgentClient, object]:
    client = AgentClient(link, result_timeout=30)
    client.hello(30)
    model = os.path.relpath(DIGITS_MODEL, AGENT_DIR)
    client.load(model, "digits", "onnxruntime", {"device_batch": 1}, 30)
    return client, client.stream(vectors, window=4)


@pytest.mark.parametrize(("ber", "drop", "seed"), [(1e-4, 0.0, 1), (2e-4, 1e-5, 2)])
def test_every_vector_once_and_right_through_noise(
    link_factory, vectors: VectorSet, expected: list[np.ndarray], ber: float, drop: float, seed: int
) -> None:
    link = link_factory(ber, drop, seed)
    client, result = _run(link, vectors)
    for name, want in zip(result.output_names, expected):
        np.testing.assert_array_equal(result.outputs[name], want)
    assert link.damaged_bytes > 0
    stats = result.link
    assert stats["bad_frames"] > 0
    assert stats["naks_sent"] + stats["retransmits"] > 0
    assert len(result.device_ns) == vectors.count and (result.device_ns > 0).all()
    # The frame size went down after corrupted frames; every vector still came back once.
    assert stats["frame_shrinks"] > 0 and stats["frame_bytes_smallest"] < link.frame_bytes
    client.bye()


def test_frame_sizes_change_both_ways_mid_stream_and_every_vector_comes_once(
    link_factory, vectors: VectorSet, expected: list[np.ndarray]
) -> None:
    """At a bit-error rate of 1e-5 most frames arrive whole, some not: the size grows on runs
    of clean frames and halves after corrupted ones."""
    link = link_factory(1e-5, 0.0, 4)
    client, result = _run(link, vectors)
    for name, want in zip(result.output_names, expected):
        np.testing.assert_array_equal(result.outputs[name], want)
    stats = result.link
    assert stats["frame_grows"] > 0 and stats["frame_shrinks"] > 0
    # On the wire, INFER frames (each at its first sending) grew and shrank mid-stream.
    first = {seq: n for seq, n in reversed(list(zip(link.infer_seqs, link.infer_vectors)))}
    sizes = [first[seq] for seq in sorted(first)][:-1]  # the last one holds what was left
    steps = {np.sign(b - a) for a, b in itertools.pairwise(sizes)}
    assert {1, -1} <= steps
    assert result.frames == len(first)  # each frame counted once, its repeats not
    client.bye()


def test_clean_serial_link_needs_no_recovery(
    link_factory, vectors: VectorSet, expected: list[np.ndarray]
) -> None:
    link = link_factory(0.0)
    client, result = _run(link, vectors)
    np.testing.assert_array_equal(result.outputs["logits"], expected[0])
    stats = result.link
    assert {k: stats[k] for k in asdict(LinkCounts())} == asdict(LinkCounts())  # all 0
    # Nothing corrupted: the frames only grew, from 2 vectors (512 bytes) to the largest.
    assert stats["frame_shrinks"] == 0 and stats["frame_grows"] > 0
    assert stats["frame_bytes"] == stats["frame_bytes_largest"] == 4096
    assert result.vectors_per_frame == 2 and result.frames < vectors.count // 2
    client.bye()
