#!/usr/bin/env python3
"""THINK board-side agent.

Uploaded to the board's work directory beside think_frames.py and started over SSH as
``python3 think_agent.py``. It speaks the THINK frame protocol (docs/protocol.md) on
stdin/stdout and logs to stderr. Needs only the Python standard library, numpy and its
inference backend; it never imports pytest_think.

Inference runs on a pipeline (think_pipeline.py): one worker per stage of the model (per
segment, each on its device; one stage for a whole model), so N devices work on N device
calls at once while this thread decodes the next frame. Device timing is taken there, around
each stage's call only, with the monotonic performance counter: it excludes the link, frame
decoding and encoding, and the waits between stages. A vector's device time is the sum of its
stages' times; a model in stages also reports each stage's. Answers keep the order of the
requests: any frame but INFER waits until the INFER frames before it are answered.
Runs on Python >= 3.6.
"""

import argparse
import collections
import os
import platform
import queue
import select
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

import numpy as np

if TYPE_CHECKING:  # on the board the codec sits beside this file, not in a package
    from pytest_think.agent import think_frames as tf
    from pytest_think.agent.think_backends import AgentError, OnnxRuntimeBackend, TfliteBackend
    from pytest_think.agent.think_exec import ExecBackend
    from pytest_think.agent.think_layout import Layout, device_calls, layout, vector_shape
    from pytest_think.agent.think_pipeline import Gather, Job, Pipeline, Tally
    from pytest_think.agent.think_sensors import CommandSampler, SensorError, SensorSampler
else:
    import think_frames as tf
    from think_backends import AgentError, OnnxRuntimeBackend, TfliteBackend
    from think_exec import ExecBackend
    from think_layout import Layout, device_calls, layout, vector_shape
    from think_pipeline import Gather, Job, Pipeline, Tally
    from think_sensors import CommandSampler, SensorError, SensorSampler

BACKENDS: Dict[str, Any] = {
    "onnxruntime": OnnxRuntimeBackend,
    "tflite": TfliteBackend,
    "exec": ExecBackend,
}
AGENT_VERSION = "0.1.0"
# Serial links: answers kept for retransmission, requests remembered to drop duplicates.
ANSWER_CACHE = 256
MAX_SERIAL_PAYLOAD = 1 << 20
SERIAL_IDLE_S = 0.05
AGENT_HOME = os.path.dirname(os.path.abspath(__file__))
# How the host names AGENT_HOME (the board file's agent.workdir, `--home`): the paths the agent
# tells of are said that way, the board's paths as the board file knows them.
HOME_NAME = AGENT_HOME


def board_paths(text: str) -> str:
    """`text` with this directory named as the host names it."""
    if HOME_NAME == AGENT_HOME:
        return text
    return text.replace(AGENT_HOME + os.sep, HOME_NAME.rstrip("/") + "/").replace(
        AGENT_HOME, HOME_NAME
    )


# Python 3.6 boards (JetPack 4) lack the *_ns clocks; 3.7+ uses them directly.
perf_ns = getattr(time, "perf_counter_ns", None) or (lambda: int(time.perf_counter() * 1e9))
wall_ns = getattr(time, "time_ns", None) or (lambda: int(time.time() * 1e9))


def backend_versions() -> Dict[str, str]:
    """Backends whose runtime is installed on this board, with its version."""
    versions = {}
    for name, backend in BACKENDS.items():
        version = backend.version()
        if version:
            versions[name] = version
    return versions


def log(message: str) -> None:
    sys.stderr.write(f"think-agent: {board_paths(message)}\n")
    sys.stderr.flush()


def identity(backend_names: List[str]) -> Dict[str, Any]:
    uname = platform.uname()
    mem_total_kb = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_total_kb = int(line.split()[1])
    except OSError:
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    versions.update({k: v for k, v in backend_versions().items() if k != "exec"})
    return {
        "agent": "think-agent",
        "version": AGENT_VERSION,
        "protocol": tf.PROTOCOL_VERSION,
        "backends": backend_names,
        "pid": os.getpid(),
        "device": {
            "hostname": uname.node,
            "system": uname.system,
            "kernel": uname.release,
            "machine": uname.machine,
            "cpu_count": os.cpu_count(),
            "mem_total_kb": mem_total_kb,
        },
        "versions": versions,
    }


def to_array(t: tf.Tensor) -> np.ndarray:
    return np.frombuffer(t.data, dtype=t.dtype).reshape(t.shape)


def to_wire(name: str, arr: np.ndarray) -> tf.Tensor:
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return tf.Tensor(name, arr.dtype.name, tuple(arr.shape), arr.data.cast("B"))


