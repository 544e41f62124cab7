"""A board's `power` section (a place's NetworkPowerPort) as a `PowerSwitch`, driven by
labgrid's own backends (labgrid.driver.power.<model>: power_set/power_get), so that every
switch labgrid drives — APC, Gude, Netio, Raritan, Shelly, TP-Link, simple REST … — works.

Backends are called as labgrid's NetworkPowerDriver calls them: a backend with a `PORT` gets
the host and that port; one whose host is a URL (rest, simplerest) gets the URL as it is.
"""

from __future__ import annotations

import pkgutil
from types import ModuleType

from pytest_think.boards import PowerConfig
from pytest_think.errors import FarmError
from pytest_think.farm.labgrid_import import require

__all__ = ["NetworkPowerSwitch", "power_models"]


def power_models() -> list[str]:
    """The power switch models labgrid has a backend for."""
    package = require("labgrid.driver.power", "a 'power' section")
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__))


class NetworkPowerSwitch:
    """Switches one port of a networked power switch (a `PowerSwitch`)."""

    def __init__(self, config: PowerConfig, where: str) -> None:
        self.config = config
        self.where = where
        models = power_models()
        if config.model not in models:
            raise FarmError(
                f"{where}: field 'power.model': labgrid has no power backend '{config.model}' "
                f"(its models: {', '.join(models)})"
            )
        self.backend: ModuleType = require(f"labgrid.driver.power.{config.model}", where)
        port = getattr(self.backend, "PORT", None)
        self._host, self._port = config.host, (int(port) if port else None)

    def __repr__(self) -> str:
        return f"<power port {self.config.index} of {self.config.model} {self.config.host}>"

    def power(self, on: bool) -> None:
        try:
            self.backend.power_set(self._host, self._port, self.config.index, on)
        except Exception as exc:
            raise FarmError(
                f"{self.where}: switching power {'on' if on else 'off'} through "
                f"{self.config.model} {self.config.host} port {self.config.index} failed: {exc}"
            ) from None

    def is_on(self) -> bool:
        try:
            return bool(self.backend.power_get(self._host, self._port, self.config.index))
        except Exception as exc:
            raise FarmError(
                f"{self.where}: reading power state through {self.config.model} "
                f"{self.config.host} port {self.config.index} failed: {exc}"
            ) from None
