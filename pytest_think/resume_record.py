"""What one resume of a stream cost: the record a `StreamResult` keeps of each dropped SSH
connection it came back from (pytest_think.resume does the resuming)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Resume"]


@dataclass
class Resume:
    """A dropped connection a stream came back from."""

    after_vectors: int  # vectors that had their result when the connection dropped
    resent: int  # vectors in flight when it dropped (lost with it), sent again after it
    tries: int  # reconnection tries it took
    uploaded: int  # files uploaded again to restart (the agent's work directory was gone)
    seconds: float  # from the failure to the restarted agent's model loaded
    cause: str  # what the stream saw fail

    def as_json(self) -> dict[str, int | float | str]:
        return {
            "after_vectors": self.after_vectors,
            "resent": self.resent,
            "tries": self.tries,
            "uploaded": self.uploaded,
            "seconds": round(self.seconds, 6),
            "cause": self.cause,
        }
