"""Allure's environment.properties for many boards: one line per board and field, merged with
what earlier sessions wrote into the same ``--alluredir``::

    boards=fpga-zcu102, sim
    fpga-zcu102.family=xilinx-fpga
    sim.family=generic
    fpga-zcu102.target=digital twin
    sim.target=digital twin
    fpga-zcu102.design.sha256=5f0c…

The fields come from the session's results document (its boards and tests), so under
pytest-xdist the controller writes every worker's boards. A session replaces the lines of its
own boards (the newest run of a board wins) and keeps every other line; a file in the
one-board form that earlier versions wrote (``board=sim``, ``family=…``) is read as that
board's lines.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from pytest_think.pytest.results import model_entries

__all__ = [
    "BOARDS_KEY",
    "CATEGORIES",
    "board_fields",
    "format_properties",
    "merge_environment",
    "parse_properties",
    "session_environment",
    "write_environment",
]

BOARDS_KEY = "boards"

# How Allure sorts failures: the board's kernel, hardware and flashing, numbers, the link,
# energy validity. Kernel trouble comes first: it is the cause of what failed with it.
CATEGORIES = [
    {
        "name": "Kernel trouble on the console",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": r"(?s).*KernelTrouble.*",
    },
    {
        "name": "Flash / hardware faults",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": r".*(FlashError|RemoteCommandError|fpgautil|xmutil|nvpmodel).*",
    },
    {
        "name": "Invalid energy measurements",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": r".*(EnergyInvalid|MeterError).*",
    },
    {
        "name": "Link / infrastructure failures",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": (
            r".*(LinkError|AgentError|AgentTimeout|HostKeyError|ConsoleTimeout|TwinError).*"
        ),
    },
    {
        "name": "Numerical mismatches",
        "matchedStatuses": ["failed"],
        "messageRegex": r".*disagrees with the reference.*",
    },
]

# The fields of a board, in the order of the file (others, such as a provider's facts, next).
FIELDS = (
    "family",
    "target",
    "place",
    "coordinator",
    "design",
    "design.sha256",
    "meter",
    "power_mode",
    "os",
    "kernel",
    "agent.version",
)
# A provider's facts under shorter names (a farm's labgrid place).
FACT_NAMES = {"labgrid_place": "place", "labgrid_coordinator": "coordinator"}
# The one-board file of earlier versions: its keys, and the field each is now.
ONE_BOARD_KEYS = {
    "family": "family",
    "target": "target",
    "design.sha256": "design.sha256",
    "agent.version": "agent.version",
    "meter": "meter",
    "board.os": "os",
    "board.kernel": "kernel",
    "labgrid_place": "place",
    "labgrid_coordinator": "coordinator",
}


def board_fields(board: dict[str, Any], tests: list[dict[str, Any]]) -> dict[str, str]:
    """What ran where, for one board: `board` as the results JSON has it and the tests that
    ran on it. The last design flashed and the first meter read stand for the session."""
    identity = board.get("identity") or {}
    agent = board.get("agent") or {}
    flashes = [f for t in tests for f in t.get("flash") or []]
    meters = [
        e.energy["meter"]
        for t in tests
        for e in model_entries(t)
        if e.energy is not None and e.energy.get("meter")
    ]
    power_mode = identity.get("power_mode")
    fields: dict[str, Any] = {
        "family": board.get("family"),
        "target": "digital twin" if board.get("twin") else "hardware",
        **{FACT_NAMES.get(k, k): v for k, v in (board.get("facts") or {}).items()},
        "design": flashes[-1].get("design") if flashes else None,
        "design.sha256": flashes[-1].get("sha256") if flashes else None,
        "meter": meters[0] if meters else None,
        "power_mode": power_mode.get("name") if isinstance(power_mode, dict) else power_mode,
        "os": identity.get("os"),
        "kernel": identity.get("uname"),
        "agent.version": agent.get("version"),
    }
    return {k: " ".join(str(v).split()) for k, v in fields.items() if v is not None}


def session_environment(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Every board of a results document (the session's and every board a test used), with
    its fields, in the document's order."""
    tests = document.get("tests", [])
    boards = {b["name"]: b for b in [document["board"], *document.get("boards", [])]}
    return {
        name: board_fields(board, [t for t in tests if t.get("board") == name])
        for name, board in boards.items()
    }


