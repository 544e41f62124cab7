"""SIGTERM as Ctrl-C while a session holds places: a CI runner that cancels a job sends
SIGTERM, and the session then ends as an interrupted one does (KeyboardInterrupt): its
boards are closed and its places released."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["TermAsInterrupt"]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


class TermAsInterrupt:
    """Installs the handler once (main thread only: Python delivers signals there) and puts
    the previous one back on `restore()`."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        self._previous = signal.signal(signal.SIGTERM, _interrupt)
        self._installed = True

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False
