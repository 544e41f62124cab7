"""Local file hashes: computed once while a file is unchanged, remembered across sessions."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from pytest_think import hashing


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "design.bit.bin"
    path.write_bytes(os.urandom(hashing.PERSIST_FROM_BYTES + 123))
    return path


def _rewrite_keeping_stat(path: Path, data: bytes) -> None:
    """Change a file's bytes but not its inode, size or mtime (what the cache keys on)."""
    st = path.stat()
    with path.open("r+b") as fh:
        fh.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_hash_is_sha256(big: Path) -> None:
    hashing.forget_memory()
    assert hashing.sha256_file(big) == hashlib.sha256(big.read_bytes()).hexdigest()


def test_a_new_session_reuses_the_disk_cache(big: Path) -> None:
    hashing.forget_memory()
    first = hashing.sha256_file(big)
    entry = json.loads(hashing.cache_file().read_text())[str(big.resolve())]
    assert entry["sha256"] == first and entry["size"] == big.stat().st_size
    # Same stat, other bytes: a new process trusts the cache (the documented trade-off) ...
    _rewrite_keeping_stat(big, b"\x00" * 64)
    hashing.forget_memory()
    assert hashing.sha256_file(big) == first
    # ... and any real change of mtime or size is seen.
    os.utime(big, ns=(big.stat().st_atime_ns, big.stat().st_mtime_ns + 1))
    assert hashing.sha256_file(big) == hashlib.sha256(big.read_bytes()).hexdigest() != first


def test_small_files_are_not_written_to_disk(tmp_path: Path) -> None:
    small = tmp_path / "model.onnx"
    small.write_bytes(b"onnx" * 100)
    hashing.forget_memory()
    hashing.sha256_file(small)
    cache = hashing.cache_file()
    entries = json.loads(cache.read_text()) if cache.exists() else {}
    assert str(small.resolve()) not in entries


def test_unreadable_cache_is_ignored(big: Path) -> None:
    hashing.cache_file().parent.mkdir(parents=True, exist_ok=True)
    hashing.cache_file().write_text("{not json")
    hashing.forget_memory()
    assert hashing.sha256_file(big) == hashlib.sha256(big.read_bytes()).hexdigest()
