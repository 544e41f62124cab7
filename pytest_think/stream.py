"""Windowed vector streaming: INFER frames out, RESULT frames back, every vector exactly once.

A sender thread keeps up to `window` INFER frames in flight while the caller's thread
collects RESULT frames, so the link and the device stay busy. Every result is matched to its
frame by sequence number; a duplicate, unknown or missing result is an error, never a silent
loss. (On a lossy link the frame channel has already dropped the second answers to repeated
requests, and counted them.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from pytest_think.agent import think_frames as tf
from pytest_think.errors import AgentError, AgentTimeout
from pytest_think.output_store import WrittenFrontier, allocate
from pytest_think.vectors import VectorSet
from pytest_think.wire import decode_result, encode_infer, from_wire

if TYPE_CHECKING:
    from pytest_think.resume_record import Resume
    from pytest_think.transport.channel import FrameChannel
    from pytest_think.transport.link import Link
    from pytest_think.watchdog import Watchdog

__all__ = [
    "DEFAULT_WINDOW",
    "MAX_FRAME_VECTORS",
    "Batch",
    "Batches",
    "Collector",
    "InFlight",
    "ResultSink",
    "StreamResult",
    "VectorStream",
]

MAX_FRAME_VECTORS = 1024
DEFAULT_WINDOW = 8
DOING = "during the stream"

# Vectors [start, stop) of a vector set and their arrays, one INFER frame's worth.
Batch = tuple[int, int, dict[str, np.ndarray]]
# What a stream sends: batches, given the stream's stop event (which ends a wait for more).
Batches = Callable[[threading.Event], Iterable[Batch]]


class StreamClient(Protocol):
    """What a stream asks of the agent client it runs on (pytest_think.agent_client)."""

    link: Link
    channel: FrameChannel
    result_timeout: float
    watchdog: Watchdog  # how long an answer may take (pytest_think.watchdog)

    def next_seq(self) -> int: ...

    def receive(self, timeout: float, doing: str) -> tf.Frame: ...

    def died(self, doing: str) -> AgentError: ...


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
    # Per vector, the device time of each stage of a model run in stages (a pipeline over
    # several devices), shape (vectors, stages); one column, device_ns, for a whole model.
    stage_device_ns: np.ndarray | None = None
    # The dropped SSH connections the stream was resumed after, in order.
    resumes: list[Resume] = field(default_factory=list)

    @property
    def reconnects(self) -> int:
        return len(self.resumes)


@dataclass
class InFlight:
    """An INFER frame sent and not yet answered: vectors [start, stop)."""

    start: int
    stop: int
    sent_ns: int

    def __str__(self) -> str:
        return f"vectors {self.start}-{self.stop - 1}"


class ResultSink(Protocol):
    """Where a stream's results go: a `Collector`, or a pool's ledger in front of one."""

    @property
    def stored(self) -> int:
        """How many vectors have their result (for progress)."""
        ...

    def store(
        self, job: InFlight, device_ns: np.ndarray, tensors: list[tf.Tensor], now: int
    ) -> None: ...


class Collector:
    """The results of a stream as they come, checked against the model's outputs."""

    def __init__(self, count: int, names: list[str]) -> None:
        self.count = count
        self.names = names  # the model's outputs: every RESULT carries exactly these
        self.outputs: dict[str, np.ndarray] = {}
        self.device_ns = np.zeros(count, np.int64)
        self.host_ns = np.zeros(count, np.int64)
        self.filled = np.zeros(count, bool)  # which vectors have a result
        self.stored = 0  # how many
        self.written = WrittenFrontier()

    def store(
        self, job: InFlight, device_ns: np.ndarray, tensors: list[tf.Tensor], now: int
    ) -> None:
        n = job.stop - job.start
        if len(device_ns) != n:
            raise AgentError(f"result for {job} has {len(device_ns)} timings")
        if self.filled[job.start : job.stop].any():
            raise AgentError(f"{job} answered twice")
        got = [t.name for t in tensors]
        if sorted(got) != sorted(self.names):
            raise AgentError(f"result for {job} has outputs {got}, the model has {self.names}")
        for t in tensors:
            self._store_output(job, n, t)
        self.device_ns[job.start : job.stop] = device_ns
        self.host_ns[job.start : job.stop] = now - job.sent_ns
        self.filled[job.start : job.stop] = True
        self.stored += n
        self.written.advance(job.start, job.stop, self.outputs)

    def _store_output(self, job: InFlight, n: int, t: tf.Tensor) -> None:
        arr = from_wire(t)
        if arr.shape[:1] != (n,):
            raise AgentError(f"output '{t.name}' for {job} has shape {arr.shape}")
        if t.name not in self.outputs:
            self.outputs[t.name] = allocate(self.count, arr.shape[1:], arr.dtype)
        out = self.outputs[t.name]
        if arr.dtype != out.dtype or arr.shape[1:] != out.shape[1:]:
            # numpy would silently cast or broadcast it into the other frames' layout
            raise AgentError(
                f"output '{t.name}' for {job} is {arr.dtype} {arr.shape}, other frames gave "
                f"{out.dtype} {out.shape[1:]} per vector"
            )
        out[job.start : job.stop] = arr

    def missing(self) -> np.ndarray:
        """Indices of the vectors without a result, in order."""
        return np.flatnonzero(~self.filled)

    def missing_ranges(self) -> list[tuple[int, int]]:
        """The vectors without a result as [start, stop) ranges, in order."""
        edges = np.diff(np.concatenate(([0], (~self.filled).view(np.int8), [0])))
        return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


