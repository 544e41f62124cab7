"""Board families: how a kind of board is brought up and what it can do.

Families are plug-ins found through the ``pytest_think.families`` entry-point group, so a lab
adds one in its own package without touching pytest-think::

    [project.entry-points."pytest_think.families"]
    my-board = "my_lab.think_family:MyBoardFamily"

A family checks its board file's `options`, binds its parts (pytest_think.capabilities) to
a connected board, brings the board to the state its options ask for, and describes it.
docs/architecture.md walks through writing one.
"""

from __future__ import annotations

import dataclasses
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from pytest_think.boards import BoardConfig
from pytest_think.capabilities import Capabilities, PowerSwitch
from pytest_think.connection import Board
from pytest_think.entry_points import load_entry_point
from pytest_think.errors import BoardConfigError
from pytest_think.transport.console_watch import ConsoleAlarm
from pytest_think.transport.ssh import SshTransport
from pytest_think.user_files import did_you_mean, field_problems

GROUP = "pytest_think.families"
Options = TypeVar("Options", bound=BaseModel)


class Family(Protocol):
    """What pytest-think asks of a board family."""

    name: str

    def check_options(self, config: BoardConfig) -> None:
        """Validate the board file (its `options` section above all); BoardConfigError
        naming the field."""
        ...

    def bind(self, board: Board) -> Capabilities:
        """The parts that drive this connected board, bound to its transports."""
        ...

    def prepare(self, board: Board) -> None:
        """Bring a freshly connected board to the state its options ask for."""
        ...

    def identify(self, board: Board) -> dict[str, Any]:
        """Facts about the board as it is now (OS, kernel, hardware), for reports."""
        ...

    def console_alarms(self) -> tuple[ConsoleAlarm, ...]:
        """The console lines that fail a test (the kernel's, the family's own). A family
        without this method gets the Linux kernel's."""
        ...


def family_options(model: type[Options], config: BoardConfig, family: str) -> Options:
    """The board file's `options` validated by a family's model: one line naming the field."""
    try:
        return model.model_validate(config.options)
    except ValidationError as exc:
        unknown = f"not an option of family '{family}'"
        problems = field_problems(exc, ("options",), unknown, model=model)
        raise BoardConfigError(f"board file {config.source or config.name}: {problems}") from None


def available_families() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load_family(config: BoardConfig) -> Family:
    """The board's family plug-in, with the board file checked against it."""
    families = available_families()
    if config.family not in families:
        names = ", ".join(sorted(families)) or "none (is pytest-think installed?)"
        raise BoardConfigError(
            f"board file {config.source or config.name}: field 'family': unknown family "
            f"'{config.family}'{did_you_mean(config.family, families)}; installed families: "
            f"{names}"
        )
    where = f"board file {config.source or config.name}: field 'family'"
    factory = load_entry_point(families[config.family], where)
    family: Family = factory()
    family.check_options(config)
    return family


def bind_power_port(board: Board, parts: Capabilities) -> Capabilities:
    """The board's PowerSwitch as its file's ``recovery.power`` says — the `power` port (a
    farm place's), the meter's supply output, or power commands; by default the `power` port
    when there is one, else the commands when given — unless its family bound one of its own."""
    config = board.config
    choice = config.recovery.switch or ("port" if config.power is not None else None)
    if parts.power_switch is not None or choice is None:
        return parts
    switch: PowerSwitch
    if choice == "meter":
        from pytest_think.power.switches import SupplySwitch

        switch = SupplySwitch(config)
    elif choice == "command":
        from pytest_think.power.switches import CommandSwitch

        switch = CommandSwitch(config)
    elif config.power is None:
        return parts  # a labgrid place gives the port once reached
    else:
        from pytest_think.farm.power import NetworkPowerSwitch

        switch = NetworkPowerSwitch(config.power, f"board file {config.source}")
    return dataclasses.replace(parts, power_switch=switch)


def family_alarms(family: Family) -> tuple[ConsoleAlarm, ...]:
    """The console lines the family's boards fail a test on (the kernel's by default)."""
    alarms = getattr(family, "console_alarms", None)
    if alarms is None:
        from pytest_think.families.linux import KERNEL_ALARMS

        return KERNEL_ALARMS
    return tuple(alarms())


def open_board(config: BoardConfig, emulated: bool) -> Board:
    """Connect to a board, bind its family's parts, bring it to the state its file asks for
    (power mode …) and describe it."""
    family = load_family(config)
    ssh = SshTransport(config.ssh, config.name).connect() if config.ssh else None
    board = Board(config, emulated, ssh)
    try:
        board.console_alarms = family_alarms(family)
        board.parts = bind_power_port(board, family.bind(board))
        family.prepare(board)
        board.identity = family.identify(board)
    except Exception:
        board.close()
        raise
    return board
