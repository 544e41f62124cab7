"""The git revision of a directory's repository: its commit and whether its tracked files
differ from it, for the results JSON (the tests' repository, each flashed design's).

git runs read-only (``rev-parse``, ``status``), with a time limit, hooks and fsmonitor off;
no git, no repository, a repository git will not read (another owner's): None, never an error.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from pytest_think.pytest.schema import RevisionJson

__all__ = ["git_revision"]

TIMEOUT_S = 10.0


def _git(directory: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), "-c", "core.fsmonitor=false", *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_revision(directory: Path) -> RevisionJson | None:
    """The commit of the git repository holding `directory` and its dirty flag, or None."""
    directory = directory if directory.is_dir() else directory.parent
    commit = _git(directory, "rev-parse", "--verify", "HEAD")
    if commit is None:  # no git, no repository, or one without a commit yet
        return None
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    revision: RevisionJson = {"commit": commit.strip(), "dirty": bool(status and status.strip())}
    return revision
