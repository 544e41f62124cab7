"""A board twin's kernel log: what ``/dev/kmsg`` takes, ``dmesg`` shows and the console prints.

As on Linux, a record written to ``/dev/kmsg`` (``tee /dev/kmsg``, each line one record, an
optional ``<N>`` priority first) joins the kernel's ring buffer stamped with the seconds since
boot, and the console prints it when its level is below the console log level (7: all but
debug messages). So a test, or a twin part (a failing FPGA manager), makes the board's
console print an oops exactly as a real kernel would: ``[  123.456789] Internal error: Oops …``.
A power cycle empties the log and restarts its clock. ``twin.console.oops_after_vectors``
has the kernel print an oops once the device answered that many vectors (mid-stream).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from pytest_think.emulator.activity import DeviceActivity
from pytest_think.emulator.shell import BoardShell, ShellIO

__all__ = ["KMSG", "KernelLog"]

KMSG = "/dev/kmsg"
CONSOLE_LOGLEVEL = 7  # printk's default: levels 0..6 reach the console
DEFAULT_LEVEL = 4  # a /dev/kmsg write without a prefix: KERN_WARNING
_PRIORITY = re.compile(r"^<(\d{1,3})>")


class KernelLog:
    """The ring buffer of one boot, and the consoles it prints to."""

    def __init__(self) -> None:
        self.boot_ns = time.monotonic_ns()
        self.records: list[tuple[int, int, str]] = []  # (ns since boot, level, text)
        self.consoles: list[Callable[[str], None]] = []

    def reboot(self) -> None:
        self.boot_ns = time.monotonic_ns()
        self.records.clear()

    @staticmethod
    def stamp(ns: int) -> str:
        return f"[{ns // 1_000_000_000:5d}.{ns // 1000 % 1_000_000:06d}]"

    def printk(self, text: str, level: int = DEFAULT_LEVEL) -> None:
        """Log each line of `text`; print it on the consoles when its level is low enough."""
        for line in text.splitlines():
            ns = time.monotonic_ns() - self.boot_ns
            self.records.append((ns, level, line))
            if level < CONSOLE_LOGLEVEL:
                for console in self.consoles:
                    console(f"{self.stamp(ns)} {line}\n")

    def write_kmsg(self, data: bytes) -> None:
        """A write to /dev/kmsg: its lines as records, each with its own `<N>` priority."""
        for line in data.decode(errors="replace").splitlines():
            level = DEFAULT_LEVEL
            found = _PRIORITY.match(line)
            if found:
                level, line = int(found.group(1)) & 7, line[found.end() :]
            self.printk(line, level)

    def print_after_vectors(self, activity: DeviceActivity, vectors: int, text: str) -> None:
        """Log `text` (a /dev/kmsg write) once the device has answered `vectors` vectors."""

        def answered(count: int) -> None:
            if count >= vectors:
                activity.result_listeners.remove(answered)
                self.write_kmsg(text.encode())

        activity.result_listeners.append(answered)

    def attach(self, shell: BoardShell) -> None:
        """Give the board's shell /dev/kmsg (through `tee`) and `dmesg`."""
        shell.devices[KMSG] = self.write_kmsg
        shell.tools["dmesg"] = self._dmesg

    async def _dmesg(self, args: list[str], io: ShellIO) -> int:
        if args:
            io.err(b"dmesg: this board's command set prints the whole log only\n")
            return 1
        io.out("".join(f"{self.stamp(ns)} {text}\n" for ns, _, text in self.records).encode())
        return 0
