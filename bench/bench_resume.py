"""Resume benchmark (R2): a 20,000-vector stream whose SSH connection drops three times.

    python bench/bench_resume.py [--vectors N] [--device-us US] [--json PATH]

Starts one twin of the `sim` board on 127.0.0.1 whose device takes DEVICE_US per inference
(twin section `latency: {fixed_us: ...}`), so that the device, not this machine's shared
cores, sets the stream's pace, as on a board; the model is the 64x64-image MLP (16 KiB per
vector, so a frame holds few of them, as with image models of that speed). In one run:

  R2   wall time of the stream with three drops (the twin's `drop_after_vectors` fault, at a
       quarter, a half and three quarters of the vectors sent)  /  wall time of the same
       stream undisturbed; target <= 1.5. Both streams: every vector once (3 reconnects,
       0 for the undisturbed one) and outputs equal to onnxruntime's on the host exactly.

Also printed: what each resume cost (reconnect, agent restart and model load), and how many
vectors were sent again (those in flight when the connection dropped). A resume's cost does
not depend on the stream: the ratio for another stream length or device speed follows from
it. It reports; it never asserts: the exit status is 0 whether the line reads PASS or MISS.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from bench_link import TWIN_NOTE

from pytest_think.boards import PACKAGED_BOARDS, load_board
from pytest_think.device import Device, Run
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.families import open_board
from pytest_think.reference import reference_model

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "fixtures/models/digits_mlp_64x64.onnx"
VECTORS = 20_000
DEVICE_US = 1000.0
DROPS = 3
TARGET = 1.5
WARMUP = 200


def board_file(dest: Path, device_us: float, drops: list[int]) -> Path:
    data: dict[str, Any] = yaml.safe_load((PACKAGED_BOARDS / "sim.yaml").read_text())
    data["name"] = "resume-bench"
    data["twin"]["latency"] = {"fixed_us": device_us}
    data["twin"]["faults"] = {"drop_after_vectors": drops}
    path = dest / "resume-bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def image_vectors(count: int, dest: Path) -> Path:
    """`count` 64x64 images: the 8x8 digits scaled up (pixel repeated 8x8), as float32."""
    with np.load(ROOT / "fixtures/vectors/digits_test_images.npz") as data:
        small = data["input"]
    images = np.kron(small, np.ones((1, 1, 8, 8), np.float32))
    reps = -(-count // len(images))
    path = dest / f"images-{count}.npz"
    np.savez(path, image=np.tile(images, (reps, 1, 1, 1))[:count])
    return path


def exact(run: Run) -> bool:
    for start, stop, outputs in reference_model(MODEL).run_chunks(run.vectors):
        for name, expected in outputs.items():
            if not np.array_equal(run.outputs[name][start:stop], expected):
                return False
    return True


def measure(count: int, device_us: float, scratch: Path) -> dict[str, Any]:
    vectors = image_vectors(count, scratch)
    warmup = image_vectors(WARMUP, scratch)
    # The twin counts the vectors sent over its life: warm-up, then the undisturbed stream,
    # then the dropped one, whose drops fall at a quarter, a half and three quarters.
    offset = WARMUP + count
    drops = [offset + count * k // (DROPS + 1) for k in range(1, DROPS + 1)]
    board = load_board(board_file(scratch, device_us, drops))
    with TwinProcess.start(board, scratch / "twin") as twin:
        device = Device(open_board(twin.board(board), emulated=True))
        try:
            device.run(MODEL, warmup)
            started = time.perf_counter()
            undisturbed = device.run(MODEL, vectors)
            undisturbed_s = time.perf_counter() - started
            started = time.perf_counter()
            dropped = device.run(MODEL, vectors)
            dropped_s = time.perf_counter() - started
        finally:
            device.close()
            device.board.close()
    resumes = dropped.result.resumes
    ratio = dropped_s / undisturbed_s
    return {
        "vectors": count,
        "device_us": device_us,
        "vectors_per_frame": dropped.result.vectors_per_frame,
        "window": dropped.result.window,
        "undisturbed_s": round(undisturbed_s, 3),
        "dropped_s": round(dropped_s, 3),
        "ratio": round(ratio, 3),
        "target": TARGET,
        "verdict": "PASS" if ratio <= TARGET and len(resumes) == DROPS else "MISS",
        "reconnects": dropped.result.reconnects,
        "undisturbed_reconnects": undisturbed.result.reconnects,
        "exact": exact(dropped) and exact(undisturbed),
        "resumes": [r.as_json() for r in resumes],
        "twin": TWIN_NOTE,
    }


def report(result: dict[str, Any]) -> None:
    print(
        f"R2 resume: {result['vectors']} vectors, device {result['device_us']:g} us/vector, "
        f"{result['vectors_per_frame']} vectors/frame, window {result['window']}"
    )
    print(f"   ({TWIN_NOTE})")
    print(
        f"   undisturbed {result['undisturbed_s']:.2f} s ({result['undisturbed_reconnects']} "
        f"reconnects); {DROPS} drops {result['dropped_s']:.2f} s ({result['reconnects']} "
        f"reconnects); outputs exact: {result['exact']}"
    )
    for k, r in enumerate(result["resumes"], 1):
        print(
            f"   resume {k}: {r['seconds']:.2f} s after {r['after_vectors']} vectors, "
            f"{r['resent']} sent again, {r['tries']} tries"
        )
    print(
        f"   ratio dropped / undisturbed = {result['ratio']:.3f} "
        f"(target <= {TARGET}): {result['verdict']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=VECTORS)
    parser.add_argument("--device-us", type=float, default=DEVICE_US)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    # The drops are on purpose: paramiko need not log each reset connection.
    logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="think-bench-resume-") as tmp:
        result = measure(args.vectors, args.device_us, Path(tmp))
    report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"R2": result}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
