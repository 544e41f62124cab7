"""The INFER frame size on a lossy link, adapted to the errors the link meets.

Congestion control for a noisy line, as TCP does it for a congested one: a frame answered at
its first try is evidence that frames of its size get through, one that arrives corrupted is
evidence that they do not. After `grow_after` frames of the current size are answered clean
in a row the size doubles, if the error rate seen so far says the larger frame moves more
data (below); after a corrupted one it halves. Always within [minimum, maximum].

Goodput of a frame of `F` payload bytes and `H` bytes of framing at a bit-error rate `p`,
when a corrupted frame is sent again:

    F / (F + H) * (1 - p) ** (8 * (F + H))

Clean lines (p near 0) favour large frames, where the framing vanishes; noisy ones favour
frames short enough to arrive whole. `p` is estimated from counts: corrupted frames over the
bits carried, both halved whenever the bits pass `horizon_bits`, so old noise is forgotten.

Every decision is taken on counts (frames answered, frames corrupted, bytes carried), never
on time. A frame sent before the size last changed is from an older *epoch*: its corruption
was met at a size already left behind, so it does not halve again (as TCP halves once per
window), and its clean answer says nothing about the new size.
"""

from __future__ import annotations

from pytest_think.agent import think_frames as tf

__all__ = ["FRAME_OVERHEAD", "GROW_AFTER", "HORIZON_BITS", "FrameSizer", "goodput"]

# Framing around an INFER frame's tensor bytes: header, CRC, and a tensor block's head
# (count, name, dtype, shape) for a one-input model.
FRAME_OVERHEAD = tf.HEADER_SIZE + tf.CRC.size + 32
# Clean answers in a row at the current size before a larger one is tried.
GROW_AFTER = 4
# Bits over which the error rate is estimated (1 MiB): about 11 s of a 921600-baud line.
HORIZON_BITS = float(8 << 20)


def goodput(size: int, error_rate: float, overhead: int = FRAME_OVERHEAD) -> float:
    """The share of the line a stream of `size`-byte frames moves as payload, at a bit-error
    rate of `error_rate`, when a corrupted frame is sent again."""
    line = size + overhead
    return size / line * (1.0 - min(error_rate, 1.0)) ** (8 * line)


class FrameSizer:
    """The frame size to build frames at now, from what became of the frames sent so far."""

    def __init__(
        self,
        start: int,
        minimum: int,
        maximum: int,
        *,
        grow_after: int = GROW_AFTER,
        horizon_bits: float = HORIZON_BITS,
    ) -> None:
        if not 0 < minimum <= start <= maximum:
            raise ValueError(
                f"frame sizes must be 0 < minimum <= start <= maximum, "
                f"got {minimum}, {start}, {maximum}"
            )
        if grow_after < 1:
            raise ValueError(f"grow_after must be at least 1, got {grow_after}")
        self.size = start
        self.minimum, self.maximum = minimum, maximum
        self.grow_after = grow_after
        self.horizon_bits = horizon_bits
        self.epoch = 0  # bumped on every change of size
        self.clean_run = 0  # frames of this epoch answered clean in a row
        self.bits = 0.0  # carried, within the horizon
        self.errors = 0.0  # corrupted frames, within the horizon
        self.grown = 0
        self.shrunk = 0
        self.smallest = self.largest = start

    @property
    def adapts(self) -> bool:
        return self.minimum < self.maximum

    def error_rate(self) -> float:
        """The bit-error rate the link has shown lately (0 before anything was carried)."""
        return self.errors / self.bits if self.bits else 0.0

    def carried(self, nbytes: int) -> None:
        """`nbytes` crossed the line, either way."""
        self.bits += 8 * nbytes
        if self.bits > self.horizon_bits:
            self.bits /= 2
            self.errors /= 2

    def clean(self, epoch: int) -> None:
        """A frame sent at `epoch` was answered at its first try."""
        if epoch != self.epoch:
            return
        self.clean_run += 1
        if self.clean_run < self.grow_after:
            return
        self.clean_run = 0
        bigger = min(self.maximum, self.size * 2)
        p = self.error_rate()
        if bigger > self.size and goodput(bigger, p) > goodput(self.size, p):
            self.grown += 1
            self._resize(bigger)

    def corrupted(self, epoch: int | None) -> None:
        """A frame arrived corrupted (at the agent: it NAKed; or here); `epoch` is when the
        request it was or answered was sent, None when that cannot be told."""
        self.errors += 1
        if epoch is not None and epoch != self.epoch:
            return  # met at a size already left behind
        self.clean_run = 0
        smaller = max(self.minimum, self.size // 2)
        if smaller < self.size:
            self.shrunk += 1
            self._resize(smaller)

    def counts(self) -> dict[str, int]:
        """For the results JSON (`stream.link`)."""
        return {
            "frame_bytes": self.size,
            "frame_bytes_smallest": self.smallest,
            "frame_bytes_largest": self.largest,
            "frame_grows": self.grown,
            "frame_shrinks": self.shrunk,
        }

    def _resize(self, size: int) -> None:
        self.size = size
        self.epoch += 1
        self.clean_run = 0
        self.smallest = min(self.smallest, size)
        self.largest = max(self.largest, size)
