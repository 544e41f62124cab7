"""A Kalray MPPA (Coolidge) host's twin: /mppa/board0 and KaNN's ``kann_opencl_cnn``.

``kann_opencl_cnn <serialized.bin> <iodir>`` and ``kvx-jtag-runner
--exec-file=Cluster0:<app.elf> -- <iodir>`` are installed as real executables in the
sandbox's AccessCore ``bin`` directory, because on a real host it is the agent, not the shell,
that runs them. Both read ``input_<i>.bin`` from the I/O directory, compute the network,
write ``output_<j>.bin`` and log a ``Total: <cycles>`` line; the JTAG runner prefixes what
the cluster prints with ``Cluster0@0.0: `` unless given ``--no-printf-prefix``.

The network file a twin reads (KaNN's serialized network, the cluster ELF) is an ONNX model
at the MPPA's precision (fp16 weights and activations, fp32 accumulation), standing where the
real file stands on hardware. Cycles follow a latency model: a fixed per-inference cost plus
the model's multiply-accumulates at the cluster's sustained rate.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from pytest_think.emulator.parts import TwinModel, TwinPart
from pytest_think.emulator.sandbox import Sandbox

if TYPE_CHECKING:
    from pytest_think.emulator.board import BoardTwin

ACCESSCORE_BIN = "opt/kalray/accesscore/bin"


class TwinMppa(TwinModel):
    """A Kalray board twin: what /mppa/board0 shows and how many cycles KaNN reports."""

    board_type: str = "k200"
    freq_khz: int = Field(1_100_000, gt=0, description="cluster clock, /mppa/board0/mppa0/freq")
    fixed_cycles: int = Field(30_000, ge=0, description="per-inference overhead (DMA, sync)")
    macs_per_cycle: float = Field(256.0, gt=0, description="sustained MACs per cycle on 5 clusters")


class MppaTwin:
    def __init__(self, sandbox: Sandbox, config: TwinMppa) -> None:
        self.sandbox = sandbox
        board = sandbox.root / "mppa" / "board0"
        (board / "mppa0").mkdir(parents=True, exist_ok=True)
        (board / "type").write_text(f"{config.board_type}\n")
        (board / "mppa0" / "freq").write_text(f"{config.freq_khz}\n")
        self.bin_dir = sandbox.root / ACCESSCORE_BIN
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        for name, main in (("kann_opencl_cnn", "kann_main"), ("kvx-jtag-runner", "jtag_main")):
            tool = self.bin_dir / name
            tool.write_text(
                f"#!{sys.executable}\n"
                "import sys\n"
                f"from pytest_think.emulator.families.kalray_mppa import {main}\n"
                f"sys.exit({main}(sys.argv[1:], {json.dumps(config.model_dump())!r}))\n"
            )
            tool.chmod(tool.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    @property
    def path(self) -> list[str]:
        """Directories the twin's processes find tools in (the SDK's, once sourced)."""
        return [str(self.bin_dir)]


class KalrayMppaTwin(TwinPart[TwinMppa]):
    """The kalray-mppa family's twin: /mppa/board0 and AccessCore's tools on the PATH."""

    section = "mppa"
    Section = TwinMppa

    def attach(self, board: BoardTwin) -> None:
        mppa = MppaTwin(board.sandbox, self.config(board.twin))
        board.add_path(mppa.path)


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


def _run_network(network: Path, iodir: Path, config: TwinMppa, say: Any) -> int:
    """Compute `network` over the I/O directory's inputs; print as the cluster does."""
    import onnxruntime as ort

    try:
        blob = network.read_bytes()
        session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    except Exception as exc:
        print(f"[KaNN] error: cannot deserialize network {network}: {exc}", file=sys.stderr)
        return 1
    feeds = {}
    batch = 0
    for i, spec in enumerate(session.get_inputs()):
        path = iodir / f"input_{i}.bin"
        per_vector = int(np.prod(list(spec.shape[1:])))
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
    say(f"[KaNN] network {network.name}: {len(feeds)} input(s), {len(outputs)} output(s)")
    say(f"[KaNN] batch {batch} on Cluster0..4 at {config.freq_khz} kHz")
    for k in range(batch):
        say(f"inference {k} done in {per_inference} cycles")
    say(f"Total: {per_inference * batch} cycles")
    return 0


def kann_main(argv: list[str], config_json: str) -> int:
    """``kann_opencl_cnn <serialized.bin> <iodir>`` as the twin's host runs it."""
    config = TwinMppa.model_validate_json(config_json)
    if len(argv) != 2:
        print("usage: kann_opencl_cnn <serialized.bin> <iodir>", file=sys.stderr)
        return 2
    return _run_network(Path(argv[0]), Path(argv[1]), config, print)


def jtag_main(argv: list[str], config_json: str) -> int:
    """``kvx-jtag-runner --exec-file=Cluster0:<elf> [--timeout=S] [--no-printf-prefix] -- ARGS``"""
    config = TwinMppa.model_validate_json(config_json)
    own, _, program_args = (
        (argv[: argv.index("--")], None, argv[argv.index("--") + 1 :])
        if ("--" in argv)
        else (argv, None, [])
    )
    exec_file = next((a.split("=", 1)[1] for a in own if a.startswith("--exec-file=")), None)
    if exec_file is None or ":" not in exec_file:
        print("kvx-jtag-runner: missing --exec-file=<Cluster>:<elf>", file=sys.stderr)
        return 2
    cluster, elf = exec_file.split(":", 1)
    prefix = "" if "--no-printf-prefix" in own else f"{cluster}@0.0: "
    if not Path(elf).is_file():
        print(f"kvx-jtag-runner: cannot open {elf}: No such file or directory", file=sys.stderr)
        return 1
    if len(program_args) != 1:
        print(f"{prefix}usage: {Path(elf).name} <iodir>")
        return 1
    return _run_network(Path(elf), Path(program_args[0]), config, lambda s: print(prefix + s))
