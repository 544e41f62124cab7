"""The host side of the agent protocol (agent_client.py, stream.py) against scripted fake agents.

No SSH and no subprocess: `FakeLink` is the host end of a socketpair and `FakeAgent` the board
end, where a reader thread decodes the host's frames and a script thread answers them as each
test dictates. A fake agent "computes" y = 2 * x and reports device_ns = x[:, 0] + 7, so every
answer can be traced back to the vectors it belongs to.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytest

from pytest_think.agent import think_frames as tf
from pytest_think.agent_client import AgentClient
from pytest_think.errors import AgentError
from pytest_think.stream import StreamResult
from pytest_think.transport.link import RELIABLE_FRAME_BYTES
from pytest_think.vectors import VectorSet

SIGNATURE: dict[str, Any] = {
    "inputs": [{"name": "x", "dtype": "float32", "shape": [None, 4]}],
    "outputs": [{"name": "y", "dtype": "float32", "shape": [None, 4]}],
}
IDENTITY: dict[str, Any] = {
    "agent": "fake-agent",
    "version": "0",
    "protocol": tf.PROTOCOL_VERSION,
    "backends": ["fake"],
}
MODEL = "models/fake.onnx"
SHA = "0" * 64
COUNT = 1000
PER_FRAME = 64
FRAMES = math.ceil(COUNT / PER_FRAME)  # 16: 15 full frames and one of 40 vectors
DEVICE_NS_OFFSET = 7

Script = Callable[["FakeAgent"], None]


# -- the fake agent and its link -------------------------------------------------------------


def _array(t: tf.Tensor) -> np.ndarray:
    return np.frombuffer(t.data, dtype=t.dtype).reshape(t.shape)


def _tensor(name: str, arr: np.ndarray) -> tf.Tensor:
    arr = np.ascontiguousarray(arr)
    return tf.Tensor(name, arr.dtype.name, tuple(arr.shape), arr.tobytes())


def doubled(frame: tf.Frame) -> tuple[list[int], list[tf.Tensor]]:
    """What the fake model answers to an INFER frame: device timings and outputs."""
    (x,) = [_array(t) for t in tf.decode_tensors(frame.payload) if t.name == "x"]
    device_ns = [int(v) + DEVICE_NS_OFFSET for v in x[:, 0]]
    return device_ns, [_tensor("y", x * 2)]


class FakeAgent:
    """The board end of a socketpair: a reader thread decodes frames, a script answers them."""

    def __init__(
        self,
        sock: socket.socket,
        script: Script,
        *,
        greet: bool,
        stderr: str,
        exit_status: int | None,
    ) -> None:
        self.sock = sock
        self.script = script
        self.greet = greet
        self.stderr = stderr
        self.final_status = exit_status
        self.exit_status: int | None = None  # None while "running", then final_status
        self.frames: list[tf.Frame] = []  # every frame the host sent, in arrival order
        self.inbox: queue.Queue[tf.Frame | None] = queue.Queue()  # None: the host closed
        self.lock = threading.Lock()
        self.unanswered = 0  # INFER frames received but not yet answered
        self.max_unanswered = 0
        self.errors: list[BaseException] = []
        self.reader = threading.Thread(target=self._read, name="fake-agent-reader", daemon=True)
        self.worker = threading.Thread(target=self._work, name="fake-agent-script", daemon=True)

    def start(self) -> None:
        self.reader.start()
        self.worker.start()

    def _read(self) -> None:
        decoder = tf.FrameDecoder()
        try:
            while data := self.sock.recv(1 << 16):
                for frame in decoder.feed(data):
                    with self.lock:
                        self.frames.append(frame)
                        if frame.type == tf.INFER:
                            self.unanswered += 1
                            self.max_unanswered = max(self.max_unanswered, self.unanswered)
                    self.inbox.put(frame)
        except OSError:
            pass  # closed by the script or by the teardown
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self.inbox.put(None)

    def _work(self) -> None:
        try:
            if self.greet:
                self.send_json(tf.HELLO, 0, IDENTITY)
                load = self.next_frame()
                assert load is not None and load.type == tf.LOAD, load
                self.send_json(tf.READY, load.seq, SIGNATURE)
            self.script(self)
        except OSError:
            pass  # the host closed the link first: its problem, asserted by the test
        except BaseException as exc:
            self.errors.append(exc)

    # -- for scripts ------------------------------------------------------------------------

    def next_frame(self, timeout: float | None = 5.0) -> tf.Frame | None:
        """The next frame from the host; None once the host closed the link."""
        return self.inbox.get(timeout=timeout)

    def infers(self) -> Iterator[tf.Frame]:
        """INFER frames until the host closes or says BYE (answered with BYE, like the agent)."""
        while (frame := self.next_frame()) is not None:
            if frame.type == tf.BYE:
                self.send(tf.encode_frame(tf.BYE, frame.seq))
                return
            assert frame.type == tf.INFER, f"unexpected {frame.name}"
            yield frame

    def send(self, blob: bytes) -> None:
        self.sock.sendall(blob)

    def send_json(self, ftype: int, seq: int, obj: Any) -> None:
        self.send(tf.encode_json(ftype, seq, obj))

    def answer(self, frame: tf.Frame, blob: bytes | None = None) -> None:
        """Answer an INFER frame: with `blob`, or else the fake model's correct RESULT."""
        if blob is None:
            device_ns, tensors = doubled(frame)
            blob = tf.encode_frame(tf.RESULT, frame.seq, tf.encode_result(device_ns, tensors))
        with self.lock:  # counted before sending: the host may send the next frame at once
            self.unanswered -= 1
        self.send(blob)

    def die(self) -> None:
        """The agent process ends: its end of the link closes."""
        self.exit_status = self.final_status
        self._close()

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def stop(self) -> None:
        self._close()
        for thread in (self.reader, self.worker):
            thread.join(timeout=5)
            assert not thread.is_alive(), f"{thread.name} did not finish"


