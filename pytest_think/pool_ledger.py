"""Who holds which vectors of a pool's vector set: every vector settled exactly once.

The vectors are cut into chunks, one INFER frame each. A member takes the next chunk when
its window has room, so faster members take more. A member that drops out gives back the
chunks it held and had not settled: they go to the front of the queue, for the others, in
vector order. A result for a chunk its sender no longer holds (it came after its member was
dropped) is refused and counted, never stored: each vector has the one result of the member
that held it when it was answered.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Chunk", "PoolLedger"]

POLL_S = 0.1  # how often a member waiting for work looks at its stop event


@dataclass(frozen=True)
class Chunk:
    """Vectors [start, stop) of the set."""

    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


class PoolLedger:
    """The chunks of one vector set, the queue of those nobody holds, and who holds the rest."""

    def __init__(self, count: int, per_chunk: int, members: int) -> None:
        if per_chunk < 1:
            raise ValueError(f"a chunk holds at least one vector, got {per_chunk}")
        self.chunks = [
            Chunk(start, min(start + per_chunk, count)) for start in range(0, count, per_chunk)
        ]
        self._index = {chunk.start: i for i, chunk in enumerate(self.chunks)}
        self._queue: deque[int] = deque(range(len(self.chunks)))
        self._holder: list[int | None] = [None] * len(self.chunks)
        self._settled_by: list[int | None] = [None] * len(self.chunks)
        self._live = set(range(members))
        self._open = len(self.chunks)  # chunks not settled
        self._changed = threading.Condition(threading.RLock())
        self.refused = 0  # vectors answered by a member that no longer held them

    # -- members ----------------------------------------------------------------------------

    def take(self, member: int, stopping: threading.Event | None = None) -> Chunk | None:
        """The next chunk for `member`, waiting while others hold the last ones (one of them
        may drop out and give them back); None when every chunk is settled, or `member` is
        dropped, or `stopping` is set."""
        with self._changed:
            while True:
                if member not in self._live or self._open == 0:
                    return None
                if stopping is not None and stopping.is_set():
                    return None
                if self._queue:
                    index = self._queue.popleft()
                    self._holder[index] = member
                    return self.chunks[index]
                self._changed.wait(POLL_S)

    def holds(self, member: int, chunk: Chunk) -> bool:
        """Whether `member` holds `chunk` (still unsettled): whether its result may be stored."""
        with self._changed:
            index = self._index.get(chunk.start)
            return (
                index is not None
                and self.chunks[index] == chunk
                and self._holder[index] == member
                and self._settled_by[index] is None
            )

    def settle(self, member: int, chunk: Chunk, store: Callable[[], None] | None = None) -> bool:
        """`member` answered `chunk`: True when that settles it, False (counted in `refused`)
        when the member did not hold it (it was given back when the member dropped out).

        `store` keeps the result; it runs only for a chunk the member holds, and no drop can
        come between it and the settling. When it raises, the chunk stays the member's."""
        with self._changed:
            if not self.holds(member, chunk):
                self.refused += chunk.size
                return False
            if store is not None:
                store()
            index = self._index[chunk.start]
            self._settled_by[index] = member
            self._holder[index] = None
            self._open -= 1
            self._changed.notify_all()
            return True

    def drop(self, member: int) -> int:
        """`member` is out: the chunks it held go back to the front of the queue in vector
        order; returns how many vectors moved."""
        with self._changed:
            self._live.discard(member)
            held = [i for i, holder in enumerate(self._holder) if holder == member]
            for index in reversed(held):
                self._holder[index] = None
                self._queue.appendleft(index)
            self._changed.notify_all()
            return sum(self.chunks[i].size for i in held)

    # -- the account ------------------------------------------------------------------------

    @property
    def live(self) -> set[int]:
        with self._changed:
            return set(self._live)

    @property
    def done(self) -> bool:
        with self._changed:
            return self._open == 0

    def settled_by(self, member: int) -> int:
        """How many vectors `member` settled."""
        with self._changed:
            return sum(c.size for c, m in zip(self.chunks, self._settled_by) if m == member)

    def unsettled(self) -> list[Chunk]:
        """The chunks without a result, in vector order."""
        with self._changed:
            return [c for c, m in zip(self.chunks, self._settled_by) if m is None]
