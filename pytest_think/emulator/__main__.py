"""Run a board twin: ``python -m pytest_think.emulator BOARD_FILE STATE_DIR``.

Prints one JSON line with the endpoint (host, port, user, client key file, pinned host key
fingerprint) once the server listens, then serves until stdin closes or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from pytest_think.boards import load_board
from pytest_think.emulator.config import validate_twin
from pytest_think.emulator.parts import twin_parts
from pytest_think.emulator.servers.ssh import serve_until_parent_exits
from pytest_think.errors import ThinkError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_think.emulator")
    parser.add_argument("board_file", type=Path)
    parser.add_argument("state_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        board = load_board(args.board_file)
        parts, _ = twin_parts(board)  # the launcher said which are missing
        twin = validate_twin(board, parts)
    except ThinkError as exc:
        print(f"twin: {exc}", file=sys.stderr)
        return 2
    args.state_dir.mkdir(parents=True, exist_ok=True)

    def announce(ready: dict[str, Any]) -> None:
        print(json.dumps({**ready, "pid": os.getpid()}), flush=True)

    asyncio.run(serve_until_parent_exits(board, twin, parts, args.state_dir, announce))
    return 0


if __name__ == "__main__":
    sys.exit(main())
