"""Sampling the board's onboard sensors (sysfs files) on the board, uploaded with the agent.

A sampler thread reads every file each period and keeps the readings with the device's wall
clock, so energy from onboard monitors needs no SSH round trip per sample. Sensor paths are
the board's own; ``THINK_SYSROOT`` (if set) is where the board's root is mounted for the
agent, e.g. ``/host`` for an agent in a container with the host's ``/sys`` under ``/host/sys``.
Runs on Python >= 3.6.
"""

import os
import re
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional

wall_ns = getattr(time, "time_ns", None) or (lambda: int(time.time() * 1e9))
MAX_SAMPLES = 2000000


class SensorError(Exception):
    pass


def board_path(path: str) -> str:
    root = os.environ.get("THINK_SYSROOT")
    return os.path.join(root, path.lstrip("/")) if root else path


def read_value(path: str) -> float:
    with open(path) as fh:
        return float(fh.read().split()[0])


class SensorSampler:
    def __init__(self, files: List[str], period_s: float, max_seconds: float) -> None:
        self.paths = [board_path(f) for f in files]
        for name, path in zip(files, self.paths):
            try:
                read_value(path)
            except (OSError, ValueError, IndexError) as exc:
                # The sensor by its board path (`name`): an OSError says the path it opened,
                # which under THINK_SYSROOT is not the board's.
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise SensorError("cannot read sensor {}: {}".format(name, why)) from None
        self.period_ns = max(int(period_s * 1e9), 100000)
        self.deadline = wall_ns() + int(max_seconds * 1e9)
        self.times: List[int] = []
        self.values: List[List[float]] = []
        self.error: Optional[str] = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="think-sensors", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        next_at = wall_ns()
        while not self.stopping.is_set() and wall_ns() < self.deadline:
            try:
                row = [read_value(p) for p in self.paths]
            except (OSError, ValueError, IndexError) as exc:
                self.error = "reading sensors failed: {}".format(exc)
                return
            self.times.append(wall_ns())
            self.values.append(row)
            if len(self.times) >= MAX_SAMPLES:
                self.error = "stopped after {} samples".format(MAX_SAMPLES)
                return
            next_at += self.period_ns
            delay = (next_at - wall_ns()) / 1e9
            if delay > 0:
                self.stopping.wait(delay)
            else:
                next_at = wall_ns()  # fell behind: do not burst to catch up

    def stop(self) -> Dict[str, Any]:
        self.stopping.set()
        self.thread.join()
        return {"t_unix_ns": self.times, "values": self.values, "error": self.error}


class CommandSampler:
    """Rails read from a tool's periodic lines, e.g. ``tegrastats --interval 10``, whose
    lines carry ``<RAIL> <now>mW/<average>mW``; each line is stamped when it arrives."""

    def __init__(self, argv: List[str], rails: List[str], max_seconds: float) -> None:
        self.rails = rails
        self.patterns = [re.compile(r"\b" + re.escape(r) + r" (\d+)mW") for r in rails]
        try:
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True
            )
        except OSError as exc:
            raise SensorError("cannot run {}: {}".format(argv[0], exc)) from None
        self.deadline = wall_ns() + int(max_seconds * 1e9)
        self.times: List[int] = []
        self.values: List[List[float]] = []
        self.error: Optional[str] = None
        self.thread = threading.Thread(target=self._run, name="think-tool-sensors", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = wall_ns()
            found = [p.search(line) for p in self.patterns]
            if not all(found):
                missing = [r for r, f in zip(self.rails, found) if not f]
                self.error = "no {} in the line: {}".format(", ".join(missing), line.strip())
                break
            self.times.append(now)
            self.values.append([float(f.group(1)) for f in found if f])
            if now > self.deadline or len(self.times) >= MAX_SAMPLES:
                break
        self._end()

    def _end(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def stop(self) -> Dict[str, Any]:
        self._end()
        self.thread.join()
        if not self.times and self.error is None and self.proc.stderr is not None:
            said = self.proc.stderr.read().strip().splitlines()[-1:]
            self.error = "the tool gave no readings{}".format(": " + said[0] if said else "")
        return {"t_unix_ns": self.times, "values": self.values, "error": self.error}
