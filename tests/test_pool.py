"""Sharding one vector set over a pool and merging it back (pytest_think/pool_ledger.py,
pytest_think/pool.py), against scripted fake agents (fake_agent.py): vector order, each
vector exactly once, drop-outs, and answers that come late or never."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pytest
from fake_agent import (
    COUNT,
    PER_FRAME,
    FakeAgent,
    Script,
    Start,
    array,
    assert_correct,
    fake_agents,
    in_order,
    never_answers,
    vectors,
)

from pytest_think.agent import think_frames as tf
from pytest_think.agent_client import AgentClient
from pytest_think.device import Device
from pytest_think.errors import AgentError, ThinkError
from pytest_think.pool import DevicePool, PoolMember, PoolStream
from pytest_think.pool_ledger import Chunk, PoolLedger


@pytest.fixture
def start() -> Iterator[Start]:
    with fake_agents() as start_agent:
        yield start_agent


# -- the ledger -----------------------------------------------------------------------------


def test_ledger_hands_out_every_chunk_once_in_order() -> None:
    ledger = PoolLedger(10, 3, members=2)

    taken = [ledger.take(k % 2) for k in range(4)]

    assert taken == [Chunk(0, 3), Chunk(3, 6), Chunk(6, 9), Chunk(9, 10)]
    for k, chunk in enumerate(taken):
        assert chunk is not None and ledger.settle(k % 2, chunk)
    assert ledger.done and ledger.take(0) is None and ledger.unsettled() == []
    assert (ledger.settled_by(0), ledger.settled_by(1)) == (3 + 3, 3 + 1)


def test_a_dropped_members_chunks_go_first_to_the_others_in_order() -> None:
    ledger = PoolLedger(12, 2, members=2)
    mine = [ledger.take(0) for _ in range(3)]  # 0-2, 2-4, 4-6
    other = ledger.take(1)  # 6-8
    assert mine[0] is not None and ledger.settle(0, mine[0])

    moved = ledger.drop(0)

    assert moved == 4  # 2-4 and 4-6: held, unanswered
    assert ledger.take(0) is None  # a dropped member gets nothing more
    assert [ledger.take(1) for _ in range(2)] == [Chunk(2, 4), Chunk(4, 6)]
    assert ledger.take(1) == Chunk(8, 10)
    assert other == Chunk(6, 8)


def test_an_answer_from_a_member_that_no_longer_holds_the_chunk_is_refused() -> None:
    ledger = PoolLedger(4, 2, members=2)
    chunk = ledger.take(0)
    assert chunk == Chunk(0, 2)
    ledger.drop(0)
    again = ledger.take(1)
    assert again == chunk
    stored: list[int] = []

    assert not ledger.settle(0, chunk, lambda: stored.append(0))  # late: refused
    assert ledger.settle(1, chunk, lambda: stored.append(1))
    assert not ledger.settle(1, chunk, lambda: stored.append(1))  # and only once

    assert stored == [1]
    assert ledger.refused == 4
    assert ledger.unsettled() == [Chunk(2, 4)]


def test_a_failing_store_leaves_the_chunk_to_its_member() -> None:
    ledger = PoolLedger(2, 2, members=1)
    chunk = ledger.take(0)
    assert chunk is not None

    def bad() -> None:
        raise AgentError("result has other outputs")

    with pytest.raises(AgentError):
        ledger.settle(0, chunk, bad)
    assert ledger.holds(0, chunk) and not ledger.done
    assert ledger.drop(0) == 2


def test_a_member_waits_while_others_hold_the_last_chunks() -> None:
    ledger = PoolLedger(4, 2, members=2)
    first, second = ledger.take(0), ledger.take(0)
    assert first is not None and second is not None
    got: list[Chunk | None] = []
    waiter = threading.Thread(target=lambda: got.append(ledger.take(1)))
    waiter.start()
    assert ledger.settle(0, first)
    ledger.drop(0)  # member 0 still held 2-4: member 1 gets it
    waiter.join(timeout=5)
    assert got == [Chunk(2, 4)]


def test_a_waiting_member_stops_when_asked() -> None:
    ledger = PoolLedger(2, 2, members=2)
    assert ledger.take(0) is not None
    stopping = threading.Event()
    stopping.set()
    assert ledger.take(1, stopping) is None


# -- pool streams over fake agents ----------------------------------------------------------


@dataclass
class FakeDevice:
    """What a pool asks of a member's Device: its agent, its board's name, closing."""

    agent: AgentClient | None
    name: str
    closed: int = 0

    @property
    def config(self) -> Any:
        return type("Config", (), {"name": self.name})()

    def close_agent(self) -> None:
        self.closed += 1
        self.agent = None


def infer_rows(agent: FakeAgent) -> Iterator[np.ndarray]:
    """The input rows of every INFER frame the agent was sent."""
    for frame in agent.frames:
        if frame.type == tf.INFER:
            yield from array(tf.decode_tensors(frame.payload)[0])


def pool_of(start: Start, *scripts: Script) -> tuple[list[PoolMember], list[FakeAgent]]:
    members, agents = [], []
    for k, script in enumerate(scripts):
        client, agent = start(script)
        members.append(PoolMember(f"m{k}", cast(Device, FakeDevice(client, f"board{k}"))))
        agents.append(agent)
    return members, agents


def stream_over(members: list[PoolMember], window: int = 2) -> PoolStream:
    vs, _ = vectors()
    return PoolStream(members, vs, ["y"], window=window, per_frame=PER_FRAME)


def test_every_vector_once_in_vector_order_over_three_members(start: Start) -> None:
    members, agents = pool_of(start, in_order, in_order, in_order)
    _, x = vectors()
    progress: list[int] = []
    stream = stream_over(members)
    stream.progress = lambda done, total: progress.append(done)

    result, report = stream.run()

    assert_correct(result, x)
    assert sum(m.vectors for m in report.members) == COUNT
    assert sum(m.frames for m in report.members) == result.frames
    assert (stream.member_of >= 0).all()
    for k, account in enumerate(report.members):
        assert account.vectors == int((stream.member_of == k).sum())
    assert report.dropped == [] and report.refused_vectors == 0
    assert progress[-1] == COUNT and progress == sorted(progress)
    assert report.throughput_per_s == pytest.approx(COUNT / report.wall_s)
    # Between them the agents were sent each vector exactly once.
    sent = sorted(int(row[0]) // 4 for a in agents for row in infer_rows(a))
    assert sent == list(range(COUNT))


def dies_holding_a_frame(died: threading.Event | None = None) -> Script:
    """Answers two frames, then dies with the next one unanswered (and sets `died`)."""

    def script(agent: FakeAgent) -> None:
        frames = agent.infers()
        for frame in [next(frames), next(frames)]:
            agent.answer(frame)
        next(frames)
        agent.die()
        if died is not None:
            died.set()

    return script


def in_order_after(event: threading.Event) -> Script:
    """Answers in order once `event` is set (the others have their share of work till then)."""

    def script(agent: FakeAgent) -> None:
        assert event.wait(timeout=10)
        in_order(agent)

    return script


def test_a_member_that_dies_mid_run_hands_its_vectors_to_the_others(start: Start) -> None:
    died = threading.Event()
    members, _ = pool_of(
        start, in_order_after(died), dies_holding_a_frame(died), in_order_after(died)
    )
    _, x = vectors()
    stream = stream_over(members)

    result, report = stream.run()

    assert_correct(result, x)
    (drop,) = report.dropped
    assert drop.member == "m1"
    assert drop.vectors_done == 2 * PER_FRAME
    assert drop.vectors_moved >= PER_FRAME  # the frame it died holding, at least
    assert "agent died during the stream" in drop.reason
    assert drop.at_s <= report.wall_s
    assert report.members[1].dropped and report.members[1].vectors == 2 * PER_FRAME
    assert sum(m.vectors for m in report.members) == COUNT
    assert cast(FakeDevice, members[1].device).closed == 1


def test_late_answers_of_a_dropped_member_are_refused(start: Start) -> None:
    holder: list[PoolStream] = []
    dropped = threading.Event()

    def dropped_then_answers(agent: FakeAgent) -> None:
        frame = next(agent.infers())
        holder[0].drop(0, "dropped by a watchdog")
        dropped.set()
        agent.answer(frame)  # comes after the drop: refused, the others do it again
        for frame in agent.infers():
            agent.answer(frame)

    members, _ = pool_of(start, dropped_then_answers, in_order_after(dropped))
    _, x = vectors()
    stream = stream_over(members, window=1)
    holder.append(stream)

    result, report = stream.run()

    assert_correct(result, x)
    assert report.refused_vectors == PER_FRAME
    assert report.members[0].vectors == 0 and report.members[1].vectors == COUNT
    assert [d.member for d in report.dropped] == ["m0"]
    assert report.dropped[0].vectors_moved == PER_FRAME


def test_answers_that_never_come_are_done_by_the_others(start: Start) -> None:
    holder: list[PoolStream] = []
    dropped = threading.Event()

    def silent(agent: FakeAgent) -> None:
        next(agent.infers())
        holder[0].drop(0, "stopped answering")
        dropped.set()
        never_answers(agent)

    client, _silent = start(silent, result_timeout=0.5)
    other, _ = start(in_order_after(dropped))
    members = [
        PoolMember("m0", cast(Device, FakeDevice(client, "b0"))),
        PoolMember("m1", cast(Device, FakeDevice(other, "b1"))),
    ]
    _, x = vectors()
    stream = stream_over(members, window=1)
    holder.append(stream)

    result, report = stream.run()

    assert_correct(result, x)
    assert [d.member for d in report.dropped] == ["m0"]
    assert report.members[1].vectors == COUNT


def test_a_pool_whose_members_all_drop_says_what_was_lost(start: Start) -> None:
    members, _ = pool_of(start, dies_holding_a_frame(), dies_holding_a_frame())

    with pytest.raises(AgentError) as info:
        stream_over(members).run()

    message = str(info.value)
    assert "pool of 2 lost" in message and "every member dropped out" in message
    assert "m0: agent died" in message and "m1: agent died" in message


def test_pool_members_must_differ(start: Start) -> None:
    client, _ = start(in_order)
    device = cast(Device, FakeDevice(client, "b0"))
    with pytest.raises(ThinkError, match="pool members must differ: m given twice"):
        DevicePool([PoolMember("m", device), PoolMember("m", device)])


def test_frame_size_spreads_the_vectors_over_every_member(start: Start) -> None:
    members, _ = pool_of(start, in_order, in_order)
    vs, _ = vectors()  # 1000 vectors of 16 bytes: the link would take 1024 a frame

    assert DevicePool(members).frame_size(vs, window=4) == COUNT // (2 * 4 * 2)
    assert DevicePool(members).frame_size(vs, window=1000) == 1


class BrokenAgent:
    """An agent client whose stream fails with a bug, not a board's failure."""

    def vector_stream(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the member's stream")


def test_a_bug_in_one_member_is_raised_after_the_others_did_its_share(start: Start) -> None:
    client, agent = start(in_order)
    members = [
        PoolMember("broken", cast(Device, FakeDevice(cast(AgentClient, BrokenAgent()), "b0"))),
        PoolMember("fine", cast(Device, FakeDevice(client, "b1"))),
    ]
    stream = stream_over(members)

    with pytest.raises(RuntimeError, match="a bug in the member's stream"):
        stream.run()

    assert len(list(infer_rows(agent))) == COUNT  # nothing was left waiting
    assert [d.member for d in stream.dropped] == ["broken"]
