"""A model's vector signature: the shape of one vector of each input and output, decided once
from the model's signature by the rule host and agent share (agent/think_layout.py), and
vector files fitted to it before anything is streamed.

A vector file holds vectors along its first axis. A vector may be stored with the model's
batch axis of 1 (``(200, 1, 16)`` for a ``[1, 16]`` input): it is taken without it, a view of
the same memory. Anything else that does not fit is one line saying how to shape the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_think.agent.think_layout import layout, vector_shape
from pytest_think.errors import InputFileError

__all__ = ["TensorSpec", "VectorSignature", "class_scores", "show_shape"]


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, dtype, the model's shape (None: symbolic), whether it has
    the batch axis and the shape of one vector."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]
    batched: bool

    @property
    def vector(self) -> tuple[int | None, ...]:
        return tuple(vector_shape(self.shape, self.batched))


@dataclass(frozen=True)
class VectorSignature:
    """A model's inputs and outputs as vectors; `free`: a call may hold several vectors."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    free: bool

    @classmethod
    def of(cls, signature: Mapping[str, Any]) -> VectorSignature:
        """From a READY / ort_signature {"inputs": [...], "outputs": [...]} signature."""
        sig = {"inputs": list(signature["inputs"]), "outputs": list(signature["outputs"])}
        lay = layout(sig)

        def specs(items: list[dict[str, Any]], flags: list[bool]) -> tuple[TensorSpec, ...]:
            return tuple(
                TensorSpec(t["name"], t["dtype"], tuple(t["shape"]), b)
                for t, b in zip(items, flags)
            )

        return cls(specs(sig["inputs"], lay.inputs), specs(sig["outputs"], lay.outputs), lay.free)

    def input(self, name: str) -> TensorSpec:
        return next(t for t in self.inputs if t.name == name)

    def fit(self, path: Path, name: str, arr: np.ndarray) -> np.ndarray:
        """`arr` (vectors along its first axis) as vectors of input `name`: as it is, or
        without a stored batch axis of 1; otherwise one line saying how to shape the file."""
        spec = self.input(name)
        vector = arr.shape[1:]
        if _fits(vector, spec.vector):
            return arr
        if spec.batched and vector[:1] == (1,) and _fits(vector[1:], spec.vector):
            return arr.reshape(arr.shape[:1] + vector[1:])
        raise InputFileError(f"vector file {path}: input '{name}' {_advice(arr, spec)}")

    def take(self, model: Path, vectors: Path, inputs: Mapping[str, np.ndarray]) -> None:
        """Check that vectors already fitted to another signature (the board's) suit this
        model too (a reference given with `against=`), before it runs any."""
        for spec in self.inputs:
            arr = inputs.get(spec.name)
            if arr is None:
                raise InputFileError(
                    f"model {model}: input '{spec.name}' is not among the vectors of {vectors} "
                    f"({', '.join(sorted(inputs))})"
                )
            if arr.dtype.name != spec.dtype or not _fits(arr.shape[1:], spec.vector):
                raise InputFileError(
                    f"model {model}: input '{spec.name}' takes vectors of "
                    f"{show_shape(spec.vector)} {spec.dtype}; those of {vectors} are "
                    f"{show_shape(arr.shape[1:])} {arr.dtype.name}"
                )


def _fits(shape: tuple[int, ...], want: tuple[int | None, ...]) -> bool:
    return len(shape) == len(want) and all(w is None or w == s for s, w in zip(shape, want))


def show_shape(shape: tuple[int | None, ...] | list[int | None]) -> str:
    """A shape as people write it: (1, 16), (?, 16) for a symbolic dimension, (16,)."""
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _advice(arr: np.ndarray, spec: TensorSpec) -> str:
    """What is wrong with `arr` for `spec`, and how to shape it, in one clause."""
    want, model = show_shape(spec.vector), show_shape(spec.shape)
    head = (
        f"has vectors of shape {show_shape(arr.shape[1:])} ({len(arr)} along the first axis); "
        f"one vector of the model (input {model}) is {want}"
    )
    fixed = all(d is not None for d in spec.vector)
    size = math.prod(d for d in spec.vector if d is not None)
    if _fits(arr.shape, spec.vector):
        return (
            f"is one array of shape {show_shape(arr.shape)}, one vector without the vector "
            f"axis: save it as a[None] (shape {show_shape((1, *arr.shape))}); "
            "vector files hold vectors along their first axis"
        )
    if not spec.batched and spec.shape and _fits(arr.shape[1:], spec.shape[1:]):
        k = spec.shape[0]
        return (
            f"{head}: if the model's first axis is a batch of {k}, group the samples into "
            f"vectors of {k}, a.reshape(-1, {', '.join(str(d) for d in spec.shape)}) "
            f"({len(arr)} samples make {len(arr) // k if k else 0} vectors"
            + (f", {len(arr) % k} left over" if k and len(arr) % k else "")
            + ")"
        )
    if spec.batched and arr.ndim >= 2 and _fits(arr.shape[2:], spec.vector):
        dims = ", ".join(str(d) for d in arr.shape[2:])
        return (
            f"{head}: a vector is one sample; if each holds a batch of {arr.shape[1]}, "
            f"save the samples as vectors, a.reshape(-1{', ' if dims else ''}{dims})"
        )
    if fixed and arr.ndim >= 1 and math.prod(arr.shape[1:]) == size:
        dims = ", ".join(str(d) for d in spec.vector)
        return f"{head}: reshape it, a.reshape(len(a){', ' if dims else ''}{dims})"
    return head


def class_scores(arr: np.ndarray) -> np.ndarray | None:
    """An output's vectors as one row of class scores each, (vectors, classes), or None when
    they are not: float vectors of shape (C,), or (C, 1, 1) as a classifier ending in a 1x1
    convolution gives them (SqueezeNet, DenseNet), C > 1."""
    if arr.ndim < 2 or arr.dtype.kind != "f" or any(d != 1 for d in arr.shape[2:]):
        return None
    return arr.reshape(arr.shape[:2]) if arr.shape[1] > 1 else None
