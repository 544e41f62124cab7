"""A twin's onboard power monitors: the sysfs files of ina2xx, ina3221 or ina3221x (iio).

Values are the rails' idle readings in each layout's units (µW; mV and mA; mW). The energy
work makes them follow what the twin's device is doing.
"""

from __future__ import annotations

from pytest_think.boards import TwinPower
from pytest_think.emulator.sandbox import Sandbox

DRIVERS = "sys/bus/i2c/drivers"


class OnboardPowerTwin:
    def __init__(self, sandbox: Sandbox, config: TwinPower) -> None:
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
            elif config.layout == "ina3221":
                where = base / rail.device / "hwmon" / f"hwmon{hwmon_index[rail.device]}"
                where.mkdir(parents=True, exist_ok=True)
                (where / "name").write_text("ina3221\n")
                n = rail.channel
                (where / f"in{n}_label").write_text(f"{rail.label}\n")
                (where / f"in{n}_input").write_text(f"{round(rail.volts * 1e3)}\n")
                (where / f"curr{n}_input").write_text(f"{round(milliamps)}\n")
            else:
                where = base / rail.device / "iio:device0"
                where.mkdir(parents=True, exist_ok=True)
                n = rail.channel
                (where / f"rail_name_{n}").write_text(f"{rail.label}\n")
                (where / f"in_power{n}_input").write_text(f"{round(rail.idle_w * 1e3)}\n")