class Agent:
    def __init__(self, instream: Any, outstream: Any, serial: bool = False) -> None:
        self.instream = instream
        self.outstream = outstream
        # On a serial link frames get corrupted or lost: answer NAKs and repeated requests from
        # a cache of recent answers instead of failing (docs/protocol.md, "Serial links").
        self.serial = serial
        self.answers: "collections.OrderedDict[int, bytes]" = collections.OrderedDict()
        self.accepted: "collections.OrderedDict[int, None]" = collections.OrderedDict()
        self.cache_lock = threading.Lock()
        self.backend: Any = None
        self.pipeline: Optional[Pipeline] = None
        self.sampler: Optional[Union[SensorSampler, CommandSampler]] = None
        self.signature: Dict[str, Any] = {}
        self.layout = Layout([], [], True)
        self.device_batch = 1
        self.inbox: queue.Queue[Union[tf.Frame, Exception, None]] = queue.Queue(maxsize=64)
        self.outbox: queue.Queue[Optional[bytes]] = queue.Queue(maxsize=64)

    # Reader and writer run on their own threads so that decoding the next frame and writing
    # the last result overlap with inference (the backends release the GIL while computing).
    def _reader(self) -> None:
        if self.serial:
            self._serial_reader()
            return
        try:
            while True:
                frame = tf.read_frame(self.instream)
                self.inbox.put(frame)
                if frame is None or frame.type == tf.BYE:
                    return
        except Exception as exc:
            self.inbox.put(exc)

    def _serial_reader(self) -> None:
        decoder = tf.ResyncDecoder(max_payload=MAX_SERIAL_PAYLOAD)
        try:
            while True:
                # A link quiet for SERIAL_IDLE_S inside a frame: that frame is lost.
                quiet = not select.select([self.instream], [], [], SERIAL_IDLE_S)[0]
                if quiet:
                    if not decoder.pending:
                        continue
                    frames, errors = decoder.flush()
                else:
                    data = self.instream.read1(4096)
                    if not data:
                        self.inbox.put(None)
                        return
                    frames, errors = decoder.feed(data)
                for error in errors:
                    if error.seq is not None:
                        self.outbox.put(tf.encode_frame(tf.NAK, error.seq))
                for frame in frames:
                    if self._answered_again(frame):
                        continue
                    self.inbox.put(frame)
                    if frame.type == tf.BYE:
                        return
        except Exception as exc:
            self.inbox.put(exc)

    def _answered_again(self, frame: tf.Frame) -> bool:
        """Serve a NAK or a repeated request from the cache; True when nothing else to do."""
        with self.cache_lock:
            cached = self.answers.get(frame.seq)
            repeated = frame.seq in self.accepted
            if frame.type != tf.NAK and not repeated:
                self.accepted[frame.seq] = None
                while len(self.accepted) > ANSWER_CACHE:
                    self.accepted.popitem(last=False)
        if cached is not None and (frame.type == tf.NAK or repeated):
            self.outbox.put(cached)
        # A NAK for nothing cached, or a request already being worked on, is dropped.
        return frame.type == tf.NAK or repeated

    def _writer(self) -> None:
        while True:
            blob = self.outbox.get()
            if blob is None:
                self.outstream.flush()
                return
            self.outstream.write(blob)
            if self.outbox.empty():
                self.outstream.flush()

    def send(self, blob: bytes) -> None:
        if self.serial:
            (seq,) = tf.HEADER.unpack_from(blob)[3:4]
            with self.cache_lock:
                self.answers[seq] = blob
                while len(self.answers) > ANSWER_CACHE:
                    self.answers.popitem(last=False)
        self.outbox.put(blob)

    def error(self, seq: int, code: str, message: str) -> None:
        message = board_paths(message)
        log(f"error on frame {seq}: {code}: {message}")
        self.send(tf.encode_json(tf.ERROR, seq, {"code": code, "message": message}))

    def serve(self) -> int:
        reader = threading.Thread(target=self._reader, name="think-reader", daemon=True)
        writer = threading.Thread(target=self._writer, name="think-writer")
        reader.start()
        writer.start()
        self.send(tf.encode_json(tf.HELLO, 0, identity(sorted(backend_versions()))))
        status = 0
        try:
            while True:
                item = self.inbox.get()
                if item is None:
                    log("host closed the link")
                    break
                if isinstance(item, Exception):
                    seq = getattr(item, "seq", None) or 0
                    self.error(seq, "bad_frame", str(item))
                    status = 2
                    break
                if item.type != tf.INFER:
                    self.drain()  # answers in the order of the requests
                if item.type == tf.BYE:
                    self.send(tf.encode_frame(tf.BYE, item.seq))
                    break
                try:
                    self.handle(item)
                except Exception as exc:
                    self.drain()
                    self.fail(item.seq, exc)
        finally:
            self.stop_pipeline()
            self.outbox.put(None)
            writer.join()
        return status

    def fail(self, seq: int, exc: BaseException) -> None:
        if isinstance(exc, AgentError):
            self.error(seq, exc.code, str(exc))
        else:
            self.error(seq, "internal", f"{type(exc).__name__}: {exc}")

    def drain(self) -> None:
        if self.pipeline is not None:
            self.pipeline.drain()

    def stop_pipeline(self) -> None:
        """Let the queued device calls finish, then end every stage's thread."""
        if self.pipeline is not None and not self.pipeline.close(timeout=30):
            log("a pipeline stage did not stop within 30 s (stuck in its device?)")
        self.pipeline = None

    def handle(self, frame: tf.Frame) -> None:
        if frame.type == tf.LOAD:
            self.load(frame)
        elif frame.type == tf.INFER:
            self.infer(frame)
        elif frame.type == tf.LOOP:
            self.loop(frame)
        elif frame.type == tf.SAMPLE:
            self.sample(frame)
        elif frame.type == tf.SAMPLE_END:
            self.sample_end(frame)
        else:
            raise AgentError("unexpected_frame", f"agent does not accept {frame.name} frames")

    def sample(self, frame: tf.Frame) -> None:
        """Start sampling sensor files in the background (energy from onboard monitors)."""
        received = wall_ns()
        request = frame.json()
        if self.sampler is not None:
            self.sampler.stop()
        try:
            if request.get("command"):
                self.sampler = CommandSampler(
                    [str(a) for a in request["command"]],
                    [str(r) for r in request.get("rails") or []],
                    float(request.get("max_seconds", 600)),
                )
            else:
                self.sampler = SensorSampler(
                    [str(f) for f in request.get("files") or []],
                    float(request.get("period_s", 0.01)),
                    float(request.get("max_seconds", 600)),
                )
        except SensorError as exc:
            self.sampler = None
            raise AgentError("no_sensor", str(exc)) from None
        payload = {"received_unix_ns": received, "done_unix_ns": wall_ns()}
        self.send(tf.encode_json(tf.SAMPLING, frame.seq, payload))

    def sample_end(self, frame: tf.Frame) -> None:
        if self.sampler is None:
            raise AgentError("no_sensor", "SAMPLE_END without a SAMPLE")
        samples = self.sampler.stop()
        self.sampler = None
        self.send(tf.encode_json(tf.SAMPLES, frame.seq, samples))

    def load(self, frame: tf.Frame) -> None:
        request = frame.json()
        backend_name = request.get("backend", "onnxruntime")
        if backend_name not in BACKENDS:
            raise AgentError("no_backend", f"backend {backend_name!r} is not on this agent")
        # Relative paths are relative to the agent's own directory (its work directory), so the
        # host never needs to know how the board's filesystem is mounted.
        path = os.path.join(AGENT_HOME, request["path"])
        if not os.path.isfile(path):
            raise AgentError("no_model", f"model file {path} not found on the board")
        options = request.get("options") or {}
        self.device_batch = max(1, int(options.get("device_batch", 1)))
        t0 = perf_ns()
        self.stop_pipeline()
        self.backend = None
        backend = BACKENDS[backend_name]()
        self.signature = backend.load(path, options)
        self.layout = layout(self.signature)
        if self.device_batch > 1 and not self.layout.free:
            log(
                f"{os.path.basename(path)} takes one vector a call (a fixed batch of 1, no "
                f"batch axis, or an output without one): device_batch {self.device_batch} is 1"
            )
            self.device_batch = 1
        stages = backend.stages() if hasattr(backend, "stages") else [backend]
        self.pipeline = Pipeline(stages, self._done)
        self.backend = backend
        load_ns = perf_ns() - t0
        log(f"loaded {os.path.basename(path)} with {backend_name} in {load_ns / 1e6:.1f} ms")
        ready = {**self.signature, "load_ns": load_ns, "device_batch": self.device_batch}
        self.send(tf.encode_json(tf.READY, frame.seq, ready))

    def _feeds(self, tensors: List[tf.Tensor]) -> Tuple[Dict[str, np.ndarray], int]:
        """Arrays of vectors keyed by input name, and the number of vectors."""
        if self.backend is None:
            raise AgentError("no_model", "INFER before a model was loaded")
        inputs = {i["name"]: i for i in self.signature["inputs"]}
        feeds = {t.name: to_array(t) for t in tensors}
        if set(feeds) != set(inputs):
            raise AgentError(
                "bad_inputs", f"got inputs {sorted(feeds)}, model wants {sorted(inputs)}"
            )
        batched = self.layout.input_batched(self.signature)
        for name, arr in feeds.items():
            want = vector_shape(inputs[name]["shape"], batched[name])
            if arr.ndim != len(want) + 1:
                raise AgentError(
                    "bad_inputs",
                    f"input {name!r}: vectors of shape {list(arr.shape[1:])}, the model's "
                    f"vectors are {want}",
                )
        batch = {a.shape[0] for a in feeds.values()}
        if len(batch) != 1:
            raise AgentError("bad_inputs", f"inputs disagree on batch size: {sorted(batch)}")
        return feeds, batch.pop()

    def _submit(self, feeds: Dict[str, np.ndarray], n: int, finish: Any, tag: Any = None) -> None:
        """The request's vectors into the pipeline: `device_batch` per device call when the
        model's batch axes allow several, one otherwise (think_layout.py)."""
        assert self.pipeline is not None
        batched = self.layout.input_batched(self.signature)
        calls = device_calls(feeds, n, self.device_batch, batched, self.layout.free)
        if not calls:
            raise AgentError("bad_inputs", "the frame holds no vectors")
        gather = Gather(len(calls), finish, tag, self.layout.outputs)
        for sub, count in calls:
            self.pipeline.submit(Job(sub, (gather, count)))

    def _done(self, job: Job) -> None:
        """A device call out of the pipeline (on its collector thread)."""
        gather, count = job.ticket
        try:
            gather.add(job, count)
        except Exception as exc:  # encoding the answer failed: say so, keep serving
            self.fail(gather.tag or 0, exc)

    def infer(self, frame: tf.Frame) -> None:
        feeds, n = self._feeds(tf.decode_tensors(frame.payload))
        self._submit(feeds, n, self._answer, frame.seq)

    def _answer(self, gather: Gather) -> None:
        seq = gather.tag
        if gather.error is not None:
            self.fail(seq, gather.error)
            return
        chunks = gather.outputs
        outputs = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
        names = [o["name"] for o in self.signature["outputs"]]
        wire = [to_wire(name, arr) for name, arr in zip(names, outputs)]
        stages = gather.stage_ns if len(gather.stage_ns[0]) > 1 else None
        self.send(tf.encode_frame(tf.RESULT, seq, tf.encode_result(gather.device_ns, wire, stages)))

    def loop(self, frame: tf.Frame) -> None:
        """Run the model on-device for at least min_seconds / min_iterations, after warm-up.

        Used to measure the device on its own (no link) and, later, energy windows.
        """
        received = wall_ns()  # with `done` below: NTP-style bounds on the clock offset
        options, tensors = tf.decode_loop(frame.payload)
        feeds, n = self._feeds(tensors)
        warmup = int(options.get("warmup", 10))
        min_seconds = float(options.get("min_seconds", 1.0))
        min_iterations = int(options.get("min_iterations", 1))
        tally = Tally()
        for _ in range(max(0, warmup)):
            self._submit(feeds, n, tally)
        self.drain()
        tally.reset()
        clock = perf_ns
        wall_start = wall_ns()
        start = clock()
        deadline = start + int(min_seconds * 1e9)
        iterations = 0
        # The pipeline stays full: the next pass goes in while the last is in its stages.
        while iterations < min_iterations or clock() < deadline:
            if tally.error is not None:
                break
            self._submit(feeds, n, tally)
            iterations += n
        self.drain()
        end = clock()
        if tally.error is not None:
            raise tally.error
        self.send(
            tf.encode_json(
                tf.LOOP_DONE,
                frame.seq,
                {
                    "inferences": iterations,
                    "loop_ns": end - start,
                    "device_ns_total": tally.device_ns,
                    "stage_device_ns_total": tally.stage_ns,
                    "start_unix_ns": wall_start,
                    "end_unix_ns": wall_start + (end - start),
                    "received_unix_ns": received,
                    "done_unix_ns": wall_ns(),
                },
            )
        )


def _excepthook(kind: Any, value: Any, tb: Any) -> None:
    """An uncaught error's traceback, with the board's paths."""
    import traceback

    sys.stderr.write(board_paths("".join(traceback.format_exception(kind, value, tb))))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="THINK board-side agent (frames on stdin/stdout)")
    parser.add_argument("--version", action="version", version=f"think-agent {AGENT_VERSION}")
    parser.add_argument(
        "--serial",
        action="store_true",
        help="the link may corrupt or drop bytes (UART): resynchronise, NAK, retransmit",
    )
    parser.add_argument(
        "--home",
        metavar="PATH",
        help="how the host names this agent's directory: the paths the agent tells of say it so",
    )
    args = parser.parse_args(argv)
    if args.home:
        global HOME_NAME
        HOME_NAME = args.home
        sys.excepthook = _excepthook
    log(f"{AGENT_VERSION} starting, pid {os.getpid()}")
    return Agent(sys.stdin.buffer, sys.stdout.buffer, serial=args.serial).serve()


if __name__ == "__main__":
    sys.exit(main())