class FakeLink:
    """The host end of the socketpair, a pytest_think.transport.link.Link like SSH's."""

    reliable = True
    frame_bytes = RELIABLE_FRAME_BYTES
    retransmit_after = math.inf

    def __init__(self, sock: socket.socket, agent: FakeAgent) -> None:
        self.sock = sock
        self.agent = agent
        self.input_closed = False
        self.closed = False

    def describe(self) -> str:
        return "fake agent on a socketpair"

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, n: int, timeout: float | None) -> bytes:
        # select() rather than settimeout(): the sender thread shares this socket.
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise TimeoutError("timed out")
        try:
            return self.sock.recv(n)
        except ConnectionResetError:
            # A Unix socket reports a peer that closed with unread input as a reset; an SSH
            # channel, the link this stands for, reports the end of the agent's output.
            return b""

    def close_input(self) -> None:
        self.input_closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def stderr_tail(self, lines: int = 5) -> str:
        return " | ".join(self.agent.stderr.strip().splitlines()[-lines:])

    def exit_status(self, timeout: float = 2.0) -> int | None:
        return self.agent.exit_status

    def close(self) -> None:
        self.closed = True
        self.sock.close()


class Start(Protocol):
    def __call__(
        self,
        script: Script,
        *,
        greet: bool = True,
        result_timeout: float = 2.0,
        stderr: str = "",
        exit_status: int | None = None,
    ) -> tuple[AgentClient, FakeAgent]: ...


@pytest.fixture
def start() -> Iterator[Start]:
    """start(script): a client talking to a fake agent running `script`, model loaded.

    With greet=False the script runs from the first byte and the client is left unstarted.
    """
    running: list[tuple[FakeLink, FakeAgent]] = []

    def _start(
        script: Script,
        *,
        greet: bool = True,
        result_timeout: float = 2.0,
        stderr: str = "",
        exit_status: int | None = None,
    ) -> tuple[AgentClient, FakeAgent]:
        host_end, agent_end = socket.socketpair()
        agent = FakeAgent(agent_end, script, greet=greet, stderr=stderr, exit_status=exit_status)
        link = FakeLink(host_end, agent)
        running.append((link, agent))
        agent.start()
        client = AgentClient(link, result_timeout=result_timeout)
        if greet:
            client.hello(timeout=2.0)
            client.load(MODEL, SHA, "fake", {}, timeout=2.0)
        return client, agent

    yield _start
    for link, agent in running:
        link.close()
        agent.stop()
    senders = [t for t in threading.enumerate() if t.name == "think-sender"]
    assert not senders, "stream() left its sender thread running"
    for _, agent in running:
        if agent.errors:
            raise agent.errors[0]


