"""Progress of long streams and energy windows, on the terminal even while output is captured.

Quiet for the first seconds (short runs stay silent), then at most one line per interval,
written around pytest's capture as its live logging does. Each line is a line of its own (never
after the dots of `-q`) and names the test and what it streams or measures, so a line read
alone says whose it is. Under xdist workers have no terminal and nothing is shown.
"""

from __future__ import annotations

import time
from typing import Any

from pytest_think.report import steps

__all__ = ["EVERY_S", "QUIET_S", "Progress"]

QUIET_S = 2.0
EVERY_S = 2.0


class Progress:
    def __init__(self, config: Any, what: str, test: str | None = None) -> None:
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")
        self.capture = config.pluginmanager.get_plugin("capturemanager")
        self.what = what
        self.test = test
        self.started = time.monotonic()
        self.last = self.started

    def line(self, text: str, elapsed_s: float) -> str:
        """The progress line: `think: <test>: <what>: <text> (<elapsed> s)`."""
        whose = f"{self.test}: " if self.test else ""
        return f"think: {whose}{self.what}: {text} ({elapsed_s:.0f} s)"

    def say(self, text: str, force: bool = False) -> None:
        steps.note(text)  # what a timeout names, shown or not
        now = time.monotonic()
        if self.reporter is None:
            return
        if not force and (now - self.started < QUIET_S or now - self.last < EVERY_S):
            return
        self.last = now
        line = self.line(text, now - self.started)
        if self.capture is not None:
            with self.capture.global_and_fixture_disabled():
                self._write(line)
        else:
            self._write(line)

    def _write(self, line: str) -> None:
        # The dots of -q (and a test's status letters) leave the cursor mid-line: end it first.
        writer = getattr(self.reporter, "_tw", None)
        if writer is not None and writer.width_of_current_line > 0:
            self.reporter.write("\n")
        self.reporter.write_line(line)

    def vectors(self, done: int, total: int) -> None:
        self.say(f"{done}/{total} vectors ({done / max(1, total):.0%})", force=False)
