"""Whole frames, each answer once, over a link that corrupts and drops bytes (a UART).

The recovery rules are those of docs/protocol.md, "Serial links": frames are decoded with
resynchronisation; a corrupted frame whose header was readable is NAKed; a NAK from the agent
repeats the frame it names; after `link.retransmit_after` seconds of silence every request
still unanswered is sent again; a second answer to a request is dropped. What it took is
counted (`LinkCounts`), for the results JSON.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass

from pytest_think.agent import think_frames as tf
from pytest_think.transport.channel import ChannelBase
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
        self.unanswered: dict[int, bytes] = {}  # request seq -> frame, to repeat until answered
        self.answered: OrderedDict[int, None] = OrderedDict()  # the last ANSWERED_KEPT seqs
        self.link_counts = LinkCounts()

    def request(self, seq: int, blob: bytes) -> None:
        with self.send_lock:
            self.unanswered[seq] = blob
            self.link.send(blob)

    def counts(self) -> dict[str, int]:
        return asdict(self.link_counts)

    def wait(self, remaining: float) -> float:
        return min(remaining, self.link.retransmit_after)

    def quiet(self) -> None:
        """Silence: a request or its answer was lost, or a frame was cut short. Give up the
        partial frame and ask again for everything unanswered."""
        self.decoded(*self.decoder.flush())
        with self.send_lock:
            self.repeat(sorted(self.unanswered))

    def arrived(self, data: bytes) -> None:
        self.decoded(*self.decoder.feed(data))

    def decoded(self, frames: list[tf.Frame], errors: list[tf.FrameError]) -> None:
        for error in errors:
            self.link_counts.bad_frames += 1
            if error.seq is not None:
                self.link_counts.naks_sent += 1
                self.send(tf.encode_frame(tf.NAK, error.seq))
        for frame in frames:
            if frame.type == tf.NAK:
                self.link_counts.naks_received += 1
                with self.send_lock:
                    self.repeat([frame.seq])
            elif self.first_answer(frame.seq):
                self.pending.append(frame)
            else:
                self.link_counts.duplicates += 1

    def first_answer(self, seq: int) -> bool:
        """Mark request `seq` answered; False if it had been already (a repeat's answer)."""
        with self.send_lock:
            asked = self.unanswered.pop(seq, None) is not None
        if not asked and seq in self.answered:
            return False
        self.answered[seq] = None
        if len(self.answered) > ANSWERED_KEPT:
            self.answered.popitem(last=False)
        return True

    def repeat(self, seqs: list[int]) -> None:
        """Send the still unanswered requests among `seqs` again (send_lock held)."""
        blobs = [self.unanswered[s] for s in seqs if s in self.unanswered]
        for blob in blobs:
            self.link.send(blob)
        self.link_counts.retransmits += len(blobs)
