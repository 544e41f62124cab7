"""Frame channels on scripted links: the plain one fails on what the reliable one repairs.

`ScriptedLink` delivers the chunks a test queues, and hands what the host sends to the test's
`agent` function, which may queue answers. A recv with nothing queued is silence (TimeoutError
at once), so nothing here waits on a clock.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import pytest

from pytest_think import agent_client
from pytest_think.agent import think_frames as tf
from pytest_think.agent_client import AgentClient
from pytest_think.transport.channel import LinkClosed, PlainChannel
from pytest_think.transport.frame_size import GROW_AFTER
from pytest_think.transport.reliable import ReliableChannel

Agent = Callable[["ScriptedLink", tf.Frame], None]
IDENTITY = {"agent": "scripted", "protocol": tf.PROTOCOL_VERSION}


class ScriptedLink:
    def __init__(
        self,
        *,
        reliable: bool,
        agent: Agent | None = None,
        frame_range: tuple[int, int] = (512, 512),
    ) -> None:
        self.reliable = reliable
        self.frame_bytes = 512
        self.frame_bytes_range = frame_range
        self.retransmit_after = 1.0 if not reliable else math.inf
        self.agent = agent
        self.incoming: deque[bytes] = deque()
        self.sent: list[tf.Frame] = []
        self.ended = False

    def queue(self, *blobs: bytes) -> None:
        self.incoming.extend(blobs)

    def describe(self) -> str:
        return "scripted link"

    def send(self, data: bytes) -> None:
        (frame,) = tf.FrameDecoder().feed(data)
        self.sent.append(frame)
        if self.agent:
            self.agent(self, frame)

    def recv(self, n: int, timeout: float | None) -> bytes:
        if self.incoming:
            return self.incoming.popleft()
        if self.ended:
            return b""
        raise TimeoutError

    def close_input(self) -> None:
        pass

    def stderr_tail(self, lines: int = 5) -> str:
        return ""

    def exit_status(self, timeout: float = 2.0) -> int | None:
        return None

    def close(self) -> None:
        self.ended = True

    def sent_names(self) -> list[str]:
        return [f"{f.name} {f.seq}" for f in self.sent]


def ready(seq: int) -> bytes:
    return tf.encode_json(tf.READY, seq, {"outputs": []})


def corrupted(blob: bytes) -> bytes:
    damaged = bytearray(blob)
    damaged[tf.HEADER_SIZE] ^= 0xFF  # in the payload: the header, and its seq, still read
    return bytes(damaged)


# -- the reliable channel -----------------------------------------------------------------


def test_second_answer_to_a_request_is_dropped_and_counted() -> None:
    link = ScriptedLink(reliable=False)
    channel = ReliableChannel(link)
    channel.request(1, tf.encode_frame(tf.LOAD, 1))
    link.queue(ready(1) + ready(1))

    assert channel.receive(1.0).seq == 1
    link.ended = True
    with pytest.raises(LinkClosed):
        channel.receive(1.0)
    assert channel.counts()["duplicates"] == 1


def test_nak_from_the_agent_repeats_the_request() -> None:
    link = ScriptedLink(reliable=False)
    channel = ReliableChannel(link)
    channel.request(4, tf.encode_frame(tf.INFER, 4, b"x"))
    link.queue(tf.encode_frame(tf.NAK, 4), ready(4))

    assert channel.receive(1.0).seq == 4
    assert link.sent_names() == ["INFER 4", "INFER 4"]
    assert channel.counts() == {
        "bad_frames": 0,
        "naks_sent": 0,
        "naks_received": 1,
        "retransmits": 1,
        "duplicates": 0,
    }


def test_corrupted_frame_is_naked_by_its_seq() -> None:
    link = ScriptedLink(reliable=False)
    channel = ReliableChannel(link)
    channel.request(2, tf.encode_frame(tf.LOAD, 2))
    link.queue(corrupted(ready(2)), ready(2))

    assert channel.receive(1.0).seq == 2
    assert link.sent_names() == ["LOAD 2", "NAK 2"]
    assert channel.counts()["bad_frames"] == channel.counts()["naks_sent"] == 1


def test_silence_repeats_every_unanswered_request() -> None:
    def answers_repeats(link: ScriptedLink, frame: tf.Frame) -> None:
        if [f.seq for f in link.sent].count(frame.seq) == 2:
            link.queue(ready(frame.seq))

    link = ScriptedLink(reliable=False, agent=answers_repeats)
    channel = ReliableChannel(link)
    channel.request(1, tf.encode_frame(tf.INFER, 1))
    channel.request(2, tf.encode_frame(tf.INFER, 2))

    assert [channel.receive(1.0).seq for _ in range(2)] == [1, 2]
    assert link.sent_names() == ["INFER 1", "INFER 2", "INFER 1", "INFER 2"]
    assert channel.counts()["retransmits"] == 2


def test_a_request_overtaken_by_a_later_answer_is_repeated_at_once() -> None:
    """The agent answers in the order it received: an answer to request 3 while 1 and 2 are
    unanswered says they (or their answers) were lost; no silence is waited for."""
    link = ScriptedLink(reliable=False)
    channel = ReliableChannel(link)
    for seq in (1, 2, 3, 4):
        channel.request(seq, tf.encode_frame(tf.INFER, seq))
    link.queue(ready(3))

    assert channel.receive(1.0).seq == 3
    assert link.sent_names()[4:] == ["INFER 1", "INFER 2"]  # 4 went after 3: still coming
    assert channel.counts()["retransmits"] == 2


def test_an_answer_to_a_repeat_overtakes_nothing() -> None:
    """Repeats are answered from the agent's cache at once, ahead of requests it is still
    computing: their answers say nothing of what was lost."""
    link = ScriptedLink(reliable=False)
    channel = ReliableChannel(link)
    channel.request(1, tf.encode_frame(tf.INFER, 1))
    channel.request(2, tf.encode_frame(tf.INFER, 2))
    channel.arrived(corrupted(ready(1)))  # NAKed: its answer is asked for again
    channel.request(3, tf.encode_frame(tf.INFER, 3))
    link.queue(ready(1))

    assert channel.receive(1.0).seq == 1
    assert link.sent_names() == ["INFER 1", "INFER 2", "NAK 1", "INFER 3"]  # 2 not repeated
    assert channel.counts()["retransmits"] == 0


def test_frame_cut_short_is_given_up_on_silence() -> None:
    def answers_nak(link: ScriptedLink, frame: tf.Frame) -> None:
        if frame.type == tf.NAK:
            link.queue(ready(frame.seq))

    link = ScriptedLink(reliable=False, agent=answers_nak)
    channel = ReliableChannel(link)
    link.queue(ready(3)[:-2])  # the rest is lost; the header is whole

    assert channel.receive(1.0).seq == 3
    assert link.sent_names() == ["NAK 3"]
    assert channel.counts()["bad_frames"] == 1


def test_hello_is_asked_for_with_a_nak_for_seq_0(monkeypatch: pytest.MonkeyPatch) -> None:
    def greets_when_asked(link: ScriptedLink, frame: tf.Frame) -> None:
        if frame.type == tf.NAK and frame.seq == 0:
            link.queue(tf.encode_json(tf.HELLO, 0, IDENTITY))

    monkeypatch.setattr(agent_client, "HELLO_GRACE_S", 0.05)
    link = ScriptedLink(reliable=False, agent=greets_when_asked)
    client = AgentClient(link)

    assert client.hello(timeout=5.0) == IDENTITY
    assert link.sent_names() == ["NAK 0"]


# -- the frame size on the reliable channel -------------------------------------------------


def infer(seq: int, nbytes: int) -> bytes:
    return tf.encode_frame(tf.INFER, seq, bytes(nbytes))


def test_a_nak_halves_the_frame_size_and_clean_answers_grow_it_again() -> None:
    link = ScriptedLink(reliable=False, frame_range=(128, 4096))
    channel = ReliableChannel(link)
    assert channel.frame_bytes == 512
    channel.request(1, infer(1, 512))
    link.queue(tf.encode_frame(tf.NAK, 1), ready(1))
    assert channel.receive(1.0).seq == 1
    assert channel.frame_bytes == 256

    for seq in range(2, 2 + GROW_AFTER):  # answered at their first try, at the new size
        channel.request(seq, infer(seq, 64 * 1024))  # plenty of clean bits: a low error rate
        link.queue(ready(seq))
        channel.receive(1.0)

    assert channel.frame_bytes == 512
    counts = channel.counts()
    assert counts["naks_received"] == counts["frame_shrinks"] == counts["frame_grows"] == 1
    assert (counts["frame_bytes_smallest"], counts["frame_bytes_largest"]) == (256, 512)


def test_a_corrupted_answer_halves_the_frame_size_its_repeat_is_not_clean() -> None:
    link = ScriptedLink(reliable=False, frame_range=(128, 4096))
    channel = ReliableChannel(link)
    channel.sizer.grow_after = 1
    channel.request(7, infer(7, 64 * 1024))
    channel.arrived(corrupted(ready(7)))
    assert (channel.frame_bytes, link.sent_names()) == (256, ["INFER 7", "NAK 7"])

    link.queue(tf.encode_frame(tf.NAK, 7), ready(7))  # our NAK's answer: a repeat
    assert channel.receive(1.0).seq == 7
    assert channel.frame_bytes == 256  # nothing grew on an answer that took two tries


def test_silence_repeats_without_shrinking_the_frame_size() -> None:
    """Silence may be a slow model as well as a lost frame: only corruption counts."""
    link = ScriptedLink(reliable=False, frame_range=(128, 4096))
    channel = ReliableChannel(link)
    channel.request(1, infer(1, 100))
    channel.quiet()
    assert (channel.frame_bytes, channel.counts()["retransmits"]) == (512, 1)


def test_longer_frames_out_wait_longer_before_they_are_repeated() -> None:
    link = ScriptedLink(reliable=False, frame_range=(128, 16384))
    channel = ReliableChannel(link)
    assert channel.wait(100.0) == link.retransmit_after  # nothing out
    channel.request(1, infer(1, 4 * 512 - tf.HEADER_SIZE - tf.CRC.size))
    assert channel.wait(100.0) == pytest.approx(4 * link.retransmit_after)
    assert channel.wait(0.5) == 0.5  # never past the caller's deadline


def test_a_fixed_frame_size_reports_no_frame_sizes() -> None:
    channel = ReliableChannel(ScriptedLink(reliable=False))
    assert "frame_bytes" not in channel.counts()


# -- the plain channel --------------------------------------------------------------------


def test_plain_channel_raises_on_a_corrupted_frame() -> None:
    link = ScriptedLink(reliable=True)
    channel = PlainChannel(link)
    link.queue(corrupted(ready(1)))

    with pytest.raises(tf.FrameError, match="CRC mismatch on frame seq 1"):
        channel.receive(1.0)
    assert channel.counts() == {}


def test_plain_channel_delivers_every_frame_as_it_came() -> None:
    link = ScriptedLink(reliable=True)
    channel = PlainChannel(link)
    blob = ready(1) + ready(1) + ready(2)
    link.queue(blob[:5], blob[5:])  # split inside a header

    assert [channel.receive(1.0).seq for _ in range(3)] == [1, 1, 2]
    link.ended = True
    with pytest.raises(LinkClosed):
        channel.receive(1.0)


def test_plain_channel_times_out_on_silence() -> None:
    channel = PlainChannel(ScriptedLink(reliable=True))

    with pytest.raises(TimeoutError):
        channel.receive(0.05)
