"""Host side of the agent protocol: identity, model loading, streaming, loops, sensor sampling.

Works over any byte link (`transport.link.Link`: an SSH exec channel, a UART): a frame
channel turns it into frames, repairing it first if it is lossy. Every request here waits
for its one answer; an ERROR answer raises AgentRefused, an agent that dies raises one line
with its exit status and the tail of its stderr. Streaming is `stream.VectorStream`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_think.agent import think_frames as tf
from pytest_think.boards import WatchdogConfig
from pytest_think.errors import AgentError, AgentRefused, AgentTimeout
from pytest_think.stream import DEFAULT_WINDOW, Batches, ResultSink, StreamResult, VectorStream
from pytest_think.transport.channel import FrameChannel, LinkClosed, PlainChannel
from pytest_think.transport.link import Link
from pytest_think.transport.reliable import ReliableChannel
from pytest_think.vectors import VectorSet
from pytest_think.watchdog import Watchdog
from pytest_think.wire import to_wire

__all__ = ["HELLO_GRACE_S", "AgentClient", "ModelLoad"]

HELLO_GRACE_S = 3.0  # on lossy links, how long to wait for HELLO before asking for it


@dataclass(frozen=True)
class ModelLoad:
    """What having a model loaded cost a run: the LOAD -> READY time the agent measured on the
    board (`device_ns`) and the request's round trip on the host (`host_ns`), or nothing when
    the agent held that model already (`loaded` False: no LOAD was sent)."""

    loaded: bool
    device_ns: int | None = None
    host_ns: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "device_ns": self.device_ns,
            "host_ns": self.host_ns,
        }


class AgentClient:
    """Talks to one running agent over one link."""

    def __init__(
        self, link: Link, result_timeout: float = 60.0, watchdog: Watchdog | None = None
    ) -> None:
        self.link = link
        self.result_timeout = result_timeout
        # How long a streamed answer may take: the board's watchdog, else `result_timeout`.
        self.watchdog = watchdog or Watchdog(
            link.describe(), WatchdogConfig(floor_s=result_timeout)
        )
        self.channel: FrameChannel = PlainChannel(link) if link.reliable else ReliableChannel(link)
        self.seq = 0
        self.identity: dict[str, Any] = {}
        self.loaded: dict[str, Any] | None = None
        self.loaded_key: tuple[str, str] | None = None
        self.last_load: ModelLoad | None = None  # the last `load`'s cost

    # -- frames ----------------------------------------------------------------------------

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return self.seq

    def receive(self, timeout: float, doing: str) -> tf.Frame:
        """The next frame; AgentError (AgentTimeout after `timeout`) if there is none."""
        try:
            return self.channel.receive(timeout)
        except TimeoutError:
            raise AgentTimeout(f"no answer from the agent within {timeout:g} s {doing}") from None
        except LinkClosed:
            raise self.died(doing) from None
        except tf.FrameError as exc:
            raise AgentError(f"corrupted frame from the agent {doing}: {exc}") from None

    def died(self, doing: str) -> AgentError:
        """The one line that says how the agent ended, and what it said on stderr last."""
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

    def _expect(self, ftype: int, seq: int | None, timeout: float, doing: str) -> tf.Frame:
        frame = self.receive(timeout, doing)
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

    def _ask(
        self, ftype: int, payload: bytes, answer: int, timeout: float, doing: str
    ) -> dict[str, Any]:
        """Send a request and return its answer's JSON."""
        seq = self.next_seq()
        self.channel.request(seq, tf.encode_frame(ftype, seq, payload))
        reply: dict[str, Any] = self._expect(answer, seq, timeout, doing).json()
        return reply

    # -- protocol --------------------------------------------------------------------------

    def hello(self, timeout: float) -> dict[str, Any]:
        doing = "while starting"
        if self.link.reliable:
            frame = self._expect(tf.HELLO, None, timeout, doing)
        else:
            # HELLO comes unasked. If it does not come (lost, or sent before we listened, as
            # by a microcontroller that booted long ago), a NAK for seq 0 asks for it again,
            # and is repeated like a request until HELLO comes.
            grace = min(timeout, HELLO_GRACE_S)
            try:
                frame = self._expect(tf.HELLO, None, grace, doing)
            except AgentTimeout:
                self.channel.request(0, tf.encode_frame(tf.NAK, 0))
                frame = self._expect(tf.HELLO, None, max(timeout - grace, 0.001), doing)
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
            self.last_load = ModelLoad(False)
            return self.loaded
        # A refused LOAD may leave the agent with no model: forget the previous one.
        self.loaded, self.loaded_key, self.last_load = None, None, None
        request = {"path": remote_path, "backend": backend, "options": options}
        sent = time.perf_counter_ns()
        self.loaded = self._ask(
            tf.LOAD, tf.json_payload(request), tf.READY, timeout, f"loading {remote_path}"
        )
        device_ns = self.loaded.get("load_ns")
        self.last_load = ModelLoad(
            True,
            int(device_ns) if isinstance(device_ns, int) else None,
            time.perf_counter_ns() - sent,
        )
        self.loaded_key = key
        return self.loaded

    def stream(
        self,
        vectors: VectorSet,
        window: int = DEFAULT_WINDOW,
        vectors_per_frame: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> StreamResult:
        return self.vector_stream(vectors, window, vectors_per_frame, progress).run()

    def vector_stream(
        self,
        vectors: VectorSet,
        window: int = DEFAULT_WINDOW,
        vectors_per_frame: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        *,
        batches: Batches | None = None,
        sink: ResultSink | None = None,
    ) -> VectorStream:
        """A stream through the loaded model: all of `vectors` (`run()`), or the `batches` a
        pool hands this agent, their results into `sink` (`pump()`)."""
        if self.loaded is None:
            raise AgentError("stream before a model was loaded")
        names = [o["name"] for o in self.loaded["outputs"]]
        return VectorStream(
            self,
            vectors,
            names,
            window=window,
            per_frame=vectors_per_frame,
            progress=progress,
            batches=batches,
            sink=sink,
        )

    def loop(
        self, vectors: VectorSet, count: int, options: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """Run the model on-device in a loop over the first `count` vectors (no link involved).

        The report is the agent's LOOP_DONE, plus the host's wall clock just before the LOOP
        went out and just after the answer came back (`host_sent_unix_ns`,
        `host_received_unix_ns`): the device's loop ran between the two."""
        _, _, arrays = next(vectors.batches(count))
        payload = tf.encode_loop(options, [to_wire(k, v) for k, v in arrays.items()])
        sent = time.time_ns()
        report = self._ask(tf.LOOP, payload, tf.LOOP_DONE, timeout, "in the device loop")
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
        request: dict[str, Any] = {"files": files, "period_s": period_s, "max_seconds": max_seconds}
        if command:
            request.update(command=command, rails=rails or [])
        return self._ask(
            tf.SAMPLE, tf.json_payload(request), tf.SAMPLING, timeout, "starting the sensor sampler"
        )

    def sample_end(self, timeout: float = 30.0) -> dict[str, Any]:
        """Stop the sampler; its readings: {"t_unix_ns": [...], "values": [[...]], "error"}."""
        return self._ask(tf.SAMPLE_END, b"", tf.SAMPLES, timeout, "collecting sensor samples")

    def bye(self, timeout: float = 5.0) -> None:
        try:
            self.channel.send(tf.encode_frame(tf.BYE, self.next_seq()))
            self.receive(timeout, "while closing")
        except (AgentError, OSError):
            pass
        finally:
            self.link.close_input()
            self.link.close()
