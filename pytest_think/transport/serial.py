"""A byte link over a serial port (pyserial): a UART, an RFC 2217 server (ser2net), a pty.

Any `serial_for_url` URL works: /dev/ttyUSB0, rfc2217://host:port, socket://host:port,
loop://. Serial links corrupt and drop bytes, so this link says it is not reliable and the
agent client resynchronises, NAKs and retransmits over it (transport/reliable.py).
"""

from __future__ import annotations

import serial

from pytest_think.errors import LinkError

SERIAL_FRAME_BYTES = 512


class SerialLink:
    """A `Link` over a serial port."""

    reliable = False

    def __init__(
        self, url: str, baudrate: int, window: int = 8, frame_bytes: int = SERIAL_FRAME_BYTES
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.frame_bytes = frame_bytes
        try:
            # exclusive: a port another program holds is refused, not shared byte by byte
            self.port = serial.serial_for_url(
                url, baudrate=baudrate, timeout=0.1, exclusive=True, do_not_open=False
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"serial port {url}: {exc}") from None
        # Wait a few windows' worth of line time before repeating unanswered frames.
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
        self.port.timeout = timeout
        try:
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
