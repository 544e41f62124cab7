"""Power switches a board file can name besides a labgrid place's port (farm/power.py):
the meter's supply output, and a pair of commands run on the host.

Both are `PowerSwitch`es (pytest_think.capabilities), bound to the board once by
`families.bind_power_switch` as the board file's ``recovery.power`` says, and used by the
recovery strategy to power-cycle a board that stopped answering.
"""

from __future__ import annotations

import subprocess

from pytest_think.boards import BoardConfig
from pytest_think.errors import ThinkError
from pytest_think.power.meters import SupplyOutput, meter_driver, open_meter

__all__ = ["CommandSwitch", "PowerSwitchError", "SupplySwitch"]


class PowerSwitchError(ThinkError):
    """Switching the board's power failed (the switch's own error in the line)."""


class SupplySwitch:
    """The board runs from its meter's supply output (an N6705 channel, a 2280S): switching
    the output switches the board. The instrument is opened for each switch and closed again,
    as a bench PDU is a box of its own."""

    def __init__(self, config: BoardConfig) -> None:
        assert config.meter is not None
        self.config = config

    def __repr__(self) -> str:
        assert self.config.meter is not None
        return f"<supply output of meter {self.config.meter.driver} of '{self.config.name}'>"

    def power(self, on: bool) -> None:
        assert self.config.meter is not None
        # Checked when switching, not when bound: a board file may measure with another
        # meter (a test, a lab swapping instruments) and never need its switch.
        if not issubclass(meter_driver(self.config), SupplyOutput):  # type: ignore[arg-type]
            raise PowerSwitchError(
                f"board file {self.config.source or self.config.name}: field 'recovery.power': "
                f"meter driver '{self.config.meter.driver}' cannot switch a supply output; name "
                "a 'power' port or give power_off/power_on commands"
            )
        try:
            meter = open_meter(self.config)
            try:
                assert isinstance(meter, SupplyOutput)
                meter.set_output(on)
            finally:
                meter.close()
        except ThinkError as exc:
            raise PowerSwitchError(
                f"switching board '{self.config.name}' {'on' if on else 'off'} through its "
                f"meter's supply output failed: {exc}"
            ) from None


class CommandSwitch:
    """Commands on the host that switch the board (a relay card's tool, a PDU's CLI), run as
    argv lists, without a shell."""

    def __init__(self, config: BoardConfig) -> None:
        recovery = config.recovery
        assert recovery.power_off is not None and recovery.power_on is not None
        self.name = config.name
        self.argv = {False: recovery.power_off, True: recovery.power_on}
        self.timeout = recovery.command_timeout

    def __repr__(self) -> str:
        return f"<power commands of '{self.name}': {self.argv[False][0]} / {self.argv[True][0]}>"

    def power(self, on: bool) -> None:
        argv = self.argv[on]
        what = f"switching board '{self.name}' {'on' if on else 'off'} with `{' '.join(argv)}`"
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PowerSwitchError(f"{what} failed: {exc}") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PowerSwitchError(
                f"{what} failed: exit status {done.returncode}: {tail[0]}"
            ) from None