class StageTimes:
    """Each vector's device time per stage, from RESULTs of a model run in stages."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.ns: np.ndarray | None = None

    def store(self, job: InFlight, stage_ns: np.ndarray | None) -> None:
        if stage_ns is None:
            return
        rows = stage_ns
        if rows.shape[0] != job.stop - job.start:
            raise AgentError(f"result for {job} has stage timings of {rows.shape[0]} vectors")
        if self.ns is None:
            self.ns = np.zeros((self.count, rows.shape[1]), np.int64)
        if rows.shape[1] != self.ns.shape[1]:
            raise AgentError(
                f"result for {job} has {rows.shape[1]} stages, other frames {self.ns.shape[1]}"
            )
        self.ns[job.start : job.stop] = rows

    def table(self, device_ns: np.ndarray) -> np.ndarray:
        return self.ns if self.ns is not None else device_ns.reshape(-1, 1).copy()


def vectors_per_frame(frame_bytes: int, bytes_per_vector: int) -> int:
    """As many vectors as fill a frame of `frame_bytes`, within 1 .. MAX_FRAME_VECTORS."""
    return max(1, min(MAX_FRAME_VECTORS, frame_bytes // max(1, bytes_per_vector)))


class VectorStream:
    """One pass of a vector set through the agent's loaded model.

    `results` says which vectors have a result, `in_flight` which frames are out; `run()`
    sends and collects until every vector has its result or something fails.

    A pool's member streams a share of the vectors instead (pytest_think.pool): `batches`
    gives the frames it is handed (called with the stream's stop event, which ends a wait
    for more), `sink` takes their results, and `pump()` sends and collects until the batches
    run out and every frame sent is answered. A batch is asked for only when the window has
    room for it, so a member never holds a frame it cannot send.

    After a dropped connection, `pytest_think.resume.resumed(stream, client)` is a pass over
    the vectors still without a result, on a restarted agent, into the same collector."""

    def __init__(
        self,
        client: StreamClient,
        vectors: VectorSet,
        output_names: list[str],
        *,
        window: int,
        per_frame: int | None,
        progress: Callable[[int, int], None] | None,
        batches: Batches | None = None,
        sink: ResultSink | None = None,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1 frame in flight, got {window}")
        self.client = client
        self.vectors = vectors
        self.window = window
        self.fixed_frames = per_frame is not None
        self.per_frame = per_frame or self.frame_vectors()  # the first frame's
        self.progress = progress
        self.results = Collector(vectors.count, output_names)
        self.stages = StageTimes(vectors.count)
        self.sink: ResultSink = sink if sink is not None else self.results
        self.batches = batches or (lambda _stopping: vectors.batches(self.frame_vectors))
        self.sent = threading.Semaphore(0)  # one per frame sent and not yet received
        self.sent_frames = 0
        self.sent_all = threading.Event()  # the sender has no more batches
        self.in_flight: dict[int, InFlight] = {}  # by seq; shared with the sender: self.lock
        self.lock = threading.Lock()
        self.slots = threading.Semaphore(window)  # one per frame the window still allows
        self.stopping = threading.Event()
        self.send_error: BaseException | None = None
        self.sender = threading.Thread(target=self._send_all, name="think-sender", daemon=True)
        self.earlier_links: dict[str, int] = {}  # link counts of the passes before this one
        self.watch = client.watchdog.stream()

    def frame_vectors(self) -> int:
        """Vectors in the next frame: as asked, or as many as the channel's frame size holds
        now (on a lossy link it adapts to the errors met: transport/frame_size.py)."""
        if self.fixed_frames:
            return self.per_frame
        return vectors_per_frame(self.client.channel.frame_bytes, self.vectors.bytes_per_vector)

    def frames_in_flight(self) -> list[InFlight]:
        """The frames out, by first vector."""
        with self.lock:
            return sorted(self.in_flight.values(), key=lambda job: job.start)

    def run(self) -> StreamResult:
        started = time.perf_counter()
        self.pump()
        return self.finish(time.perf_counter() - started)

    def finish(self, wall_s: float) -> StreamResult:
        """The result, once every vector has one (`wall_s`: the stream's, all passes)."""
        missing = self.results.missing()
        if len(missing):
            raise AgentError(f"{len(missing)} vectors got no result (first: {missing[0]})")
        return self._result(wall_s)

    def pump(self) -> None:
        """Send every batch and collect every answer; raises what went wrong on the way."""
        self.sender.start()
        try:
            # The channel delivers each answer once: every frame received settles one frame.
            while self._frame_out():
                self._collect(self._receive())
        finally:
            self.stopping.set()
            self.sender.join(timeout=5)
        if self.send_error is not None:
            raise self._send_failed(self.send_error)

    def _frame_out(self) -> bool:
        """Wait until a frame is out to collect; False when the sender is done and all are in."""
        while not self.sent.acquire(timeout=0.1):
            if self.sent_all.is_set():
                # Every release came before the event: one more look settles it.
                return self.sent.acquire(blocking=False)
        return True

    # -- sending (the sender thread) -------------------------------------------------------

    def _send_all(self) -> None:
        try:
            batches = iter(self.batches(self.stopping))
            while self._wait_for_slot():
                batch = next(batches, None)
                if batch is None:
                    return
                self._send(*batch)
        except BaseException as exc:  # reported by the collecting thread
            self.send_error = exc
        finally:
            self.sent_all.set()

    def _wait_for_slot(self) -> bool:
        """Block until the window has room; False when the stream is over."""
        while not self.slots.acquire(timeout=0.1):
            if self.stopping.is_set():
                return False
        return not self.stopping.is_set()

    def _send(self, start: int, stop: int, arrays: dict[str, np.ndarray]) -> None:
        seq = self.client.next_seq()
        blob = encode_infer(seq, arrays)
        with self.lock:  # before sending: the answer may come back at once
            self.in_flight[seq] = InFlight(start, stop, time.perf_counter_ns())
        self.client.channel.request(seq, blob)
        self.sent_frames += 1
        self.sent.release()

    def _send_failed(self, exc: BaseException) -> AgentError:
        if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
            # The link broke under the sender: most likely the agent died. Say so, with its
            # exit status and stderr, rather than a bare "Broken pipe".
            died = self.client.died(DOING)
            return AgentError(f"{died}; sending to it failed: {exc}; {self._in_flight_text()}")
        return AgentError(f"sending to the agent failed: {exc}")

    # -- collecting (the caller's thread) --------------------------------------------------

    def _receive(self) -> tf.Frame:
        try:
            frame = self.client.receive(self.watch.start_wait(), DOING)
        except AgentTimeout:
            raise self.watch.hung(self.frames_in_flight()) from None
        except AgentError as exc:
            raise AgentError(f"{exc}; {self._in_flight_text()}") from None
        self.watch.answered()
        return frame

    def _collect(self, frame: tf.Frame) -> None:
        now = time.perf_counter_ns()
        with self.lock:
            job = self.in_flight.pop(frame.seq, None)
        if frame.type == tf.ERROR:
            err = frame.json()
            where = str(job) if job else f"frame {frame.seq}"
            raise AgentError(f"agent failed on {where}: {err.get('code')}: {err.get('message')}")
        if frame.type != tf.RESULT or job is None:
            raise AgentError(
                f"protocol error {DOING}: {frame.name} seq {frame.seq} answers no frame in flight"
            )
        device_ns, tensors, stage_ns = decode_result(frame.payload)
        self.stages.store(job, stage_ns)
        self.sink.store(job, device_ns, tensors, now)
        self.slots.release()
        if self.progress:
            self.progress(self.sink.stored, self.vectors.count)
        if self.send_error is not None:
            raise self._send_failed(self.send_error)

    def _in_flight_text(self) -> str:
        jobs = self.frames_in_flight()
        if not jobs:
            return "no vectors in flight"
        return f"vectors {jobs[0].start}-{jobs[-1].stop - 1} in flight"

    def _result(self, wall_s: float) -> StreamResult:
        results = self.results
        names = results.names
        return StreamResult(
            output_names=names,
            outputs={n: results.outputs[n] for n in names if n in results.outputs},
            device_ns=results.device_ns,
            host_ns=results.host_ns,
            wall_s=wall_s,
            frames=self.sent_frames,
            vectors_per_frame=self.per_frame,
            window=self.window,
            link=added_counts(self.earlier_links, self.client.channel.counts()),
            stage_device_ns=self.stages.table(results.device_ns),
        )


def added_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Link counts of two passes, added."""
    return {k: a.get(k, 0) + b.get(k, 0) for k in {**a, **b}}
