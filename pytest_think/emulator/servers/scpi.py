"""The SCPI side of meter twins: a raw-socket server (as LXI instruments serve on port 5025),
header matching with short and long forms, an error queue, and IEEE 488.2 common commands.

An instrument twin subclasses `ScpiInstrument` and lists its commands as
``("SENSe:SWEep:TINTerval", handler)``: upper-case letters are the short form, ``[...]`` an
optional node, ``<n>`` a numeric suffix passed to the handler. A query is the same header
ending in ``?``. Unknown headers and bad parameters go to the error queue with the standard
codes (-113 Undefined header, -224 Illegal parameter value …) and answer nothing, as the
instruments do; ``SYSTem:ERRor?`` reads the queue.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Handler = Callable[..., Any]  # returns str | bytes | None, or an awaitable of one

NO_ERROR = '+0,"No error"'


class ScpiError(Exception):
    """A command error: its SCPI code and message go to the error queue."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _mnemonic(node: str) -> str:
    suffix = node.endswith("<n>")
    name = node[:-3] if suffix else node
    short = "".join(c for c in name if c.isupper() or not c.isalpha())
    forms = sorted({re.escape(short), re.escape(name.upper())}, key=len, reverse=True)
    return "(?:" + "|".join(forms) + ")" + (r"(\d*)" if suffix else "")


def compile_header(spec: str) -> re.Pattern[str]:
    """A regex for a header spec: short/long mnemonic forms, optional nodes, numeric suffixes.

    ``[SOURce:]VOLTage`` matches VOLT, SOUR:VOLT, source:voltage; ``SYSTem:ERRor[:NEXT]``
    matches SYST:ERR and SYST:ERR:NEXT; ``ITEM<n>`` matches ITEM3 (3 goes to the handler)."""
    nodes: list[tuple[str, bool]] = []
    name, optional = "", False
    for ch in spec:
        if ch in "[]:":
            if name:
                nodes.append((name, optional))
                name = ""
            if ch != ":":
                optional = ch == "["
        else:
            name += ch
    if name:
        nodes.append((name, optional))
    pattern = ""
    need_colon = False
    for node, opt in nodes:
        body = _mnemonic(node)
        if opt and not pattern:  # a leading optional node carries its own colon
            pattern += f"(?:{body}:)?"
            continue
        sep = ":" if need_colon else ""
        pattern += f"(?:{sep}{body})?" if opt else sep + body
        need_colon = True
    return re.compile(f"^{pattern}$", re.IGNORECASE)


@dataclass
class Command:
    spec: str
    pattern: re.Pattern[str]
    handler: Handler
    query: bool


def split_program(line: str) -> list[tuple[str, str]]:
    """`HEAD1 args;HEAD2?;:HEAD3` → [(header, args), …], keeping quoted strings whole and
    resolving each header against the path the previous one left (SCPI-99 §6.2.4)."""
    units, current, quote = [], "", ""
    for ch in line.strip():
        if quote:
            current += ch
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            current += ch
        elif ch == ";":
            units.append(current)
            current = ""
        else:
            current += ch
    units.append(current)
    result = []
    path = ""  # SCPI: after `A:B:C x;D` the second command is `A:B:D`
    for unit in units:
        unit = unit.strip()
        if unit:
            header, _, args = unit.partition(" ")
            if header.startswith(":"):
                header, path = header[1:], ""
            elif not header.startswith("*"):
                header = path + header
            if not header.startswith("*"):
                path = header.rpartition(":")[0] + ":" if ":" in header else ""
            result.append((header, args.strip()))
    return result


def split_params(args: str) -> list[str]:
    """Comma-separated parameters; quoted strings and (@…) channel lists stay whole."""
    params, current, quote, depth = [], "", "", 0
    for ch in args:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            params.append(current.strip())
            current = ""
            continue
        current += ch
    if current.strip():
        params.append(current.strip())
    return params


