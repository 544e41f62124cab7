"""Twins in a real labgrid farm, on 127.0.0.1, as a bench host exports hardware.

`TwinFarm.start(boards, directory)` starts (or joins) a `labgrid-coordinator`, runs each
board's twin (`TwinProcess`) and exports it through a real `labgrid-exporter`:

- the twin's SSH server as a `NetworkService`,
- its console pty (``console``) and, for a board on a serial line, its serial pty
  (``serial``) as `RawSerialPort`s, which the exporter serves as `NetworkSerialPort`s by
  starting Debian's ``ser2net`` (RFC 2217) when the place is acquired (on 127.0.0.1 only:
  `ser2net_on_loopback`),
- its supply, when the board's meter can switch it, as a `NetworkPowerPort` (model
  ``simplerest``) on an HTTP relay (`power_relay.py`) in front of the supply output.

Each board gets a place of its own name with the tags ``board=<name>`` and
``family=<family>``, and a board file ``<directory>/<name>.yaml`` that names the place and
the coordinator (``labgrid:``) and keeps what the place does not give: the SSH user, key and
the twin's pinned host key, the console login, the meter. ``think farm-twins`` serves one
until Ctrl-C; tests use it as a context manager.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_think.boards import BoardConfig
from pytest_think.emulator.labgrid_procs import (
    LabgridProcess,
    free_port,
    labgrid_client,
    labgrid_command,
    ser2net_on_loopback,
)
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.emulator.power_relay import Outlet, PowerRelay, supply_outlet
from pytest_think.errors import TwinError
from pytest_think.private_dirs import PrivateDir

__all__ = ["FarmBoard", "TwinFarm"]

EXPORTER = "think-twins"
STATE = ".farm"


@dataclass
class FarmBoard:
    """A twin exported in the farm: its place, its board file, its twin."""

    place: str
    board: BoardConfig
    twin: TwinProcess
    board_file: Path
    outlet: int | None


class TwinFarm:
    """A coordinator (ours or a given one), an exporter and the twins it exports."""

    def __init__(self, directory: Path, coordinator: str, exporter: str) -> None:
        self.directory = directory
        self.state = directory / STATE
        self.coordinator = coordinator
        self.exporter_name = exporter
        self.boards: dict[str, FarmBoard] = {}
        self._stack = ExitStack()
        self._own_places: list[str] = []
        self._outlets: set[str] = set()  # the boards whose place has a power port
        self._joined = bool(coordinator)

    @classmethod
    def start(
        cls,
        boards: Sequence[BoardConfig],
        directory: Path,
        coordinator: str | None = None,
        exporter: str = EXPORTER,
        timeout: float = 60.0,
    ) -> TwinFarm:
        """The farm serving `boards`; `directory` gets their board files (and the farm's
        state, removed at stop). `coordinator` (HOST:PORT): join that one, else start one."""
        names = [b.name for b in boards]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise TwinError(f"board '{twice[0]}' given twice: each place needs its own name")
        labgrid_command("labgrid-exporter")  # labgrid installed, else one line
        directory.mkdir(parents=True, exist_ok=True)
        farm = cls(directory, coordinator or "", exporter)
        # Removed at stop, or by its guard if this process dies first (twins' keys are in it).
        farm._stack.enter_context(PrivateDir.guard(farm.state))
        try:
            farm._start(boards, coordinator, timeout)
        except BaseException:
            farm.stop()
            raise
        return farm

    def _start(self, boards: Sequence[BoardConfig], given: str | None, timeout: float) -> None:
        if given is None:
            self.coordinator = self._start_coordinator(timeout)
        twins = []
        for board in boards:
            twin = TwinProcess.start(board, self.state / "twins" / board.name)
            self._stack.callback(twin.stop)
            twins.append((board, twin))
        outlets: list[Outlet] = []
        outlet_of: dict[str, int] = {}
        for board, twin in twins:
            outlet = supply_outlet(twin.board(board))
            if outlet is not None:
                outlet_of[board.name] = len(outlets)
                outlets.append(outlet)
        self._outlets = set(outlet_of)
        relay = self._stack.enter_context(PowerRelay(outlets)) if outlets else None
        exports = {
            board.name: _exports(board, twin, relay, outlet_of.get(board.name))
            for board, twin in twins
        }
        exports_file = self.state / "exports.yaml"
        exports_file.write_text(yaml.safe_dump(exports, sort_keys=False))
        for board, _ in twins:
            self._create_place(board)
        exporter = LabgridProcess(
            "labgrid-exporter",
            [
                labgrid_command("labgrid-exporter"),
                "-c",
                self.coordinator,
                "--hostname",
                "127.0.0.1",
                "-n",
                self.exporter_name,
                str(exports_file),
            ],
            self.state / "exporter.log",
            self.state,
            env=ser2net_on_loopback(self.state / "bin"),
        )
        self._stack.callback(exporter.stop)
        self._wait_for_resources(exporter, [b.name for b, _ in twins], timeout)
        for board, twin in twins:
            path = self.directory / f"{board.name}.yaml"
            path.write_text(yaml.safe_dump(self._board_file(board, twin), sort_keys=False))
            self._stack.callback(path.unlink, True)
            self.boards[board.name] = FarmBoard(
                board.name, board, twin, path, outlet_of.get(board.name)
            )

    def _start_coordinator(self, timeout: float) -> str:
        port = free_port()
        where = self.state / "coordinator"
        where.mkdir()
        coordinator = LabgridProcess(
            "labgrid-coordinator",
            [labgrid_command("labgrid-coordinator"), "-l", f"127.0.0.1:{port}"],
            self.state / "coordinator.log",
            where,  # it keeps places.yaml and resources.yaml in its working directory
        )
        self._stack.callback(coordinator.stop)
        coordinator.wait_for_port(port, timeout)
        return f"127.0.0.1:{port}"

    def _client(self, *args: str, place: str | None = None) -> str:
        done = labgrid_client(self.coordinator, *args, place=place)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise TwinError(
                f"labgrid-client -x {self.coordinator} {'-p ' + place + ' ' if place else ''}"
                f"{' '.join(args)}: {said[0]}"
            )
        return done.stdout

    def _create_place(self, board: BoardConfig) -> None:
        place = board.name
        self._client("create", place=place)
        if self._joined:  # a coordinator of ours takes its places with it
            self._own_places.append(place)
        self._client("set-tags", f"board={board.name}", f"family={board.family}", place=place)
        self._client("add-match", f"{self.exporter_name}/{place}/*", place=place)

    def _wait_for_resources(
        self, exporter: LabgridProcess, groups: list[str], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        wanted = {f"{self.exporter_name}/{g}/" for g in groups}
        while True:
            exporter.check_alive()
            listed = self._client("resources")
            if all(w in listed for w in wanted):
                return
            if time.monotonic() > deadline:
                raise TwinError(
                    f"labgrid-exporter did not register {', '.join(sorted(groups))} with the "
                    f"coordinator {self.coordinator} within {timeout:g} s "
                    f"(log: {exporter.log})"
                )
            time.sleep(0.2)

    def _board_file(self, board: BoardConfig, twin: TwinProcess) -> dict[str, Any]:
        """The board as the farm serves it: where the place is, and what it does not give."""
        data = board.model_dump(mode="json", exclude_unset=True)
        data.pop("twin", None)
        e = twin.endpoint
        if board.ssh is not None:
            ssh = {
                k: v
                for k, v in data["ssh"].items()
                if k not in ("host", "port", "known_hosts", "password_env")
            }
            data["ssh"] = {**ssh, "user": e["user"], "key_file": e["key_file"]}
            data["ssh"]["host_key"] = e["host_key"]
        for link in ("serial", "console"):
            if link in data:
                data[link].pop("url", None)
        if board.meter is not None and "meter" in e:
            # Given by the place (a NetworkService named 'meter') when it is a LAN socket.
            if _meter_service(e["meter"]) is None:
                data["meter"]["resource"] = e["meter"]
            else:
                data["meter"].pop("resource", None)
        data["labgrid"] = {"place": board.name, "coordinator": self.coordinator}
        if board.name in self._outlets:
            # The place's power port (the relay in front of the supply) switches the board, as
            # a lab's file for a farm place says.
            data["recovery"] = {**data.get("recovery", {}), "power": "port"}
        return data

    def stop(self) -> None:
        """Everything the farm started, ended; the places it created on a given coordinator
        deleted; its state directory removed."""
        for place in reversed(self._own_places):
            labgrid_client(self.coordinator, "delete", place=place)
        self._own_places.clear()
        self._stack.close()

    def __enter__(self) -> TwinFarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _exports(
    board: BoardConfig, twin: TwinProcess, relay: PowerRelay | None, outlet: int | None
) -> dict[str, Any]:
    """The exporter's resources for one twin (one group, named after its place)."""
    e = twin.endpoint
    group: dict[str, Any] = {}
    if "host" in e:
        group["NetworkService"] = {
            "address": e["host"],
            "port": int(e["port"]),
            "username": e["user"],
        }
        if "console" in e and board.console is not None:
            group["console"] = _serial_port(e["console"], board.console.baud)
    elif board.serial is not None:  # a board on a serial line: its twin is a pty
        group["serial"] = _serial_port(e["port"], board.serial.baud)
    meter = _meter_service(e["meter"]) if board.meter is not None and "meter" in e else None
    if meter is not None:
        group["meter"] = {"cls": "NetworkService", **meter}
    if relay is not None and outlet is not None:
        group["NetworkPowerPort"] = {"model": "simplerest", "host": relay.url, "index": outlet}
    return group


def _meter_service(resource: str) -> dict[str, Any] | None:
    """A VISA socket resource (TCPIP::host::port::SOCKET) as a NetworkService's fields."""
    parts = resource.split("::")
    if len(parts) != 4 or parts[0].upper() != "TCPIP" or parts[3].upper() != "SOCKET":
        return None
    return {"address": parts[1], "port": int(parts[2]), "username": ""}


def _serial_port(pty: str, baud: int) -> dict[str, Any]:
    return {"cls": "RawSerialPort", "port": pty, "speed": baud}
