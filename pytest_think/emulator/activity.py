"""What a twin's device is doing, over time: the ground truth its power model and meters use.

The twin watches the frames between host and agent: the device is busy from the first
INFER or LOOP in flight until the last answer leaves. A LOOP_DONE says exactly when the
agent's measured loop ran; each one is written to the twin's truth log with the energy the
power model gives that window, so tests can hold a measurement against the truth.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import Field

from pytest_think.agent import think_frames as tf
from pytest_think.emulator.parts import TwinModel

TRUTH_FILE = "energy-truth.jsonl"


class TwinPowerModel(TwinModel):
    """What the twin board draws from its supply: idle, and while its device computes."""

    idle_w: float = Field(ge=0)
    active_w: float = Field(ge=0)
    noise_w: float = Field(0.0, ge=0, description="std-dev of the meter's reading noise")
    seed: int = 0


class DeviceActivity:
    """Busy intervals of the device (unix ns), and the power they draw under a model."""

    def __init__(self, model: TwinPowerModel, truth_log: Path | None = None) -> None:
        self.model = model
        self.truth_log = truth_log
        self.starts: list[int] = []
        self.ends: list[int] = []  # one shorter than starts while busy
        self.in_flight = 0
        self.powered = True
        # Told when the supply turns the board off or on (the board twin goes down and up).
        self.power_listeners: list[Callable[[bool], None]] = []
        # Told when the host sends a LOOP (an energy window starts): twin faults time by it.
        self.loop_listeners: list[Callable[[], None]] = []
        # Told how many vectors the device has answered since the twin started (faults that
        # strike after N vectors); counted only while someone listens.
        self.result_listeners: list[Callable[[int], None]] = []
        self.vectors_answered = 0
        self.rng = np.random.default_rng(model.seed)

    def set_powered(self, on: bool) -> None:
        if on != self.powered:
            self.powered = on
            if not on and self.in_flight:  # whatever was running stops with the power
                self.ends.append(time.time_ns())
                self.in_flight = 0
            for listener in self.power_listeners:
                listener(on)

    # -- frames ---------------------------------------------------------------------------

    def host_frame(self, frame: tf.Frame) -> None:
        if frame.type in (tf.INFER, tf.LOOP):
            if self.in_flight == 0:
                self.starts.append(time.time_ns())
            self.in_flight += 1
        if frame.type == tf.LOOP:
            for listener in self.loop_listeners:
                listener()

    def agent_frame(self, frame: tf.Frame) -> None:
        if frame.type in (tf.RESULT, tf.LOOP_DONE, tf.ERROR) and self.in_flight > 0:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.ends.append(time.time_ns())
        if frame.type == tf.LOOP_DONE:
            self._log_truth(frame.json())
        if frame.type == tf.RESULT and self.result_listeners and len(frame.payload) >= 4:
            self.vectors_answered += int.from_bytes(bytes(frame.payload[:4]), "little")
            for listener in list(self.result_listeners):
                listener(self.vectors_answered)

    def _log_truth(self, done: dict[str, float]) -> None:
        if self.truth_log is None:
            return
        start, end = int(done["start_unix_ns"]), int(done["end_unix_ns"])
        energy = self.energy_j(start, end)
        record = {
            "start_unix_ns": start,
            "end_unix_ns": end,
            "inferences": done["inferences"],
            "energy_j": energy,
            "mj_per_inference": energy * 1e3 / max(1, int(done["inferences"])),
        }
        with self.truth_log.open("a") as fh:
            fh.write(json.dumps(record) + "\n")

    # -- the power model ------------------------------------------------------------------

    def busy_ns(self, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """How long the device was busy within each [t0, t1] (arrays of unix ns)."""
        starts = np.asarray(self.starts, dtype=np.int64)
        ends = np.asarray(self.ends + [time.time_ns()] * (len(self.starts) - len(self.ends)))
        busy = np.zeros(len(t0), dtype=np.float64)
        for s, e in zip(starts, ends):  # few intervals: LOOPs are long, streams are one each
            overlap = np.minimum(t1, e) - np.maximum(t0, s)
            busy += np.clip(overlap, 0, None)
        return busy

    def mean_power_w(self, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """The model's average power over each interval, without measurement noise."""
        if not self.powered:
            return np.zeros(len(t0))
        span = np.maximum(t1 - t0, 1).astype(np.float64)
        share = self.busy_ns(t0, t1) / span
        power: np.ndarray = self.model.idle_w + (self.model.active_w - self.model.idle_w) * share
        return power

    def energy_j(self, start_ns: int, end_ns: int) -> float:
        """The true energy drawn over [start, end]: the model integrated over busy time."""
        t0, t1 = np.array([start_ns]), np.array([end_ns])
        return float(self.mean_power_w(t0, t1)[0] * (end_ns - start_ns) / 1e9)

    def sample_power_w(self, times_ns: np.ndarray, interval_ns: int) -> np.ndarray:
        """What a meter integrating over `interval_ns` before each time reads, with noise."""
        power = self.mean_power_w(times_ns - interval_ns, times_ns)
        if self.model.noise_w:
            power = power + self.rng.normal(0.0, self.model.noise_w, len(power))
        return power
