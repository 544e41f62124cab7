"""Per-stage device time of a model run in stages: on the wire (RESULT's stage block), in the
stream (StreamResult.stage_device_ns), and as an Edge TPU twin's modelled TPU time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from fake_agent import COUNT, PER_FRAME, FakeAgent, Start, doubled, fake_agents, in_order, vectors
from support import REPO

from pytest_think.agent import think_frames as tf
from pytest_think.boards import load_board
from pytest_think.device import Device
from pytest_think.emulator.config import validate_twin
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.errors import AgentError, BoardConfigError
from pytest_think.families import open_board

CORAL = REPO / "fixtures" / "designs" / "digits-coral"
VECTORS = REPO / "fixtures" / "vectors" / "digits_test.npz"


@pytest.fixture
def start() -> Iterator[Start]:
    with fake_agents() as start_agent:
        yield start_agent


def test_result_stage_block_round_trips_and_is_optional() -> None:
    t = tf.Tensor("y", "float32", (2, 1), np.zeros((2, 1), np.float32).tobytes())
    payload = tf.encode_result([30, 40], [t], [[10, 20], [15, 25]])
    device_ns, tensors = tf.decode_result(payload)  # a host that knows no stages reads on
    assert device_ns == [30, 40] and tensors[0].name == "y"
    assert tf.decode_result_stages(payload) == [[10, 20], [15, 25]]
    assert tf.decode_result_stages(tf.encode_result([30, 40], [t])) is None
    with pytest.raises(tf.FrameError, match="truncated RESULT stage timings"):
        tf.decode_result_stages(payload[:-3])


def staged(stages: int) -> Callable[[FakeAgent], None]:
    """A fake agent whose model runs in `stages` stages, each taking 1, 2 … ns per vector."""

    def script(agent: FakeAgent) -> None:
        for frame in agent.infers():
            device_ns, tensors = doubled(frame)
            rows = [[k + 1 for k in range(stages)] for _ in device_ns]
            blob = tf.encode_result(device_ns, tensors, rows)
            agent.answer(frame, tf.encode_frame(tf.RESULT, frame.seq, blob))

    return script


def test_stream_keeps_each_vectors_stage_times(start: Start) -> None:
    client, _ = start(staged(3))
    vs, _ = vectors()
    result = client.stream(vs, window=2, vectors_per_frame=PER_FRAME)
    assert result.stage_device_ns is not None
    assert result.stage_device_ns.shape == (COUNT, 3)
    assert (result.stage_device_ns == [1, 2, 3]).all()


def test_a_whole_model_is_one_stage_its_device_time(start: Start) -> None:
    client, _ = start(in_order)
    vs, _ = vectors()
    result = client.stream(vs, window=2, vectors_per_frame=PER_FRAME)
    assert result.stage_device_ns is not None
    np.testing.assert_array_equal(result.stage_device_ns[:, 0], result.device_ns)


def test_frames_disagreeing_on_their_stages_are_an_error(start: Start) -> None:
    def changing(agent: FakeAgent) -> None:
        for i, frame in enumerate(agent.infers()):
            device_ns, tensors = doubled(frame)
            rows = [[1] * (2 + i) for _ in device_ns]
            blob = tf.encode_result(device_ns, tensors, rows)
            agent.answer(frame, tf.encode_frame(tf.RESULT, frame.seq, blob))

    client, _ = start(changing)
    vs, _ = vectors()
    with pytest.raises(AgentError, match=r"result for vectors 64-127 has 3 stages, other frames 2"):
        client.stream(vs, window=1, vectors_per_frame=PER_FRAME)


def _coral_board(tmp_path: Path, coral: dict[str, object]) -> Path:
    data = yaml.safe_load((REPO / "boards" / "coral-usb.yaml").read_text())
    data["twin"]["coral"] = coral
    path = tmp_path / "coral-usb.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_negative_tpu_time_is_one_line(tmp_path: Path) -> None:
    path = _coral_board(tmp_path, {"devices": ["usb:0"], "op_us": -1})
    with pytest.raises(BoardConfigError) as bad:
        validate_twin(load_board(path))
    assert str(bad.value).startswith(f"board file {path}: field 'twin.coral.op_us': ")
    assert "\n" not in str(bad.value)


def test_the_twins_tpus_hold_each_operation_for_op_us(tmp_path: Path) -> None:
    """The modelled time is a floor the twin sleeps to: every segment's time is at least its
    operations' (the digits MLP: three dense layers and a softmax)."""
    op_us = 1000.0
    board = load_board(_coral_board(tmp_path, {"devices": ["usb:0", "usb:1"], "op_us": op_us}))
    with TwinProcess.start(board, tmp_path / "twin") as twin:
        conn = open_board(twin.board(board), True)
        device = Device(conn)
        try:
            whole, _ = device.run_design(CORAL / "design.yaml", VECTORS)
            piped, _ = device.run_design(CORAL / "pipeline-2.yaml", VECTORS)
        finally:
            device.close()
            conn.close()
    assert whole.result.device_ns.min() >= 4 * op_us * 1e3
    stages = piped.result.stage_device_ns
    assert stages is not None and stages.shape == (piped.count, 2)
    assert stages[:, 0].min() >= 1 * op_us * 1e3  # the first dense layer
    assert stages[:, 1].min() >= 3 * op_us * 1e3  # the other two and the softmax
    for name, expected in whole.outputs.items():
        np.testing.assert_array_equal(piped.outputs[name], expected)
