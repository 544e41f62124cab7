"""Frame channels: whole THINK frames over a byte link.

`PlainChannel` decodes frames on a link that already delivers bytes whole and in order (the
SSH exec channel): a frame that fails its checks is a fault, raised. `ReliableChannel`
(transport/reliable.py) makes a lossy link look like that. Both are `FrameChannel`s, all the
agent client talks to.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Protocol

from pytest_think.agent import think_frames as tf
from pytest_think.transport.link import Link

__all__ = ["FrameChannel", "LinkClosed", "PlainChannel"]

RECV_BYTES = 1 << 20


class LinkClosed(EOFError):
    """The link ended (or was reset): the agent's end is gone."""


class FrameChannel(Protocol):
    """Frames to and from one agent. Requests may be sent from one thread while another
    receives."""

    def send(self, blob: bytes) -> None:
        """Send a frame that no answer is awaited for (BYE)."""
        ...

    def request(self, seq: int, blob: bytes) -> None:
        """Send a request; the frame answering it will carry `seq`."""
        ...

    def receive(self, timeout: float) -> tf.Frame:
        """The next frame from the agent, each answer once. Raises TimeoutError when none
        comes within `timeout`, LinkClosed when the link ends, and tf.FrameError when a frame
        arrives corrupted on a link that should not corrupt any."""
        ...

    def counts(self) -> dict[str, int]:
        """Corruption and recovery counts so far (results JSON `stream.link`); empty on links
        that need no recovery."""
        ...

    @property
    def frame_bytes(self) -> int:
        """The size to build the next INFER frame at: the link's `frame_bytes`, or on a lossy
        link what the errors met so far make best."""
        ...


class ChannelBase:
    """The receive loop both channels share: wait for bytes until a frame is whole."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.pending: deque[tf.Frame] = deque()  # whole frames not yet received
        self.send_lock = threading.Lock()  # frames from two threads must not interleave

    def send(self, blob: bytes) -> None:
        with self.send_lock:
            self.link.send(blob)

    def receive(self, timeout: float) -> tf.Frame:
        deadline = time.monotonic() + timeout
        while not self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no frame within {timeout:g} s")
            try:
                data = self.link.recv(RECV_BYTES, self.wait(remaining))
            except TimeoutError:
                self.quiet()
                continue
            except OSError:  # a reset link: the agent's end is gone
                data = b""
            if not data:
                raise LinkClosed(self.link.describe())
            self.arrived(data)
        return self.pending.popleft()

    def wait(self, remaining: float) -> float:
        """How long to wait for bytes now, with `remaining` seconds left to the deadline."""
        return remaining

    def quiet(self) -> None:
        """The link was silent for a whole wait."""

    def arrived(self, data: bytes) -> None:
        """Bytes came: queue the frames they complete."""
        raise NotImplementedError


class PlainChannel(ChannelBase):
    """Frames over a reliable link: nothing is repeated, a corrupted frame is an error."""

    def __init__(self, link: Link) -> None:
        super().__init__(link)
        self.decoder = tf.FrameDecoder()

    @property
    def frame_bytes(self) -> int:
        return self.link.frame_bytes

    def request(self, seq: int, blob: bytes) -> None:
        self.send(blob)

    def arrived(self, data: bytes) -> None:
        self.pending.extend(self.decoder.feed(data))

    def counts(self) -> dict[str, int]:
        return {}
