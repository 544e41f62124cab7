"""A place's resources as a board file's endpoints, and nothing more: NetworkService → `ssh`
host/port (and user), NetworkSerialPort → `serial.url` / `console.url` (the port named
`console` is the console; the board's serial link is the one named `serial`, or the only
one), NetworkPowerPort → `power`, and a NetworkService named `meter` (a SCPI meter on the
bench LAN: labgrid has no class of its own for one) → `meter.resource` as a VISA socket
resource. What the board file says besides stays as it is."""

from __future__ import annotations

from typing import Any

from pytest_think.boards import BoardConfig, PowerConfig
from pytest_think.errors import FarmError

__all__ = ["needed_classes", "rewire"]

Resources = dict[tuple[str, str], Any]  # (name, cls) → labgrid ResourceEntry
METER = "meter"  # the NetworkService that is the board's meter, not its SSH


def _of(resources: Resources, cls: str) -> dict[str, Any]:
    found = {name: entry for (name, c), entry in resources.items() if c == cls}
    if cls == "NetworkService":
        found.pop(METER, None)
    return found


def needed_classes(config: BoardConfig) -> list[str]:
    """The resource classes the board file needs a place to give."""
    needed = []
    if config.ssh is not None:
        needed.append("NetworkService")
    if config.serial is not None or config.console is not None:
        needed.append("NetworkSerialPort")
    return needed


def missing(config: BoardConfig, resources: Resources, where: str) -> str | None:
    """What the place lacks for this board file, as one line (None: nothing)."""
    names = ", ".join(f"{name} ({cls})" for name, cls in sorted(resources)) or "none"
    for cls in needed_classes(config):
        if not _of(resources, cls):
            section = "ssh" if cls == "NetworkService" else "serial/console"
            return (
                f"{where} has no {cls} resource, which board file {config.source} needs for "
                f"its '{section}' section (the place's resources: {names}); add one to the "
                "exporter's configuration and a match to the place"
            )
    return None


def _serial_url(entry: Any) -> str:
    args = entry.args
    scheme = "socket" if args.get("protocol") == "raw" else "rfc2217"
    return f"{scheme}://{args['host']}:{args['port']}"


def _serial_port(ports: dict[str, Any], name: str, config: BoardConfig, where: str) -> Any:
    if name in ports:
        return ports[name]
    others = [n for n in ports if n != "console"]
    if name == "serial" and (len(ports) == 1 or len(others) == 1):
        return ports[others[0] if len(others) == 1 else next(iter(ports))]
    known = ", ".join(sorted(ports)) or "none"
    raise FarmError(
        f"{where} has no NetworkSerialPort named '{name}' for board file {config.source}'s "
        f"'{name}' section (its serial ports: {known}); name the resource '{name}' in the "
        "exporter's configuration or rename it in the place's match"
    )


def rewire(config: BoardConfig, resources: Resources, where: str) -> BoardConfig:
    """`config` with the endpoints the place's resources give."""
    problem = missing(config, resources, where)
    if problem:
        raise FarmError(problem)
    unavailable = [f"{name} ({cls})" for (name, cls), e in resources.items() if not e.avail]
    if unavailable:
        raise FarmError(
            f"{where}: its exporter reports {', '.join(sorted(unavailable))} unavailable; "
            "check the exporter's host (labgrid-client -p PLACE show)"
        )
    board = config
    if config.ssh is not None:
        service = next(iter(sorted(_of(resources, "NetworkService").items())))[1].args
        update = {"host": service["address"], "port": int(service.get("port", 22))}
        if service.get("username"):
            update["user"] = service["username"]
        board = board.model_copy(update={"ssh": config.ssh.model_copy(update=update)})
    ports = _of(resources, "NetworkSerialPort")
    if config.serial is not None:
        board = board.with_serial_port(_serial_url(_serial_port(ports, "serial", config, where)))
    if config.console is not None:
        board = board.with_console_port(_serial_url(_serial_port(ports, "console", config, where)))
    meter = resources.get((METER, "NetworkService"))
    if config.meter is not None and meter is not None:
        args = meter.args
        board = board.with_meter_resource(f"TCPIP::{args['address']}::{args['port']}::SOCKET")
    power = _of(resources, "NetworkPowerPort")
    if power:
        args = next(iter(sorted(power.items())))[1].args
        board = board.with_power_port(
            PowerConfig(model=args["model"], host=args["host"], index=str(args["index"]))
        )
    return board
