"""Serial benchmark: P5 (tensor throughput ÷ line rate) and R1 (exactly-once under noise).

    python bench/bench_serial.py [--json PATH]

Runs the microcontroller twin (the agent behind a pseudo-terminal, paced at the baud rate,
with injected bit errors) and streams digits vectors through pyserial, as to a USB-UART.
  P5  input tensor bytes/s ÷ line rate (baud/10 B/s) at 921600 baud, clean line
  R1  at a bit-error rate of 1e-4: every vector answered once and equal to onnxruntime on
      the host; corrupted frames, NAKs and retransmissions counted
Both for the default 512-byte serial frames and for 2048-byte frames.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from pytest_think.agent_client import AgentClient
from pytest_think.transport.serial import SerialLink
from pytest_think.vectors import VectorSet

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "fixtures/models/digits_mlp.onnx"
VECTORS = ROOT / "fixtures/vectors/digits_test.npz"
BAUD = 921600


def run(ber: float, frame_bytes: int, x: np.ndarray, expected: list[np.ndarray]) -> dict[str, Any]:
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
        link = SerialLink(port, BAUD, frame_bytes=frame_bytes)
        client = AgentClient(link, result_timeout=60)
        try:
            client.hello(30)
            client.load(MODEL.name, "digits", "onnxruntime", {}, 30)
            result = client.stream(VectorSet(Path("digits"), {"input": x}, None))
        finally:
            client.bye()
            twin.stdin.close()
            twin.wait(timeout=10)
    exact = all(np.array_equal(result.outputs[n], e) for n, e in zip(result.output_names, expected))
    return {
        "ber": ber,
        "frame_bytes": frame_bytes,
        "vectors": len(x),
        "answered": len(result.device_ns),
        "exact": exact,
        "seconds": result.wall_s,
        "ratio_of_line_rate": x.nbytes / result.wall_s / (BAUD / 10),
        "link": result.link,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, metavar="PATH")
    args = parser.parse_args(argv)
    x = np.tile(np.load(VECTORS)["input"], (3, 1))  # 1350 vectors, 345 600 input bytes
    expected = ort.InferenceSession(str(MODEL)).run(None, {"input": x})
    rows = [run(ber, fb, x, expected) for fb in (512, 2048) for ber in (0.0, 1e-4)]
    print(
        f"digits MLP, {len(x)} vectors ({x.nbytes:,} input bytes), {BAUD} baud (line rate "
        f"{BAUD // 10:,} B/s), microcontroller twin behind a pty"
    )
    print(f"{'frame':>6} {'BER':>7} {'of line rate':>13} {'exact once':>11}  link counts")
    for r in rows:
        once = "yes" if r["exact"] and r["answered"] == r["vectors"] else "NO"
        counts = ", ".join(f"{k} {v}" for k, v in r["link"].items())
        print(
            f"{r['frame_bytes']:>6} {r['ber']:>7g} {r['ratio_of_line_rate']:>13.3f} "
            f"{once:>11}  {counts}"
        )
    p5 = rows[0]["ratio_of_line_rate"]
    print(
        f"P5  default frames, clean line: {p5:.3f} of line rate (target >= 0.90) "
        f"{'PASS' if p5 >= 0.9 else 'MISS'}"
    )
    r1 = all(r["exact"] and r["answered"] == r["vectors"] for r in rows if r["ber"])
    print(f"R1  BER 1e-4: every vector once and exact: {'PASS' if r1 else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
