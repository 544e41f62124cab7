"""What every SCPI meter driver shares: the VISA connection, the `*IDN?` check, commands
checked against the instrument's error queue, and following numeric updates by polling."""

from __future__ import annotations

import contextlib
import errno
import math
import socket
import threading
import time
from typing import Any, ClassVar

import numpy as np
import pyvisa
from pydantic import Field

from pytest_think.power.meters import SCPI_OVERFLOW, MeterError, MeterLost, MeterOptions, Trace

# The instrument calls that talk to it: a failure in one is the meter lost, not a refusal.
IO_CALLS = frozenset({"write", "read", "query", "read_bytes", "read_raw", "query_binary_values"})
GONE = (errno.EPIPE, errno.ECONNRESET, errno.ECONNABORTED, errno.ENOTCONN, errno.ESHUTDOWN)


class VisaOptions(MeterOptions):
    """Where a VISA instrument is and how to talk to it: what every SCPI driver reads."""

    resource: str = Field("", description="VISA resource, e.g. TCPIP::10.0.0.7::5025::SOCKET")
    channel: int = Field(1, ge=1, le=4, description="the output or element the board is on")
    timeout_s: float = Field(10.0, gt=0)
    visa_library: str = Field(
        "@py", description="pyvisa's VISA library: @py (pyvisa-py), '' for NI-VISA, file@sim"
    )


class VisaLink:
    """An opened instrument whose I/O failures are `MeterLost`: a timeout is the meter that
    stopped answering, a closed or reset socket the meter that went away. Once lost, every
    further call fails at once with the same line (no second wait for the timeout)."""

    def __init__(self, inst: Any, where: str) -> None:
        object.__setattr__(self, "_inst", inst)
        object.__setattr__(self, "_where", where)
        object.__setattr__(self, "_last", "")  # the last command sent, for messages
        object.__setattr__(self, "lost", None)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inst, name)
        if name not in IO_CALLS:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.lost is not None:
                raise self.lost
            if args and isinstance(args[0], str):
                object.__setattr__(self, "_last", args[0])
            try:
                return attr(*args, **kwargs)
            except (pyvisa.Error, OSError) as exc:
                lost = MeterLost(f"{self._where}: {self._why(exc)}")
                object.__setattr__(self, "lost", lost)
                raise lost from None

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inst, name, value)

    def _why(self, exc: BaseException) -> str:
        at = f"at `{self._last}`" if self._last else "at its first command"
        closed = isinstance(exc, OSError) and exc.errno in GONE
        if closed or peer_closed(self._inst):
            return f"the meter closed its connection ({at})"
        timeout = isinstance(exc, pyvisa.errors.VisaIOError) and (
            exc.error_code == pyvisa.constants.StatusCode.error_timeout
        )
        if timeout:
            seconds = float(self._inst.timeout or 0) / 1000
            return f"the meter stopped answering ({at}: no answer within {seconds:g} s)"
        return f"the connection to the meter failed ({at}): {exc}"


def peer_closed(inst: Any) -> bool:
    """Whether the other end closed or reset the instrument's socket (pyvisa-py's TCPIP
    SOCKET session); False when that cannot be told."""
    try:
        sock = inst.visalib.sessions[inst.session].interface
    except (AttributeError, KeyError, TypeError):
        return False
    if not isinstance(sock, socket.socket):
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:  # open, nothing to read
        return False
    except OSError as exc:
        return exc.errno in GONE


class ScpiMeter:
    """A meter over pyvisa (pyvisa-py by default) that must answer `*IDN?` with `model`."""

    model = ""  # a substring of the instrument's *IDN? answer
    vendor = ""
    error_query = "SYST:ERR?"
    Options: ClassVar[type[MeterOptions]] = VisaOptions

    def __init__(self, config: VisaOptions, what: str, device: Any = None) -> None:
        self.config = config
        self.where = f"{what} ({config.resource})"
        if not config.resource:
            raise MeterError(f"{what}: field 'meter.resource' is empty; give its VISA resource")
        try:
            self.rm = pyvisa.ResourceManager(config.visa_library)
            inst: Any = self.rm.open_resource(
                config.resource,
                read_termination="\n",
                write_termination="\n",
                timeout=int(config.timeout_s * 1000),
            )
            self.inst = inst
            self.idn = str(inst.query("*IDN?")).strip()
        except (pyvisa.Error, OSError, ValueError) as exc:
            raise MeterError(f"{self.where}: cannot reach it: {exc}") from None
        if self.model not in self.idn:
            inst.close()
            raise MeterError(
                f"{self.where}: answers *IDN? with '{self.idn}', not a {self.vendor} "
                f"{self.model}; check meter.driver and meter.resource"
            )
        # Reached and identified: from here on, a failing link is the meter lost.
        self.inst = VisaLink(inst, self.where)

    def command(self, text: str) -> None:
        """Send a command and read the error queue: an instrument error is one line."""
        try:
            self.inst.write(text)
            error = str(self.inst.query(self.error_query)).strip()
        except pyvisa.Error as exc:
            raise MeterError(f"{self.where}: '{text}' failed: {exc}") from None
        if not error.startswith(("0,", "+0,")):
            raise MeterError(f"{self.where}: '{text}' refused: {error}")

    def close(self) -> None:
        with contextlib.suppress(pyvisa.Error, OSError):
            self.inst.close()


