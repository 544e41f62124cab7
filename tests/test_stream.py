"""Windowed streaming (pytest_think/stream.py) against scripted fake agents (fake_agent.py)."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from fake_agent import (
    COUNT,
    FRAMES,
    MODEL,
    PER_FRAME,
    FakeAgent,
    Start,
    array,
    assert_correct,
    doubled,
    fake_agents,
    in_order,
    never_answers,
    tensor,
    vectors,
)

from pytest_think.agent import think_frames as tf
from pytest_think.errors import AgentError


@pytest.fixture
def start() -> Iterator[Start]:
    with fake_agents() as start_agent:
        yield start_agent


# -- streaming ------------------------------------------------------------------------------


def test_every_vector_comes_back_in_order(start: Start) -> None:
    client, agent = start(in_order)
    vs, x = vectors()
    progress: list[tuple[int, int]] = []

    result = client.stream(
        vs, window=3, vectors_per_frame=PER_FRAME, progress=lambda d, t: progress.append((d, t))
    )

    assert_correct(result, x)
    assert result.device_ns.shape == result.host_ns.shape == (COUNT,)
    assert (result.frames, result.vectors_per_frame, result.window) == (FRAMES, PER_FRAME, 3)
    assert progress[-1] == (COUNT, COUNT) and len(progress) == FRAMES
    infers = [f for f in agent.frames if f.type == tf.INFER]
    sizes = [array(tf.decode_tensors(f.payload)[0]).shape for f in infers]
    assert sizes == [(PER_FRAME, 4)] * (FRAMES - 1) + [(COUNT % PER_FRAME, 4)]


def test_default_frame_size_targets_64_kib(start: Start) -> None:
    client, _ = start(in_order)
    vs, x = vectors(5000)  # 16 bytes a vector: 4096 would fit 64 KiB, capped at 1024

    result = client.stream(vs, window=2)

    assert_correct(result, x)
    assert (result.vectors_per_frame, result.frames) == (1024, 5)


@pytest.mark.parametrize("window", [1, 4])
def test_window_is_never_overrun(start: Start, window: int) -> None:
    def slow(agent: FakeAgent) -> None:
        for frame in agent.infers():
            time.sleep(0.01)  # time for the host to send more frames, were it allowed to
            agent.answer(frame)

    client, agent = start(slow)
    vs, x = vectors()

    result = client.stream(vs, window=window, vectors_per_frame=PER_FRAME)

    assert_correct(result, x)
    assert agent.max_unanswered <= window
    assert agent.max_unanswered == window  # and the host does keep the window full


def test_results_out_of_order_are_matched_by_seq(start: Start) -> None:
    window = 4

    def reverse_each_window(agent: FakeAgent) -> None:
        held: list[tf.Frame] = []
        answered = 0
        for frame in agent.infers():
            held.append(frame)
            if len(held) == window or answered + len(held) == FRAMES:
                for f in reversed(held):
                    agent.answer(f)
                answered += len(held)
                held.clear()

    client, _ = start(reverse_each_window)
    vs, x = vectors()

    result = client.stream(vs, window=window, vectors_per_frame=PER_FRAME)

    assert_correct(result, x)
    # The first frame of a window was sent first and answered last: the longest host time.
    first, last = result.host_ns[0], result.host_ns[(window - 1) * PER_FRAME]
    assert first > last


def _result_blob(frame: tf.Frame, *, seq: int | None = None, drop_timing: bool = False) -> bytes:
    device_ns, tensors = doubled(frame)
    if drop_timing:
        device_ns = device_ns[:-1]
    payload = tf.encode_result(device_ns, tensors)
    return tf.encode_frame(tf.RESULT, frame.seq if seq is None else seq, payload)


def test_result_for_a_frame_not_in_flight_is_an_error(start: Start) -> None:
    def wrong_seq(agent: FakeAgent) -> None:
        for frame in agent.infers():
            agent.answer(frame, _result_blob(frame, seq=frame.seq + 1000))

    client, _ = start(wrong_seq)
    vs, _ = vectors()

    with pytest.raises(AgentError, match=r"RESULT seq \d+ answers no frame in flight"):
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)


def test_duplicate_result_is_an_error(start: Start) -> None:
    seqs: list[int] = []

    def twice(agent: FakeAgent) -> None:
        for frame in agent.infers():
            seqs.append(frame.seq)
            agent.answer(frame)
            agent.send(_result_blob(frame))

    client, _ = start(twice)
    vs, _ = vectors()

    with pytest.raises(AgentError) as info:
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)
    assert f"RESULT seq {seqs[0]} answers no frame in flight" in str(info.value)


def test_result_with_wrong_timing_count_is_an_error(start: Start) -> None:
    def short(agent: FakeAgent) -> None:
        for frame in agent.infers():
            agent.answer(frame, _result_blob(frame, drop_timing=True))

    client, _ = start(short)
    vs, _ = vectors()

    with pytest.raises(AgentError, match=r"result for vectors 0-63 has 63 timings"):
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)


def test_result_with_wrong_output_rows_is_an_error(start: Start) -> None:
    def short(agent: FakeAgent) -> None:
        for frame in agent.infers():
            device_ns, (y,) = doubled(frame)
            tensors = [tensor("y", array(y)[:-1])]
            agent.answer(
                frame, tf.encode_frame(tf.RESULT, frame.seq, tf.encode_result(device_ns, tensors))
            )

    client, _ = start(short)
    vs, _ = vectors()

    with pytest.raises(AgentError, match=r"output 'y' for vectors 0-63 has shape \(63, 4\)"):
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)


def _answer_second_with(agent: FakeAgent, tensors: Callable[[np.ndarray], list[tf.Tensor]]) -> None:
    """Answer every frame correctly but the second, whose outputs `tensors(y)` replaces."""
    for i, frame in enumerate(agent.infers()):
        if i != 1:
            agent.answer(frame)
            continue
        device_ns, (y,) = doubled(frame)
        payload = tf.encode_result(device_ns, tensors(array(y)))
        agent.answer(frame, tf.encode_frame(tf.RESULT, frame.seq, payload))


@pytest.mark.parametrize(
    ("outputs", "problem"),
    [
        (lambda y: [], r"vectors 64-127 has outputs \[\], the model has \['y'\]"),
        (
            lambda y: [tensor("y", y), tensor("z", y)],
            r"vectors 64-127 has outputs \['y', 'z'\], the model has \['y'\]",
        ),
        (lambda y: [tensor("y", y[:, :1])], r"output 'y' for vectors 64-127 is float32 \(64, 1\)"),
        (
            lambda y: [tensor("y", y.astype(np.float64))],
            r"output 'y' for vectors 64-127 is float64 \(64, 4\)",
        ),
    ],
    ids=["missing", "extra", "other-shape", "other-dtype"],
)
def test_result_with_other_outputs_than_the_model_is_an_error(
    start: Start, outputs: Callable[[np.ndarray], list[tf.Tensor]], problem: str
) -> None:
    client, _ = start(lambda agent: _answer_second_with(agent, outputs))
    vs, _ = vectors()

    with pytest.raises(AgentError, match=problem):
        client.stream(vs, window=1, vectors_per_frame=PER_FRAME)


def test_error_frame_names_the_vectors_and_the_cause(start: Start) -> None:
    def fails_second(agent: FakeAgent) -> None:
        for i, frame in enumerate(agent.infers()):
            if i == 1:
                error = {"code": "infer_failed", "message": "backend refused the tensors"}
                agent.answer(frame, tf.encode_json(tf.ERROR, frame.seq, error))
            else:
                agent.answer(frame)

    client, _ = start(fails_second)
    vs, _ = vectors()

    with pytest.raises(AgentError) as info:
        client.stream(vs, window=3, vectors_per_frame=PER_FRAME)
    assert "agent failed on vectors 64-127: infer_failed: backend refused the tensors" in str(
        info.value
    )


@pytest.mark.parametrize(
    ("status", "how"),
    [
        (None, "the link closed"),
        (3, "the agent exited with status 3"),
        (-1, "killed without an exit status"),
    ],
)
def test_agent_dying_mid_stream_is_reported(start: Start, status: int | None, how: str) -> None:
    window = 4

    def dies_after_two(agent: FakeAgent) -> None:
        held = [f for _, f in zip(range(window), agent.infers())]
        agent.answer(held[0])
        agent.answer(held[1])
        agent.die()

    stderr = "loading model\nTraceback (most recent call last):\nMemoryError: out of memory\n"
    client, _ = start(dies_after_two, stderr=stderr, exit_status=status)
    vs, _ = vectors()

    with pytest.raises(AgentError) as info:
        client.stream(vs, window=window, vectors_per_frame=PER_FRAME)
    message = str(info.value)
    assert "agent died during the stream" in message
    assert how in message
    assert "fake agent on a socketpair" in message
    assert "agent stderr: loading model | Traceback" in message
    assert "MemoryError: out of memory" in message
    assert re.search(r"vectors 128-\d+ in flight", message), message


def test_agent_dying_while_the_host_sends_is_reported(start: Start) -> None:
    def stops_reading_then_dies(agent: FakeAgent) -> None:
        held = [f for _, f in zip(range(2), agent.infers())]
        agent.sock.shutdown(socket.SHUT_RD)  # from now on the host's sends fail (EPIPE)
        agent.answer(held[0])  # frees a slot: the host sends the next frame, and fails
        time.sleep(0.2)
        agent.exit_status = 3
        agent.answer(held[1])  # the host learns of the failed send after this result
        agent.die()

    client, _ = start(stops_reading_then_dies, stderr="Segmentation fault", exit_status=3)
    vs, _ = vectors()

    with pytest.raises(AgentError) as info:
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)
    message = str(info.value)
    assert "agent died during the stream: the agent exited with status 3" in message
    assert "agent stderr: Segmentation fault" in message
    assert "sending to it failed" in message
    assert re.search(r"vectors 128-\d+ in flight", message), message


def test_no_answer_within_result_timeout(start: Start) -> None:
    client, _ = start(never_answers, result_timeout=0.5)
    vs, _ = vectors()

    # The stream never answers: it ends at the 0.5 s asked for (the line says which bound
    # it waited), not at a default.
    with pytest.raises(AgentError) as info:
        client.stream(vs, window=3, vectors_per_frame=PER_FRAME)
    message = str(info.value)
    assert "hung at vectors 0–191, no answer in 0.5 s" in message


@pytest.mark.parametrize(
    ("offset", "problem"),
    [(tf.HEADER_SIZE + 10, "CRC mismatch on frame seq"), (0, "bad frame magic")],
    ids=["payload", "magic"],
)
def test_corrupted_frame_is_an_error(start: Start, offset: int, problem: str) -> None:
    def corrupts(agent: FakeAgent) -> None:
        for frame in agent.infers():
            blob = bytearray(_result_blob(frame))
            blob[offset] ^= 0xFF
            agent.answer(frame, bytes(blob))

    client, _ = start(corrupts)
    vs, _ = vectors()

    with pytest.raises(AgentError) as info:
        client.stream(vs, window=2, vectors_per_frame=PER_FRAME)
    message = str(info.value)
    assert "corrupted frame from the agent during the stream" in message
    assert problem in message


def test_stream_without_a_model_is_refused(start: Start) -> None:
    client, _ = start(never_answers, greet=False)

    with pytest.raises(AgentError, match="before a model was loaded"):
        client.stream(vectors()[0])


def test_frames_sent_by_the_host_are_well_formed(start: Start) -> None:
    client, agent = start(in_order)
    vs, x = vectors(100)

    client.stream(vs, window=2, vectors_per_frame=30)

    infers = [f for f in agent.frames if f.type == tf.INFER]
    seqs = [f.seq for f in infers]
    assert seqs == sorted(set(seqs)), "INFER sequence numbers must be unique and increasing"
    blocks = [tf.decode_tensors(f.payload) for f in infers]
    assert all([t.name for t in block] == ["x"] for block in blocks)
    np.testing.assert_array_equal(np.concatenate([array(b[0]) for b in blocks]), x)
    load = next(f for f in agent.frames if f.type == tf.LOAD)
    assert json.loads(load.payload)["path"] == MODEL
