"""A network power switch in front of twins' supplies: labgrid's ``simplerest`` power port.

labgrid's `NetworkPowerPort` with ``model: simplerest`` and
``host: http://127.0.0.1:PORT/outlet/{index}/{value}`` sends ``GET /outlet/<index>/<0|1>`` to
switch an outlet and ``GET /outlet/<index>`` to read it (the body ``1`` is on). Each outlet
here is a board's supply output (a meter driver that implements `SupplyOutput`, opened
through the board file's ``meter`` section for each switch, as a bench PDU is a separate
box), so ``labgrid-client power cycle`` really powers the twin down and up.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pytest_think.boards import BoardConfig
from pytest_think.errors import ThinkError
from pytest_think.power.meters import SupplyOutput, open_meter

__all__ = ["Outlet", "PowerRelay", "supply_outlet"]

PATH = re.compile(r"^/outlet/(?P<index>[^/]+)(?:/(?P<value>[^/]*))?/?$")


@dataclass
class Outlet:
    """One switched output: what it powers and how to switch it."""

    name: str
    switch: Callable[[bool], None]
    on: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)


def supply_outlet(board: BoardConfig) -> Outlet | None:
    """An outlet switching `board`'s supply through its meter, when the meter's driver can
    (`SupplyOutput`); None for a board without one."""
    if board.meter is None:
        return None
    meter = open_meter(board)
    meter.close()
    if not isinstance(meter, SupplyOutput):
        return None

    def switch(on: bool) -> None:
        supply = open_meter(board)
        try:
            assert isinstance(supply, SupplyOutput)
            supply.set_output(on)
        finally:
            supply.close()

    return Outlet(board.name, switch)


class PowerRelay:
    """The HTTP relay on 127.0.0.1 (a port chosen at run time), serving in a thread."""

    def __init__(self, outlets: Sequence[Outlet]) -> None:
        self.outlets = list(outlets)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.outlets))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The ``host`` of a simplerest `NetworkPowerPort` on this relay."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/outlet/{{index}}/{{value}}"

    def start(self) -> PowerRelay:
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> PowerRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(outlets: list[Outlet]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = _answer(outlets, self.path)
            data = (body + ("\n" if status != 200 else "")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the exporter's and the client's logs say what was switched."""

    return Handler


def _answer(outlets: list[Outlet], path: str) -> tuple[int, str]:
    known = ", ".join(str(i) for i in range(len(outlets))) or "none"
    m = PATH.match(path)
    if m is None:
        return 404, f"unknown path {path!r}: use /outlet/<index> or /outlet/<index>/<0|1>"
    index = m["index"]
    if not index.isdigit() or int(index) >= len(outlets):
        return 404, f"unknown outlet {index!r}: this relay has outlets {known}"
    outlet = outlets[int(index)]
    value = m["value"]
    if not value:
        return 200, "1" if outlet.on else "0"
    if value not in ("0", "1"):
        return 400, f"outlet {index} ({outlet.name}): value {value!r} is not 0 (off) or 1 (on)"
    with outlet.lock:
        try:
            outlet.switch(value == "1")
        except (ThinkError, OSError) as exc:
            return 502, f"outlet {index} ({outlet.name}): switching the supply failed: {exc}"
        outlet.on = value == "1"
    return 200, value
