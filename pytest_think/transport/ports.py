"""Serial ports by URL, fit for a frame link at line rate: a UART or pty, RFC 2217, raw TCP.

pyserial's own network ports are slow for a stream of frames (measured through ser2net at
921600 baud: 0.28 of line rate against 0.88 on the pty):

- its RFC 2217 port renegotiates the line settings (baud rate, data bits …, and 50 ms of
  sleep while it waits for the answers) every time the read timeout is set, and its reader
  thread passes bytes one by one through a `queue.Queue`;
- its ``socket://`` port says at most one byte is waiting (a select, not a count), so a
  reader that asks what is waiting gets bytes one or two at a time.

`open_port` opens any `serial_for_url` URL; ``rfc2217://`` and ``socket://`` get the ports
below, whose reader keeps whole chunks and whose `read_some(n, timeout)` returns what has
arrived. ser2net does not answer SET_CONTROL, so an RFC 2217 URL without ``ign_set_control``
gets it (labgrid opens its ports so too).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import warnings
from typing import Any, Protocol, cast
from urllib.parse import urlsplit, urlunsplit

import serial
import serial.rfc2217 as rfc2217
from serial.urlhandler.protocol_socket import Serial as _SocketSerial

__all__ = ["ChunkPort", "Rfc2217Port", "SocketPort", "open_port", "with_ign_set_control"]

IAC, SB, SE = rfc2217.IAC, rfc2217.SB, rfc2217.SE
NEGOTIATION = (rfc2217.DO, rfc2217.DONT, rfc2217.WILL, rfc2217.WONT)
NORMAL, IAC_SEEN, NEGOTIATE = 0, 1, 2
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class ChunkPort(Protocol):
    """A port that hands over what has arrived."""

    def read_some(self, n: int, timeout: float | None) -> bytes:
        """Up to `n` bytes, waiting up to `timeout` for the first; b"" when the connection
        ended; TimeoutError when nothing came."""
        ...


def with_ign_set_control(url: str) -> str:
    """An ``rfc2217://`` URL with the ``ign_set_control`` option (others unchanged)."""
    parts = urlsplit(url)
    if parts.scheme != "rfc2217" or "ign_set_control" in parts.query.split("&"):
        return url
    query = "&".join(q for q in (parts.query, "ign_set_control") if q)
    return urlunsplit(parts._replace(query=query))


def open_port(url: str, baudrate: int, timeout: float | None, **kwargs: Any) -> serial.SerialBase:
    """The port `url` names, open (pyserial's exceptions as pyserial raises them)."""
    scheme = urlsplit(url).scheme
    port_class: type[serial.SerialBase] | None = {"rfc2217": Rfc2217Port, "socket": SocketPort}.get(
        scheme
    )
    if port_class is None:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, **kwargs)
    port = port_class(None, baudrate=baudrate, timeout=timeout, **kwargs)
    port.port = with_ign_set_control(url)
    port.open()
    return port


class Rfc2217Port(rfc2217.Serial):  # type: ignore[misc]
    """pyserial's RFC 2217 client with a chunked reader, line settings sent only when they
    change."""

    def open(self) -> None:
        self._chunks = bytearray()
        self._arrived = threading.Condition()
        self._ended = False
        self._applied: tuple[Any, ...] | None = None
        with warnings.catch_warnings():  # pyserial 3.5 names its reader with setName() …
            warnings.filterwarnings("ignore", "set(Daemon|Name)", DeprecationWarning)
            super().open()

    def _reconfigure_port(self) -> None:
        # pyserial calls this for a new read timeout too; the server needs only the line.
        line: tuple[Any, ...] = (self._baudrate, self._bytesize, self._parity, self._stopbits)
        line += (self._rtscts, self._xonxoff)
        if line != self._applied:
            super()._reconfigure_port()
            self._applied = line

    def _telnet_read_loop(self) -> None:
        """The socket's bytes: data in chunks to the buffer, telnet commands processed."""
        mode, command = NORMAL, b""
        suboption: bytearray | None = None
        try:
            while self.is_open:
                try:
                    data = self._socket.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                quick_ack(self._socket)
                plain = bytearray()
                i, n = 0, len(data)
                while i < n:
                    if mode == NORMAL:
                        j = data.find(IAC, i)
                        end = n if j < 0 else j
                        (plain if suboption is None else suboption).extend(data[i:end])
                        if j < 0:
                            break
                        mode, i = IAC_SEEN, j + 1
                        continue
                    byte = data[i : i + 1]
                    i += 1
                    if mode == NEGOTIATE:
                        self._telnet_negotiate_option(command, byte)
                        mode = NORMAL
                    elif byte == IAC:  # a doubled IAC: the data byte 255
                        (plain if suboption is None else suboption).extend(IAC)
                        mode = NORMAL
                    elif byte == SB:
                        suboption, mode = bytearray(), NORMAL
                    elif byte == SE:
                        self._telnet_process_subnegotiation(bytes(suboption or b""))
                        suboption, mode = None, NORMAL
                    elif byte in NEGOTIATION:
                        command, mode = byte, NEGOTIATE
                    else:
                        self._telnet_process_command(byte)
                        mode = NORMAL
                if plain:
                    with self._arrived:
                        self._chunks += plain
                        self._arrived.notify_all()
        finally:
            with self._arrived:
                self._ended = True
                self._arrived.notify_all()

    def _wait(self, enough: int, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self._chunks) < enough and not self._ended:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            self._arrived.wait(left)

    def read_some(self, n: int, timeout: float | None) -> bytes:
        with self._arrived:
            self._wait(1, timeout)
            if not self._chunks:
                if self._ended:
                    return b""
                raise TimeoutError(f"nothing on {self.portstr} within {timeout} s")
            data = bytes(self._chunks[:n])
            del self._chunks[:n]
            return data

    def read(self, size: int = 1) -> bytes:
        """pyserial's read: `size` bytes, or fewer when the timeout passes first."""
        if not self.is_open:
            raise serial.PortNotOpenError()
        with self._arrived:
            self._wait(size, self._timeout)
            data = bytes(self._chunks[:size])
            del self._chunks[:size]
            return data

    @property
    def in_waiting(self) -> int:
        return len(self._chunks)

    def reset_input_buffer(self) -> None:
        self.rfc2217_send_purge(rfc2217.PURGE_RECEIVE_BUFFER)
        with self._arrived:
            self._chunks.clear()


class SocketPort(_SocketSerial):  # type: ignore[misc]
    """pyserial's raw TCP port, read in chunks."""

    def read_some(self, n: int, timeout: float | None) -> bytes:
        sock = cast(socket.socket, self._socket)
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            raise TimeoutError(f"nothing on {self.portstr} within {timeout} s")
        try:
            data = sock.recv(n)
        except ConnectionError:
            return b""
        quick_ack(sock)
        return data


def quick_ack(sock: socket.socket) -> None:
    """Acknowledge what arrives at once (Linux): a server that does not set TCP_NODELAY
    (ser2net by default) holds its next small write back (Nagle) until our ACK, which the
    kernel would otherwise delay; the flag lasts only a while, so it is set after each read."""
    if QUICKACK is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
