"""The agent runs a model in segments as a pipeline: the whole model's outputs, each stage's
time per vector, answers in request order, stage failures as error frames, no thread left."""

from __future__ import annotations

import io
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from support import DIGITS_MODEL, REPO
from test_agent import AgentProcess, agent, digits, load, workdir

from pytest_think.agent import AGENT_DIR
from pytest_think.agent import think_frames as tf
from pytest_think.wire import from_wire, to_wire

__all__ = ["agent", "workdir"]  # the fixtures, shared with test_agent

SEGMENTS = REPO / "fixtures" / "designs" / "digits-cpu-pipeline-3"


@pytest.fixture
def segmented(workdir: Path) -> Path:
    for path in SEGMENTS.glob("*.onnx"):
        shutil.copy(path, workdir / "models" / path.name)
    return workdir


@pytest.fixture
def piped(segmented: Path, agent: AgentProcess) -> AgentProcess:
    """An agent in a work directory holding the digits MLP in three segments."""
    return agent


def names(*indices: int) -> list[str]:
    return [f"models/digits_mlp_segment_{i}_of_3.onnx" for i in indices]


def load_segments(agent: AgentProcess, order: tuple[int, ...] = (0, 1, 2)) -> tf.Frame:
    first, *rest = names(*order)
    return load(agent, first, segments=rest)


def test_segments_equal_the_whole_model_with_each_stage_timed(piped: AgentProcess) -> None:
    agent = piped
    agent.recv()
    ready = load_segments(agent).json()
    assert ready["segments"] == 3
    x = digits(50)
    result = agent.infer(input=x)
    device_ns, tensors = tf.decode_result(result.payload)
    stages = tf.decode_result_stages(result.payload)
    assert stages is not None and len(stages) == 50 and {len(row) for row in stages} == {3}
    # A vector's device time is its stages' (each rounded down on its own: within 3 ns).
    assert all(0 <= d - sum(row) <= 3 and min(row) > 0 for d, row in zip(device_ns, stages))
    expected = ort.InferenceSession(str(DIGITS_MODEL)).run(None, {"input": x})
    for got, exp in zip(tensors, expected):
        np.testing.assert_array_equal(from_wire(got), exp)
    assert agent.finish()[0] == 0


def test_whole_model_results_carry_no_stage_block(piped: AgentProcess) -> None:
    agent = piped
    agent.recv()
    load(agent)
    assert tf.decode_result_stages(agent.infer(input=digits(3)).payload) is None


def test_frames_in_flight_are_answered_in_order_each_once(piped: AgentProcess) -> None:
    agent = piped
    agent.recv()
    load_segments(agent)
    x = digits(64)
    seqs = [
        agent.send(tf.INFER, tf.encode_tensors([to_wire("input", x[i : i + 8])]))
        for i in range(0, 64, 8)
    ]
    answers = [agent.recv() for _ in seqs]
    assert [a.seq for a in answers] == seqs and {a.type for a in answers} == {tf.RESULT}
    got = np.concatenate([from_wire(tf.decode_result(a.payload)[1][0]) for a in answers])
    expected = ort.InferenceSession(str(DIGITS_MODEL)).run(None, {"input": x})[0]
    np.testing.assert_array_equal(got, expected)


def test_a_failing_stage_is_an_error_frame_and_the_agent_keeps_serving(piped: AgentProcess) -> None:
    agent = piped
    agent.recv()
    assert load_segments(agent, (0, 2, 1)).type == tf.READY  # segment 1 wants h1: not yet made
    seqs = [agent.send(tf.INFER, tf.encode_tensors([to_wire("input", digits(4))])) for _ in "ab"]
    errors = [agent.recv() for _ in seqs]
    assert [e.seq for e in errors] == seqs and {e.type for e in errors} == {tf.ERROR}
    assert errors[0].json() == {"code": "infer_failed", "message": "segment 1 wants input 'h1'"}
    # LOOP through the same pipeline fails the same way, in one line.
    seq = agent.send(
        tf.LOOP, tf.encode_loop({"warmup": 1, "min_seconds": 0.0}, [to_wire("input", digits(4))])
    )
    error = agent.recv()
    assert (error.seq, error.type, error.json()["code"]) == (seq, tf.ERROR, "infer_failed")
    assert load_segments(agent).type == tf.READY
    assert agent.infer(input=digits(2)).type == tf.RESULT
    status, stderr = agent.finish()
    assert status == 0 and "Traceback" not in stderr


def test_a_frame_without_vectors_is_refused(piped: AgentProcess) -> None:
    piped.recv()
    load_segments(piped)
    empty = tf.Tensor("input", "float32", (0, 64), b"")
    piped.send(tf.INFER, tf.encode_tensors([empty]))
    error = piped.recv()
    assert error.json() == {"code": "bad_inputs", "message": "the frame holds no vectors"}
    assert piped.infer(input=digits(1)).type == tf.RESULT


def test_loop_reports_each_stage_device_time(piped: AgentProcess) -> None:
    agent = piped
    agent.recv()
    load_segments(agent)
    payload = tf.encode_loop(
        {"warmup": 1, "min_seconds": 0.0, "min_iterations": 32}, [to_wire("input", digits(8))]
    )
    agent.send(tf.LOOP, payload)
    report = agent.recv().json()
    assert report["inferences"] >= 32
    stages = report["stage_device_ns_total"]
    assert len(stages) == 3 and min(stages) > 0
    assert 0 <= report["device_ns_total"] - sum(stages) <= 3 * report["inferences"]


def _in_process_agent() -> Any:
    sys.path.insert(0, str(AGENT_DIR))
    try:
        import think_agent
    finally:
        sys.path.remove(str(AGENT_DIR))
    return think_agent


@pytest.mark.parametrize("bye", [True, False], ids=["bye", "end-of-input"])
def test_no_pipeline_thread_outlives_the_agent(bye: bool) -> None:
    think_agent = _in_process_agent()
    segments = [str(p) for p in sorted(SEGMENTS.glob("*.onnx"))]
    request = {"path": segments[0], "backend": "onnxruntime", "options": {"segments": segments[1:]}}
    frames = [tf.encode_json(tf.LOAD, 1, request)]
    frames += [
        tf.encode_frame(tf.INFER, 2 + i, tf.encode_tensors([to_wire("input", digits(16))]))
        for i in range(4)
    ]
    if bye:
        frames.append(tf.encode_frame(tf.BYE, 9))
    out = io.BytesIO()
    before = set(threading.enumerate())
    status = think_agent.Agent(io.BytesIO(b"".join(frames)), out).serve()
    assert status == 0
    left = [t.name for t in set(threading.enumerate()) - before if t.name.startswith("think-")]
    assert left in ([], ["think-reader"])  # the reader returns on its own, at end of input
    decoder = tf.FrameDecoder()
    answers = decoder.feed(out.getvalue())
    kinds = [f.type for f in answers]
    # HELLO, READY, four RESULTs (all answered, even when the host closed right after), BYE.
    assert kinds == [tf.HELLO, tf.READY, *[tf.RESULT] * 4, *([tf.BYE] if bye else [])]
