"""Outputs of large streams go to a memory-mapped store whose written pages are let go."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_think import output_store
from pytest_think.output_store import WrittenFrontier, allocate


def _resident_kib(arr: np.ndarray) -> int:
    """Resident KiB of the mapping that holds `arr` (from /proc/self/smaps)."""
    start = np.frombuffer(arr._mmap, np.uint8).ctypes.data  # type: ignore[attr-defined]
    resident, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                inside = lo <= start < hi
            elif inside and line.startswith("Rss:"):
                resident = int(line.split()[1])
    return resident


def test_small_outputs_stay_in_memory_and_large_ones_are_mapped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = allocate(10, (4,), np.dtype(np.float32))
    assert type(small) is np.ndarray
    monkeypatch.setattr(output_store, "IN_MEMORY_BYTES", 1 << 20)
    large = allocate(1024, (64, 64), np.dtype(np.float32))  # 16 MiB
    assert isinstance(large, np.memmap) and large.shape == (1024, 64, 64)


def test_written_pages_are_let_go_behind_the_gapless_frontier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(output_store, "IN_MEMORY_BYTES", 1 << 20)
    monkeypatch.setattr(output_store, "RELEASE_EVERY_BYTES", 1 << 20)
    out = allocate(2048, (64, 64), np.dtype(np.float32))  # 32 MiB, 16 KiB per vector
    frontier = WrittenFrontier()
    # Results arrive out of order: the second half first. Nothing before the gap goes.
    out[1024:] = 2.0
    frontier.advance(1024, 2048, {"y": out})
    assert frontier.frontier == 0 and frontier.released == 0
    out[:1024] = 1.0
    frontier.advance(0, 1024, {"y": out})
    assert frontier.frontier == 2048 and frontier.released == 2048
    assert _resident_kib(out) < 4096  # 32 MiB written, almost none of it resident
    # Nothing was lost: the pages come back from the file.
    assert float(out[:1024].sum()) == 1024 * 64 * 64 and float(out[1024:].mean()) == 2.0
