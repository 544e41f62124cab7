"""Progress of long streams and energy windows, on the terminal even while output is captured.

Quiet for the first seconds (short runs stay silent), then at most one line per interval,
written around pytest's capture as its live logging does. Under xdist workers have no
terminal and nothing is shown.
"""

from __future__ import annotations

import time
from typing import Any

from pytest_think.report import steps

QUIET_S = 2.0
EVERY_S = 2.0


class Progress:
    def __init__(self, config: Any, what: str) -> None:
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")
        self.capture = config.pluginmanager.get_plugin("capturemanager")
        self.what = what
        self.started = time.monotonic()
        self.last = self.started

    def say(self, text: str, force: bool = False) -> None:
        steps.note(text)  # what a timeout names, shown or not
        now = time.monotonic()
        if self.reporter is None:
            return
        if not force and (now - self.started < QUIET_S or now - self.last < EVERY_S):
            return
        self.last = now
        line = f"think: {self.what}: {text} ({now - self.started:.0f} s)"
        if self.capture is not None:
            with self.capture.global_and_fixture_disabled():
                self.reporter.write_line(line)
        else:
            self.reporter.write_line(line)

    def vectors(self, done: int, total: int) -> None:
        self.say(f"{done}/{total} vectors ({done / max(1, total):.0%})", force=False)
