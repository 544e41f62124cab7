"""Start and stop a board twin as a separate process, and point the board at it.

The twin section is validated here (`validate_twin`), so a bad one stops before a process is
spawned; the parts of the board's family and meter say what runs: the SSH board twin
(``python -m pytest_think.emulator``) or a part's process of its own (a microcontroller).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import yaml

from pytest_think.boards import BoardConfig
from pytest_think.emulator.activity import TRUTH_FILE
from pytest_think.emulator.config import validate_twin
from pytest_think.emulator.parts import twin_parts
from pytest_think.errors import TwinError

__all__ = ["TwinProcess"]


class TwinProcess:
    """A running twin. Use as a context manager, or call stop()."""

    def __init__(self, proc: subprocess.Popen[bytes], endpoint: dict[str, Any], log: Path):
        self.proc = proc
        self.endpoint = endpoint
        self.log = log

    @classmethod
    def start(cls, board: BoardConfig, state_dir: Path, timeout: float = 30.0) -> TwinProcess:
        parts, missing = twin_parts(board)
        twin = validate_twin(board, parts)
        if missing:
            raise TwinError(f"board '{board.name}': {missing[0]}")
        state_dir.mkdir(parents=True, exist_ok=True)
        # The twin process reads the validated section (the parts' paths made absolute).
        data = {**board.model_dump(mode="json"), "twin": twin.model_dump(mode="json")}
        board_file = state_dir / "board.yaml"
        board_file.write_text(yaml.safe_dump(data, sort_keys=False))
        log = state_dir / "twin.log"
        argv = next((a for p in parts if (a := p.process(board, twin, state_dir))), None)
        if argv is None:
            if board.ssh is None:
                raise TwinError(
                    f"board '{board.name}': the twin of family '{board.family}' serves boards "
                    "with an 'ssh' section"
                )
            argv = [sys.executable, "-m", "pytest_think.emulator", str(board_file), str(state_dir)]
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
        """The twin's energy-truth log: what it knows really happened in each measured loop
        (one record per LOOP_DONE); [] when there is none."""
        path = self.log.parent / TRUTH_FILE
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _readline_with_timeout(stream: IO[bytes], timeout: float) -> bytes:
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""
