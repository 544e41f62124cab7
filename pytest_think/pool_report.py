"""A pool run's account: what each member did, who dropped out and when, the aggregate.

`PoolReport.as_json()` is the run's ``pool`` entry in the results JSON (schema.PoolJson).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DropOut", "MemberAccount", "PoolReport"]


@dataclass
class MemberAccount:
    """What one member did in a pool run."""

    name: str
    board: str
    device: str | None
    vectors: int = 0
    frames: int = 0
    seconds: float = 0.0  # from the pool's start to the member's last answer or its drop
    dropped: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "board": self.board,
            "device": self.device,
            "vectors": self.vectors,
            "frames": self.frames,
            "seconds": self.seconds,
            "throughput_per_s": self.vectors / self.seconds if self.seconds > 0 else 0.0,
            "dropped": self.dropped,
        }


@dataclass
class DropOut:
    """A member that dropped out of a pool run."""

    member: str
    at_s: float  # seconds after the pool started
    reason: str
    vectors_done: int  # settled by the member before it dropped
    vectors_moved: int  # what it held unanswered, given to the others

    def as_json(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "at_s": self.at_s,
            "reason": self.reason,
            "vectors_done": self.vectors_done,
            "vectors_moved": self.vectors_moved,
        }


@dataclass
class PoolReport:
    """The pool's account of a run: members, the aggregate, drop-outs, refused answers."""

    members: list[MemberAccount]
    vectors_per_frame: int
    wall_s: float
    vectors: int
    dropped: list[DropOut] = field(default_factory=list)
    refused_vectors: int = 0  # answered by a member after it no longer held them: discarded

    @property
    def throughput_per_s(self) -> float:
        return self.vectors / self.wall_s if self.wall_s > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "members": [m.as_json() for m in self.members],
            "vectors_per_frame": self.vectors_per_frame,
            "wall_s": self.wall_s,
            "throughput_per_s": self.throughput_per_s,
            "dropped": [d.as_json() for d in self.dropped],
            "refused_vectors": self.refused_vectors,
        }
