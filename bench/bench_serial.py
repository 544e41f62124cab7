"""Serial benchmark: P5 and P5s (tensor throughput ÷ line rate), R1 (exactly-once under noise).

    python bench/bench_serial.py [--json PATH] [--no-ser2net]

Runs the microcontroller twin (the agent behind a pseudo-terminal, paced at the baud rate,
with injected bit errors) and streams digits vectors through pyserial, as to a USB-UART.
  P5  input tensor bytes/s ÷ line rate (baud/10 B/s) at 921600 baud, clean line
  R1  at a bit-error rate of 1e-4: every vector answered once and equal to onnxruntime on
      the host; corrupted frames, NAKs and retransmissions counted
Both with the frames of boards/mcu-uart.yaml as shipped (the size adapts to the errors met:
transport/frame_size.py), the targets, and for comparison with fixed 512-byte frames (both
lines) and fixed 2048-byte frames (clean line). Every row is one stream on a fresh twin.
  P5s the same twin exported in a labgrid farm (a real coordinator and exporter; the
      exporter's ser2net serves the pty as RFC 2217): a plain rfc2217://127.0.0.1:PORT from
      the acquired place, the board file's frames, clean line, in the same run; beside it
      pyserial's own RFC 2217 port (with ?ign_set_control), what the link used before.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort
import serial
import yaml

from pytest_think.agent_client import AgentClient
from pytest_think.boards import load_board
from pytest_think.transport.serial import SerialLink
from pytest_think.vectors import VectorSet

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "fixtures/models/digits_mlp.onnx"
VECTORS = ROOT / "fixtures/vectors/digits_test.npz"
BOARD = ROOT / "boards" / "mcu-uart.yaml"
BAUD = 921600


def stream(link: SerialLink, x: np.ndarray, expected: list[np.ndarray]) -> dict[str, Any]:
    """The digits through the agent behind `link`: time, exactness, link counts."""
    client = AgentClient(link, result_timeout=60)
    try:
        client.hello(30)
        client.load(MODEL.name, "digits", "onnxruntime", {}, 30)
        result = client.stream(VectorSet(Path("digits"), {"input": x}, None))
    finally:
        client.bye()
        link.close()
    exact = all(np.array_equal(result.outputs[n], e) for n, e in zip(result.output_names, expected))
    return {
        "vectors": len(x),
        "answered": len(result.device_ns),
        "exact": exact,
        "seconds": result.wall_s,
        "ratio_of_line_rate": x.nbytes / result.wall_s / (BAUD / 10),
        "link": result.link,
    }


def run(ber: float, frames: Frames, x: np.ndarray, expected: list[np.ndarray]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="think-bench-uart-") as tmp:
        twin = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest_think.emulator.families.mcu_uart",
                tmp,
                str(MODEL),
                "--baud",
                str(BAUD),
                "--ber",
                str(ber),
                "--seed",
                "7",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert twin.stdout and twin.stdin
        port = json.loads(twin.stdout.readline())["port"]
        try:
            link = SerialLink(port, BAUD, frame_bytes=frames.start, frame_bytes_range=frames.range)
            row = stream(link, x, expected)
        finally:
            twin.stdin.close()
            twin.wait(timeout=10)
    return {"path": "pty", "ber": ber, "frames": frames.name, "frame_bytes": frames.start, **row}


class Frames(NamedTuple):
    """How the link sizes its frames: from a size within a range (fixed: a range of one)."""

    name: str
    start: int
    range: tuple[int, int]

    @classmethod
    def fixed(cls, size: int) -> Frames:
        return cls(f"{size} B", size, (size, size))

    @classmethod
    def board(cls, path: Path) -> Frames:
        serial = load_board(path).serial
        assert serial is not None
        low, high = serial.frame_bytes_range
        return cls(f"{path.name}: {low}..{high}", serial.frame_bytes, (low, high))


class StockRfc2217Link(SerialLink):
    """The link over pyserial's own RFC 2217 port, as it was before ports.open_port."""

    def __init__(self, url: str, baudrate: int, frames: Frames) -> None:
        super().__init__("loop://", baudrate, 8, frames.start, frames.range)
        self.port.close()
        self.url = url
        self.port = serial.serial_for_url(url + "?ign_set_control", baudrate=baudrate, timeout=0.1)

    def recv(self, n: int, timeout: float | None) -> bytes:
        self.port.timeout = timeout  # what the link did: pyserial renegotiates the line
        first: bytes = self.port.read(1)
        if not first:
            raise TimeoutError(f"nothing on {self.url} within {timeout} s")
        waiting = min(n - 1, self.port.in_waiting)
        return first + (self.port.read(waiting) if waiting else b"")


