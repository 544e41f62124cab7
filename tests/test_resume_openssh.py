"""A stream through a real OpenSSH server whose connection is cut (a TCP proxy in front of a
private sshd on 127.0.0.1): it reconnects, restarts the agent and resumes, every vector once.

The agent runs as a real process on this host, started by sshd with this environment's
Python. sshd comes from Debian's openssh-server, which `make test` installs; without it the
test is skipped, except on CI (CI=true), where a missing sshd is a failure."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS

from pytest_think.boards import BoardConfig
from pytest_think.device import Device
from pytest_think.emulator import openssh
from pytest_think.families import open_board
from pytest_think.reference import reference_model

if not openssh.available() and os.environ.get("CI", "").lower() not in ("true", "1"):
    pytest.skip(
        "Debian's openssh-server is not installed (make test installs it)", allow_module_level=True
    )


@pytest.fixture
def cut_link(tmp_path: Path) -> Iterator[tuple[Device, openssh.CuttableProxy]]:
    """A Device on this host reached through sshd behind a proxy the test can cut."""
    assert openssh.available(), "sshd is not installed: make sshd (Debian's openssh-server)"
    with (
        openssh.openssh_server(tmp_path / "sshd") as ssh,
        openssh.CuttableProxy(ssh.port) as proxy,
    ):
        config = BoardConfig.model_validate(
            {
                "name": "loopback",
                "family": "generic",
                "ssh": {**ssh.model_dump(), "port": proxy.port},
                "agent": {
                    "interpreter": sys.executable,
                    "workdir": str(tmp_path / "agent dir"),  # quoted on the way
                    "backend": "onnxruntime",
                },
            }
        )
        device = Device(open_board(config, emulated=False))
        try:
            yield device, proxy
        finally:
            device.close()
            device.board.close()


def test_a_cut_openssh_connection_resumes_every_vector_once(
    cut_link: tuple[Device, openssh.CuttableProxy], tmp_path: Path
) -> None:
    device, proxy = cut_link
    with np.load(DIGITS_VECTORS) as data:
        x = np.resize(data["input"], (3000, 64))
    vectors = tmp_path / "digits-3000.npz"
    np.savez(vectors, input=x)
    cuts = [500, 1500, 2500]

    def progress(done: int, total: int) -> None:
        if cuts and done >= cuts[0]:
            cuts.pop(0)
            proxy.cut()

    # Fewer vectors in flight than follow the last cut, so that every cut finds work left:
    # with the default window, the last 500 results could all be on their way already.
    run = device.run(DIGITS_MODEL, vectors, window=2, vectors_per_frame=50, progress=progress)

    assert proxy.cuts == 3 and not cuts
    assert run.result.reconnects == 3
    assert all(r.tries >= 1 and r.after_vectors < 3000 for r in run.result.resumes)
    for start, stop, outputs in reference_model(DIGITS_MODEL).run_chunks(run.vectors):
        for name, expected in outputs.items():
            np.testing.assert_array_equal(run.outputs[name][start:stop], expected)
    # The agents of the cut connections are gone (sshd hung up on them): one is left.
    script = str(tmp_path / "agent dir" / "think_agent.py")
    deadline = time.monotonic() + 30
    while len(_processes_running(script)) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_processes_running(script)) == 1
    device.close_agent()


def _processes_running(script: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if script.encode() in argv:
            found.append(int(entry.name))
    return found
