"""The onnxruntime reference on the host: a model run on the host CPU, in chunks of vectors
so memory stays bounded on large sets, loaded once per process (`reference_model`).
Comparing a board's outputs against it is pytest_think.checking.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from pytest_think.agent.think_frames import ort_signature
from pytest_think.agent.think_layout import device_calls, layout, with_vector_axis
from pytest_think.errors import InputFileError
from pytest_think.vectors import VectorSet

CHUNK = 4096  # vectors per reference run at most…
CHUNK_BYTES = 2 << 20  # …and input bytes: large vectors in small chunks keep memory flat


class ReferenceModel:
    """A model run by onnxruntime on the host CPU."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise InputFileError(f"model file {path} not found")
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise InputFileError(f"model file {path}: onnxruntime cannot load it: {exc}") from None
        self.path = path

    @property
    def signature(self) -> dict[str, Any]:
        return ort_signature(self.session)

    def run_chunks(
        self, vectors: VectorSet, chunk: int | None = None
    ) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        """(start, stop, {output name: array of vectors}) over all vectors, in order (`chunk`
        vectors at a time; by default CHUNK, fewer when vectors are large). The model is called
        as the agent calls it (think_layout.py): a chunk at once when its batch axes allow,
        one vector a call otherwise, so its outputs have the board's per-vector shapes."""
        names = [o.name for o in self.session.get_outputs()]
        sig = self.signature
        lay = layout(sig)
        batched = lay.input_batched(sig)
        if chunk is None:
            chunk = max(1, min(CHUNK, CHUNK_BYTES // max(1, vectors.bytes_per_vector)))
        for start, stop, arrays in vectors.batches(chunk):
            n = stop - start
            outs = [
                with_vector_axis(self.session.run(names, feeds), lay.outputs)
                for feeds, _ in device_calls(arrays, n, n, batched, lay.free)
            ]
            joined = [np.concatenate([o[k] for o in outs]) for k in range(len(names))]
            yield start, stop, dict(zip(names, joined))


_MODELS: dict[tuple[str, int, int], ReferenceModel] = {}


def reference_model(path: Path) -> ReferenceModel:
    """The reference model of `path`, loaded once per process while the file is unchanged."""
    if not path.is_file():
        raise InputFileError(f"model file {path} not found")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _MODELS:
        _MODELS[key] = ReferenceModel(path)
    return _MODELS[key]
