"""Host side of the agent protocol: identity, model loading, and windowed vector streaming.

Works over any byte link (an SSH exec channel today, a UART later): see `Link`. A sender
thread keeps up to `window` INFER frames in flight while the caller's thread collects
RESULT frames, so the link and the device stay busy. Every result is matched to its frame by
sequence number; a duplicate, unknown or missing result is an error, never a silent loss.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pytest_think.agent import think_frames as tf
from pytest_think.errors import AgentError, AgentRefused, AgentTimeout
from pytest_think.output_store import WrittenFrontier, allocate
from pytest_think.vectors import VectorSet

TARGET_FRAME_BYTES = 64 * 1024
MAX_FRAME_VECTORS = 1024
DEFAULT_WINDOW = 8
HELLO_GRACE_S = 3.0  # on unreliable links, how long to wait for HELLO before asking for it


class Link(Protocol):
    def describe(self) -> str: ...
    def send(self, data: bytes) -> None: ...
    def recv(self, n: int, timeout: float | None) -> bytes: ...
    def close_input(self) -> None: ...
    def stderr_tail(self, lines: int = 5) -> str: ...
    def exit_status(self, timeout: float = 2.0) -> int | None: ...
    def close(self) -> None: ...


def to_wire(name: str, arr: np.ndarray) -> tf.Tensor:
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return tf.Tensor(name, arr.dtype.name, tuple(arr.shape), arr.data.cast("B"))


def from_wire(t: tf.Tensor) -> np.ndarray:
    return np.frombuffer(t.data, dtype=t.dtype).reshape(t.shape)


@dataclass
class StreamResult:
    """Outputs of every vector, in vector order, with per-vector timings."""

    output_names: list[str]
    outputs: dict[str, np.ndarray]
    device_ns: np.ndarray
    host_ns: np.ndarray
    wall_s: float
    frames: int
    vectors_per_frame: int
    window: int
    link: dict[str, int] = field(default_factory=dict)  # corruption and recovery counts


@dataclass
class _InFlight:
    start: int
    stop: int
    sent_ns: int


@dataclass
class _Collector:
    count: int
    names: list[str]  # the model's outputs: every RESULT carries exactly these
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    device_ns: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    host_ns: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    filled: np.ndarray = field(default_factory=lambda: np.empty(0, bool))

    def __post_init__(self) -> None:
        self.device_ns = np.zeros(self.count, np.int64)
        self.host_ns = np.zeros(self.count, np.int64)
        self.filled = np.zeros(self.count, bool)
        self.written = WrittenFrontier()

    def store(
        self, job: _InFlight, device_ns: list[int], tensors: list[tf.Tensor], now: int
    ) -> None:
        n = job.stop - job.start
        if len(device_ns) != n:
            raise AgentError(
                f"result for vectors {job.start}-{job.stop - 1} has {len(device_ns)} timings"
            )
        if self.filled[job.start : job.stop].any():
            raise AgentError(f"vectors {job.start}-{job.stop - 1} answered twice")
        got = [t.name for t in tensors]
        if sorted(got) != sorted(self.names):
            raise AgentError(
                f"result for vectors {job.start}-{job.stop - 1} has outputs {got}, "
                f"the model has {self.names}"
            )
        for t in tensors:
            arr = from_wire(t)
            if arr.shape[:1] != (n,):
                raise AgentError(
                    f"output '{t.name}' for vectors {job.start}-{job.stop - 1} "
                    f"has shape {arr.shape}"
                )
            if t.name not in self.outputs:
                self.outputs[t.name] = allocate(self.count, arr.shape[1:], arr.dtype)
            out = self.outputs[t.name]
            if arr.dtype != out.dtype or arr.shape[1:] != out.shape[1:]:
                # numpy would silently cast or broadcast it into the other frames' layout
                raise AgentError(
                    f"output '{t.name}' for vectors {job.start}-{job.stop - 1} is {arr.dtype} "
                    f"{arr.shape}, other frames gave {out.dtype} {out.shape[1:]} per vector"
                )
            out[job.start : job.stop] = arr
        self.device_ns[job.start : job.stop] = device_ns
        self.host_ns[job.start : job.stop] = now - job.sent_ns
        self.filled[job.start : job.stop] = True
        self.written.advance(job.start, job.stop, self.outputs)


class AgentClient:
    """Talks to one running agent over one link."""

    def __init__(self, link: Link, result_timeout: float = 60.0) -> None:
        self.link = link
        self.result_timeout = result_timeout
        # Links that corrupt or drop bytes (UARTs) say so; frames on them are resynchronised,
        # NAKed and retransmitted instead of failing the run (docs/protocol.md).
        self.unreliable = bool(getattr(link, "unreliable", False))
        self.retransmit_after = float(getattr(link, "retransmit_after", 1.0))
        self.decoder = tf.FrameDecoder()
        self.resync = tf.ResyncDecoder()
        self.unanswered: dict[int, bytes] = {}  # requests to repeat on NAK or silence
        self.link_stats = {
            "bad_frames": 0,
            "naks_sent": 0,
            "naks_received": 0,
            "retransmits": 0,
            "duplicates": 0,
        }
        self._send_lock = threading.Lock()
        self.pending: list[tf.Frame] = []
        self.seq = 0
        self.identity: dict[str, Any] = {}
        self.loaded: dict[str, Any] | None = None
        self.loaded_key: tuple[str, str] | None = None

    # -- low level -----------------------------------------------------------------------

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return self.seq

    def send(self, blob: bytes, request_seq: int | None = None) -> None:
        """Send a frame; a request (with its seq) is kept for repeats until it is answered."""
        with self._send_lock:
            if self.unreliable and request_seq is not None:
                self.unanswered[request_seq] = blob
            self.link.send(blob)

    def answered(self, seq: int) -> None:
        with self._send_lock:
            self.unanswered.pop(seq, None)

    def _repeat(self, seqs: list[int]) -> None:
        with self._send_lock:
            blobs = [self.unanswered[s] for s in seqs if s in self.unanswered]
            for blob in blobs:
                self.link.send(blob)
            self.link_stats["retransmits"] += len(blobs)

    def _feed_unreliable(self, data: bytes, flush: bool = False) -> None:
        frames, errors = self.resync.flush() if flush else self.resync.feed(data)
        for error in errors:
            self.link_stats["bad_frames"] += 1
            if error.seq is not None:
                self.link_stats["naks_sent"] += 1
                self.send(tf.encode_frame(tf.NAK, error.seq))
        for frame in frames:
            if frame.type == tf.NAK:
                self.link_stats["naks_received"] += 1
                self._repeat([frame.seq])
            else:
                self.pending.append(frame)

    def _died(self, doing: str) -> AgentError:
        status = self.link.exit_status(timeout=2.0)
        if status is None:
            how = "the link closed"
        elif status == -1:  # SSH sends exit-signal instead of a status; paramiko reports -1
            how = "the agent was killed without an exit status (a signal: crash or kill)"
        else:
            how = f"the agent exited with status {status}"
        tail = self.link.stderr_tail()
        return AgentError(
            f"agent died {doing}: {how} ({self.link.describe()})"
            + (f"; agent stderr: {tail}" if tail else "; agent stderr was empty")
        )

    def recv_frame(self, timeout: float, doing: str) -> tf.Frame:
        deadline = time.monotonic() + timeout
        while not self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AgentTimeout(f"no answer from the agent within {timeout:g} s {doing}")
            wait = min(remaining, self.retransmit_after) if self.unreliable else remaining
            try:
                data = self.link.recv(1 << 20, wait)
            except TimeoutError:
                if self.unreliable:  # silence: a request or its answer was lost, ask again
                    self._feed_unreliable(b"", flush=True)
                    self._repeat(sorted(self.unanswered))
                continue
            except OSError:  # a reset link: the agent's end is gone
                data = b""
            if not data:
                raise self._died(doing)
            if self.unreliable:
                self._feed_unreliable(data)
                continue
            try:
                self.pending.extend(self.decoder.feed(data))
            except tf.FrameError as exc:
                raise AgentError(f"corrupted frame from the agent {doing}: {exc}") from None
        frame = self.pending.pop(0)
        self.answered(frame.seq)
        return frame

    def _expect(self, ftype: int, seq: int | None, timeout: float, doing: str) -> tf.Frame:
        frame = self.recv_frame(timeout, doing)
        if frame.type == tf.ERROR:
            err = frame.json()
            raise AgentRefused(
                f"agent refused {doing}: {err.get('code')}: {err.get('message')}",
                str(err.get("code")),
            )
        if frame.type != ftype or (seq is not None and frame.seq != seq):
            raise AgentError(
                f"protocol error {doing}: expected {tf.FRAME_NAMES[ftype]} seq {seq}, "
                f"got {frame.name} seq {frame.seq}"
            )
        return frame

    # -- protocol --------------------------------------------------------------------------

    def hello(self, timeout: float) -> dict[str, Any]:
        doing = "while starting"
        if self.unreliable:
            # HELLO comes unasked. If it does not come (lost, or sent before we listened, as
            # by a microcontroller that booted long ago), a NAK for seq 0 asks for it again.
            grace = min(timeout, HELLO_GRACE_S)
            try:
                frame = self._expect(tf.HELLO, None, grace, doing)
            except AgentTimeout:
                with self._send_lock:
                    self.unanswered[0] = tf.encode_frame(tf.NAK, 0)
                frame = self._expect(tf.HELLO, None, max(timeout - grace, 0.001), doing)
        else:
            frame = self._expect(tf.HELLO, None, timeout, doing)
        self.identity = frame.json()
        if self.identity.get("protocol") != tf.PROTOCOL_VERSION:
            raise AgentError(
                f"agent speaks protocol {self.identity.get('protocol')}, host speaks "
                f"{tf.PROTOCOL_VERSION}"
            )
        return self.identity

    def load(
        self, remote_path: str, sha256: str, backend: str, options: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        key = (sha256, repr(sorted(options.items())))
        if self.loaded is not None and self.loaded_key == key:
            return self.loaded
        seq = self._next_seq()
        request = {"path": remote_path, "backend": backend, "options": options}
        self.send(tf.encode_json(tf.LOAD, seq, request), seq)
        # A refused LOAD may leave the agent with no model: forget the previous one.
        self.loaded, self.loaded_key = None, None
        self.loaded = self._expect(tf.READY, seq, timeout, f"loading {remote_path}").json()
        self.loaded_key = key
        return self.loaded

    def stream(
        self,
        vectors: VectorSet,
        window: int = DEFAULT_WINDOW,
        vectors_per_frame: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> StreamResult:
        if self.loaded is None:
            raise AgentError("stream before a model was loaded")
        if window < 1:
            raise ValueError(f"window must be at least 1 frame in flight, got {window}")
        # Short frames on noisy links: a frame's chance to arrive whole falls with its length.
        frame_bytes = int(getattr(self.link, "frame_bytes", TARGET_FRAME_BYTES))
        per_frame = vectors_per_frame or max(
            1, min(MAX_FRAME_VECTORS, frame_bytes // max(1, vectors.bytes_per_vector))
        )
        collector = _Collector(vectors.count, [o["name"] for o in self.loaded["outputs"]])
        in_flight: dict[int, _InFlight] = {}
        lock = threading.Lock()
        slots = threading.Semaphore(window)
        stop = threading.Event()
        send_error: list[BaseException] = []
        total_frames = -(-vectors.count // per_frame)

        def sender() -> None:
            try:
                for start, stop_i, arrays in vectors.batches(per_frame):
                    while not slots.acquire(timeout=0.1):
                        if stop.is_set():
                            return
                    if stop.is_set():
                        return
                    seq = self._next_seq()
                    payload = tf.encode_tensors([to_wire(k, v) for k, v in arrays.items()])
                    blob = tf.encode_frame(tf.INFER, seq, payload)
                    with lock:
                        in_flight[seq] = _InFlight(start, stop_i, time.perf_counter_ns())
                    self.send(blob, seq)
            except BaseException as exc:  # reported by the receiving thread
                send_error.append(exc)

        def in_flight_text() -> str:
            with lock:
                jobs = sorted(in_flight.values(), key=lambda j: j.start)
            if not jobs:
                return "no vectors in flight"
            return f"vectors {jobs[0].start}-{jobs[-1].stop - 1} in flight"

        def send_failed() -> AgentError:
            exc = send_error[0]
            if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
                # The link broke under the sender: most likely the agent died. Say so, with
                # its exit status and stderr, rather than a bare "Broken pipe".
                died = self._died("during the stream")
                return AgentError(f"{died}; sending to it failed: {exc}; {in_flight_text()}")
            return AgentError(f"sending to the agent failed: {exc}")

        thread = threading.Thread(target=sender, name="think-sender", daemon=True)
        started = time.perf_counter()
        thread.start()
        received = 0
        frames_done = 0
        try:
            while frames_done < total_frames:
                try:
                    frame = self.recv_frame(self.result_timeout, "during the stream")
                except AgentError as exc:
                    raise AgentError(f"{exc}; {in_flight_text()}") from None
                now = time.perf_counter_ns()
                with lock:
                    job = in_flight.pop(frame.seq, None)
                if job is None and self.unreliable and frame.type == tf.RESULT:
                    # The answer to a request repeated after a loss: already counted once.
                    self.link_stats["duplicates"] += 1
                    continue
                frames_done += 1
                if frame.type == tf.ERROR:
                    err = frame.json()
                    where = f"vectors {job.start}-{job.stop - 1}" if job else f"frame {frame.seq}"
                    raise AgentError(
                        f"agent failed on {where}: {err.get('code')}: {err.get('message')}"
                    )
                if frame.type != tf.RESULT or job is None:
                    raise AgentError(
                        f"protocol error during the stream: {frame.name} seq {frame.seq} "
                        "answers no frame in flight"
                    )
                device_ns, tensors = tf.decode_result(frame.payload)
                collector.store(job, device_ns, tensors, now)
                received += job.stop - job.start
                slots.release()
                if progress:
                    progress(received, vectors.count)
                if send_error:
                    raise send_failed()
        finally:
            stop.set()
            thread.join(timeout=5)
        if send_error:
            raise send_failed()
        if not collector.filled.all():
            missing = np.flatnonzero(~collector.filled)
            raise AgentError(f"{len(missing)} vectors got no result (first: {missing[0]})")
        names = [o["name"] for o in self.loaded["outputs"]]
        return StreamResult(
            output_names=names,
            outputs={n: collector.outputs[n] for n in names if n in collector.outputs},
            device_ns=collector.device_ns,
            host_ns=collector.host_ns,
            wall_s=time.perf_counter() - started,
            frames=total_frames,
            vectors_per_frame=per_frame,
            window=window,
            link=dict(self.link_stats) if self.unreliable else {},
        )

    def loop(
        self, vectors: VectorSet, count: int, options: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """Run the model on-device in a loop over the first `count` vectors (no link involved).

        The report is the agent's LOOP_DONE, plus the host's wall clock just before the LOOP
        went out and just after the answer came back (`host_sent_unix_ns`,
        `host_received_unix_ns`): the device's loop ran between the two."""
        seq = self._next_seq()
        _, _, arrays = next(vectors.batches(count))
        payload = tf.encode_loop(options, [to_wire(k, v) for k, v in arrays.items()])
        sent = time.time_ns()
        self.send(tf.encode_frame(tf.LOOP, seq, payload), seq)
        report: dict[str, Any] = self._expect(
            tf.LOOP_DONE, seq, timeout, "in the device loop"
        ).json()
        report["host_sent_unix_ns"] = sent
        report["host_received_unix_ns"] = time.time_ns()
        return report

    def sample_start(
        self,
        files: list[str],
        period_s: float,
        max_seconds: float,
        timeout: float = 10.0,
        command: list[str] | None = None,
        rails: list[str] | None = None,
    ) -> dict[str, Any]:
        """Have the agent sample sensor files (or a tool's lines: `command`, `rails`) in the
        background; returns its SAMPLING stamps."""
        seq = self._next_seq()
        request: dict[str, Any] = {"files": files, "period_s": period_s, "max_seconds": max_seconds}
        if command:
            request.update(command=command, rails=rails or [])
        self.send(tf.encode_json(tf.SAMPLE, seq, request), seq)
        answer: dict[str, Any] = self._expect(
            tf.SAMPLING, seq, timeout, "starting the sensor sampler"
        ).json()
        return answer

    def sample_end(self, timeout: float = 30.0) -> dict[str, Any]:
        """Stop the sampler; its readings: {"t_unix_ns": [...], "values": [[...]], "error"}."""
        seq = self._next_seq()
        self.send(tf.encode_frame(tf.SAMPLE_END, seq), seq)
        samples: dict[str, Any] = self._expect(
            tf.SAMPLES, seq, timeout, "collecting sensor samples"
        ).json()
        return samples

    def bye(self, timeout: float = 5.0) -> None:
        try:
            self.send(tf.encode_frame(tf.BYE, self._next_seq()))
            self.recv_frame(timeout, "while closing")
        except (AgentError, OSError):
            pass
        finally:
            self.link.close_input()
            self.link.close()