def _logical_lines(text: str) -> list[str]:
    """A properties file's lines, continuation lines joined, blanks and comments left out."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.lstrip() if pending else raw.strip()
        if not pending and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:  # an odd number of backslashes: the line goes on
            pending += line[:-1]
            continue
        lines.append(pending + line)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


def _unescape(text: str) -> str:
    out = []
    chars = iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, "")
        if nxt == "u":
            digits = "".join(next(chars, "") for _ in range(4))
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                out.append("u" + digits)
        else:
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(nxt, nxt))
    return "".join(out)


def parse_properties(text: str) -> list[tuple[str, str]]:
    """The (key, value) pairs of a Java properties file, in order (as Allure reads it)."""
    pairs = []
    for line in _logical_lines(text):
        i, escaped = 0, False
        while i < len(line):
            char = line[i]
            if not escaped and (char in "=:" or char.isspace()):
                break
            escaped = char == "\\" and not escaped
            i += 1
        key, rest = line[:i], line[i:].lstrip()
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip()
        pairs.append((_unescape(key), _unescape(rest)))
    return pairs


def _escape(text: str, key: bool) -> str:
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    out = out.replace("\t", "\\t").replace("\f", "\\f")
    if key:
        out = "".join("\\" + c if c in "=: #!" else c for c in out)
    elif out.startswith(" "):
        out = "\\" + out
    return out


def format_properties(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"{_escape(k, True)}={_escape(v, False)}\n" for k, v in pairs)


def _split_boards(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _owner(key: str, boards: list[str]) -> str | None:
    """The board a key is a field of: the longest board name it starts with, and a dot."""
    owners = [b for b in boards if key.startswith(b + ".")]
    return max(owners, key=len) if owners else None


def merge_environment(existing: str, boards: dict[str, dict[str, str]]) -> str:
    """environment.properties with `boards`' fields, over what `existing` holds: the lines of
    other boards and lines of other tools are kept, `boards`' own are replaced."""
    pairs = parse_properties(existing)
    keys = dict(pairs)
    fields: dict[str, dict[str, str]] = {}
    foreign: list[tuple[str, str]] = []
    if BOARDS_KEY not in keys and keys.get("board"):  # one board, as earlier versions wrote
        fields[keys["board"]] = {ONE_BOARD_KEYS[k]: v for k, v in pairs if k in ONE_BOARD_KEYS}
        foreign = [(k, v) for k, v in pairs if k != "board" and k not in ONE_BOARD_KEYS]
    else:
        earlier = _split_boards(keys.get(BOARDS_KEY, ""))
        for name in earlier:
            fields[name] = {}
        for key, value in pairs:
            if key == BOARDS_KEY:
                continue
            owner = _owner(key, [*earlier, *boards])
            if owner is None:
                foreign.append((key, value))
            else:
                fields.setdefault(owner, {})[key[len(owner) + 1 :]] = value
    fields.update(boards)  # the newest run of a board wins
    # Field by field, each board's line (the overview shows the first lines: every board's
    # family and target).
    seen = dict.fromkeys(k for board in fields.values() for k in board)
    names = sorted(seen, key=lambda k: FIELDS.index(k) if k in FIELDS else len(FIELDS))
    lines = [(BOARDS_KEY, ", ".join(fields))]
    lines += [(f"{b}.{k}", fields[b][k]) for k in names for b in fields if k in fields[b]]
    return format_properties(lines + foreign)


def write_environment(alluredir: Path, document: dict[str, Any]) -> None:
    """environment.properties (merged with what is there) and categories.json beside the
    results, for the boards of the session's results `document`."""
    alluredir.mkdir(parents=True, exist_ok=True)
    path = alluredir / "environment.properties"
    boards = session_environment(document)
    # Sessions that end at once into one directory take turns (a lock on the directory).
    fd = os.open(alluredir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        existing = path.read_text(errors="replace") if path.is_file() else ""
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(merge_environment(existing, boards))
        os.replace(tmp, path)
    finally:
        os.close(fd)  # and the lock with it
    (alluredir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n")