def vectors(count: int = COUNT) -> tuple[VectorSet, np.ndarray]:
    x = np.arange(count * 4, dtype=np.float32).reshape(count, 4)
    return VectorSet(Path("mem.npz"), {"x": x}, None), x


def assert_correct(result: StreamResult, x: np.ndarray) -> None:
    assert result.output_names == ["y"]
    np.testing.assert_array_equal(result.outputs["y"], x * 2)
    assert result.outputs["y"].dtype == np.float32
    np.testing.assert_array_equal(result.device_ns, x[:, 0].astype(np.int64) + DEVICE_NS_OFFSET)
    assert result.host_ns.shape == (len(x),)
    assert (result.host_ns > 0).all()


def in_order(agent: FakeAgent) -> None:
    for frame in agent.infers():
        agent.answer(frame)


def never_answers(agent: FakeAgent) -> None:
    for _ in agent.infers():
        pass


# -- streaming ------------------------------------------------------------------------------


def test_every_vector_comes_back_in_order(start: Start) -> None:
    client, agent = start(in_order)
    vs, x = vectors()
    progress: list[tuple[int, int]] = []

    result = client.stream(
        vs, window=3, vectors_per_frame=PER_FRAME, progress=lambda d, t: progress.append((d, t))
    )

    assert_correct(result, x)
    assert result.device_ns.shape == result.host_ns.shape == (COUNT,)
    assert (result.frames, result.vectors_per_frame, result.window) == (FRAMES, PER_FRAME, 3)
    assert progress[-1] == (COUNT, COUNT) and len(progress) == FRAMES
    infers = [f for f in agent.frames if f.type == tf.INFER]
    sizes = [_array(tf.decode_tensors(f.payload)[0]).shape for f in infers]
    assert sizes == [(PER_FRAME, 4)] * (FRAMES - 1) + [(COUNT % PER_FRAME, 4)]


def test_default_frame_size_targets_64_kib(start: Start) -> None:
    client, _ = start(in_order)
    vs, x = vectors(5000)  # 16 bytes a vector: 4096 would fit 64 KiB, capped at 1024

    result = client.stream(vs, window=2)

    assert_correct(result, x)
    assert (result.vectors_per_frame, result.frames) == (1024, 5)


@pytest.mark.parametrize("window", [1, 4])
def test_window_is_never_overrun(start: Start, window: int) -> None:
    def slow(agent: FakeAgent) -> None:
        for frame in agent.infers():
            time.sleep(0.01)  # time for the host to send more frames, were it allowed to
            agent.answer(frame)

    client, agent = start(slow)
    vs, x = vectors()

    result = client.stream(vs, window=window, vectors_per_frame=PER_FRAME)

    assert_correct(result, x)
    assert agent.max_unanswered <= window
    assert agent.max_unanswered == window  # and the host does keep the window full


def test_results_out_of_order_are_matched_by_seq(start: Start) -> None:
    window = 4

    def reverse_each_window(agent: FakeAgent) -> None:
        held: list[tf.Frame] = []
        answered = 0
        for frame in agent.infers():
            held.append(frame)
            if len(held) == window or answered + len(held) == FRAMES:
                for f in reversed(held):
                    agent.answer(f)
                answered += len(held)
                held.clear()

    client, _ = start(reverse_each_window)
    vs, x = vectors()

    result = client.stream(vs, window=window, vectors_per_frame=PER_FRAME)

    assert_correct(result, x)
    # The first frame of a window was sent first and answered last: the longest host time.
    first, last = result.host_ns[0], result.host_ns[(window - 1) * PER_FRAME]
    assert first > last


