"""One vector set over a pool: several boards, or the devices of one board, streaming at once.

`DevicePool` loads the model (or design) on every member, then streams: each member's agent
takes the next chunk of vectors from one `PoolLedger` whenever its window has room, all
members at once (a thread each; the streams are I/O-bound). Results are stored by vector
index in one collector, so the merged run is in vector order, each vector exactly once. A
member that fails mid-run (its agent dies, its link drops, it stops answering) drops out: its
unanswered chunks go to the others, and the run records who dropped, when, why and how many
vectors moved. The merged run is a `Run` (`reference.check` reads it as any other) with the
pool's account in `PoolRun.pool`: per-member vectors and throughput, and the aggregate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_think.agent import think_frames as tf
from pytest_think.device import Device, Run, vector_set_for
from pytest_think.errors import AgentError, ThinkError
from pytest_think.flashing import FlashReport
from pytest_think.pool_ledger import Chunk, PoolLedger
from pytest_think.pool_report import DropOut, MemberAccount, PoolReport
from pytest_think.stream import (
    DEFAULT_WINDOW,
    Batch,
    Collector,
    InFlight,
    StreamResult,
    vectors_per_frame,
)
from pytest_think.vectors import VectorSet

__all__ = ["DevicePool", "PoolMember", "PoolReport", "PoolRun", "PoolStream"]

Progress = Callable[[int, int], None]


@dataclass
class PoolMember:
    """One member of a pool: a device (a board's agent), bound to one of the board's devices
    when the pool is over the devices of one board."""

    name: str
    device: Device
    bound_to: str | None = None  # the board's device this member's sessions are bound to

    @property
    def board(self) -> str:
        return self.device.config.name

    def bind(self, backend: str, options: dict[str, Any]) -> dict[str, Any]:
        """LOAD options for `backend`, bound to this member's device (if it has one)."""
        if self.bound_to is None:
            return options
        return self.device.board.accelerators.bind(self.bound_to, backend, options)


@dataclass
class PoolRun(Run):
    """A run merged from a pool's members, in vector order; `pool` says who did what."""

    pool: PoolReport
    member_of: np.ndarray  # per vector, the index of the member whose result it is


class _MemberSink:
    """A member's results into the pool's collector, for the chunks the member holds."""

    def __init__(self, stream: PoolStream, member: int) -> None:
        self.stream = stream
        self.member = member

    @property
    def stored(self) -> int:
        return self.stream.collector.stored

    def store(
        self, job: InFlight, device_ns: np.ndarray, tensors: list[tf.Tensor], now: int
    ) -> None:
        pool = self.stream

        def keep() -> None:
            pool.collector.store(job, device_ns, tensors, now)
            pool.member_of[job.start : job.stop] = self.member

        pool.ledger.settle(self.member, Chunk(job.start, job.stop), keep)


class PoolStream:
    """One vector set through the loaded model of every member at once."""

    def __init__(
        self,
        members: list[PoolMember],
        vectors: VectorSet,
        output_names: list[str],
        *,
        window: int = DEFAULT_WINDOW,
        per_frame: int,
        progress: Progress | None = None,
    ) -> None:
        self.members = members
        self.vectors = vectors
        self.window = window
        self.per_frame = per_frame
        self.progress = progress
        self.ledger = PoolLedger(vectors.count, per_frame, len(members))
        self.collector = Collector(vectors.count, output_names)
        self.member_of = np.full(vectors.count, -1, np.int16)
        self.accounts = [MemberAccount(m.name, m.board, m.bound_to) for m in members]
        self.dropped: list[DropOut] = []
        self.links: dict[str, int] = {}
        self.errors: list[BaseException] = []  # what ended a member that is not a failure
        self._lock = threading.Lock()
        self._started = 0.0

    def run(self) -> tuple[StreamResult, PoolReport]:
        self._started = time.perf_counter()
        threads = [
            threading.Thread(
                target=self._member, args=(k,), name=f"think-pool-{m.name}", daemon=True
            )
            for k, m in enumerate(self.members)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - self._started
        if self.errors:
            raise self.errors[0]
        unsettled = self.ledger.unsettled()
        if unsettled:
            order = [m.name for m in self.members]
            drops = sorted(self.dropped, key=lambda d: order.index(d.member))
            why = "; ".join(f"{d.member}: {d.reason}" for d in drops) or "no member left"
            raise AgentError(
                f"pool of {len(self.members)} lost {sum(c.size for c in unsettled)} vectors "
                f"(first: {unsettled[0].start}): every member dropped out ({why})"
            )
        report = PoolReport(
            self.accounts,
            self.per_frame,
            wall,
            self.vectors.count,
            self.dropped,
            self.ledger.refused,
        )
        return self._result(wall), report

    def drop(self, member: int, reason: str) -> None:
        """Take `member` out: its unanswered chunks go to the others (a watchdog may call
        this; what the member still answers for them is then refused)."""
        with self._lock:
            account = self.accounts[member]
            if account.dropped:
                return
            account.dropped = True
            moved = self.ledger.drop(member)
            account.seconds = time.perf_counter() - self._started
            self.dropped.append(
                DropOut(
                    account.name,
                    account.seconds,
                    reason,
                    self.ledger.settled_by(member),
                    moved,
                )
            )

    # -- one member (its own thread) --------------------------------------------------------

    def _member(self, k: int) -> None:
        member = self.members[k]
        agent = member.device.agent
        try:
            if agent is None:
                raise AgentError(f"pool member {member.name} has no agent running")
            stream = agent.vector_stream(
                self.vectors,
                self.window,
                self.per_frame,
                self.progress,
                batches=lambda stopping: self._batches(k, stopping),
                sink=_MemberSink(self, k),
            )
            stream.pump()
            with self._lock:
                account = self.accounts[k]
                account.frames = stream.sent_frames
                account.vectors = self.ledger.settled_by(k)
                if not account.dropped:
                    account.seconds = time.perf_counter() - self._started
                for name, n in stream.client.channel.counts().items():
                    self.links[name] = self.links.get(name, 0) + n
        except Exception as exc:
            # Whatever ends a member's stream, its vectors go to the others; what is not a
            # board's failure (a bug) is raised once the others are done.
            self.drop(k, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            self.accounts[k].vectors = self.ledger.settled_by(k)
            member.device.close_agent()  # in an unknown state: a fresh one next time
            if not isinstance(exc, (ThinkError, OSError)):
                self.errors.append(exc)

    def _batches(self, k: int, stopping: threading.Event) -> Iterator[Batch]:
        while (chunk := self.ledger.take(k, stopping)) is not None:
            yield chunk.start, chunk.stop, self.vectors.rows(chunk.start, chunk.stop)

    def _result(self, wall_s: float) -> StreamResult:
        c = self.collector
        return StreamResult(
            output_names=c.names,
            outputs={n: c.outputs[n] for n in c.names if n in c.outputs},
            device_ns=c.device_ns,
            host_ns=c.host_ns,
            wall_s=wall_s,
            frames=len(self.ledger.chunks),
            vectors_per_frame=self.per_frame,
            window=self.window,
            link=dict(self.links),
        )


class DevicePool:
    """Runs one vector set over several members at once; see the module's doc."""

    def __init__(self, members: list[PoolMember]) -> None:
        if not members:
            raise ValueError("a pool needs at least one member")
        names = [m.name for m in members]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ThinkError(f"pool members must differ: {', '.join(twice)} given twice")
        self.members = members

    @property
    def name(self) -> str:
        """What the merged run's `board` says: the one board, or its members joined by '+'."""
        boards = list(dict.fromkeys(m.board for m in self.members))
        return boards[0] if len(boards) == 1 else "+".join(boards)

    def run(
        self,
        model: str | Path,
        vectors: str | Path | VectorSet,
        *,
        device_batch: int = 1,
        window: int = DEFAULT_WINDOW,
        vectors_per_frame: int | None = None,
        backend_options: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> PoolRun:
        """Load `model` on every member (one after another: they may share a board), then
        stream `vectors` over all of them at once."""
        model = Path(model)
        options = {"device_batch": device_batch, **(backend_options or {})}
        # The model, and the vectors against it, are checked before any member uploads it.
        facts = self.members[0].device.inspect_model(model)
        if facts is not None:
            vector_set_for(vectors, facts.signature)
        loaded = []
        for m in self.members:
            bound = m.bind(m.device.config.agent.backend, options)
            loaded.append(m.device.load_model(model, bound, facts))
        sha = loaded[0][0]
        return self._stream(
            model, sha, [s for _, s in loaded], vectors, window, vectors_per_frame, progress
        )

    def run_design(
        self,
        design: str | Path,
        vectors: str | Path | VectorSet,
        *,
        force_flash: bool = False,
        window: int = DEFAULT_WINDOW,
        vectors_per_frame: int | None = None,
        progress: Progress | None = None,
    ) -> tuple[PoolRun, list[FlashReport]]:
        """Bring every member's board to `design` (once per board), then stream `vectors`
        over all members at once; checked against the model the design implements."""
        loaded: list[dict[str, Any]] = []
        flashes: list[FlashReport] = []
        reference: Path | None = None
        sha = ""
        for m in self.members:
            d, signature, flash = m.device.load_design(design, force_flash=force_flash, bind=m.bind)
            loaded.append(signature)
            flashes.append(flash)
            reference, sha = d.reference, d.sha256
        assert reference is not None
        run = self._stream(reference, sha, loaded, vectors, window, vectors_per_frame, progress)
        return run, flashes

    def _stream(
        self,
        model: Path,
        sha: str,
        signatures: list[dict[str, Any]],
        vectors: str | Path | VectorSet,
        window: int,
        per_frame: int | None,
        progress: Progress | None,
    ) -> PoolRun:
        signature = signatures[0]
        for m, other in zip(self.members[1:], signatures[1:]):
            if (other["inputs"], other["outputs"]) != (signature["inputs"], signature["outputs"]):
                raise AgentError(
                    f"pool member {m.name} loaded {model.name} with another signature than "
                    f"{self.members[0].name}: inputs {other['inputs']}, outputs {other['outputs']}"
                )
        vset = vector_set_for(vectors, signature)
        if per_frame is None:
            per_frame = self.frame_size(vset, window)
        names = [o["name"] for o in signature["outputs"]]
        stream = PoolStream(
            self.members, vset, names, window=window, per_frame=per_frame, progress=progress
        )
        result, report = stream.run()
        return PoolRun(self.name, model, sha, vset, result, signature, report, stream.member_of)

    def frame_size(self, vectors: VectorSet, window: int) -> int:
        """Vectors per frame: what the smallest member link carries, and small enough that
        every member has two windows' worth (so the load spreads, and a drop-out moves little)."""
        links = []
        for m in self.members:
            agent = m.device.agent
            assert agent is not None  # loaded
            links.append(vectors_per_frame(agent.link.frame_bytes, vectors.bytes_per_vector))
        spread = max(1, vectors.count // (len(self.members) * window * 2))
        return max(1, min([*links, spread]))
