"""Flash benchmark (P7): a second session flashing an unchanged design ÷ the first session.

    python bench/bench_flash.py [--json PATH]

Starts the `fpga-zcu102` twin once (a full-size XCZU9EG .bit.bin, 26.5 MB) and reaches it as a
bench board, then opens two sessions one after the other, each with its own SSH connection
and an empty local hash cache, as two pytest runs would. Each session brings the board to the
same design. The first uploads and loads the bitstream; the second must find it running.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from pytest_think import hashing
from pytest_think.boards import BoardConfig, find_board
from pytest_think.designs import load_design
from pytest_think.device import Device
from pytest_think.emulator.config import validate_twin
from pytest_think.emulator.families.xilinx_fpga import XilinxFpgaTwin
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.families import open_board

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support import make_bitstream, write_design  # noqa: E402


def session(board: BoardConfig, design_file: Path) -> tuple[float, float, bool]:
    """One 'pytest run': connect, then bring the board to the design.

    Returns (seconds of the whole session, seconds of the flash step, flashed)."""
    hashing.forget_memory()  # a new process: only the on-disk hash cache survives
    started = time.perf_counter()
    conn = open_board(board, False)
    try:
        flash_started = time.perf_counter()
        report = Device(conn).flash(load_design(design_file))
        flash_s = time.perf_counter() - flash_started
    finally:
        conn.close()
    return time.perf_counter() - started, flash_s, report.flashed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, metavar="PATH")
    args = parser.parse_args(argv)
    board = find_board("fpga-zcu102", [ROOT / "boards"])
    fpga = XilinxFpgaTwin().config(validate_twin(board))
    with tempfile.TemporaryDirectory(prefix="think-bench-flash-") as tmp:
        base = Path(tmp)
        size = fpga.bitstream_bytes
        bitstream = make_bitstream(base / "digits.bit.bin", size)
        design = write_design(base, "digits-zcu102", "xilinx-fpga", bitstream=bitstream)
        with TwinProcess.start(board, base / "twin") as twin:
            reached = twin.board(board)
            first, first_flash, flashed1 = session(reached, design)
            second, second_flash, flashed2 = session(reached, design)
    ratio = second_flash / first_flash
    print(f"design: full XCZU9EG .bit.bin, {size:,} bytes (fpga-zcu102 twin)")
    print(f"              {'flash step':>12} {'whole session':>14}")
    print(f"first run:    {first_flash * 1e3:9.1f} ms {first * 1e3:11.1f} ms  flashed: {flashed1}")
    print(
        f"second run:   {second_flash * 1e3:9.1f} ms {second * 1e3:11.1f} ms  flashed: {flashed2}"
    )
    verdict = "PASS" if ratio <= 0.05 and flashed1 and not flashed2 else "MISS"
    print(f"P7  second / first flash step = {ratio:.3f}  (target <= 0.05)  {verdict}")
    print(f"    whole sessions, with SSH connection and identification: {second / first:.3f}")
    if args.json:
        figures = {
            "first_flash_s": first_flash,
            "second_flash_s": second_flash,
            "ratio": ratio,
            "first_session_s": first,
            "second_session_s": second,
            "flashed": [flashed1, flashed2],
            "bitstream_bytes": size,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
