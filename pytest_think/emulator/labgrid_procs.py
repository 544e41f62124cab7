"""labgrid's own programs on 127.0.0.1: a coordinator, an exporter, and the client.

Each runs as its own process group (the exporter's ser2net children with it), so stopping
one ends everything it started and nothing else.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_think.errors import TwinError

__all__ = [
    "LabgridProcess",
    "acquired_resources",
    "free_port",
    "labgrid_client",
    "labgrid_command",
    "ser2net_on_loopback",
]

INSTALL = "pip install 'pytest-think[farm]'"


def labgrid_command(name: str) -> str:
    """The path of labgrid's `name` program (beside this Python, else on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise TwinError(f"{name} not found: labgrid is not installed ({INSTALL})")
    return found


def ser2net_on_loopback(bin_dir: Path) -> dict[str, str]:
    """An environment for the exporter whose ``ser2net`` listens on 127.0.0.1 only.

    labgrid's exporter starts ser2net with the accepter ``telnet(rfc2217,mode=server),tcp,PORT``,
    which listens on every interface; the ``ser2net`` first on this PATH is Debian's, started
    with ``tcp,127.0.0.1,PORT`` instead and otherwise as the exporter says."""
    real = shutil.which("ser2net") or "/usr/sbin/ser2net"
    if not Path(real).is_file():
        raise TwinError(
            "ser2net not found: labgrid's exporter serves serial ports with it "
            "(Debian: apt-get install ser2net; make test installs it)"
        )
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "ser2net"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# ser2net as labgrid's exporter starts it, listening on 127.0.0.1 only\n"
        'for arg in "$@"; do\n'
        "  shift\n"
        '  case "$arg" in\n'
        '    *"accepter: "*",tcp,"*) arg=$(printf %s "$arg" | sed "s/,tcp,/,tcp,127.0.0.1,/") ;;\n'
        "  esac\n"
        '  set -- "$@" "$arg"\n'
        "done\n"
        f'exec {shlex.quote(real)} "$@"\n'
    )
    wrapper.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def labgrid_client(
    coordinator: str, *args: str, place: str | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`labgrid-client -x COORDINATOR [-p PLACE] ARGS`, its output captured."""
    argv = [labgrid_command("labgrid-client"), "-x", coordinator]
    argv += ["-p", place] if place else []
    env = {**os.environ, "LG_COORDINATOR": coordinator}
    env.pop("LG_PLACE", None)
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


class LabgridProcess:
    """A labgrid program running in its own process group, its output in `log`."""

    def __init__(
        self,
        what: str,
        argv: Sequence[str],
        log: Path,
        cwd: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.what = what
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise TwinError(
                f"{self.what} exited with status {self.proc.returncode}: {tail[0]} "
                f"(log: {self.log})"
            )

    def wait_for_port(self, port: int, timeout: float) -> None:
        """Until 127.0.0.1:`port` accepts connections (the process still running)."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TwinError(
                        f"{self.what} did not listen on 127.0.0.1:{port} within {timeout:g} s "
                        f"(log: {self.log})"
                    ) from None
                time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL after `timeout`."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait()
        # children (ser2net) left in the group after their parent ended
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


def acquired_resources(coordinator: str, place: str) -> dict[str, dict[str, Any]]:
    """The resources of `place` (acquired by this user) as ``labgrid-client show`` prints
    them, by resource name: ``{"cls": …, "params": {"host": …, "port": …}, …}``."""
    done = labgrid_client(coordinator, "show", place=place)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise TwinError(f"labgrid-client -x {coordinator} -p {place} show: {said[0]}")
    found: dict[str, dict[str, Any]] = {}
    name, body = "", ""
    for line in [*done.stdout.splitlines(), ""]:
        if name and line.startswith("  "):
            body += line
            continue
        if name:
            found[name] = ast.literal_eval(body.strip())
            name, body = "", ""
        m = re.match(r"^Acquired resource '([^']+)' ", line)
        if m:
            name = m[1]
    return found
