"""Power meter drivers over VISA, found by name (the board file's ``meter.driver``).

Drivers are plug-ins in the ``pytest_think.meters`` entry-point group, like board families::

    [project.entry-points."pytest_think.meters"]
    my-meter = "my_lab.meters:MyMeter"

A driver is built with the board's `MeterConfig`, a description of where it is and the device
under test (used by meters on the board itself); a VISA driver checks
with ``*IDN?`` that the instrument is the one named, and takes traces of the board's power.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

import numpy as np

from pytest_think.boards import BoardConfig
from pytest_think.errors import BoardConfigError, ThinkError

GROUP = "pytest_think.meters"
# SCPI's "not a number" / overflow value: a reading beyond the instrument's range.
SCPI_OVERFLOW = 9.9e37


class MeterError(ThinkError):
    """The meter cannot be reached, is not what the board file says, or reports an error."""


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


def open_meter(board: BoardConfig, device: Any = None) -> PowerMeter:
    """The board's meter, connected and identified. `device` (the Device) is for
    meters that live on the board itself (onboard sensors sampled by the agent)."""
    assert board.meter is not None
    drivers = {ep.name: ep for ep in entry_points(group=GROUP)}
    if board.meter.driver not in drivers:
        raise BoardConfigError(
            f"board file {board.source or board.name}: field 'meter.driver': unknown driver "
            f"'{board.meter.driver}'; installed: {', '.join(sorted(drivers)) or 'none'}"
        )
    factory = drivers[board.meter.driver].load()
    meter: PowerMeter = factory(board.meter, f"meter of board '{board.name}'", device)
    return meter
