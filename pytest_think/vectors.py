"""Test vectors from .npy / .npz files, memory-mapped where the format allows.

An .npz holds one array per model input, named like the input, plus an optional ``labels``
array of ground-truth classes. A .npy holds the single input of a one-input model. Every array
has the vector axis first. Nothing in a file is silently ignored: an array that is neither a
model input nor ``labels`` is an error.
"""

from __future__ import annotations

import mmap
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pytest_think.errors import InputFileError
from pytest_think.model_signature import VectorSignature

LABELS = "labels"
RELEASE_BEHIND_BYTES = 1 << 20
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK"


def _npz_member_memmap(path: Path, info: zipfile.ZipInfo) -> np.ndarray | None:
    """Memory-map an uncompressed .npz member in place; None when it cannot be mapped."""
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with path.open("rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
        if local[:4] != b"PK\x03\x04":
            return None
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            return None
        if dtype.hasobject:
            return None
        offset = fh.tell()
    order: Literal["C", "F"] = "F" if fortran else "C"
    mapped: np.ndarray = np.memmap(
        path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order
    )
    return mapped


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """All arrays in an .npy or .npz file, memory-mapped when stored uncompressed; a file
    that is empty, truncated, of another format or holds Python objects is one line (objects
    are never unpickled)."""
    what = f"vector file {path}"
    if not path.is_file():
        raise InputFileError(f"{what} not found")
    if path.suffix not in (".npy", ".npz"):
        raise InputFileError(f"{what}: expected a .npy or .npz file")
    with path.open("rb") as fh:
        head = fh.read(len(NPY_MAGIC))
    if not head:
        raise InputFileError(f"{what}: empty (0 bytes)")
    try:
        if path.suffix == ".npy":
            if head != NPY_MAGIC:
                other = " but an .npz: rename it" if head.startswith(ZIP_MAGIC) else ""
                raise InputFileError(f"{what}: not a NumPy .npy file{other} (np.save writes one)")
            return {"": np.load(path, mmap_mode="r", allow_pickle=False)}
        if not head.startswith(ZIP_MAGIC):
            other = " but an .npy: rename it" if head == NPY_MAGIC else ""
            raise InputFileError(f"{what}: not a NumPy .npz file{other} (np.savez writes one)")
        arrays: dict[str, np.ndarray] = {}
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
        others = [i.filename for i in infos if not i.filename.endswith(".npy")]
        if others or not infos:
            held = f"holds {', '.join(others[:3])}" if others else "holds no arrays"
            raise InputFileError(f"{what}: {held}, not NumPy arrays (np.savez writes them)")
        lazy = np.load(path, allow_pickle=False)
        for info in infos:
            name = info.filename[: -len(".npy")]
            mapped = _npz_member_memmap(path, info)
            arrays[name] = mapped if mapped is not None else lazy[name]
        return arrays
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{what}: cannot read (truncated?): {exc}") from None
    except ValueError as exc:
        if "pickle" in str(exc) or "Python objects" in str(exc):
            raise InputFileError(
                f"{what}: holds Python objects (an object array), which are never unpickled; "
                "save numeric arrays"
            ) from None
        raise InputFileError(f"{what}: cannot read (truncated?): {exc}") from None


@dataclass
class VectorSet:
    """Named input arrays (vector axis first) and optional labels, from one file."""

    path: Path
    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None

    @property
    def count(self) -> int:
        return len(next(iter(self.inputs.values())))

    @property
    def bytes_per_vector(self) -> int:
        return sum(a.dtype.itemsize * int(np.prod(a.shape[1:])) for a in self.inputs.values())

    def rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """The arrays of vectors [start, stop), contiguous (as a frame sends them)."""
        return {k: np.ascontiguousarray(v[start:stop]) for k, v in self.inputs.items()}

    def batches(
        self,
        size: int | Callable[[], int],
        ranges: Iterable[tuple[int, int]] | None = None,
    ) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        """(start, stop, arrays) for consecutive slices, of all the vectors or of the
        [start, stop) `ranges` given (in order); each vector exactly once. `size` is the
        vectors per slice, or what gives it anew for each slice (a link whose frames adapt).

        Memory-mapped files are read once, front to back: the pages of a slice are let go
        when the next one is asked for, so a vector file larger than memory streams in
        bounded memory (read pages would otherwise stay resident until the kernel needs them)."""
        sizes = size if callable(size) else lambda: size
        for first, end in [(0, self.count)] if ranges is None else ranges:
            start = first
            while start < end:
                stop = min(start + max(1, sizes()), end)
                yield start, stop, self.rows(start, stop)
                self._release(start, stop)
                start = stop

    def _release(self, start: int, stop: int) -> None:
        for v in self.inputs.values():
            # A little behind too: page faults map neighbouring cached pages back in.
            behind = RELEASE_BEHIND_BYTES // max(1, v.strides[0]) if v.ndim else 0
            release_rows(v, max(0, start - behind), stop)


def release_rows(arr: np.ndarray, start: int, stop: int) -> None:
    """Drop rows [start, stop) of a memory-mapped array from memory; they are read again from
    the file if used again. Pages shared with neighbouring rows go too: harmless, they reload."""
    mapping = getattr(arr, "_mmap", None)
    if not isinstance(mapping, mmap.mmap) or not arr.flags.c_contiguous or stop <= start:
        return
    base = np.frombuffer(mapping, np.uint8).ctypes.data
    row = arr.strides[0]
    first = arr.ctypes.data - base + start * row
    last = min(arr.ctypes.data - base + stop * row, len(mapping))
    first -= first % mmap.PAGESIZE
    mapping.madvise(mmap.MADV_DONTNEED, first, last - first)


def load_vectors(path: Path, signature: Mapping[str, Any]) -> VectorSet:
    """Load vectors for a model and fit them to its vector signature (model_signature.py),
    before anything is streamed.

    `signature` is the model's {"inputs": [{"name", "dtype", "shape"}], ...} (None for
    symbolic dimensions), as the agent's READY frame and the reference model both report it.
    """
    arrays = load_arrays(path)
    inputs_spec = {i["name"]: i for i in signature["inputs"]}
    if "" in arrays:  # a bare .npy: the one input of a one-input model
        if len(inputs_spec) != 1:
            raise InputFileError(
                f"vector file {path}: a .npy holds one array but the model has inputs "
                f"{sorted(inputs_spec)}; use an .npz with one array per input"
            )
        arrays = {next(iter(inputs_spec)): arrays.pop("")}
    labels = arrays.pop(LABELS, None)
    unknown = sorted(set(arrays) - set(inputs_spec))
    missing = sorted(set(inputs_spec) - set(arrays))
    if unknown or missing:
        raise InputFileError(
            f"vector file {path}: arrays {sorted(arrays)} do not match model inputs "
            f"{sorted(inputs_spec)}"
            + (f" (missing {missing})" if missing else "")
            + (
                f" (unexpected {unknown}; only model inputs and '{LABELS}' are allowed)"
                if unknown
                else ""
            )
        )
    counts = {name: len(a) if a.ndim else 0 for name, a in arrays.items()}
    if labels is not None:
        counts[LABELS] = len(labels) if labels.ndim else 0
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise InputFileError(f"vector file {path}: arrays disagree on the vector count: {counts}")
    vectors_of = VectorSignature.of(signature)
    for name, spec in inputs_spec.items():
        arr = arrays[name]
        if arr.dtype.name != spec["dtype"]:
            raise InputFileError(
                f"vector file {path}: input '{name}' is {arr.dtype.name}, the model wants "
                f"{spec['dtype']}"
            )
        arrays[name] = vectors_of.fit(path, name, arr)
    return VectorSet(path, arrays, labels)
