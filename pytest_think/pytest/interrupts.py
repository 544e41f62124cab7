"""SIGTERM (a CI job cancelled, ``kill PID``) ends the session as Ctrl-C does: the test running
is interrupted, fixtures are torn down, twins stopped, their state directories removed and the
results written. Only where SIGTERM still has its default action (an embedding program's own
handler is left alone), and only in the main thread, where signals are delivered.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import pytest

__all__ = ["interrupt_on_sigterm", "restore_sigterm"]

_PREVIOUS = pytest.StashKey[Any]()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


def interrupt_on_sigterm(config: pytest.Config) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    config.stash[_PREVIOUS] = signal.signal(signal.SIGTERM, _interrupt)


def restore_sigterm(config: pytest.Config) -> None:
    previous = config.stash.get(_PREVIOUS, None)
    if previous is not None:
        del config.stash[_PREVIOUS]
        signal.signal(signal.SIGTERM, previous)
