"""A twin's onboard power monitors: the sysfs files of ina2xx, ina3221 or ina3221x (iio).

Values are in each layout's units (µW; mV and mA; mW). Every 10 ms (about an INA3221's
conversion time with averaging) each rail's files are rewritten with its average power over
the last 10 ms: idle, or active for the share of that time the twin's device was busy.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from pytest_think.emulator.activity import DeviceActivity, TwinPowerModel
from pytest_think.emulator.parts import TwinModel
from pytest_think.emulator.sandbox import Sandbox

DRIVERS = "sys/bus/i2c/drivers"
UPDATE_S = 0.01


class TwinRail(TwinModel):
    """One onboard power rail of a twin: where its monitor sits and what it reads at idle."""

    label: str
    device: str = Field("1-0040", pattern=r"^\d+-[0-9a-f]{4}$", description="I2C bus-address")
    channel: int = Field(1, ge=0, le=3, description="monitor channel (INA3221: 1-3 / 0-2)")
    volts: float = Field(5.0, gt=0)
    idle_w: float = Field(1.0, ge=0)
    active_w: float | None = Field(None, ge=0, description="while the device computes")


class TwinPower(TwinModel):
    """A twin's onboard power monitors, in the sysfs layout of its kernel."""

    layout: Literal["ina2xx", "ina3221", "ina3221x"]
    rails: list[TwinRail] = Field(min_length=1)


def rails_model(rails: list[TwinRail]) -> TwinPowerModel:
    """The sum of some rails as one power model (rails are linear in the busy share)."""
    return TwinPowerModel(
        idle_w=sum(r.idle_w for r in rails),
        active_w=sum(r.active_w if r.active_w is not None else r.idle_w for r in rails),
    )


class OnboardPowerTwin:
    def __init__(self, sandbox: Sandbox, config: TwinPower) -> None:
        self.config = config
        self.files: list[tuple[TwinRail, Path, Path | None]] = []  # rail, power or volts, curr
        base = sandbox.root / DRIVERS / config.layout
        base.mkdir(parents=True, exist_ok=True)
        for f in ("bind", "unbind", "uevent"):  # what the driver directory also holds
            (base / f).touch()
        hwmon_index = {d: n for n, d in enumerate(sorted({r.device for r in config.rails}), 1)}
        for rail in config.rails:
            milliamps = rail.idle_w / rail.volts * 1e3
            if config.layout == "ina2xx":
                where = base / rail.device / "hwmon" / f"hwmon{hwmon_index[rail.device]}"
                where.mkdir(parents=True, exist_ok=True)
                (where / "name").write_text("ina226\n")
                (where / "in1_input").write_text(f"{round(rail.volts * 1e3)}\n")
                (where / "curr1_input").write_text(f"{round(milliamps)}\n")
                (where / "power1_input").write_text(f"{round(rail.idle_w * 1e6)}\n")
                self.files.append((rail, where / "power1_input", None))
            elif config.layout == "ina3221":
                where = base / rail.device / "hwmon" / f"hwmon{hwmon_index[rail.device]}"
                where.mkdir(parents=True, exist_ok=True)
                (where / "name").write_text("ina3221\n")
                n = rail.channel
                (where / f"in{n}_label").write_text(f"{rail.label}\n")
                (where / f"in{n}_input").write_text(f"{round(rail.volts * 1e3)}\n")
                (where / f"curr{n}_input").write_text(f"{round(milliamps)}\n")
                self.files.append((rail, where / f"in{n}_input", where / f"curr{n}_input"))
            else:
                where = base / rail.device / "iio:device0"
                where.mkdir(parents=True, exist_ok=True)
                n = rail.channel
                (where / f"rail_name_{n}").write_text(f"{rail.label}\n")
                (where / f"in_power{n}_input").write_text(f"{round(rail.idle_w * 1e3)}\n")
                self.files.append((rail, where / f"in_power{n}_input", None))

    def _write(self, path: Path, value: int) -> None:
        # Readers must never see a half-written file: write aside, then rename over it.
        partial = path.with_name(path.name + ".new")
        partial.write_text(f"{value}\n")
        os.replace(partial, path)

    def update(self, activity: DeviceActivity, now_ns: int) -> None:
        """Rewrite every rail with its average power over the last update interval."""
        t1 = np.array([now_ns])
        share = activity.busy_ns(t1 - int(UPDATE_S * 1e9), t1)[0] / (UPDATE_S * 1e9)
        for rail, main, current in self.files:
            active = rail.active_w if rail.active_w is not None else rail.idle_w
            watts = (rail.idle_w + (active - rail.idle_w) * share) if activity.powered else 0.0
            if self.config.layout == "ina2xx":
                self._write(main, round(watts * 1e6))
            elif self.config.layout == "ina3221":
                assert current is not None
                self._write(current, round(watts / rail.volts * 1e3))
            else:
                self._write(main, round(watts * 1e3))

    async def follow(self, activity: DeviceActivity) -> None:
        """Keep the files following the device, as the monitors' conversions do."""
        while True:
            self.update(activity, time.time_ns())
            await asyncio.sleep(UPDATE_S)