def _result_blob(frame: tf.Frame, *, seq: int | None = None, drop_timing: bool = False) -> bytes:
    device_ns, tensors = doubled(frame)
    if drop_timing:
        device_ns = device_ns[:-1]
    payload = tf.encode_result(device_ns, tensors)
    return tf.encode_frame(tf.RESULT, frame.seq if seq is None else seq, payload)


def test_result_for_a_frame_not_in_flight_is_an_error(start: Start) -> None:
    def wrong_seq(agent: FakeAgent) -> None:
        for frame in agent.infers():
            agent.answer(frame, _result_blob(frame, seq=frame.seq + 1000))

    client, _ = start(wrong_seq)
    vs, _ = vectors()

    with pytest.raises(AgentError, match=r"RESULT seq \d+ answers no frame in flight"):
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)


def test_duplicate_result_is_an_error(start: Start) -> None:
    seqs: list[int] = []

    def twice(agent: FakeAgent) -> None:
        for frame in agent.infers():
            seqs.append(frame.seq)
            agent.answer(frame)
            agent.send(_result_blob(frame))

    client, _ = start(twice)
    vs, _ = vectors()

    with pytest.raises(AgentError) as info:
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)
    assert f"RESULT seq {seqs[0]} answers no frame in flight" in str(info.value)


def test_result_with_wrong_timing_count_is_an_error(start: Start) -> None:
    def short(agent: FakeAgent) -> None:
        for frame in agent.infers():
            agent.answer(frame, _result_blob(frame, drop_timing=True))

    client, _ = start(short)
    vs, _ = vectors()

    with pytest.raises(AgentError, match=r"result for vectors 0-63 has 63 timings"):
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)


def test_result_with_wrong_output_rows_is_an_error(start: Start) -> None:
    def short(agent: FakeAgent) -> None:
        for frame in agent.infers():
            device_ns, (y,) = doubled(frame)
            tensors = [_tensor("y", _array(y)[:-1])]
            agent.answer(
                frame, tf.encode_frame(tf.RESULT, frame.seq, tf.encode_result(device_ns, tensors))
            )

    client, _ = start(short)
    vs, _ = vectors()

    with pytest.raises(AgentError, match=r"output 'y' for vectors 0-63 has shape \(63, 4\)"):
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)


def _answer_second_with(agent: FakeAgent, tensors: Callable[[np.ndarray], list[tf.Tensor]]) -> None:
    """Answer every frame correctly but the second, whose outputs `tensors(y)` replaces."""
    for i, frame in enumerate(agent.infers()):
        if i != 1:
            agent.answer(frame)
            continue
        device_ns, (y,) = doubled(frame)
        payload = tf.encode_result(device_ns, tensors(_array(y)))
        agent.answer(frame, tf.encode_frame(tf.RESULT, frame.seq, payload))


@pytest.mark.parametrize(
    ("outputs", "problem"),
    [
        (lambda y: [], r"vectors 64-127 has outputs \[\], the model has \['y'\]"),
        (
            lambda y: [_tensor("y", y), _tensor("z", y)],
            r"vectors 64-127 has outputs \['y', 'z'\], the model has \['y'\]",
        ),
        (lambda y: [_tensor("y", y[:, :1])], r"output 'y' for vectors 64-127 is float32 \(64, 1\)"),
        (
            lambda y: [_tensor("y", y.astype(np.float64))],
            r"output 'y' for vectors 64-127 is float64 \(64, 4\)",
        ),
    ],
    ids=["missing", "extra", "other-shape", "other-dtype"],
)
def test_result_with_other_outputs_than_the_model_is_an_error(
    start: Start, outputs: Callable[[np.ndarray], list[tf.Tensor]], problem: str
) -> None:
    client, _ = start(lambda agent: _answer_second_with(agent, outputs))
    vs, _ = vectors()

    with pytest.raises(AgentError, match=problem):
        client.stream(vs, window=1, vectors_per_frame=PER_FRAME)


