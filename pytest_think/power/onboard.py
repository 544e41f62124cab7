"""Onboard power sensors, found in sysfs and read over SSH.

Three layouts cover the boards in the field (DESIGN part 2):

* ``ina2xx`` — INA226/INA219 monitors under the ina2xx hwmon driver (ZCU102: u76 @0x40 …,
  5 mΩ shunts): ``/sys/bus/i2c/drivers/ina2xx/<bus>-<addr>/hwmon/hwmonN/power1_input`` (µW).
  The chip has no rail label, so the rail is named by its I2C address (a family may map
  addresses to rail names);
* ``ina3221`` — JetPack 5/6: ``/sys/bus/i2c/drivers/ina3221/<bus>-<addr>/hwmon/hwmonN/``
  ``inN_label``, ``inN_input`` (mV), ``currN_input`` (mA);
* ``ina3221x`` — older L4T: ``/sys/bus/i2c/drivers/ina3221x/<bus>-<addr>/iio:deviceN/``
  ``rail_name_N``, ``in_powerN_input`` (mW).

Discovery walks these directories once per session; a reading is one ``cat`` of every
sensor file. Sampling over time belongs to the agent (no SSH round trip per sample).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from pytest_think.errors import RemoteCommandError
from pytest_think.transport.shell import Shell

I2C_DRIVERS = "/sys/bus/i2c/drivers"
I2C_DEVICE = re.compile(r"^\d+-[0-9a-f]{4}$")
LABEL = re.compile(r"^in(\d)_label$")


@dataclass(frozen=True)
class PowerSensor:
    """One rail: either a power file, or a voltage and a current file."""

    rail: str
    power_file: str | None = None
    power_to_w: float = 1e-6  # µW (hwmon); 1e-3 for the iio layout's mW
    volt_file: str | None = None  # mV
    curr_file: str | None = None  # mA

    @property
    def files(self) -> list[str]:
        if self.power_file is not None:
            return [self.power_file]
        assert self.volt_file is not None and self.curr_file is not None
        return [self.volt_file, self.curr_file]

    def watts(self, values: list[float]) -> float:
        if self.power_file is not None:
            return values[0] * self.power_to_w
        return values[0] * values[1] * 1e-6  # mV × mA = µW


def _ls(transport: Shell, path: str) -> list[str]:
    result = transport.run(["ls", path])
    return result.out.split() if result.exit_status == 0 else []


def _cat_lines(transport: Shell, paths: list[str]) -> list[str]:
    if not paths:
        return []
    return transport.run(["cat", *paths]).check(transport.where).out.splitlines()


def _ina2xx(transport: Shell, names: dict[str, str]) -> list[PowerSensor]:
    sensors = []
    base = posixpath.join(I2C_DRIVERS, "ina2xx")
    for device in filter(I2C_DEVICE.match, _ls(transport, base)):
        for hwmon in _ls(transport, posixpath.join(base, device, "hwmon")):
            path = posixpath.join(base, device, "hwmon", hwmon, "power1_input")
            sensors.append(PowerSensor(names.get(device, f"ina2xx@{device}"), power_file=path))
    return sensors


def _ina3221(transport: Shell) -> list[PowerSensor]:
    sensors = []
    base = posixpath.join(I2C_DRIVERS, "ina3221")
    for device in filter(I2C_DEVICE.match, _ls(transport, base)):
        for hwmon in _ls(transport, posixpath.join(base, device, "hwmon")):
            where = posixpath.join(base, device, "hwmon", hwmon)
            channels = sorted(
                int(m.group(1))
                for f in _ls(transport, where)
                if (m := re.match(r"in(\d)_label$", f))
            )
            labels = _cat_lines(transport, [f"{where}/in{n}_label" for n in channels])
            for n, label in zip(channels, labels):
                sensors.append(
                    PowerSensor(
                        label.strip(),
                        volt_file=f"{where}/in{n}_input",
                        curr_file=f"{where}/curr{n}_input",
                    )
                )
    return sensors


def _ina3221x(transport: Shell) -> list[PowerSensor]:
    sensors = []
    base = posixpath.join(I2C_DRIVERS, "ina3221x")
    for device in filter(I2C_DEVICE.match, _ls(transport, base)):
        for iio in [
            e for e in _ls(transport, posixpath.join(base, device)) if e.startswith("iio:")
        ]:
            where = posixpath.join(base, device, iio)
            channels = sorted(
                int(m.group(1))
                for f in _ls(transport, where)
                if (m := re.match(r"rail_name_(\d)$", f))
            )
            names = _cat_lines(transport, [f"{where}/rail_name_{n}" for n in channels])
            for n, name in zip(channels, names):
                power = f"{where}/in_power{n}_input"
                sensors.append(PowerSensor(name.strip(), power_file=power, power_to_w=1e-3))
    return sensors


def discover(transport: Shell, names: dict[str, str] | None = None) -> list[PowerSensor]:
    """Every onboard power sensor the board's kernel exposes, in a stable order."""
    return _ina2xx(transport, names or {}) + _ina3221(transport) + _ina3221x(transport)


def read_power(transport: Shell, sensors: list[PowerSensor]) -> dict[str, float]:
    """One reading of every sensor, in watts by rail."""
    files = [f for s in sensors for f in s.files]
    lines = _cat_lines(transport, files)
    if len(lines) != len(files):
        raise RemoteCommandError(
            f"reading {len(files)} power sensor files on {transport.where} gave {len(lines)} values"
        )
    readings: dict[str, float] = {}
    values = iter(float(v) for v in lines)
    for sensor in sensors:
        readings[sensor.rail] = sensor.watts([next(values) for _ in sensor.files])
    return readings
