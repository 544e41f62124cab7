"""Where a stream's outputs go: in memory, or — when they would be large — in a memory-mapped
file whose pages are let go once written, so a vector set larger than memory can have outputs
as large as its inputs (a denoiser's images, a segmentation's masks) and still stream in
bounded memory.

The file is created in the system's temporary directory and unlinked at once: it lives as long
as the arrays that map it, and nothing is left behind if the process dies.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from pytest_think.vectors import release_rows

IN_MEMORY_BYTES = 64 << 20  # outputs up to this size stay in memory
RELEASE_EVERY_BYTES = 16 << 20  # written pages are flushed and let go in steps of this


def allocate(count: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An array for `count` outputs of `shape` and `dtype`, memory-mapped when large."""
    size = count * int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size <= IN_MEMORY_BYTES:
        return np.empty((count, *shape), dtype)
    fd, path = tempfile.mkstemp(prefix="think-outputs-", suffix=".npy")
    os.close(fd)
    try:
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(count, *shape))
    finally:
        os.unlink(path)  # the mapping keeps the data; the name goes now


class WrittenFrontier:
    """Follows how far the outputs are written without a gap (results arrive out of order,
    a frame's vectors at a time) and lets the written pages of memory-mapped outputs go
    behind it."""

    def __init__(self) -> None:
        self.frontier = 0  # every vector before this one has its outputs
        self.released = 0
        self.ahead: dict[int, int] = {}  # written ranges past a gap: start -> stop

    def advance(self, start: int, stop: int, outputs: dict[str, np.ndarray]) -> None:
        """Vectors [start, stop) now have their outputs."""
        self.ahead[start] = stop
        while self.frontier in self.ahead:
            self.frontier = self.ahead.pop(self.frontier)
        mapped = [a for a in outputs.values() if isinstance(a, np.memmap)]
        if not mapped:
            return
        row_bytes = sum(a.strides[0] for a in mapped)
        if (self.frontier - self.released) * row_bytes < RELEASE_EVERY_BYTES:
            return
        for arr in mapped:
            arr.flush()  # written back first: the pages can then be dropped without loss
            release_rows(arr, self.released, self.frontier)
        self.released = self.frontier
