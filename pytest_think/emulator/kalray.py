"""A Kalray MPPA (Coolidge) host's twin: /mppa/board0 and KaNN's ``kann_opencl_cnn``.

``kann_opencl_cnn <serialized.bin> <iodir>`` is installed as a real executable in the
sandbox's AccessCore ``bin`` directory, because on a real host it is the agent, not the shell,
that runs it. It reads ``input_<i>.bin`` from the I/O directory, computes the serialized
network, writes ``output_<j>.bin`` and logs a ``Total: <cycles>`` line.

The network file a twin reads is an ONNX model at the MPPA's precision (fp16 weights and
activations, fp32 accumulation); it stands where KaNN's serialized network stands on
hardware. Cycles follow a latency model: a fixed per-inference cost plus the model's
multiply-accumulates at the cluster's sustained rate.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import numpy as np

from pytest_think.boards import TwinMppa
from pytest_think.emulator.sandbox import Sandbox

ACCESSCORE_BIN = "opt/kalray/accesscore/bin"


class MppaTwin:
    def __init__(self, sandbox: Sandbox, config: TwinMppa) -> None:
        self.sandbox = sandbox
        board = sandbox.root / "mppa" / "board0"
        (board / "mppa0").mkdir(parents=True, exist_ok=True)
        (board / "type").write_text(f"{config.board_type}\n")
        (board / "mppa0" / "freq").write_text(f"{config.freq_khz}\n")
        self.bin_dir = sandbox.root / ACCESSCORE_BIN
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        tool = self.bin_dir / "kann_opencl_cnn"
        tool.write_text(
            f"#!{sys.executable}\n"
            "import sys\n"
            "from pytest_think.emulator.kalray import kann_main\n"
            f"sys.exit(kann_main(sys.argv[1:], {json.dumps(config.model_dump())!r}))\n"
        )
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    @property
    def path(self) -> list[str]:
        """Directories the twin's processes find tools in (the SDK's, once sourced)."""
        return [str(self.bin_dir)]


def _macs(model_bytes: bytes) -> int:
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    shapes = {i.name: numpy_helper.to_array(i).shape for i in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type in ("Gemm", "MatMul") and len(node.input) > 1:
            shape = shapes.get(node.input[1])
            if shape is not None and len(shape) == 2:
                total += int(shape[0] * shape[1])
    return total


def kann_main(argv: list[str], config_json: str) -> int:
    """``kann_opencl_cnn <serialized.bin> <iodir>`` as the twin's host runs it."""
    import onnxruntime as ort

    config = TwinMppa.model_validate_json(config_json)
    if len(argv) != 2:
        print("usage: kann_opencl_cnn <serialized.bin> <iodir>", file=sys.stderr)
        return 2
    network, iodir = Path(argv[0]), Path(argv[1])
    try:
        blob = network.read_bytes()
        session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    except Exception as exc:
        print(f"[KaNN] error: cannot deserialize network {network}: {exc}", file=sys.stderr)
        return 1
    feeds = {}
    batch = None
    for i, spec in enumerate(session.get_inputs()):
        path = iodir / f"input_{i}.bin"
        per_vector = int(np.prod([d for d in spec.shape[1:]]))
        try:
            data = np.fromfile(path, dtype="<f4")
        except OSError:
            print(f"[KaNN] error: cannot read {path}", file=sys.stderr)
            return 1
        if data.size == 0 or data.size % per_vector:
            print(
                f"[KaNN] error: {path.name}: {data.size} values is not a whole batch of "
                f"{per_vector}",
                file=sys.stderr,
            )
            return 1
        batch = data.size // per_vector
        feeds[spec.name] = data.reshape(batch, *spec.shape[1:])
    outputs = session.run(None, feeds)
    for j, out in enumerate(outputs):
        np.ascontiguousarray(out, dtype="<f4").tofile(iodir / f"output_{j}.bin")
    per_inference = config.fixed_cycles + int(_macs(blob) / config.macs_per_cycle)
    print(f"[KaNN] network {network.name}: {len(feeds)} input(s), {len(outputs)} output(s)")
    print(f"[KaNN] batch {batch} on Cluster0..4 at {config.freq_khz} kHz")
    for k in range(batch or 0):
        print(f"Cluster0@0.0: inference {k} done in {per_inference} cycles")
    print(f"Total: {per_inference * (batch or 0)} cycles")
    return 0
