"""Whole frames, each answer once, over a link that corrupts and drops bytes (a UART).

The recovery rules are those of docs/protocol.md, "Serial links": frames are decoded with
resynchronisation; a corrupted frame whose header was readable is NAKed; a NAK from the agent
repeats the frame it names; a request that a later one overtook (the agent answers in the
order it receives, so its request or answer was lost) is sent again at once; after
`link.retransmit_after` seconds of silence (longer while longer frames are out) every request
still unanswered is sent again; a second answer to a request is dropped. What it took is
counted (`LinkCounts`), for the results JSON.

What becomes of each request — answered at its first try, or corrupted on the way out or
back — also steers the frame size (`frame_size.FrameSizer`): `frame_bytes` is the size to
build the next INFER frame at.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

from pytest_think.agent import think_frames as tf
from pytest_think.transport.channel import ChannelBase
from pytest_think.transport.frame_size import FrameSizer
from pytest_think.transport.link import Link

__all__ = ["LinkCounts", "ReliableChannel"]

# Answered seqs remembered to recognise a repeated answer. The agent answers repeats from a
# cache of its last 256 answers, so older ones cannot come twice.
ANSWERED_KEPT = 4096


@dataclass
class LinkCounts:
    bad_frames: int = 0  # frames that failed their checks, from the agent
    naks_sent: int = 0  # of those, NAKed for a repeat
    naks_received: int = 0  # frames of ours the agent received corrupted
    retransmits: int = 0  # requests sent again, on a NAK or after silence
    duplicates: int = 0  # second answers to a request, dropped


class ReliableChannel(ChannelBase):
    """A `FrameChannel` over an unreliable link."""

    def __init__(self, link: Link) -> None:
        super().__init__(link)
        self.decoder = tf.ResyncDecoder()
        # send_lock (ChannelBase) keeps frames whole on the line; state_lock guards what is
        # unanswered, so answers are taken while a long frame is still being written.
        self.state_lock = threading.Lock()
        self.unanswered: dict[int, bytes] = {}  # request seq -> frame, to repeat until answered
        self.epochs: dict[int, int] = {}  # request seq -> the sizer's epoch it was sent at
        self.repeated: set[int] = set()  # unanswered requests sent more than once
        # When each unanswered request was last sent (or its answer last asked for again), in
        # sending order: an answer to a later one says the earlier is lost.
        self.sent_order: dict[int, int] = {}
        self.sendings = 0
        self.answered: OrderedDict[int, None] = OrderedDict()  # the last ANSWERED_KEPT seqs
        self.link_counts = LinkCounts()
        low, high = link.frame_bytes_range
        self.sizer = FrameSizer(link.frame_bytes, low, high)

    @property
    def frame_bytes(self) -> int:
        """The size to build the next INFER frame at: adapted to the errors met so far."""
        return self.sizer.size

    def request(self, seq: int, blob: bytes) -> None:
        with self.send_lock:  # marked and sent in one go: the sending order is the line's
            with self.state_lock:
                self.unanswered[seq] = blob
                self.epochs[seq] = self.sizer.epoch
                self.mark_sent(seq)
                self.sizer.carried(len(blob))
            self.link.send(blob)

    def counts(self) -> dict[str, int]:
        counts = asdict(self.link_counts)
        if self.sizer.adapts:
            counts.update(self.sizer.counts())
        return counts

    def wait(self, remaining: float) -> float:
        """Silence long enough to call a frame lost: the link's `retransmit_after` for its
        `frame_bytes`, in proportion for longer frames out (they take longer on the line)."""
        with self.state_lock:
            longest = max(map(len, self.unanswered.values()), default=0)
        scale = max(1.0, longest / self.link.frame_bytes)
        return min(remaining, self.link.retransmit_after * scale)

    def quiet(self) -> None:
        """Silence: a request or its answer was lost, or a frame was cut short. Give up the
        partial frame and ask again for everything unanswered."""
        self.decoded(*self.decoder.flush())
        with self.state_lock:
            seqs = sorted(self.unanswered)
        self.repeat(seqs)

    def arrived(self, data: bytes) -> None:
        with self.state_lock:
            self.sizer.carried(len(data))
        self.decoded(*self.decoder.feed(data))

    def decoded(self, frames: list[tf.Frame], errors: list[tf.FrameError]) -> None:
        for error in errors:
            self.link_counts.bad_frames += 1
            self.corrupted(error.seq)
            if error.seq is not None:
                self.link_counts.naks_sent += 1
                self.send(tf.encode_frame(tf.NAK, error.seq))
        for frame in frames:
            if frame.type == tf.NAK:
                self.link_counts.naks_received += 1
                self.corrupted(frame.seq)
                self.repeat([frame.seq])
            elif self.first_answer(frame.seq):
                self.pending.append(frame)
            else:
                self.link_counts.duplicates += 1

    def corrupted(self, seq: int | None) -> None:
        """A frame of request `seq` (or its answer) arrived corrupted: tell the sizer. Its
        repeat (or the answer's) is under way: it counts as sent again now."""
        with self.state_lock:
            self.sizer.corrupted(self.epochs.get(seq) if seq is not None else None)
            if seq is not None and seq in self.unanswered:
                self.repeated.add(seq)
                self.mark_sent(seq)

    def mark_sent(self, seq: int) -> None:
        """Request `seq` goes out now (state_lock held)."""
        self.sendings += 1
        self.sent_order[seq] = self.sendings

    def first_answer(self, seq: int) -> bool:
        """Mark request `seq` answered; False if it had been already (a repeat's answer).

        An answer at the first try is computed in the order the agent received its requests
        (repeats may be answered from its cache at once, out of that order): requests sent
        before it and still unanswered were lost, or their answers. They are sent again."""
        overtaken: list[int] = []
        with self.state_lock:
            asked = self.unanswered.pop(seq, None) is not None
            epoch = self.epochs.pop(seq, None)
            order = self.sent_order.pop(seq, None)
            first_try = asked and seq not in self.repeated
            self.repeated.discard(seq)
            if first_try and epoch is not None and order is not None:
                self.sizer.clean(epoch)
                overtaken = sorted(s for s, o in self.sent_order.items() if o < order)
        self.repeat(overtaken)
        if not asked and seq in self.answered:
            return False
        self.answered[seq] = None
        if len(self.answered) > ANSWERED_KEPT:
            self.answered.popitem(last=False)
        return True

    def repeat(self, seqs: list[int]) -> None:
        """Send the still unanswered requests among `seqs` again."""
        if not seqs:
            return
        with self.send_lock:
            with self.state_lock:
                seqs = [s for s in seqs if s in self.unanswered]
                blobs = [self.unanswered[s] for s in seqs]
                self.repeated.update(seqs)
                for seq, blob in zip(seqs, blobs):
                    self.sizer.carried(len(blob))
                    self.mark_sent(seq)
            for blob in blobs:
                self.link.send(blob)
        self.link_counts.retransmits += len(blobs)
