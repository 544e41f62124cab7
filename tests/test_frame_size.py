"""The frame sizer's decisions, from counts alone: grow on a clean line, halve after corrupted
frames, once per size, within the board file's range, gated by the error rate it has seen."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from fake_agent import FakeAgent, Start, array, assert_correct, fake_agents, in_order, vectors

from pytest_think.agent import think_frames as tf
from pytest_think.transport.channel import FrameChannel
from pytest_think.transport.frame_size import FRAME_OVERHEAD, FrameSizer, goodput


def answer_clean(sizer: FrameSizer, frames: int, nbytes: int) -> None:
    """`frames` frames of `nbytes` each, sent at the current size and answered at once."""
    for _ in range(frames):
        epoch = sizer.epoch
        sizer.carried(nbytes)
        sizer.clean(epoch)


def test_a_clean_line_doubles_the_size_every_few_frames_up_to_the_maximum() -> None:
    sizer = FrameSizer(512, 128, 4096, grow_after=4)
    sizes = []
    for _ in range(6):
        answer_clean(sizer, 4, sizer.size)
        sizes.append(sizer.size)

    assert sizes == [1024, 2048, 4096, 4096, 4096, 4096]
    assert sizer.counts() == {
        "frame_bytes": 4096,
        "frame_bytes_smallest": 512,
        "frame_bytes_largest": 4096,
        "frame_grows": 3,
        "frame_shrinks": 0,
    }


def test_fewer_clean_frames_than_grow_after_change_nothing() -> None:
    sizer = FrameSizer(512, 128, 4096, grow_after=4)
    answer_clean(sizer, 3, 512)
    assert sizer.size == 512
    sizer.corrupted(sizer.epoch)  # the run of clean frames starts again
    answer_clean(sizer, 3, 256)
    assert (sizer.size, sizer.grown) == (256, 0)


def test_each_corrupted_frame_halves_the_size_down_to_the_minimum() -> None:
    sizer = FrameSizer(2048, 256, 16384)
    sizes = []
    for _ in range(5):
        sizer.corrupted(sizer.epoch)
        sizes.append(sizer.size)

    assert sizes == [1024, 512, 256, 256, 256]
    assert (sizer.shrunk, sizer.smallest, sizer.largest) == (3, 256, 2048)


def test_frames_sent_before_the_size_changed_halve_it_once() -> None:
    """A window of frames corrupted at the old size: the first halves, the rest were met at a
    size already left behind (as TCP halves its window once per round trip)."""
    sizer = FrameSizer(4096, 128, 16384)
    old = sizer.epoch
    for _ in range(8):  # eight frames out at 4096, all corrupted
        sizer.corrupted(old)

    assert (sizer.size, sizer.shrunk) == (2048, 1)
    assert sizer.errors == 8  # every one counts towards the error rate


def test_clean_answers_to_frames_of_an_older_size_do_not_grow_it() -> None:
    sizer = FrameSizer(1024, 128, 16384, grow_after=2)
    old = sizer.epoch
    sizer.corrupted(old)
    for _ in range(10):
        sizer.carried(1024)
        sizer.clean(old)  # frames sent at 1024 before it halved, answered now

    assert sizer.size == 512


def test_an_unknown_frame_counts_as_one_of_the_current_size() -> None:
    sizer = FrameSizer(1024, 128, 16384)
    sizer.corrupted(None)
    assert sizer.size == 512


def test_growth_stops_where_the_error_rate_makes_larger_frames_move_less() -> None:
    """At one corrupted frame per 10 000 bits carried (a bit-error rate of about 1e-4) a frame
    of 512 bytes arrives whole too rarely to pay; 256 is still better than 128."""
    sizer = FrameSizer(128, 128, 16384, grow_after=4)
    sizer.carried(10_000 // 8)
    sizer.errors = 1.0
    assert sizer.error_rate() == pytest.approx(1e-4)

    answer_clean(sizer, 4, 0)
    assert sizer.size == 256
    answer_clean(sizer, 40, 0)
    assert (sizer.size, sizer.grown) == (256, 1)


def test_the_error_rate_forgets_old_noise_over_its_horizon() -> None:
    sizer = FrameSizer(512, 128, 16384, horizon_bits=80_000)
    sizer.carried(1000)  # 8000 bits
    sizer.corrupted(sizer.epoch)
    assert sizer.error_rate() == pytest.approx(1 / 8000)
    sizer.carried(10_000)  # past the horizon: both halved
    assert sizer.errors == pytest.approx(0.5)
    assert sizer.error_rate() == pytest.approx(0.5 / 44_000)


def test_a_range_of_one_size_never_changes_and_reports_nothing() -> None:
    sizer = FrameSizer(512, 512, 512, grow_after=1)
    answer_clean(sizer, 10, 512)
    sizer.corrupted(sizer.epoch)
    assert sizer.size == 512 and not sizer.adapts
    assert sizer.grown == sizer.shrunk == 0


@pytest.mark.parametrize(
    ("start", "low", "high"), [(64, 128, 1024), (2048, 128, 1024), (512, 0, 1024)]
)
def test_a_start_outside_its_range_is_refused(start: int, low: int, high: int) -> None:
    with pytest.raises(ValueError, match="0 < minimum <= start <= maximum"):
        FrameSizer(start, low, high)


def test_goodput_favours_long_frames_on_a_clean_line_and_short_ones_on_a_noisy_one() -> None:
    sizes = [128, 256, 512, 1024, 2048, 4096, 16384]
    clean = [goodput(s, 0.0) for s in sizes]
    assert clean == sorted(clean) and clean[-1] == pytest.approx(16384 / (16384 + FRAME_OVERHEAD))
    noisy = [goodput(s, 1e-4) for s in sizes]
    assert max(noisy) == noisy[1]  # 256 bytes at a bit-error rate of 1e-4
    assert goodput(512, 1e-4) == pytest.approx(
        512 / (512 + FRAME_OVERHEAD) * (1 - 1e-4) ** (8 * (512 + FRAME_OVERHEAD))
    )


# -- the stream builds each frame at the size its channel gives then -----------------------


class ShiftingSizes:
    """A frame channel whose frame size changes at every look, as an adapting one does."""

    def __init__(self, channel: FrameChannel, sizes: list[int]) -> None:
        self.channel = channel
        self.sizes = itertools.cycle(sizes)
        self.looks = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.channel, name)

    @property
    def frame_bytes(self) -> int:
        self.looks += 1
        return next(self.sizes)


@pytest.fixture
def start() -> Iterator[Start]:
    with fake_agents() as start_agent:
        yield start_agent


def infer_vectors(agent: FakeAgent) -> list[int]:
    infers = [f for f in agent.frames if f.type == tf.INFER]
    return [array(tf.decode_tensors(f.payload)[0]).shape[0] for f in infers]


def test_each_frame_takes_the_size_the_channel_gives_when_it_is_built(start: Start) -> None:
    client, agent = start(in_order)
    client.channel = ShiftingSizes(client.channel, [16, 48, 32, 160])  # 16 bytes a vector
    vs, x = vectors(100)

    result = client.stream(vs, window=3)

    assert_correct(result, x)  # every vector once, in its place
    sizes = infer_vectors(agent)
    # The stream looked once as it started (recorded as its vectors_per_frame), then once a
    # frame.
    assert sizes[:8] == [3, 2, 10, 1] * 2 and sum(sizes) == 100
    assert (result.frames, result.vectors_per_frame) == (len(sizes), 1)


def test_vectors_per_frame_asked_for_stays_fixed(start: Start) -> None:
    client, agent = start(in_order)
    client.channel = shifting = ShiftingSizes(client.channel, [16, 48])
    vs, x = vectors(100)

    result = client.stream(vs, window=3, vectors_per_frame=7)

    assert_correct(result, x)
    assert infer_vectors(agent) == [7] * 14 + [2] and shifting.looks == 0
