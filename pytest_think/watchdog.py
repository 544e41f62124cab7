"""The watchdog: how long a board may stay silent, derived from what it was doing.

A stream waits for one answer at a time. Its bound is the larger of the board file's floor
(`watchdog.floor_s`) and a multiple (`watchdog.p99_multiple`) of the 99th percentile of the
waits measured so far in that stream: a board whose answers take seconds gets a bound that
follows them, a fast one keeps the floor, which must hold on a loaded machine. A device loop
(an energy window) runs for its window, then answers: its bound is the window plus the floor.
A board that outstays its bound is hung: `BoardHung`, "board X hung at vectors a–b, no answer
in T s", and the watchdog keeps the `Hang` for the recovery strategy (pytest_think.recovery).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pytest_think.boards import WatchdogConfig
from pytest_think.errors import BoardHung

__all__ = ["Hang", "StreamWatch", "Watchdog"]

KEPT_WAITS = 1024  # the waits the p99 is taken over: the stream's latest
RECOMPUTE_EVERY = 32  # answers between two p99s (once there are that many)


class Span(Protocol):
    """Vectors [start, stop): a frame in flight (pytest_think.stream.InFlight)."""

    start: int
    stop: int


@dataclass
class Hang:
    """What the board was doing when it stopped answering."""

    board: str
    doing: str  # "stream", "device loop", "flash"
    bound_s: float
    first: int | None = None  # the vectors in flight, when streaming
    last: int | None = None
    waited_s: float | None = None  # how long it was waited for, when known (>= bound_s)
    board_answered: bool | None = None  # the SSH probe after the hang (None: not probed)

    def __str__(self) -> str:
        if self.first is not None and self.last is not None:
            what = f"at vectors {self.first}–{self.last}"
        else:
            what = self.doing
        return f"board '{self.board}' hung {what}, no answer in {self.bound_s:g} s"

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"during": self.doing, "bound_s": round(self.bound_s, 3)}
        if self.first is not None:
            data["vectors"] = [self.first, self.last]
        if self.waited_s is not None:
            data["waited_s"] = round(self.waited_s, 3)
        if self.board_answered is not None:
            data["board_answered"] = self.board_answered
        return data


class Watchdog:
    """One board's watchdog: its settings, and the last hang it caught (until recovered)."""

    def __init__(self, board: str, config: WatchdogConfig) -> None:
        self.board = board
        self.config = config
        self.tripped: Hang | None = None

    def stream(self) -> StreamWatch:
        """The watch over one stream (its own measured waits)."""
        return StreamWatch(self)

    def loop_bound(self, seconds: float) -> float:
        """The bound on a device loop that runs at least `seconds`."""
        return seconds + self.config.floor_s

    def hung(
        self,
        doing: str,
        bound_s: float,
        first: int | None = None,
        last: int | None = None,
        since: float | None = None,
    ) -> BoardHung:
        """The error to raise, the hang kept for recovery; `since`: when the wait began
        (time.monotonic())."""
        waited = time.monotonic() - since if since is not None else None
        self.tripped = Hang(self.board, doing, bound_s, first, last, waited)
        return BoardHung(str(self.tripped))


def p99(values: list[float]) -> float:
    """The 99th percentile, interpolated as numpy's default ('linear') does: a sort of a few
    hundred floats, without numpy's per-call overhead (this runs on every early answer)."""
    ordered = sorted(values)
    pos = 0.99 * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


class StreamWatch:
    """The bound on each wait for an answer in one stream, from the waits before it."""

    def __init__(self, watchdog: Watchdog) -> None:
        self.watchdog = watchdog
        self.waits = np.zeros(KEPT_WAITS)
        self.count = 0
        self.p99 = 0.0
        self.started = 0.0
        self.bound_s = watchdog.config.floor_s

    def start_wait(self) -> float:
        """A wait begins now; its bound in seconds."""
        config = self.watchdog.config
        self.bound_s = max(config.floor_s, config.p99_multiple * self.p99)
        self.started = time.monotonic()
        return self.bound_s

    def answered(self) -> None:
        """The answer came: its wait counts for the bounds after it."""
        self.waits[self.count % KEPT_WAITS] = time.monotonic() - self.started
        self.count += 1
        if self.count < RECOMPUTE_EVERY or self.count % RECOMPUTE_EVERY == 0:
            self.p99 = p99(self.waits[: min(self.count, KEPT_WAITS)].tolist())

    def hung(self, in_flight: Sequence[Span]) -> BoardHung:
        """No answer within the bound, with these frames out."""
        if not in_flight:
            return self.watchdog.hung("stream", self.bound_s, since=self.started)
        first = min(job.start for job in in_flight)
        last = max(job.stop for job in in_flight) - 1
        return self.watchdog.hung("stream", self.bound_s, first, last, self.started)
