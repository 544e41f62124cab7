"""Kernel trouble on a board's serial console: lines that say the board went wrong.

A board's family names the lines it watches for (`ConsoleAlarm`: a name and a regex): every
Linux board the kernel's (``Kernel panic``, ``Oops``, ``BUG:``, ``Call trace:``), a family its
own (the FPGA manager's errors on a Xilinx board). A `ConsoleWatch` keeps where the last check
ended, so each check reads what the console printed since — nothing between two tests is
missed — and gives the alarming lines with an excerpt around them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_think.transport.console import ConsoleLine, SerialConsole

__all__ = ["ConsoleAlarm", "ConsoleTrouble", "ConsoleWatch", "alarm", "find_trouble"]

# Lines of the excerpt before the first alarming line and after the last one: an oops's
# register dump and call trace follow its first line.
EXCERPT_BEFORE = 10
EXCERPT_AFTER = 40


@dataclass(frozen=True)
class ConsoleAlarm:
    """A kind of console line that means trouble: its name in reports, and its regex."""

    name: str
    pattern: re.Pattern[str]


def alarm(name: str, pattern: str) -> ConsoleAlarm:
    return ConsoleAlarm(name, re.compile(pattern))


@dataclass(frozen=True)
class AlarmLine:
    line: ConsoleLine
    alarm: str  # the name of the alarm it matched


@dataclass(frozen=True)
class ConsoleTrouble:
    """What a check found: the alarming lines, and an excerpt of the console around them."""

    where: str  # the console, for messages
    lines: list[AlarmLine]
    excerpt: list[ConsoleLine]

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys(a.alarm for a in self.lines))

    def summary(self, limit: int = 8) -> str:
        """One headline, then the alarming lines (the first `limit` of them)."""
        shown = [f"  {a.line.text.strip()}" for a in self.lines[:limit]]
        more = len(self.lines) - limit
        if more > 0:
            shown.append(f"  … and {more} more (the console excerpt has them)")
        head = (
            f"{self.where} printed kernel trouble during the test "
            f"({', '.join(self.kinds)}): {len(self.lines)} line"
            f"{'s' if len(self.lines) != 1 else ''}"
        )
        return "\n".join([head, *shown])


def find_trouble(
    lines: Sequence[ConsoleLine], alarms: Sequence[ConsoleAlarm], where: str
) -> ConsoleTrouble | None:
    """The lines that match an alarm, with an excerpt around them; None when none does."""
    hits: list[tuple[int, AlarmLine]] = []
    for index, line in enumerate(lines):
        for kind in alarms:
            if kind.pattern.search(line.text):
                hits.append((index, AlarmLine(line, kind.name)))
                break
    if not hits:
        return None
    first, last = hits[0][0], hits[-1][0]
    excerpt = list(lines[max(0, first - EXCERPT_BEFORE) : last + EXCERPT_AFTER + 1])
    return ConsoleTrouble(where, [hit for _, hit in hits], excerpt)


class ConsoleWatch:
    """Watches one board's console for its family's alarms, check after check."""

    def __init__(self, console: SerialConsole, alarms: Sequence[ConsoleAlarm]) -> None:
        self.console = console
        self.alarms = tuple(alarms)
        self.checked = console.mark()  # where the last check ended

    def check(self) -> ConsoleTrouble | None:
        """The trouble in what the console printed since the last check (all the port held
        is read first); None when there is none."""
        self.console.settle()
        end = self.console.mark()
        lines = self.console.lines_between(self.checked, end)
        self.checked = end
        return find_trouble(lines, self.alarms, self.console.where)
