"""A scripted fake agent on a socketpair, for the agent client's and the stream's tests.

No SSH and no subprocess: `FakeLink` is the host end of a socketpair and `FakeAgent` the board
end, where a reader thread decodes the host's frames and a script thread answers them as each
test dictates. A fake agent "computes" y = 2 * x and reports device_ns = x[:, 0] + 7, so every
answer can be traced back to the vectors it belongs to. Test modules make their `start`
fixture from `fake_agents()`.
"""

import contextlib
import math
import queue
import select
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pytest_think.agent import think_frames as tf
from pytest_think.agent_client import AgentClient
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


def array(t: tf.Tensor) -> np.ndarray:
    return np.frombuffer(t.data, dtype=t.dtype).reshape(t.shape)


def tensor(name: str, arr: np.ndarray) -> tf.Tensor:
    arr = np.ascontiguousarray(arr)
    return tf.Tensor(name, arr.dtype.name, tuple(arr.shape), arr.tobytes())


def doubled(frame: tf.Frame) -> tuple[list[int], list[tf.Tensor]]:
    """What the fake model answers to an INFER frame: device timings and outputs."""
    (x,) = [array(t) for t in tf.decode_tensors(frame.payload) if t.name == "x"]
    device_ns = [int(v) + DEVICE_NS_OFFSET for v in x[:, 0]]
    return device_ns, [tensor("y", x * 2)]


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
    frame_bytes_range = (RELIABLE_FRAME_BYTES, RELIABLE_FRAME_BYTES)
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


@contextlib.contextmanager
def fake_agents() -> Iterator[Start]:
    """start(script): a client talking to a fake agent running `script`, model loaded; every
    agent started is stopped on leaving, and its script's failure raised.

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
