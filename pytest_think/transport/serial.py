"""A byte link over a serial port (pyserial): a UART, an RFC 2217 server (ser2net), a pty.

Any `serial_for_url` URL works: /dev/ttyUSB0, rfc2217://host:port (ser2net), socket://host:port
(ser2net's raw TCP), loop://; network ports are opened by `ports.open_port`, which keeps them
at line rate. Serial links corrupt and drop bytes, so this link says it is not reliable and
the agent client resynchronises, NAKs and retransmits over it (transport/reliable.py), and
adapts the frame size within `frame_bytes_range` to the errors it meets
(transport/frame_size.py).
"""

from __future__ import annotations

import serial

from pytest_think.errors import LinkError
from pytest_think.transport.ports import open_port

SERIAL_FRAME_BYTES = 512


class SerialLink:
    """A `Link` over a serial port."""

    reliable = False

    def __init__(
        self,
        url: str,
        baudrate: int,
        window: int = 8,
        frame_bytes: int = SERIAL_FRAME_BYTES,
        frame_bytes_range: tuple[int, int] | None = None,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.frame_bytes = frame_bytes
        # Fixed at frame_bytes unless a range is given (the board file's serial section).
        self.frame_bytes_range = frame_bytes_range or (frame_bytes, frame_bytes)
        try:
            # exclusive: a port another program holds is refused, not shared byte by byte
            self.port = open_port(url, baudrate, timeout=0.1, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"serial port {url}: {exc}") from None
        self._timeout: float | None = 0.1
        # Wait a few windows' worth of line time before repeating unanswered frames (of
        # frame_bytes: the channel waits in proportion for longer ones).
        line_s = window * frame_bytes * 10 / baudrate
        self.retransmit_after = max(0.1, 4 * line_s)

    def describe(self) -> str:
        return f"serial {self.url} at {self.baudrate} baud"

    def send(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"writing to serial port {self.url} failed: {exc}") from None

    def recv(self, n: int, timeout: float | None) -> bytes:
        read_some = getattr(self.port, "read_some", None)
        try:
            if read_some is not None:  # a network port (ports.ChunkPort)
                chunk: bytes = read_some(n, timeout)
                return chunk
            if timeout != self._timeout:  # setting it reconfigures the port
                self.port.timeout = self._timeout = timeout
            first = self.port.read(1)
            if not first:
                raise TimeoutError(f"nothing on {self.url} within {timeout} s")
            waiting = min(n - 1, self.port.in_waiting)
            data: bytes = first + (self.port.read(waiting) if waiting else b"")
        except serial.SerialException as exc:
            raise LinkError(f"reading serial port {self.url} failed: {exc}") from None
        return data

    def close_input(self) -> None:
        """A serial line has no end-of-file to send."""

    def stderr_tail(self, lines: int = 5) -> str:
        return ""

    def exit_status(self, timeout: float = 2.0) -> int | None:
        return None

    def close(self) -> None:
        self.port.close()
