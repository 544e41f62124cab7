"""A Kalray MPPA (Coolidge) host's twin: /mppa/board0 and KaNN's ``kann_opencl_cnn``.

``kann_opencl_cnn <serialized.bin> <iodir>`` and ``kvx-jtag-runner
--exec-file=Cluster0:<app.elf> -- <iodir>`` are installed as real executables in the
sandbox's AccessCore ``bin`` directory, because on a real host it is the agent, not the shell,
that runs them. Both read ``input_<i>.bin`` from the I/O directory, compute the network,
write ``output_<j>.bin`` and log a ``Total: <cycles>`` line; the JTAG runner prefixes what
the cluster prints with ``Cluster0@0.0: `` unless given ``--no-printf-prefix``.

As on the hardware, a tool is a small native program started per batch that hands the work to
the MPPA: the twin's device is a Unix socket (``/dev/mppa0`` in the sandbox) served by the
twin's process, which keeps the networks it has loaded. A batch costs a process start and the
network's compute, not an interpreter, its imports and a fresh session.

The network file a twin reads (KaNN's serialized network, the cluster ELF) is an ONNX model
at the MPPA's precision (fp16 weights and activations, fp32 accumulation), standing where the
real file stands on hardware. Cycles follow a latency model: a fixed per-inference cost plus
the model's multiply-accumulates at the cluster's sustained rate.
"""

from __future__ import annotations

import asyncio
import io
import os
import shlex
import socket
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from pytest_think.emulator.native import build
from pytest_think.emulator.parts import TwinModel, TwinPart
from pytest_think.emulator.sandbox import Sandbox

if TYPE_CHECKING:
    from pytest_think.emulator.board import BoardTwin

ACCESSCORE_BIN = "opt/kalray/accesscore/bin"
TOOLS = ("kann_opencl_cnn", "kvx-jtag-runner")


class TwinMppa(TwinModel):
    """A Kalray board twin: what /mppa/board0 shows and how many cycles KaNN reports."""

    board_type: str = "k200"
    freq_khz: int = Field(1_100_000, gt=0, description="cluster clock, /mppa/board0/mppa0/freq")
    fixed_cycles: int = Field(30_000, ge=0, description="per-inference overhead (DMA, sync)")
    macs_per_cycle: float = Field(256.0, gt=0, description="sustained MACs per cycle on 5 clusters")


class MppaTwin:
    """The board's files and tools: /mppa/board0, AccessCore's ``bin`` with the two tools
    (each a native client of the device, /dev/mppa0 in the sandbox)."""

    def __init__(self, sandbox: Sandbox, config: TwinMppa) -> None:
        self.sandbox = sandbox
        board = sandbox.root / "mppa" / "board0"
        (board / "mppa0").mkdir(parents=True, exist_ok=True)
        (board / "type").write_text(f"{config.board_type}\n")
        (board / "mppa0" / "freq").write_text(f"{config.freq_khz}\n")
        self.device = MppaDevice(config, sandbox.root / "dev" / "mppa0")
        self.bin_dir = sandbox.root / ACCESSCORE_BIN
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        client = build("mppa_twin_tool.c", "mppa_twin_tool", "the Kalray twin's host tools")
        for name in TOOLS:
            tool = self.bin_dir / name
            command = [str(client), str(self.device.socket), name]
            tool.write_text(f'#!/bin/sh\nexec {shlex.join(command)} "$@"\n')
            tool.chmod(tool.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    @property
    def path(self) -> list[str]:
        """Directories the twin's processes find tools in (the SDK's, once sourced)."""
        return [str(self.bin_dir)]


class MppaDevice:
    """The MPPA itself, as the host's tools reach it: a Unix socket in the twin's process that
    runs each tool's command line (`kann_main`, `jtag_main`) and keeps the networks it loaded,
    so a run costs what the network's compute costs, not an interpreter and its imports."""

    def __init__(self, config: TwinMppa, socket_path: Path) -> None:
        self.config = config
        self.socket = socket_path
        self.networks = LoadedNetworks()

    async def serve(self) -> asyncio.AbstractServer:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Bound through its directory's descriptor: the sandbox may lie deeper than a socket
        # path may be long.
        directory = os.open(self.socket.parent, os.O_RDONLY)
        try:
            listener.bind(f"/proc/self/fd/{directory}/{self.socket.name}")
        finally:
            os.close(directory)
        return await asyncio.start_unix_server(self._answer, sock=listener)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.read()).decode("utf-8", "replace").split("\0")[:-1]
            if len(request) < 2:
                return
            tool, cwd, *args = request
            loop = asyncio.get_running_loop()
            status, out, err = await loop.run_in_executor(None, self.run, tool, cwd, args)
            body_out, body_err = out.encode(), err.encode()
            writer.write(f"{status} {len(body_out)} {len(body_err)}\n".encode())
            writer.write(body_out + body_err)
            await writer.drain()
        finally:
            writer.close()

    def run(self, tool: str, cwd: str, args: list[str]) -> tuple[int, str, str]:
        """One tool's run: its exit status, what it printed and what it reported as errors."""
        run = ToolRun(self.config, self.networks, Path(cwd))
        mains = {"kann_opencl_cnn": kann_main, "kvx-jtag-runner": jtag_main}
        main = mains.get(tool)
        if main is None:
            run.error(f"{tool}: not an AccessCore tool")
            status = 127
        else:
            status = main(args, run)
        return status, run.out.getvalue(), run.err.getvalue()


