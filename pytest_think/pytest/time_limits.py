"""Each test's time limit: pytest-timeout's, extended by the long steps the test declares, and
one line naming the step that was running when it runs out (instead of a dump of every
thread's stack).

pytest-timeout calls `start` and `cancel` through its ``pytest_timeout_set_timer`` and
``pytest_timeout_cancel_timer`` hooks (plugin.py), with the test's settings (``--timeout``, the
ini's ``timeout``, a ``timeout`` marker; its ``signal`` or ``thread`` method). A step whose
method takes long (an energy measurement: trials × windows) calls `extend` with what its
method allows it before it starts, so the limit follows the method, not one global constant.

When the limit runs out: with the ``signal`` method the test fails with the line, and the
session goes on; with ``thread`` (no signals: not the main thread, or asked for) the line is
written and the process exits, as pytest-timeout does.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import pytest

from pytest_think.report import steps

__all__ = ["cancel", "extend", "limit_of", "start", "timed_out_line"]

LIMIT_KEY = pytest.StashKey["TimeLimit"]()


class TimeLimit:
    """One test's limit, running from `start`; `extend` moves its end later."""

    def __init__(self, item: pytest.Item, seconds: float, method: str, debugger: bool) -> None:
        self.item = item
        self.seconds = seconds
        self.method = method
        self.debugger = debugger  # a debugger holding the test stops the limit
        self.started = time.monotonic()
        self._timer: threading.Timer | None = None
        if method == "signal":  # once, from the main thread: `extend` may come from any
            signal.signal(signal.SIGALRM, self._on_signal)
        self._arm()

    def remaining(self) -> float:
        return self.started + self.seconds - time.monotonic()

    def extend(self, seconds: float) -> None:
        self.seconds += seconds
        self._disarm()
        self._arm()

    def cancel(self) -> None:
        self._disarm()
        if self.method == "signal":
            signal.signal(signal.SIGALRM, signal.SIG_DFL)

    def _arm(self) -> None:
        remaining = max(self.remaining(), 0.001)
        if self.method == "signal":
            signal.setitimer(signal.ITIMER_REAL, remaining)
        else:
            self._timer = threading.Timer(remaining, self._on_thread)
            self._timer.name = f"time limit of {self.item.nodeid}"
            self._timer.daemon = True
            self._timer.start()

    def _disarm(self) -> None:
        if self.method == "signal":
            signal.setitimer(signal.ITIMER_REAL, 0)
        elif self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_signal(self, signum: int, frame: Any) -> None:
        __tracebackhide__ = True
        if self._debugging():
            return
        pytest.fail(timed_out_line(self.item, self.seconds), pytrace=False)

    def _on_thread(self) -> None:
        if self._debugging():
            return
        line = timed_out_line(self.item, self.seconds)
        try:
            capture = self.item.config.pluginmanager.getplugin("capturemanager")
            if capture is not None:
                capture.suspend_global_capture(self.item)
            reporter = self.item.config.pluginmanager.getplugin("terminalreporter")
            if reporter is not None:
                reporter.ensure_newline()
            self.item.config.get_terminal_writer().line(f"Timeout: {line}", red=True)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)

    def _debugging(self) -> bool:
        """Whether a debugger holds the test (pytest-timeout's own test)."""
        import pytest_timeout

        return self.debugger and bool(pytest_timeout.is_debugging())


def timed_out_line(item: pytest.Item, seconds: float) -> str:
    """``<test> timed out after 300 s while <step> (<progress>) on board 'X'``."""
    step = steps.current()
    what = f"while: {step}" if step else "outside every step (in the test's own code)"
    board = _board_name(item)
    where = f" on board '{board}'" if board and f"'{board}'" not in what else ""
    return f"{item.nodeid} timed out after {seconds:g} s {what}{where}"


def _board_name(item: pytest.Item) -> str | None:
    board = getattr(item, "funcargs", {}).get("board")
    config = getattr(board, "config", None)
    name = getattr(config, "name", None)
    return name if isinstance(name, str) else None


def start(item: pytest.Item, settings: Any) -> bool:
    """pytest-timeout's timer, as a `TimeLimit` (``signal`` only in the main thread)."""
    method = settings.method
    if method == "signal" and threading.current_thread() is not threading.main_thread():
        method = "thread"
    debugger = not settings.disable_debugger_detection
    item.stash[LIMIT_KEY] = TimeLimit(item, float(settings.timeout), method, debugger)
    return True


def cancel(item: pytest.Item) -> bool:
    limit = item.stash.get(LIMIT_KEY, None)
    if limit is not None:
        limit.cancel()
    return True


def extend(item: pytest.Item, seconds: float) -> None:
    """Give the running test `seconds` more (a long step's method); nothing without a limit."""
    limit = item.stash.get(LIMIT_KEY, None)
    if limit is not None:
        limit.extend(seconds)


def limit_of(item: pytest.Item) -> float | None:
    """The test's limit in seconds, with its extensions; None when it has none."""
    limit = item.stash.get(LIMIT_KEY, None)
    return limit.seconds if limit is not None else None
