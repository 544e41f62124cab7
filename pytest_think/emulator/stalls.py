"""Hangs and freezes a board twin plays on demand (the board file's ``twin.faults``), so the
watchdog and the recovery strategy are tested without a broken board.

- ``hang_after_vectors: N``: the agent stops answering once the board has taken N vectors
  since it booted or last hung. Its process stays alive and reads on; nothing it says
  reaches the host again. The next agent answers (until N more vectors).
- ``freeze_after_vectors: N``: the whole board freezes once it has taken N vectors since it
  booted: its SSH connections go silent (nothing read, nothing sent, the TCP connection left
  open, as a locked-up kernel leaves it), new connections are dropped at once, until its
  supply is switched off and on again (a power cycle).
- ``freeze_in_loop: K``: the board freezes during the K-th device loop (energy window)
  since it booted.
- ``freeze_on_command: NAME``: the board freezes the first time a command NAME runs in the
  twin's life (``fpgautil``: a PL configuration that locks the board up).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncssh

from pytest_think.agent import think_frames as tf

if TYPE_CHECKING:
    from pytest_think.emulator.device import TwinFaults

__all__ = ["AgentGate", "TwinStalls", "silence"]


class TwinStalls:
    """The board's stall faults and what they count, across the agents it runs."""

    def __init__(self, faults: TwinFaults, freeze: Callable[[], None]) -> None:
        self.faults = faults
        self.freeze = freeze
        self.frozen = False
        self.commands_fired: set[str] = set()
        self.booted()

    @property
    def active(self) -> bool:
        f = self.faults
        return any(
            v is not None for v in (f.hang_after_vectors, f.freeze_after_vectors, f.freeze_in_loop)
        )

    def booted(self) -> None:
        """Power came back: counts start again, nothing is frozen."""
        self.frozen = False
        self.vectors_since_boot = 0
        self.vectors_since_hang = 0
        self.loops_since_boot = 0

    def gate(self) -> AgentGate | None:
        """The gate between the host and one agent process; None when no fault needs one."""
        return AgentGate(self) if self.active else None

    def command_freezes(self, name: str) -> bool:
        """Whether running `name` freezes the board now (once in the twin's life)."""
        if self.faults.freeze_on_command != name or name in self.commands_fired:
            return False
        self.commands_fired.add(name)
        self._freeze()
        return True

    def _freeze(self) -> None:
        if not self.frozen:
            self.frozen = True
            self.freeze()

    def took(self, frame: tf.Frame) -> bool:
        """Count a frame from the host; whether the agent hangs on it."""
        f = self.faults
        if frame.type == tf.LOOP:
            # Windows only: a loop of no length is one exchange (the clock probes around a
            # window), not what a board freezes under.
            options, _ = tf.decode_loop(frame.payload)
            if float(options.get("min_seconds", 0)) <= 0:
                return False
            self.loops_since_boot += 1
            if f.freeze_in_loop is not None and self.loops_since_boot >= f.freeze_in_loop:
                self._freeze()
            return False
        if frame.type != tf.INFER:
            return False
        tensors = tf.decode_tensors(frame.payload)
        n = tensors[0].shape[0] if tensors and tensors[0].shape else 0
        self.vectors_since_boot += n
        self.vectors_since_hang += n
        if f.freeze_after_vectors is not None and self.vectors_since_boot > f.freeze_after_vectors:
            self._freeze()
        if f.hang_after_vectors is not None and self.vectors_since_hang > f.hang_after_vectors:
            self.vectors_since_hang = 0
            return True
        return False


class AgentGate:
    """What passes between the host and one agent process."""

    def __init__(self, stalls: TwinStalls) -> None:
        self.stalls = stalls
        self.decoder = tf.FrameDecoder()
        self.hung = False

    @property
    def silent(self) -> bool:
        """Nothing the agent says reaches the host."""
        return self.hung or self.stalls.frozen

    def passes(self, data: bytes) -> bool:
        """Whether these bytes from the host reach the agent."""
        if self.silent:
            return False
        for frame in self.decoder.feed(data):
            if self.stalls.took(frame):
                self.hung = True
        return not self.silent


def silence(conn: asyncssh.SSHServerConnection) -> None:
    """An SSH connection that neither reads nor sends any more, its TCP connection left open:
    what a client sees of a board whose kernel locked up."""
    transport = conn._transport  # asyncssh's asyncio transport
    if transport is not None:
        transport.pause_reading()
    conn._send = lambda data: None  # type: ignore[method-assign]
