"""A meter twin that goes away mid-measurement (``twin.meter.vanish``): a fault to test the
harness against, as an instrument that reboots, loses its network or hangs does.

The meter closes its socket (``how: close``) or stops answering while it keeps the connection
open (``how: silent``), either after a number of queries on a connection (``after_queries``)
or some seconds after the board's device starts an energy window's loop (``into_window_s``).
It does so to the first ``times`` connections that reach that point; connections opened after
those are served normally, as an instrument that came back is.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field, model_validator

from pytest_think.emulator.activity import DeviceActivity
from pytest_think.emulator.parts import TwinModel

__all__ = ["TwinMeterVanish", "Vanishing"]


class TwinMeterVanish(TwinModel):
    """When and how the meter twin goes away (one trigger of the two)."""

    how: Literal["close", "silent"] = Field(
        "close", description="close the socket, or keep it open and never answer again"
    )
    after_queries: int | None = Field(
        None, ge=0, description="answer this many queries on a connection, then go"
    )
    into_window_s: float | None = Field(
        None, ge=0, description="go this many seconds after the device starts a LOOP (a window)"
    )
    times: int = Field(1, ge=1, description="how many connections it happens to")

    @model_validator(mode="after")
    def _one_trigger(self) -> TwinMeterVanish:
        if (self.after_queries is None) == (self.into_window_s is None):
            raise ValueError("give one of 'after_queries' and 'into_window_s'")
        return self


class Connection:
    """One client's connection as the fault sees it."""

    def __init__(self, fault: Vanishing, writer: asyncio.StreamWriter) -> None:
        self.fault = fault
        self.writer = writer
        self.queries = 0
        self.gone = False  # silent: reads on, answers nothing

    def answers(self, count: int) -> bool:
        """Whether to send the answers of `count` queries (False once the meter is gone)."""
        if self.gone:
            return False
        limit = self.fault.config.after_queries
        if limit is not None and self.queries + count > limit and self.fault.take():
            self.vanish()
            return False
        self.queries += count
        return True

    def vanish(self) -> None:
        self.gone = True
        if self.fault.config.how == "close":
            self.writer.close()


class Vanishing:
    """The fault on a meter twin's server: which connections it takes, and when."""

    def __init__(self, config: TwinMeterVanish, activity: DeviceActivity) -> None:
        self.config = config
        self.left = config.times
        self.open: list[Connection] = []
        if config.into_window_s is not None:
            activity.loop_listeners.append(self._loop_started)

    def take(self) -> bool:
        """Whether the fault still has a connection to take (and count it taken)."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def connect(self, writer: asyncio.StreamWriter) -> Connection:
        connection = Connection(self, writer)
        self.open.append(connection)
        return connection

    def disconnect(self, connection: Connection) -> None:
        if connection in self.open:
            self.open.remove(connection)

    def _loop_started(self) -> None:
        assert self.config.into_window_s is not None
        if self.left > 0 and self.open:
            asyncio.get_running_loop().call_later(self.config.into_window_s, self._vanish_now)

    def _vanish_now(self) -> None:
        for connection in [c for c in self.open if not c.gone]:
            if self.take():
                connection.vanish()