class PolledMeter(ScpiMeter):
    """A meter without trace memory: its readings are followed as they update.

    `read_watts` returns the latest reading; `updated` says whether a new one is ready (by
    default: one update interval has passed). Each reading is stamped between the previous
    poll and the poll that got it."""

    poll_s = 0.005
    rates_s: tuple[float, ...] = (0.1,)
    # True: `updated` watches the instrument's own update flag. False: readings are taken
    # once per interval, and the update each one shows ended up to an interval before.
    update_flag = True

    def __init__(self, config: VisaOptions, what: str, device: Any = None) -> None:
        super().__init__(config, what, device)
        self.rate = self.rates_s[0]
        self.samples: list[tuple[int, int, float]] = []
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.last_read = 0
        # The polling thread and the test's thread share one connection: one query at a time.
        self.lock = threading.Lock()

    def set_rate(self, seconds: float) -> None:
        """Configure the instrument's update interval (instruments override)."""

    def updated(self) -> bool:
        return time.time_ns() - self.last_read >= self.rate * 1e9

    def read_watts(self) -> float:
        raise NotImplementedError

    def arm(self, duration_s: float, max_rate_hz: float | None = None) -> None:
        slowest_ok = 1 / max_rate_hz if max_rate_hz else self.rates_s[0]
        self.rate = next((r for r in self.rates_s if r >= slowest_ok - 1e-9), self.rates_s[-1])
        self.set_rate(self.rate)
        self.updated()  # forget an update that came before the acquisition
        self.samples, self.error = [], None
        deadline = time.time_ns() + int(duration_s * 1e9)
        self.thread = threading.Thread(target=self._follow, args=(deadline,), daemon=True)
        self.thread.start()

    def _follow(self, deadline_ns: int) -> None:
        try:
            previous = time.time_ns()
            while time.time_ns() < deadline_ns:
                with self.lock:
                    fresh = self.updated()
                    if fresh:
                        seen = time.time_ns()
                        self.last_read = seen
                        self.samples.append((previous, seen, self.read_watts()))
                previous = time.time_ns()
                time.sleep(self.poll_s)
        except (pyvisa.Error, MeterError, ValueError, IndexError) as exc:
            self.error = exc

    def fetch(self) -> Trace:
        if self.thread is not None:
            self.thread.join()
        if isinstance(self.error, MeterLost):
            raise self.error
        if self.error is not None:
            raise MeterError(f"{self.where}: reading updates failed: {self.error}")
        if not self.samples:
            return Trace(np.zeros(0, np.int64), np.zeros(0), self.rate, 0, False)
        previous = np.array([s[0] for s in self.samples], dtype=np.int64)
        seen = np.array([s[1] for s in self.samples], dtype=np.int64)
        watts = np.array([s[2] for s in self.samples])
        uncertainty = math.ceil(float((seen - previous).max()) / 2)
        times = ((previous + seen) // 2).astype(np.int64)
        if not self.update_flag:
            half = int(self.rate * 1e9 / 2)
            times -= half
            uncertainty += half
        overflow = bool((np.abs(watts) >= SCPI_OVERFLOW).any())
        return Trace(times, watts, self.rate, uncertainty, overflow)

    def close(self) -> None:
        if self.thread is not None:
            self.thread.join()
        super().close()


class IntegratingMeter(PolledMeter):
    """A polled meter with its own energy integrator (an `EnergyIntegrator`): the commands
    that reset, start and stop it, and the query whose fields 3 and 4 are its watt-hours and
    seconds."""

    integrator_commands: tuple[str, str, str] = ("", "", "")
    integrator_query = ""

    def integrate_start(self) -> None:
        """Start the instrument's integrator (a cross-check of the sampled energy)."""
        with self.lock:
            self.command(self.integrator_commands[0])
            self.command(self.integrator_commands[1])

    def integrate_stop(self) -> tuple[float, float]:
        """Stop it; the energy (J) and time (s) it integrated."""
        with self.lock:
            self.command(self.integrator_commands[2])
            values = [float(v) for v in str(self.inst.query(self.integrator_query)).split(",")]
        return values[3] * 3600.0, values[4]