def run_ser2net(x: np.ndarray, expected: list[np.ndarray]) -> list[dict[str, Any]]:
    """The twin exported in a labgrid farm; the serial port as its place gives it."""
    from pytest_think.emulator.farm import TwinFarm
    from pytest_think.emulator.labgrid_procs import acquired_resources, labgrid_client

    rows = []
    frames = Frames.board(BOARD)
    links: list[tuple[str, Callable[[str], SerialLink]]] = [
        ("ser2net rfc2217", lambda url: SerialLink(url, BAUD, 8, frames.start, frames.range)),
        ("ser2net rfc2217, pyserial's port", lambda url: StockRfc2217Link(url, BAUD, frames)),
    ]
    for path, link in links:  # a farm each: the firmware serves one session
        with tempfile.TemporaryDirectory(prefix="think-bench-ser2net-") as tmp:
            data = yaml.safe_load((ROOT / "boards" / "mcu-uart.yaml").read_text())
            data["twin"]["uart"] = {"models": [str(MODEL)]}
            board_file = Path(tmp) / "mcu-uart.yaml"
            board_file.write_text(yaml.safe_dump(data))
            with TwinFarm.start([load_board(board_file)], Path(tmp) / "farm") as farm:
                acquired = labgrid_client(farm.coordinator, "acquire", place="mcu-uart")
                assert acquired.returncode == 0, acquired.stderr
                params = acquired_resources(farm.coordinator, "mcu-uart")["serial"]["params"]
                url = f"rfc2217://{params['host']}:{params['port']}"
                row = stream(link(url), x, expected)
        rows.append({"path": path, "ber": 0.0, "frames": frames.name, "url": url, **row})
    return rows


def once(row: dict[str, Any]) -> bool:
    """Every vector answered once and equal to onnxruntime's."""
    return bool(row["exact"] and row["answered"] == row["vectors"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, metavar="PATH")
    parser.add_argument("--no-ser2net", action="store_true", help="skip P5s (no ser2net)")
    args = parser.parse_args(argv)
    x = np.tile(np.load(VECTORS)["input"], (3, 1))  # 1350 vectors, 345 600 input bytes
    expected = ort.InferenceSession(str(MODEL)).run(None, {"input": x})
    board = Frames.board(BOARD)
    cases = [(board, 0.0), (board, 1e-4), (Frames.fixed(512), 0.0), (Frames.fixed(512), 1e-4)]
    cases.append((Frames.fixed(2048), 0.0))
    rows = [run(ber, frames, x, expected) for frames, ber in cases]
    rows += [] if args.no_ser2net else run_ser2net(x, expected)
    print(
        f"digits MLP, {len(x)} vectors ({x.nbytes:,} input bytes), {BAUD} baud (line rate "
        f"{BAUD // 10:,} B/s), microcontroller twin behind a pty"
    )
    print(
        f"{'path':<33} {'frames':<26} {'BER':>7} {'of line rate':>13} {'exact once':>11}  "
        "link counts"
    )
    for r in rows:
        counts = ", ".join(f"{k} {v}" for k, v in r["link"].items())
        print(
            f"{r['path']:<33} {r['frames']:<26} {r['ber']:>7g} "
            f"{r['ratio_of_line_rate']:>13.3f} {'yes' if once(r) else 'NO':>11}  {counts}"
        )
    p5, r1 = rows[0], rows[1]  # the board file's frames, clean and at a BER of 1e-4
    ok = p5["ratio_of_line_rate"] >= 0.9 and once(p5)
    print(
        f"P5  {BOARD.name}, clean line: {p5['ratio_of_line_rate']:.3f} of line rate "
        f"(target >= 0.90) {'PASS' if ok else 'MISS'}"
    )
    ser2net = [r for r in rows if r["path"] == "ser2net rfc2217"]
    if ser2net:
        p5s = ser2net[0]["ratio_of_line_rate"]
        print(
            f"P5s through ser2net (RFC 2217, the exporter's own): {p5s:.3f} of line rate, "
            f"{p5s / p5['ratio_of_line_rate']:.3f} of the pty's (target >= 0.80) "
            f"{'PASS' if p5s >= 0.8 else 'MISS'}"
        )
    exact = all(once(r) for r in rows if r["ber"])
    ok = exact and r1["ratio_of_line_rate"] >= 0.4
    print(
        f"R1  {BOARD.name}, BER 1e-4: {r1['ratio_of_line_rate']:.3f} of line rate (target "
        f">= 0.40), every vector once and exact ({'all' if exact else 'NOT all'} BER rows): "
        f"{'PASS' if ok else 'FAIL'}"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