def test_error_frame_names_the_vectors_and_the_cause(start: Start) -> None:
    def fails_second(agent: FakeAgent) -> None:
        for i, frame in enumerate(agent.infers()):
            if i == 1:
                error = {"code": "infer_failed", "message": "backend refused the tensors"}
                agent.answer(frame, tf.encode_json(tf.ERROR, frame.seq, error))
            else:
                agent.answer(frame)

    client, _ = start(fails_second)
    vs, _ = vectors()

    with pytest.raises(AgentError) as info:
        client.stream(vs, window=3, vectors_per_frame=PER_FRAME)
    assert "agent failed on vectors 64-127: infer_failed: backend refused the tensors" in str(
        info.value
    )


@pytest.mark.parametrize(
    ("status", "how"),
    [
        (None, "the link closed"),
        (3, "the agent exited with status 3"),
        (-1, "killed without an exit status"),
    ],
)
def test_agent_dying_mid_stream_is_reported(start: Start, status: int | None, how: str) -> None:
    window = 4

    def dies_after_two(agent: FakeAgent) -> None:
        held = [f for _, f in zip(range(window), agent.infers())]
        agent.answer(held[0])
        agent.answer(held[1])
        agent.die()

    stderr = "loading model\nTraceback (most recent call last):\nMemoryError: out of memory\n"
    client, _ = start(dies_after_two, stderr=stderr, exit_status=status)
    vs, _ = vectors()

    with pytest.raises(AgentError) as info:
        client.stream(vs, window=window, vectors_per_frame=PER_FRAME)
    message = str(info.value)
    assert "agent died during the stream" in message
    assert how in message
    assert "fake agent on a socketpair" in message
    assert "agent stderr: loading model | Traceback" in message
    assert "MemoryError: out of memory" in message
    assert re.search(r"vectors 128-\d+ in flight", message), message


def test_agent_dying_while_the_host_sends_is_reported(start: Start) -> None:
    def stops_reading_then_dies(agent: FakeAgent) -> None:
        held = [f for _, f in zip(range(2), agent.infers())]
        agent.sock.shutdown(socket.SHUT_RD)  # from now on the host's sends fail (EPIPE)
        agent.answer(held[0])  # frees a slot: the host sends the next frame, and fails
        time.sleep(0.2)
        agent.exit_status = 3
        agent.answer(held[1])  # the host learns of the failed send after this result
        agent.die()

    client, _ = start(stops_reading_then_dies, stderr="Segmentation fault", exit_status=3)
    vs, _ = vectors()

    with pytest.raises(AgentError) as info:
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)
    message = str(info.value)
    assert "agent died during the stream: the agent exited with status 3" in message
    assert "agent stderr: Segmentation fault" in message
    assert "sending to it failed" in message
    assert re.search(r"vectors 128-\d+ in flight", message), message


def test_no_answer_within_result_timeout(start: Start) -> None:
    client, _ = start(never_answers, result_timeout=0.5)
    vs, _ = vectors()

    began = time.monotonic()
    with pytest.raises(AgentError) as info:
        client.stream(vs, window=3, vectors_per_frame=PER_FRAME)
    assert time.monotonic() - began < 2.0
    message = str(info.value)
    assert "no answer from the agent within 0.5 s during the stream" in message
    assert "vectors 0-191 in flight" in message


@pytest.mark.parametrize(
    ("offset", "problem"),
    [(tf.HEADER_SIZE + 10, "CRC mismatch on frame seq"), (0, "bad frame magic")],
    ids=["payload", "magic"],
)
def test_corrupted_frame_is_an_error(start: Start, offset: int, problem: str) -> None:
    def corrupts(agent: FakeAgent) -> None:
        for frame in agent.infers():
            blob = bytearray(_result_blob(frame))
            blob[offset] ^= 0xFF
            agent.answer(frame, bytes(blob))

    client, _ = start(corrupts)
    vs, _ = vectors()

    with pytest.raises(AgentError) as info:
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)
    message = str(info.value)
    assert "corrupted frame from the agent during the stream" in message
    assert problem in message


def test_stream_without_a_model_is_refused(start: Start) -> None:
    client, _ = start(never_answers, greet=False)

    with pytest.raises(AgentError, match="before a model was loaded"):
        client.stream(vectors()[0])


# -- hello, load, bye -----------------------------------------------------------------------


