"""Requests and answers (pytest_think/agent_client.py): hello, load and bye, against scripted
fake agents (fake_agent.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fake_agent import (
    IDENTITY,
    MODEL,
    SHA,
    SIGNATURE,
    FakeAgent,
    FakeLink,
    Start,
    fake_agents,
    in_order,
)

from pytest_think.agent import think_frames as tf
from pytest_think.errors import AgentError


@pytest.fixture
def start() -> Iterator[Start]:
    with fake_agents() as start_agent:
        yield start_agent


def test_hello_returns_the_identity(start: Start) -> None:
    client, _ = start(lambda agent: agent.send_json(tf.HELLO, 0, IDENTITY), greet=False)

    assert client.hello(timeout=2.0) == IDENTITY
    assert client.identity == IDENTITY


def test_hello_with_another_protocol_is_refused(start: Start) -> None:
    other = {**IDENTITY, "protocol": tf.PROTOCOL_VERSION + 1}
    client, _ = start(lambda agent: agent.send_json(tf.HELLO, 0, other), greet=False)

    with pytest.raises(AgentError, match=r"agent speaks protocol 2, host speaks 1"):
        client.hello(timeout=2.0)


def test_load_is_sent_once_per_model_and_options(start: Start) -> None:
    def loads(agent: FakeAgent) -> None:
        agent.send_json(tf.HELLO, 0, IDENTITY)
        while (frame := agent.next_frame()) is not None:
            assert frame.type == tf.LOAD, frame.name
            agent.send_json(tf.READY, frame.seq, SIGNATURE)

    client, agent = start(loads, greet=False)
    client.hello(timeout=2.0)

    assert client.load(MODEL, SHA, "fake", {"a": 1, "b": 2}, timeout=2.0) == SIGNATURE
    assert client.load(MODEL, SHA, "fake", {"b": 2, "a": 1}, timeout=2.0) == SIGNATURE
    assert client.load(MODEL, SHA, "fake", {"a": 1}, timeout=2.0) == SIGNATURE
    assert client.load(MODEL, "1" * 64, "fake", {"a": 1}, timeout=2.0) == SIGNATURE

    # Each load that sends waits for its READY, so the fake has seen every LOAD by now.
    requests = [f.json() for f in agent.frames if f.type == tf.LOAD]
    assert [r["options"] for r in requests] == [{"a": 1, "b": 2}, {"a": 1}, {"a": 1}]
    assert requests[0] == {"path": MODEL, "backend": "fake", "options": {"a": 1, "b": 2}}


def test_load_refused_by_the_agent(start: Start) -> None:
    def refuses(agent: FakeAgent) -> None:
        agent.send_json(tf.HELLO, 0, IDENTITY)
        load = agent.next_frame()
        assert load is not None
        error = {"code": "load_failed", "message": "no such file"}
        agent.send_json(tf.ERROR, load.seq, error)

    client, _ = start(refuses, greet=False)
    client.hello(timeout=2.0)

    with pytest.raises(AgentError, match=r"agent refused loading .*: load_failed: no such file"):
        client.load(MODEL, SHA, "fake", {}, timeout=2.0)
    assert client.loaded is None


def test_bye_is_answered_and_closes_the_link(start: Start) -> None:
    client, agent = start(in_order)
    link = client.link
    assert isinstance(link, FakeLink)

    client.bye(timeout=2.0)

    assert agent.frames[-1].type == tf.BYE
    assert link.input_closed and link.closed


def test_bye_when_the_agent_is_gone(start: Start) -> None:
    client, agent = start(lambda agent: agent.die(), exit_status=0)
    agent.worker.join(timeout=2)
    link = client.link
    assert isinstance(link, FakeLink)

    # The agent's end is its answer: bye returns before its timeout (no exception), however
    # slowly a busy machine runs it.
    began = time.monotonic()
    client.bye(timeout=120.0)

    assert time.monotonic() - began < 120.0
    assert link.input_closed and link.closed
