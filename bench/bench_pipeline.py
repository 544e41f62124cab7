"""Pipeline benchmark (P9): throughput of a model in N segments on N Edge TPUs against N = 1.

    python bench/bench_pipeline.py [--quick] [--json PATH] [--op-us US]

Starts a Coral twin with four USB TPUs on 127.0.0.1 (the coral-usb board file with four
devices; state in a temporary directory, removed afterwards) whose TPUs hold each operation
for ``--op-us`` (default 2000 us): the per-segment device time dominates the host's per-vector
work, as on a real card. The model is an int8 MLP of four equal 64x64 layers, whole and cut in
2 and 4 equal segments (TFLite, written here with fixtures/tflite_writer.py), so a pipeline
over N TPUs can at best run N times as fast as one TPU.

  P9  vectors/s through N segments on N TPUs  /  (N x vectors/s of the whole model on one)
      for N = 2 and N = 4; target >= 0.80

Runs of N = 1, 2, 4 are interleaved, repeated, and each ratio is the median over repeats of
the ratios within one repeat. Every run's outputs must equal the whole model's exactly. It
reports; it never asserts: the exit status is 0 whether a line reads PASS or MISS.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

from pytest_think.boards import load_board
from pytest_think.device import Device, Run
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.families import open_board

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fixtures"))
from tflite_writer import (  # noqa: E402
    FULLY_CONNECTED,
    INT8,
    Op,
    QTensor,
    activation_params,
    build_model,
    quantized_dense,
)

LAYERS, WIDTH = 4, 64
DEPTHS = (1, 2, 4)
TARGET = 0.80


def layers(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(0, 1 / np.sqrt(WIDTH), (WIDTH, WIDTH)).astype(np.float32),
         rng.normal(0, 0.05, WIDTH).astype(np.float32))
        for _ in range(LAYERS)
    ]  # fmt: skip


def write_designs(dest: Path, calib: np.ndarray) -> dict[int, Path]:
    """The float reference, the int8 TFLite model and its segments, a design file per N."""
    dense = layers()
    acts = [calib]
    for w, b in dense:
        acts.append(np.maximum(acts[-1] @ w + b, 0))
    names = ["input", *[f"h{i}" for i in range(LAYERS - 1)], "output"]
    params = [activation_params(float(a.min()), float(a.max())) for a in acts]
    tensors = {n: QTensor(n, [1, WIDTH], INT8, s, z) for n, (s, z) in zip(names, params)}
    ops = []
    for i, (w, b) in enumerate(dense):
        weights, bias = quantized_dense(f"fc{i}", w, b, params[i][0])
        tensors[weights.name], tensors[bias.name] = weights, bias
        ops.append(Op(FULLY_CONNECTED, [names[i], weights.name, bias.name], [names[i + 1]], True))
    dest.mkdir(parents=True)
    nodes, inits = [], []
    for i, (w, b) in enumerate(dense):
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(b, f"B{i}")]
        nodes += [
            helper.make_node("Gemm", [names[i], f"W{i}", f"B{i}"], [f"g{i}"]),
            helper.make_node("Relu", [f"g{i}"], [names[i + 1]]),
        ]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, WIDTH]) for n in names]
    graph = helper.make_graph(nodes, "mlp4", [io[0]], [io[-1]], inits)
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), dest / "ref.onnx"
    )
    designs = {}
    for n in DEPTHS:
        per = LAYERS // n
        files = {}
        for i in range(n):
            part = ops[i * per : (i + 1) * per]
            used = {t for op in part for t in op.inputs + op.outputs}
            blob = build_model(
                [t for t in tensors.values() if t.name in used],
                part,
                [names[i * per]],
                [names[(i + 1) * per]],
            )
            name = f"mlp4_segment_{i}_of_{n}.tflite" if n > 1 else "mlp4.tflite"
            (dest / name).write_bytes(blob)
            files["model" if n == 1 else f"segment_{i}"] = name
        design = {
            "name": f"mlp4-{n}",
            "family": "coral-edgetpu",
            "reference": "ref.onnx",
            "files": files,
        }
        designs[n] = dest / f"pipeline-{n}.yaml"
        designs[n].write_text(yaml.safe_dump(design))
    return designs


def board_file(dest: Path, op_us: float) -> Path:
    data = yaml.safe_load((ROOT / "boards" / "coral-usb.yaml").read_text())
    tpus = [f"usb:{i}" for i in range(max(DEPTHS))]
    data["name"] = "coral-usb-4"
    data["options"]["devices"] = tpus
    data["twin"]["coral"] = {"devices": tpus, "op_us": op_us}
    data["twin"].pop("latency", None)  # all device time in the TPUs' operations
    path = dest / "coral-usb-4.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer vectors and repeats")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures")
    parser.add_argument("--op-us", type=float, default=2000.0, help="TPU time per operation")
    args = parser.parse_args(argv)
    count, repeats = (96, 1) if args.quick else (320, 3)
    started = time.perf_counter()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="think-bench-") as tmp:
        scratch = Path(tmp)
        designs = write_designs(scratch / "designs", rng.random((256, WIDTH), np.float32))
        vectors = scratch / "vectors.npz"
        np.savez(vectors, input=rng.random((count, WIDTH), np.float32))
        board = load_board(board_file(scratch, args.op_us))
        rates: dict[int, list[float]] = {n: [] for n in DEPTHS}
        stages: dict[int, list[float]] = {}
        exact = True
        with TwinProcess.start(board, scratch / "twin") as twin:
            conn = open_board(twin.board(board), True)
            dut = Device(conn)
            try:
                for n in DEPTHS:  # warm-up: uploads, first loads
                    dut.run_design(designs[n], vectors)
                for _ in range(repeats):
                    runs: dict[int, Run] = {
                        n: dut.run_design(designs[n], vectors)[0] for n in DEPTHS
                    }
                    whole = runs[1].outputs["output"]
                    for n, run in runs.items():
                        rates[n].append(run.throughput_per_s)
                        stages[n] = [s["p50"] / 1e3 for s in run.stage_latency()]
                        exact = exact and bool(np.array_equal(run.outputs["output"], whole))
            finally:
                dut.close()
                conn.close()
    ratios = {
        n: statistics.median(rates[n][i] / (n * rates[1][i]) for i in range(repeats))
        for n in DEPTHS
        if n > 1
    }
    print(f"P9 pipeline over N Edge TPU twins ({LAYERS} equal layers, {args.op_us:g} us per"
          f" operation, {count} vectors, {repeats} repeats, {platform.node()})")  # fmt: skip
    print(f"{'N':>3} {'vectors/s':>10} {'stage p50 us':<34} ratio   target")
    for n in DEPTHS:
        stage_text = " ".join(f"{s:.0f}" for s in stages[n])
        line = f"{n:>3} {statistics.median(rates[n]):>10.1f} {stage_text:<34}"
        if n > 1:
            verdict = "PASS" if ratios[n] >= TARGET else "MISS"
            line += f" {ratios[n]:.3f}  >= {TARGET:.2f} {verdict}"
        print(line)
    print(f"outputs equal to the whole model's: {exact}; {time.perf_counter() - started:.0f} s")
    if args.json:
        figures: dict[str, Any] = {
            "op_us": args.op_us,
            "vectors": count,
            "repeats": repeats,
            "vectors_per_s": rates,
            "stage_p50_us": stages,
            "ratios": ratios,
            "exact": exact,
        }
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
