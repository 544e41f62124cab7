"""numpy arrays to and from the frame codec's tensors (little-endian, C order on the wire)."""

from __future__ import annotations

import numpy as np

from pytest_think.agent import think_frames as tf

__all__ = ["decode_result", "encode_infer", "from_wire", "to_wire"]

_U32 = np.dtype("<u4")
_U64 = np.dtype("<u8")


def to_wire(name: str, arr: np.ndarray) -> tf.Tensor:
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return tf.Tensor(name, arr.dtype.name, tuple(arr.shape), arr.data.cast("B"))


def from_wire(t: tf.Tensor) -> np.ndarray:
    """A zero-copy view of the tensor's bytes."""
    return np.frombuffer(t.data, dtype=t.dtype).reshape(t.shape)


def encode_infer(seq: int, arrays: dict[str, np.ndarray]) -> bytes:
    """An INFER frame of `arrays` (one batch of vectors), as the codec builds it."""
    parts = tf.tensor_parts([to_wire(k, v) for k, v in arrays.items()])
    return tf.encode_frame_parts(tf.INFER, seq, parts)


def decode_result(
    payload: tf.BytesView,
) -> tuple[np.ndarray, list[tf.Tensor], np.ndarray | None]:
    """A RESULT as the host keeps it: device nanoseconds per vector (int64, one array rather
    than a Python int per vector), the tensors (zero-copy views), and for a model run in
    stages each vector's time in each stage, shape (vectors, stages); None otherwise.

    The same layout as `think_frames.decode_result_and_stages` reads, in numpy."""
    n, tensors, end = tf.decode_result_block(payload)
    device_ns = np.frombuffer(payload, _U64, n, _U32.itemsize).astype(np.int64)
    if end == len(payload):
        return device_ns, tensors, None
    if end + _U32.itemsize > len(payload):
        raise tf.FrameError("truncated RESULT stage timings: no stage count")
    stages = int(np.frombuffer(payload, _U32, 1, end)[0])
    start = end + _U32.itemsize
    if stages < 1 or start + 8 * n * stages > len(payload):
        raise tf.FrameError(
            f"truncated RESULT stage timings: {stages} stages of {n} vectors, "
            f"{len(payload) - start} bytes"
        )
    stage_ns = np.frombuffer(payload, _U64, n * stages, start).astype(np.int64)
    return device_ns, tensors, stage_ns.reshape(n, stages)