@dataclass
class ToolRun:
    """One run of a host tool: where it runs, what it prints, what it reports as errors."""

    config: TwinMppa
    networks: LoadedNetworks
    cwd: Path
    out: io.StringIO = field(default_factory=io.StringIO)
    err: io.StringIO = field(default_factory=io.StringIO)

    def say(self, text: str) -> None:
        self.out.write(text + "\n")

    def error(self, text: str) -> None:
        self.err.write(text + "\n")


class LoadedNetworks:
    """Networks the device has loaded (an onnxruntime session and its MACs), by file, newest
    kept; a file rewritten since (another size or time) is loaded again."""

    KEEP = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, int, int], tuple[Any, int]] = {}

    def get(self, network: Path) -> tuple[Any, int]:
        import onnxruntime as ort

        facts = network.stat()
        key = (str(network), facts.st_size, facts.st_mtime_ns)
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
        blob = network.read_bytes()
        loaded = (ort.InferenceSession(blob, providers=["CPUExecutionProvider"]), _macs(blob))
        with self._lock:
            self._loaded[key] = loaded
            while len(self._loaded) > self.KEEP:
                self._loaded.pop(next(iter(self._loaded)))
        return loaded


class KalrayMppaTwin(TwinPart[TwinMppa]):
    """The kalray-mppa family's twin: /mppa/board0, AccessCore's tools on the PATH and the
    device they reach."""

    section = "mppa"
    Section = TwinMppa

    def attach(self, board: BoardTwin) -> None:
        self.mppa = MppaTwin(board.sandbox, self.config(board.twin))
        board.add_path(self.mppa.path)

    async def serve(self, board: BoardTwin) -> dict[str, str]:
        self.server = await self.mppa.device.serve()
        return {}


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


def _run_network(network: Path, iodir: Path, run: ToolRun, say: Callable[[str], None]) -> int:
    """Compute `network` over the I/O directory's inputs; print as the cluster does."""
    config = run.config
    try:
        session, macs = run.networks.get(network)
    except Exception as exc:
        run.error(f"[KaNN] error: cannot deserialize network {network}: {exc}")
        return 1
    feeds = {}
    batch = 0
    for i, spec in enumerate(session.get_inputs()):
        path = iodir / f"input_{i}.bin"
        per_vector = int(np.prod(list(spec.shape[1:])))
        try:
            data = np.fromfile(path, dtype="<f4")
        except OSError:
            run.error(f"[KaNN] error: cannot read {path}")
            return 1
        if data.size == 0 or data.size % per_vector:
            run.error(
                f"[KaNN] error: {path.name}: {data.size} values is not a whole batch of "
                f"{per_vector}"
            )
            return 1
        batch = data.size // per_vector
        feeds[spec.name] = data.reshape(batch, *spec.shape[1:])
    outputs = session.run(None, feeds)
    for j, out in enumerate(outputs):
        np.ascontiguousarray(out, dtype="<f4").tofile(iodir / f"output_{j}.bin")
    per_inference = config.fixed_cycles + int(macs / config.macs_per_cycle)
    say(f"[KaNN] network {network.name}: {len(feeds)} input(s), {len(outputs)} output(s)")
    say(f"[KaNN] batch {batch} on Cluster0..4 at {config.freq_khz} kHz")
    for k in range(batch):
        say(f"inference {k} done in {per_inference} cycles")
    say(f"Total: {per_inference * batch} cycles")
    return 0


def kann_main(argv: list[str], run: ToolRun) -> int:
    """``kann_opencl_cnn <serialized.bin> <iodir>`` as the twin's host runs it."""
    if len(argv) != 2:
        run.error("usage: kann_opencl_cnn <serialized.bin> <iodir>")
        return 2
    return _run_network(run.cwd / argv[0], run.cwd / argv[1], run, run.say)


def jtag_main(argv: list[str], run: ToolRun) -> int:
    """``kvx-jtag-runner --exec-file=Cluster0:<elf> [--timeout=S] [--no-printf-prefix] -- ARGS``"""
    own, _, program_args = (
        (argv[: argv.index("--")], None, argv[argv.index("--") + 1 :])
        if ("--" in argv)
        else (argv, None, [])
    )
    exec_file = next((a.split("=", 1)[1] for a in own if a.startswith("--exec-file=")), None)
    if exec_file is None or ":" not in exec_file:
        run.error("kvx-jtag-runner: missing --exec-file=<Cluster>:<elf>")
        return 2
    cluster, elf = exec_file.split(":", 1)
    prefix = "" if "--no-printf-prefix" in own else f"{cluster}@0.0: "
    if not (run.cwd / elf).is_file():
        run.error(f"kvx-jtag-runner: cannot open {elf}: No such file or directory")
        return 1
    if len(program_args) != 1:
        run.say(f"{prefix}usage: {Path(elf).name} <iodir>")
        return 1
    return _run_network(
        run.cwd / elf, run.cwd / program_args[0], run, lambda text: run.say(prefix + text)
    )
