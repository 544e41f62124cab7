"""Twins' state directories (their private client keys) are removed on every exit path of the
session that made them: its normal end, Ctrl-C, SIGTERM, pytest-timeout's kill, SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS

from pytest_think.private_dirs import PrivateDir

# The fixture reaches the twin of `sim` (its keys written, the agent running); the test lists
# the client keys in its TMPDIR, says so, then waits.
HOLDS_A_TWIN = """
import pathlib, tempfile, time
import pytest

@pytest.fixture
def held(dut):
    dut.run({model!r}, {vectors!r})

def test_holds_a_twin(held):
    keys = pathlib.Path(tempfile.gettempdir()).glob("think-*/**/client_ed25519")
    pathlib.Path("ready").write_text("\\n".join(str(k) for k in keys))
    time.sleep({sleep})
"""

WAIT_S = 180.0  # for what the session does at its own pace (twin start, teardown)


def _state_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("think-*"))


def _wait_for(what: str, done: object, within: float = WAIT_S) -> None:
    deadline = time.monotonic() + within
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within:g} s")
        time.sleep(0.2)


def _session(
    pytester: pytest.Pytester, sleep: float, *args: str
) -> tuple[subprocess.Popen[str], Path]:
    """A pytest session in its own process group, its TMPDIR its own; returns once its test
    has seen its twin's client key there."""
    test = HOLDS_A_TWIN.format(sleep=sleep, model=str(DIGITS_MODEL), vectors=str(DIGITS_VECTORS))
    pytester.makepyfile(test_hold=test)
    tmp = pytester.path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--board=sim", *args],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    ready = pytester.path / "ready"
    _wait_for(
        "the session's test holds its twin", lambda: ready.exists() or proc.poll() is not None
    )
    keys = ready.read_text().split() if ready.exists() else []
    assert keys, f"no twin's client key in the session's TMPDIR:\n{proc.communicate()[0]}"
    assert all(Path(k).is_relative_to(tmp) for k in keys)
    return proc, tmp


def _ended(proc: subprocess.Popen[str]) -> str:
    try:
        out, _ = proc.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the session did not end:\n{out}")
    return out


def test_a_normal_end_removes_the_state(pytester: pytest.Pytester) -> None:
    proc, tmp = _session(pytester, 0)
    out = _ended(proc)
    assert proc.returncode == 0, out
    assert _state_dirs(tmp) == []  # removed by the session itself, before it ended


@pytest.mark.parametrize(
    "how",
    [
        # Ctrl-C at a terminal: SIGINT to the whole process group (the twins too).
        pytest.param(lambda p: os.killpg(p.pid, signal.SIGINT), id="ctrl-c"),
        # A cancelled CI job, `kill PID`: SIGTERM to pytest alone.
        pytest.param(lambda p: p.send_signal(signal.SIGTERM), id="sigterm"),
    ],
)
def test_an_interrupted_session_removes_the_state_as_it_ends(
    pytester: pytest.Pytester, how: object
) -> None:
    proc, tmp = _session(pytester, 600)
    how(proc)  # type: ignore[operator]
    out = _ended(proc)
    assert proc.returncode == 2, out  # pytest's "interrupted"
    assert "KeyboardInterrupt" in out
    assert _state_dirs(tmp) == []  # removed by the session's own teardown


@pytest.mark.parametrize(
    "how",
    [
        # pytest-timeout without signals: one line, then os._exit (no teardown at all).
        pytest.param(None, id="timeout-thread"),
        # A crash: nothing of the session runs again.
        pytest.param(lambda p: p.send_signal(signal.SIGKILL), id="sigkill"),
    ],
)
def test_a_session_that_dies_has_its_state_removed_by_the_guard(
    pytester: pytest.Pytester, how: object
) -> None:
    # The limit runs from the test's call (its fixture has reached the twin by then).
    args = ("--timeout=2", "--timeout-method=thread", "-o", "timeout_func_only=true")
    args = args if how is None else ()
    proc, tmp = _session(pytester, 600, *args)
    if how is not None:
        how(proc)  # type: ignore[operator]
    out = _ended(proc)
    assert proc.returncode != 0, out
    if how is None:
        assert "test_hold.py::test_holds_a_twin timed out after 2 s" in out
        assert "Stack of" not in out
    _wait_for("the guard removes the state directory", lambda: _state_dirs(tmp) == [])


def test_a_private_dir_is_removed_when_its_owner_closes_it(tmp_path: Path) -> None:
    private = PrivateDir.guard(tmp_path / "state")
    (private.path / "key").write_text("secret")
    assert private.path.stat().st_mode & 0o077 == 0  # the owner's alone
    private.remove()
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_think_twin_removes_its_state_when_stopped(tmp_path: Path, sig: signal.Signals) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_think.cli", "twin", "sim"],
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("twin of 'sim' listening on 127.0.0.1:")
    (state,) = _state_dirs(tmp)
    assert state.name.startswith("think-twin-sim-") and list(state.rglob("client_ed25519"))
    proc.send_signal(sig)
    _ended(proc)
    assert _state_dirs(tmp) == []
