"""sha256 of local files, remembered while a file is unchanged.

Models, bitstreams and engines are hashed to decide whether the board already has them. A
26 MB bitstream costs tens of milliseconds to hash, which is most of a flash that turns out
to be unnecessary, so hashes are kept in memory for the session and, for large files, in a
small cache on disk for the next session. A file counts as unchanged while its path, inode,
size and modification time (ns) are — the test make and ccache use.

Cache: $THINK_CACHE_DIR, else $XDG_CACHE_HOME/pytest-think, else ~/.cache/pytest-think.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

PERSIST_FROM_BYTES = 1 << 20  # smaller files hash faster than the cache can be read
MAX_ENTRIES = 2000

_memory: dict[tuple[str, int, int, int], str] = {}
_disk: dict[str, dict[str, int | str]] | None = None


def cache_file() -> Path:
    base = os.environ.get("THINK_CACHE_DIR")
    if base:
        return Path(base) / "sha256.json"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "pytest-think" / "sha256.json"


def _load_disk() -> dict[str, dict[str, int | str]]:
    global _disk
    if _disk is None:
        try:
            data = json.loads(cache_file().read_text())
            _disk = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            _disk = {}
    return _disk


def _save_disk(entries: dict[str, dict[str, int | str]]) -> None:
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        kept = dict(list(entries.items())[-MAX_ENTRIES:])
        tmp.write_text(json.dumps(kept))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the next session a re-hash


def forget_memory() -> None:
    """Drop what this process remembers (the disk cache stays), as a new process would start."""
    global _disk
    _memory.clear()
    _disk = None


def sha256_file(path: Path) -> str:
    st = path.stat()
    resolved = str(path.resolve())
    key = (resolved, st.st_ino, st.st_size, st.st_mtime_ns)
    if key in _memory:
        return _memory[key]
    stamp = {"ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    persist = st.st_size >= PERSIST_FROM_BYTES
    if persist:
        entry = _load_disk().get(resolved)
        if entry is not None and all(entry.get(k) == v for k, v in stamp.items()):
            _memory[key] = str(entry["sha256"])
            return _memory[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    _memory[key] = digest.hexdigest()
    if persist:
        entries = _load_disk()
        entries.pop(resolved, None)
        entries[resolved] = {**stamp, "sha256": _memory[key]}
        _save_disk(entries)
    return _memory[key]
