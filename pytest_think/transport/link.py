"""The byte link to a running agent: what the agent client asks of a transport.

An SSH exec channel (`ssh.RemoteProcess`) and a serial port (`serial.SerialLink`) are links.
A link moves bytes; frames are built on it by a frame channel (`channel.PlainChannel` on
reliable links, `reliable.ReliableChannel` on links that corrupt or drop bytes).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["RELIABLE_FRAME_BYTES", "Link"]

# INFER frames on a link that loses nothing: large enough that per-frame costs vanish, small
# enough that a window of them keeps both ends busy. Larger frames cost the host less CPU per
# vector but made the agent's own inferences slower (docs/performance.md, P1c): 64 KiB.
RELIABLE_FRAME_BYTES = 64 * 1024


class Link(Protocol):
    """A byte link to one agent process, with what is known about how it behaves."""

    @property
    def reliable(self) -> bool:
        """True when bytes arrive whole and in order (SSH); False when the link may corrupt or
        drop them (a UART), so frames are resynchronised, NAKed and repeated over it."""
        ...

    @property
    def frame_bytes(self) -> int:
        """The INFER frame size to aim for (to start at, on a link whose frame size adapts):
        shorter on noisy links, where a frame's chance to arrive whole falls with its
        length."""
        ...

    @property
    def frame_bytes_range(self) -> tuple[int, int]:
        """The smallest and largest INFER frame sizes the frame channel may adapt the size
        between, on a lossy link, as it meets errors (transport/frame_size.py); both
        `frame_bytes` where the size is fixed."""
        ...

    @property
    def retransmit_after(self) -> float:
        """Seconds of silence after which unanswered requests are sent again (infinite on a
        reliable link: nothing is ever lost there)."""
        ...

    def describe(self) -> str:
        """The link and what runs at its far end, for messages."""
        ...

    def send(self, data: bytes) -> None: ...

    def recv(self, n: int, timeout: float | None) -> bytes:
        """Up to n bytes; b"" once the far end has closed; TimeoutError after `timeout`."""
        ...

    def close_input(self) -> None:
        """Tell the agent no more input comes (end of file), where the link has one."""
        ...

    def stderr_tail(self, lines: int = 5) -> str:
        """The agent's last lines of stderr, joined with " | "; "" where there is none."""
        ...

    def exit_status(self, timeout: float = 2.0) -> int | None:
        """The agent's exit status once it has ended; None when the link cannot tell."""
        ...

    def close(self) -> None: ...
