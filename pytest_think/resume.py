"""Streams that outlive a dropped SSH connection: reconnect, restart the agent, resume.

When a stream fails and the board's SSH connection is down, the link dropped (a cable, a
switch, a network hiccup): the board itself may be fine. `ResumingStream` then reconnects
(`SshTransport.reconnect`: tenacity, up to ``ssh.reconnects`` tries), restarts the agent and
reloads its model or design through the caller's `restart` (which uploads again what the
board no longer has: its work directory may be gone), and streams the vectors still without
a result into the same collector: every vector gets exactly one result. A stream resumes at
most ``ssh.reconnects`` times; each time is recorded (`StreamResult.resumes`).

A stream that fails while the connection is still up is not a dropped link (an agent that
crashed, a wrong answer): that failure is raised as it is, as is an answer that did not come
in time (`AgentTimeout`: a hang, which the watchdog and recovery deal with).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from pytest_think.errors import AgentTimeout, LinkError, ThinkError
from pytest_think.resume_record import Resume
from pytest_think.stream import (
    Batch,
    StreamClient,
    StreamResult,
    VectorStream,
    added_counts,
)
from pytest_think.transport.ssh import SshTransport

__all__ = ["DROP_GRACE_S", "Resume", "ResumingStream", "link_dropped", "resumed"]

# After a stream failed, how long the SSH connection may take to show that it is down: the
# agent's channel closes a moment before the transport marks itself inactive.
DROP_GRACE_S = 1.0


def link_dropped(ssh: SshTransport | None, grace_s: float = DROP_GRACE_S) -> bool:
    """Whether the board's SSH connection is down (asked after a stream failed)."""
    if ssh is None:  # a serial board: its link repairs itself, it does not reconnect
        return False
    deadline = time.monotonic() + grace_s
    while ssh.connected:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def resumed(stream: VectorStream, client: StreamClient) -> VectorStream:
    """The rest of `stream` on `client` (the agent started again after the connection
    dropped): the vectors without a result, in frames of the stream's size, their results
    into the same collector, so that no vector is counted twice."""
    ranges = stream.results.missing_ranges()

    def missing(_stopping: threading.Event) -> Iterable[Batch]:
        return stream.vectors.batches(rest.frame_vectors, ranges)

    own_sink = stream.sink is stream.results
    rest = VectorStream(
        client,
        stream.vectors,
        stream.results.names,
        window=stream.window,
        per_frame=stream.per_frame if stream.fixed_frames else None,
        progress=stream.progress,
        batches=missing,
        sink=None if own_sink else stream.sink,
    )
    rest.results, rest.stages = stream.results, stream.stages
    if own_sink:
        rest.sink = rest.results
    rest.sent_frames = stream.sent_frames
    rest.earlier_links = added_counts(stream.earlier_links, stream.client.channel.counts())
    return rest


class ResumingStream:
    """Runs `stream` to its end across dropped connections.

    `stop()` ends the agent of a failed pass; `restart()`, called once the connection is
    back, starts an agent with the stream's model loaded and returns its client."""

    def __init__(
        self,
        stream: VectorStream,
        ssh: SshTransport | None,
        board: str,
        restart: Callable[[], StreamClient],
        stop: Callable[[], None],
    ) -> None:
        self.stream = stream
        self.ssh = ssh
        self.board = board
        self.restart = restart
        self.stop = stop
        self.resumes: list[Resume] = []

    def run(self) -> StreamResult:
        started = time.perf_counter()
        stream = self.stream
        while True:
            try:
                stream.pump()
                break
            except (ThinkError, OSError) as exc:
                self.stop()
                # No answer in time is a hang (the watchdog's and recovery's), not a drop.
                if isinstance(exc, AgentTimeout) or not link_dropped(self.ssh):
                    raise
                stream = self._resume(stream, exc)
        result = stream.finish(time.perf_counter() - started)
        result.resumes = list(self.resumes)
        return result

    def _resume(self, stream: VectorStream, exc: BaseException) -> VectorStream:
        assert self.ssh is not None
        failed = time.perf_counter()
        missing = stream.results.missing()
        limit = self.ssh.config.reconnects
        if len(self.resumes) >= limit:
            drops = len(self.resumes) + 1
            raise LinkError(
                f"board '{self.board}': the SSH connection dropped "
                f"{'once' if drops == 1 else f'{drops} times'} during the stream, "
                f"ssh.reconnects allows {limit} resume{'' if limit == 1 else 's'}; "
                f"{len(missing)} vectors have no result (first: {missing[0]}); last: "
                f"{_first_line(exc)}"
            ) from None
        uploaded = self.ssh.uploaded_files
        tries = self.ssh.reconnect()
        client = self.restart()
        self.resumes.append(
            Resume(
                after_vectors=stream.results.stored,
                resent=sum(job.stop - job.start for job in stream.frames_in_flight()),
                tries=tries,
                uploaded=self.ssh.uploaded_files - uploaded,
                seconds=time.perf_counter() - failed,
                cause=_first_line(exc),
            )
        )
        return resumed(stream, client)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
