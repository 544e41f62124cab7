"""Helpers of the farm tests: a real labgrid coordinator and exporter serving twins on
127.0.0.1 (pytest_think.emulator.farm), labgrid-client as another user, pytest sessions in
processes of their own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import REPO

from pytest_think.boards import board_dirs, find_board
from pytest_think.emulator.farm import TwinFarm
from pytest_think.emulator.labgrid_procs import labgrid_command

WAIT_S = 120.0  # a bound on waiting for an event, never a margin that decides a test

# A test that holds its board until the outer test says go, writing when it ran.
HOLD_TEST = """
import os, pathlib, time

def test_hold(board):
    out = pathlib.Path(os.environ["FARM_TEST_DIR"])
    (out / f"start-{os.getpid()}").write_text(str(time.time_ns()))
    deadline = time.monotonic() + 120
    while not (out / "go").exists():
        assert time.monotonic() < deadline, "never told to go"
        time.sleep(0.02)
    (out / f"end-{os.getpid()}").write_text(str(time.time_ns()))
"""


def start_farm(directory: Path, *names: str) -> TwinFarm:
    boards = [find_board(name, board_dirs(REPO, None)) for name in names]
    return TwinFarm.start(boards, directory)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinFarm]:
    """The sim board's twin, exported in a place `sim` of a coordinator of its own."""
    with start_farm(tmp_path_factory.mktemp("farm"), "sim") as running:
        yield running


@pytest.fixture(autouse=True)
def private_leases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's records of held places (inherited by the sessions it starts)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("LG_COORDINATOR", raising=False)
    return tmp_path / "state"


def lg(
    coordinator: str, *args: str, place: str | None = None, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """labgrid-client, as `user` (LG_USERNAME) when given; it must succeed."""
    env = {**os.environ}
    if user:
        env["LG_USERNAME"] = user
    argv = [labgrid_command("labgrid-client"), "-x", coordinator]
    argv += ["-p", place] if place else []
    done = subprocess.run(
        [*argv, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@contextmanager
def held_by(coordinator: str, place: str, user: str) -> Iterator[None]:
    """`place` acquired by another user (labgrid-client as `user`) for the block."""
    lg(coordinator, "acquire", place=place, user=user)
    try:
        yield
    finally:
        lg(coordinator, "release", place=place, user=user)


def holder(coordinator: str, place: str) -> str | None:
    """Who holds `place` now (labgrid's host/user), None when it is free."""
    shown = lg(coordinator, "show", place=place).stdout
    found = re.search(r"^\s*acquired: (\S+)", shown, re.M)
    assert found, shown
    return None if found.group(1) == "None" else found.group(1)


class Session:
    """`pytest ARGS` in the pytester directory, in a process of its own, output in a file."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = cwd / f"session-{time.monotonic_ns()}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, what: Callable[[], bool], why: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not what():
            assert self.proc.poll() is None, f"session ended before {why}:\n{self.output}"
            assert time.monotonic() < deadline, f"{why}: not within {WAIT_S} s\n{self.output}"
            time.sleep(0.02)

    def finish(self) -> int:
        return self.proc.wait(WAIT_S)
