"""Sampling the board's onboard sensors (sysfs files) on the board, uploaded with the agent.

A sampler thread reads every file each period and keeps the readings with the device's wall
clock, so energy from onboard monitors needs no SSH round trip per sample. Sensor paths are
the board's own; ``THINK_SYSROOT`` (if set) is where the board's root is mounted for the
agent, e.g. ``/host`` for an agent in a container with the host's ``/sys`` under ``/host/sys``.
Runs on Python >= 3.6.
"""

import os
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
                raise SensorError("cannot read sensor {}: {}".format(name, exc)) from None
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
