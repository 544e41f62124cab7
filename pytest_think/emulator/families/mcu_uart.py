"""A microcontroller on a UART, as a twin: the agent (--serial) behind a pseudo-terminal,
paced at the line rate and with the line's faults (bit errors, dropped bytes).

    python -m pytest_think.emulator.families.mcu_uart --baud 921600 [--ber 1e-4] [--drop 0] \
        STATE_DIR MODEL...

Prints one JSON line {"port": "/dev/pts/N", "pid": …} once the line is up; the host opens
that port with pyserial like a USB-UART. Models listed are the "firmware's" models, placed
beside the agent so LOAD finds them by file name. The mcu-uart family's twin part
(`McuUartTwin`) starts this process for a board reached on a serial line.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from pytest_think.agent import AGENT_DIR, AGENT_FILES
from pytest_think.boards import BoardConfig
from pytest_think.emulator.parts import TwinModel, TwinPart

if TYPE_CHECKING:
    from pytest_think.emulator.config import TwinConfig

MODULE = "pytest_think.emulator.families.mcu_uart"


class TwinUart(TwinModel):
    """A microcontroller twin's serial line and firmware."""

    ber: float = Field(0.0, ge=0, lt=0.01, description="bit-error rate injected on the line")
    drop: float = Field(0.0, ge=0, lt=0.01, description="share of bytes lost on the line")
    seed: int = 0
    models: list[Path] = Field(
        default_factory=list, description="models built into the firmware (relative paths)"
    )

    @field_validator("models")
    @classmethod
    def _from_board_file(cls, models: list[Path], info: ValidationInfo) -> list[Path]:
        """Relative paths start at the board file's directory."""
        base = (info.context or {}).get("board_dir")
        return [base / m if base is not None and not m.is_absolute() else m for m in models]


class McuUartTwin(TwinPart[TwinUart]):
    """The mcu-uart family's twin: its own process, the agent behind a pty."""

    section = "uart"
    Section = TwinUart

    def process(self, board: BoardConfig, twin: TwinConfig, state_dir: Path) -> list[str] | None:
        assert board.serial is not None, "a microcontroller twin serves a board on a serial line"
        uart = self.config(twin)
        return [
            sys.executable,
            "-m",
            MODULE,
            str(state_dir),
            *(str(m) for m in uart.models),
            "--baud",
            str(board.serial.baud),
            "--ber",
            str(uart.ber),
            "--drop",
            str(uart.drop),
            "--seed",
            str(uart.seed),
        ]


# How far behind the line's clock the pacing thread may wake and still send waiting bytes
# back to back (a sleep's overshoot, a busy machine's scheduling).
LATE_S = 0.02


class Line:
    """One direction of the wire: paced at baud/10 bytes per second, with faults."""

    def __init__(self, baud: int, ber: float, drop: float, seed: int) -> None:
        self.bytes_per_s = baud / 10
        self.ber, self.drop = ber, drop
        self.rng = np.random.default_rng(seed)
        self.next_free = time.perf_counter()
        self.damaged_bytes = 0  # bits flipped plus bytes dropped so far

    def damage(self, data: bytes) -> bytes:
        buf = np.frombuffer(data, np.uint8).copy()
        if self.ber:
            flips = self.rng.binomial(len(buf) * 8, self.ber)
            for bit in self.rng.integers(0, len(buf) * 8, flips):
                buf[bit // 8] ^= np.uint8(1 << (bit % 8))
            self.damaged_bytes += flips
        if self.drop:
            kept = len(buf)
            buf = buf[self.rng.random(len(buf)) >= self.drop]
            self.damaged_bytes += kept - len(buf)
        damaged: bytes = buf.tobytes()
        return damaged

    def pace(self, nbytes: int, waiting: bool = False) -> None:
        """Hold `nbytes` for their time on the line. Bytes that were `waiting` when the line
        came free follow the last ones back to back, as from a UART's FIFO: the line's clock
        runs on from where the last bytes ended, whether or not this thread woke on time (a
        sleep overshoots; the line does not), up to LATE_S behind (bytes that waited longer,
        behind a full receiver, may have come later: they start then). Bytes that came to an
        idle line start now. The line never carries more than baud/10 bytes a second: no
        byte leaves before its time on the line has passed."""
        now = time.perf_counter()
        start = max(self.next_free, now - LATE_S) if waiting else max(self.next_free, now)
        self.next_free = start + nbytes / self.bytes_per_s
        delay = self.next_free - time.perf_counter()
        if delay > 0:
            time.sleep(delay)

    def pump(self, read_fd: int, to: int | Firmware) -> None:
        """Bytes from `read_fd` to `to` (a file descriptor, or the running firmware's input:
        what arrives while it restarts is lost, as on a rebooting board)."""
        while True:
            # Looked at right after the last bytes went out: were more already waiting?
            waiting = bool(select.select([read_fd], [], [], 0)[0])
            data = os.read(read_fd, 256)
            if not data:
                return
            self.pace(len(data), waiting)
            data = self.damage(data)
            try:
                write_fd = to if isinstance(to, int) else to.stdin()
                while data:
                    data = data[os.write(write_fd, data) :]
            except BrokenPipeError:
                continue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--baud", type=int, default=921600)
    parser.add_argument("--ber", type=float, default=0.0)
    parser.add_argument("--drop", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    firmware = args.state_dir / "firmware"
    firmware.mkdir(parents=True, exist_ok=True)
    for name in AGENT_FILES:
        shutil.copy(AGENT_DIR / name, firmware / name)
    for model in args.models:
        shutil.copy(model, firmware / model.name)
    master, slave = os.openpty()
    tty.setraw(slave)
    to_mcu = Line(args.baud, args.ber, args.drop, args.seed)
    from_mcu = Line(args.baud, args.ber, args.drop, args.seed + 1)
    firmware_main = Firmware(firmware, args.state_dir / "agent.log", master, from_mcu)
    threading.Thread(target=firmware_main.run, daemon=True).start()
    threading.Thread(target=to_mcu.pump, args=(master, firmware_main), daemon=True).start()
    print(json.dumps({"port": os.ttyname(slave), "pid": os.getpid()}), flush=True)
    try:
        sys.stdin.read()  # serve until the launcher goes away
    finally:
        firmware_main.stop()
    return 0


class Firmware:
    """The firmware's main loop: the agent, started again when a session ends (after BYE a
    microcontroller goes on listening; the next host asks for its HELLO with a NAK)."""

    def __init__(self, firmware: Path, log: Path, master: int, from_mcu: Line) -> None:
        self.argv = [sys.executable, str(firmware / "think_agent.py"), "--serial"]
        self.log, self.master, self.from_mcu = log, master, from_mcu
        self.agent: subprocess.Popen[bytes] | None = None
        self.started = threading.Condition()
        self.stopped = False

    def run(self) -> None:
        with self.log.open("ab") as log:
            while not self.stopped:
                agent = subprocess.Popen(
                    self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
                )
                assert agent.stdin and agent.stdout
                with self.started:
                    self.agent = agent
                    self.started.notify_all()
                self.from_mcu.pump(agent.stdout.fileno(), self.master)
                agent.wait()
                time.sleep(0.05)  # as a watchdog resets: not in a tight loop

    def stdin(self) -> int:
        """The running agent's input (waiting while it starts)."""
        with self.started:
            while self.agent is None or self.agent.poll() is not None:
                self.started.wait(0.1)
            assert self.agent.stdin is not None
            return self.agent.stdin.fileno()

    def stop(self) -> None:
        self.stopped = True
        if self.agent is not None:
            self.agent.kill()


if __name__ == "__main__":
    sys.exit(main())
