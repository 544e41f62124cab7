"""The host's side of the frame codec (pytest_think/wire.py): numpy in, numpy out, the same
bytes and values as the codec's own encoders and decoders."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_think.agent import think_frames as tf
from pytest_think.wire import decode_result, encode_infer, from_wire, to_wire


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "ids": rng.integers(0, 30_000, (5, 7), dtype=np.int64),
        "mask": rng.random((5, 7)).astype(np.float32),
        "big_endian": np.arange(5, dtype=">i4"),
    }


def test_an_infer_frame_is_the_codec_s_own_frame_of_the_same_tensors() -> None:
    arrays = _arrays()
    payload = tf.encode_tensors([to_wire(k, v) for k, v in arrays.items()])
    assert encode_infer(41, arrays) == tf.encode_frame(tf.INFER, 41, payload)
    (frame,) = tf.FrameDecoder().feed(encode_infer(41, arrays))
    for t in tf.decode_tensors(frame.payload):
        np.testing.assert_array_equal(from_wire(t), arrays[t.name])


@pytest.mark.parametrize("stages", [None, [[10, 20, 30], [1, 2, 3], [2**63 - 1, 0, 5]]])
def test_result_timings_read_as_arrays_equal_the_codec_s_lists(
    stages: list[list[int]] | None,
) -> None:
    device_ns = [60, 6, 2**63 - 1]
    scores = np.arange(12, dtype=np.float32).reshape(3, 4)
    payload = tf.encode_result(device_ns, [to_wire("scores", scores)], stages)
    got_ns, tensors, got_stages = decode_result(payload)
    want_ns, want_tensors, want_stages = tf.decode_result_and_stages(payload)
    assert got_ns.dtype == np.int64 and got_ns.tolist() == want_ns == device_ns
    assert [t.name for t in tensors] == [t.name for t in want_tensors] == ["scores"]
    np.testing.assert_array_equal(from_wire(tensors[0]), scores)
    if stages is None:
        assert got_stages is None and want_stages is None
    else:
        assert got_stages is not None and got_stages.shape == (3, 3)
        assert got_stages.tolist() == want_stages == stages


def test_a_result_with_no_vectors() -> None:
    got_ns, tensors, stages = decode_result(tf.encode_result([], []))
    assert (got_ns.shape, tensors, stages) == ((0,), [], None)


@pytest.mark.parametrize("stages", [None, [[1, 2], [3, 4]]])
def test_every_truncated_result_is_a_frame_error(stages: list[list[int]] | None) -> None:
    payload = tf.encode_result([5, 6], [to_wire("y", np.arange(3, dtype=np.int32))], stages)
    whole = len(tf.encode_result([5, 6], [to_wire("y", np.arange(3, dtype=np.int32))]))
    for cut in range(len(payload)):
        if cut == whole:
            continue  # the payload of the same RESULT without stage timings: valid
        with pytest.raises(tf.FrameError):
            decode_result(payload[:cut])