class ScpiInstrument:
    """Dispatches program messages to handlers; keeps the error queue (20 deep, as most do)."""

    idn = "THINK,Generic SCPI twin,0,0.1"

    def __init__(self) -> None:
        self.errors: deque[tuple[int, str]] = deque(maxlen=20)
        self.commands: list[Command] = []
        self.add("*IDN?", lambda: self.idn)
        self.add("*RST", self.reset)
        self.add("*CLS", self.errors.clear)
        self.add("*OPC?", lambda: "1")
        self.add("*WAI", lambda: None)
        self.add("SYSTem:ERRor[:NEXT]?", self.next_error)

    def add(self, spec: str, handler: Handler) -> None:
        query = spec.endswith("?")
        header = spec[:-1] if query else spec
        self.commands.append(Command(spec, compile_header(header), handler, query))

    def reset(self) -> None:
        """*RST: back to power-on settings (instruments override)."""

    def next_error(self) -> str:
        if not self.errors:
            return NO_ERROR
        code, message = self.errors.popleft()
        return f'{code:+d},"{message}"'

    async def execute(self, line: str) -> list[str | bytes]:
        """Run one program message; return the responses of its queries, in order."""
        responses: list[str | bytes] = []
        for header, args in split_program(line):
            query = header.endswith("?")
            name = (header[:-1] if query else header).lstrip(":")
            match = None
            for command in self.commands:
                if command.query == query and (match := command.pattern.match(name)):
                    break
            else:
                self.errors.append((-113, "Undefined header"))
                continue
            params = split_params(args)
            suffixes = [g for g in match.groups() if g is not None]
            try:
                result = command.handler(*suffixes, *params)
                if asyncio.iscoroutine(result):
                    result = await result
            except ScpiError as exc:
                self.errors.append((exc.code, str(exc)))
                continue
            except (TypeError, ValueError, IndexError):
                self.errors.append(
                    (-109, "Missing parameter") if not params else (-224, "Illegal parameter value")
                )
                continue
            if query and result is not None:
                responses.append(result)
        return responses


def channel_list(text: str) -> list[int]:
    """`(@1)`, `(@1,2)`, `(@1:3)` → channel numbers."""
    inner = text.strip()
    if not (inner.startswith("(@") and inner.endswith(")")):
        raise ScpiError(-224, "Illegal parameter value")
    channels: list[int] = []
    for part in inner[2:-1].split(","):
        if ":" in part:
            lo, hi = part.split(":")
            channels.extend(range(int(lo), int(hi) + 1))
        else:
            channels.append(int(part))
    return channels


def ieee_block(data: bytes) -> bytes:
    """An IEEE 488.2 definite-length block: #<digits><length><data>."""
    length = str(len(data))
    return f"#{len(length)}{length}".encode() + data


class ConnectionFault(Protocol):
    """What a fault does to one connection (`emulator.meters.vanish`)."""

    gone: bool

    def answers(self, count: int) -> bool:
        """Whether to send the answers of `count` queries."""
        ...


class ServerFault(Protocol):
    def connect(self, writer: asyncio.StreamWriter) -> ConnectionFault: ...

    def disconnect(self, connection: Any) -> None: ...


async def serve(
    instrument: ScpiInstrument, host: str = "127.0.0.1", fault: ServerFault | None = None
) -> asyncio.Server:
    """Serve `instrument` on a raw TCP socket (port chosen by the system); LF-terminated.
    `fault` decides which answers a connection gets (a meter that goes away)."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = fault.connect(writer) if fault is not None else None
        try:
            while line := await reader.readline():
                if connection is not None and connection.gone:
                    continue  # a meter gone silent reads on and does nothing
                responses = await instrument.execute(line.decode(errors="replace"))
                if connection is not None and not connection.answers(len(responses)):
                    continue
                if responses:
                    # One response message: the queries' answers joined by ';' (IEEE 488.2).
                    parts = [r if isinstance(r, bytes) else r.encode() for r in responses]
                    writer.write(b";".join(parts) + b"\n")
                await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            pass
        finally:
            if fault is not None:
                fault.disconnect(connection)
            writer.close()

    return await asyncio.start_server(client, host, 0)
