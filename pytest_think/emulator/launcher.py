"""Start and stop a board twin as a separate process, and point the board at it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import yaml

from pytest_think.boards import BoardConfig, TwinUart
from pytest_think.errors import TwinError


class TwinProcess:
    """A running twin. Use as a context manager, or call stop()."""

    def __init__(self, proc: subprocess.Popen[bytes], endpoint: dict[str, Any], log: Path):
        self.proc = proc
        self.endpoint = endpoint
        self.log = log

    @classmethod
    def start(cls, board: BoardConfig, state_dir: Path, timeout: float = 30.0) -> TwinProcess:
        state_dir.mkdir(parents=True, exist_ok=True)
        board_file = state_dir / "board.yaml"
        board_file.write_text(yaml.safe_dump(board.model_dump(mode="json"), sort_keys=False))
        log = state_dir / "twin.log"
        if board.ssh is not None:
            argv = [sys.executable, "-m", "pytest_think.emulator", str(board_file), str(state_dir)]
        else:  # a board on a serial line only: a microcontroller behind a pty
            argv = _uart_argv(board, state_dir)
        with log.open("wb") as log_fh:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_fh,
            )
        assert proc.stdout is not None
        line = _readline_with_timeout(proc.stdout, timeout)
        if not line:
            proc.kill()
            proc.wait()
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise TwinError(f"twin of board '{board.name}' did not start: {tail[0]} (log: {log})")
        return cls(proc, json.loads(line), log)

    def board(self, board: BoardConfig) -> BoardConfig:
        """The board as reached through this twin: only the endpoint changes."""
        e = self.endpoint
        if "port" in e and isinstance(e["port"], str):  # a serial twin: its pty
            return board.with_serial_port(e["port"])
        reached = board.with_endpoint(
            host=e["host"],
            port=int(e["port"]),
            user=e["user"],
            key_file=Path(e["key_file"]),
            host_key=e["host_key"],
        )
        if "console" in e:
            reached = reached.with_console_port(e["console"])
        if "meter" in e:
            reached = reached.with_meter_resource(e["meter"])
        return reached

    @property
    def sandbox_root(self) -> Path:
        return Path(self.endpoint["root"])

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> TwinProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def truth(self) -> list[dict[str, Any]]:
        """The twin's energy-truth log: what its device really did in each measured loop."""
        from pytest_think.emulator.activity import TRUTH_FILE

        path = self.log.parent / TRUTH_FILE
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _uart_argv(board: BoardConfig, state_dir: Path) -> list[str]:
    assert board.serial is not None and board.twin is not None
    uart = board.twin.uart or TwinUart()
    return [
        sys.executable,
        "-m",
        "pytest_think.emulator.uart",
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


def _readline_with_timeout(stream: IO[bytes], timeout: float) -> bytes:
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""
