"""numpy arrays to and from the frame codec's tensors (little-endian, C order on the wire)."""

from __future__ import annotations

import numpy as np

from pytest_think.agent import think_frames as tf

__all__ = ["from_wire", "to_wire"]


def to_wire(name: str, arr: np.ndarray) -> tf.Tensor:
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return tf.Tensor(name, arr.dtype.name, tuple(arr.shape), arr.data.cast("B"))


def from_wire(t: tf.Tensor) -> np.ndarray:
    """A zero-copy view of the tensor's bytes."""
    return np.frombuffer(t.data, dtype=t.dtype).reshape(t.shape)