def test_hello_returns_the_identity(start: Start) -> None:
    client, _ = start(lambda agent: agent.send_json(tf.HELLO, 0, IDENTITY), greet=False)

    assert client.hello(timeout=2.0) == IDENTITY
    assert client.identity == IDENTITY


def test_hello_with_another_protocol_is_refused(start: Start) -> None:
    other = {**IDENTITY, "protocol": tf.PROTOCOL_VERSION + 1}
    client, _ = start(lambda agent: agent.send_json(tf.HELLO, 0, other), greet=False)

    with pytest.raises(AgentError, match=r"agent speaks protocol 2, host speaks 1"):
        client.hello(timeout=2.0)


def test_load_is_sent_once_per_model_and_options(start: Start) -> None:
    def loads(agent: FakeAgent) -> None:
        agent.send_json(tf.HELLO, 0, IDENTITY)
        while (frame := agent.next_frame()) is not None:
            assert frame.type == tf.LOAD, frame.name
            agent.send_json(tf.READY, frame.seq, SIGNATURE)

    client, agent = start(loads, greet=False)
    client.hello(timeout=2.0)

    assert client.load(MODEL, SHA, "fake", {"a": 1, "b": 2}, timeout=2.0) == SIGNATURE
    assert client.load(MODEL, SHA, "fake", {"b": 2, "a": 1}, timeout=2.0) == SIGNATURE
    assert client.load(MODEL, SHA, "fake", {"a": 1}, timeout=2.0) == SIGNATURE
    assert client.load(MODEL, "1" * 64, "fake", {"a": 1}, timeout=2.0) == SIGNATURE

    # Each load that sends waits for its READY, so the fake has seen every LOAD by now.
    requests = [f.json() for f in agent.frames if f.type == tf.LOAD]
    assert [r["options"] for r in requests] == [{"a": 1, "b": 2}, {"a": 1}, {"a": 1}]
    assert requests[0] == {"path": MODEL, "backend": "fake", "options": {"a": 1, "b": 2}}


def test_load_refused_by_the_agent(start: Start) -> None:
    def refuses(agent: FakeAgent) -> None:
        agent.send_json(tf.HELLO, 0, IDENTITY)
        load = agent.next_frame()
        assert load is not None
        error = {"code": "load_failed", "message": "no such file"}
        agent.send_json(tf.ERROR, load.seq, error)

    client, _ = start(refuses, greet=False)
    client.hello(timeout=2.0)

    with pytest.raises(AgentError, match=r"agent refused loading .*: load_failed: no such file"):
        client.load(MODEL, SHA, "fake", {}, timeout=2.0)
    assert client.loaded is None


def test_bye_is_answered_and_closes_the_link(start: Start) -> None:
    client, agent = start(in_order)
    link = client.link
    assert isinstance(link, FakeLink)

    client.bye(timeout=2.0)

    assert agent.frames[-1].type == tf.BYE
    assert link.input_closed and link.closed


def test_bye_when_the_agent_is_gone(start: Start) -> None:
    client, agent = start(lambda agent: agent.die(), exit_status=0)
    agent.worker.join(timeout=2)
    link = client.link
    assert isinstance(link, FakeLink)

    began = time.monotonic()
    client.bye(timeout=2.0)  # no exception

    assert time.monotonic() - began < 1.0
    assert link.input_closed and link.closed


def test_frames_sent_by_the_host_are_well_formed(start: Start) -> None:
    client, agent = start(in_order)
    vs, x = vectors(100)

    client.stream(vs, window=2, vectors_per_frame=30)

    infers = [f for f in agent.frames if f.type == tf.INFER]
    seqs = [f.seq for f in infers]
    assert seqs == sorted(set(seqs)), "INFER sequence numbers must be unique and increasing"
    blocks = [tf.decode_tensors(f.payload) for f in infers]
    assert all([t.name for t in block] == ["x"] for block in blocks)
    np.testing.assert_array_equal(np.concatenate([_array(b[0]) for b in blocks]), x)
    load = next(f for f in agent.frames if f.type == tf.LOAD)
    assert json.loads(load.payload)["path"] == MODEL
