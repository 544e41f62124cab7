"""Power meter drivers over VISA, found by name (the board file's ``meter.driver``).

Drivers are plug-ins in the ``pytest_think.meters`` entry-point group, like board families::

    [project.entry-points."pytest_think.meters"]
    my-meter = "my_lab.meters:MyMeter"

A driver validates its own options (the board file's ``meter`` section but ``driver``) with
its ``Options`` model, as a family validates ``options``; it is built with those options, a
description of where it is and the device under test (used by meters on the board itself). A
VISA driver checks with ``*IDN?`` that the instrument is the one named, and takes traces of the
board's power. What a meter can do beyond traces it declares by the capabilities below
(`EnergyIntegrator`, `SupplyOutput`), which callers check with isinstance.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from pytest_think.boards import BoardConfig
from pytest_think.entry_points import load_entry_point
from pytest_think.errors import BoardConfigError, ThinkError
from pytest_think.user_files import did_you_mean, field_problems

__all__ = [
    "GROUP",
    "SCPI_OVERFLOW",
    "EnergyIntegrator",
    "MeterDriver",
    "MeterError",
    "MeterLost",
    "MeterOptions",
    "PowerMeter",
    "SupplyOutput",
    "Trace",
    "meter_driver",
    "meter_options",
    "open_meter",
]

GROUP = "pytest_think.meters"
# SCPI's "not a number" / overflow value: a reading beyond the instrument's range.
SCPI_OVERFLOW = 9.9e37


class MeterError(ThinkError):
    """The meter cannot be reached, is not what the board file says, or reports an error."""


class MeterLost(MeterError):
    """The meter stopped answering or closed its connection after it was opened: what it was
    measuring is void, and the connection is of no further use (open the meter again)."""


@dataclass
class Trace:
    """Power samples, each over the interval that ends at its time stamp (host clock, ns)."""

    times_ns: np.ndarray
    watts: np.ndarray
    interval_s: float
    # The time stamps are known to within ± this (the trigger's place in host time).
    uncertainty_ns: int
    overflow: bool


class PowerMeter(Protocol):
    idn: str

    def arm(self, duration_s: float, max_rate_hz: float | None = None) -> None:
        """Start acquiring for `duration_s` now (the trigger's host time is kept), at the
        instrument's finest rate or at most `max_rate_hz`."""
        ...

    def fetch(self) -> Trace:
        """The acquisition just armed, once complete."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class EnergyIntegrator(Protocol):
    """A meter with its own energy integrator (WT310E, HMC8015): a cross-check of the energy
    computed from the trace, run across each trial."""

    def integrate_start(self) -> None: ...

    def integrate_stop(self) -> tuple[float, float]:
        """Stop integrating; the energy (J) and time (s) integrated."""
        ...


@runtime_checkable
class SupplyOutput(Protocol):
    """A supply that powers the board through an output it can switch (N6705, 2280S)."""

    def set_output(self, on: bool) -> None:
        """Turn the board's supply output on or off (power-cycling a hung board)."""
        ...


class MeterOptions(BaseModel):
    """A driver's options: the board file's ``meter`` section, ``driver`` aside."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MeterDriver(Protocol):
    """What the ``pytest_think.meters`` entry points name: a class with its options model."""

    Options: ClassVar[type[MeterOptions]]

    def __call__(self, options: Any, what: str, device: Any = None) -> PowerMeter: ...


def meter_driver(board: BoardConfig) -> MeterDriver:
    """The driver the board's meter section names; an unknown one is one line."""
    assert board.meter is not None
    drivers = {ep.name: ep for ep in entry_points(group=GROUP)}
    if board.meter.driver not in drivers:
        raise BoardConfigError(
            f"board file {board.source or board.name}: field 'meter.driver': unknown driver "
            f"'{board.meter.driver}'{did_you_mean(board.meter.driver, drivers)}; installed: "
            f"{', '.join(sorted(drivers)) or 'none'}"
        )
    where = f"board file {board.source or board.name}: field 'meter.driver'"
    driver: MeterDriver = load_entry_point(drivers[board.meter.driver], where)
    return driver


def meter_options(board: BoardConfig, driver: MeterDriver | None = None) -> Any:
    """The board's meter options, validated by its driver's Options model (`driver`: the
    board's, when already looked up)."""
    assert board.meter is not None
    driver = driver or meter_driver(board)
    try:
        return driver.Options.model_validate(board.meter.options)
    except ValidationError as exc:
        unknown = f"not an option of driver '{board.meter.driver}'"
        problems = field_problems(exc, ("meter",), unknown, model=driver.Options)
        raise BoardConfigError(f"board file {board.source or board.name}: {problems}") from None


def open_meter(board: BoardConfig, device: Any = None) -> PowerMeter:
    """The board's meter, connected and identified. `device` (the Device) is for
    meters that live on the board itself (onboard sensors sampled by the agent)."""
    assert board.meter is not None
    driver = meter_driver(board)
    return driver(meter_options(board, driver), f"meter of board '{board.name}'", device)
