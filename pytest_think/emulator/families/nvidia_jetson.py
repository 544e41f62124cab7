"""The L4T side of a Jetson twin: /etc/nvpmodel.conf, /etc/nv_tegra_release, the device-tree
model, and the `nvpmodel` and `jetson_clocks` tools with the real tools' output."""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from pytest_think.emulator.device import TwinLatency
from pytest_think.emulator.parts import TwinModel, TwinPart
from pytest_think.emulator.sandbox import Sandbox
from pytest_think.emulator.shell import Command, ShellIO

if TYPE_CHECKING:
    from pytest_think.emulator.board import BoardTwin

# Per-core and GPU/EMC frequency ranges a module reports (Hz for GPU/EMC, kHz for CPUs).
CPU_KHZ = (729_600, 1_510_400)
GPU_HZ = (306_000_000, 624_750_000)
EMC_HZ = (204_000_000, 2_133_000_000)
CPUS = 6


class TwinJetson(TwinModel):
    """What a Jetson twin's L4T answers: module, release, power modes."""

    model: str = "NVIDIA Jetson Orin Nano Developer Kit"
    soc: str = "tegra234"
    l4t: str = "# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64"
    power_modes: dict[int, str] | None = Field(
        default_factory=lambda: {0: "15W", 1: "7W"},
        description="nvpmodel modes by id; null: the module has no nvpmodel (TX1)",
    )
    default_mode: int = 0
    tensorrt: str = Field("8602", description="TensorRT version as trtexec prints it (v8602)")


class JetsonTwin:
    def __init__(self, sandbox: Sandbox, config: TwinJetson, latency: TwinLatency) -> None:
        self.sandbox = sandbox
        self.config = config
        self.latency = latency
        self.rng = np.random.default_rng(0)
        self.mode = config.default_mode
        self.clocks_max = False
        root = sandbox.root
        (root / "etc" / "nv_tegra_release").write_text(config.l4t + "\n")
        (root / "proc" / "device-tree").mkdir(parents=True, exist_ok=True)
        # The device tree's model string is NUL-terminated, as on the module.
        (root / "proc" / "device-tree" / "model").write_bytes(config.model.encode() + b"\0")
        if config.power_modes is not None:
            conf = "".join(
                f"< POWER_MODEL ID={i} NAME={name} >\nCPU_ONLINE CORE_0 1\n\n"
                for i, name in sorted(config.power_modes.items())
            )
            conf += f"< PM_CONFIG DEFAULT={config.default_mode} >\n"
            (root / "etc" / "nvpmodel.conf").write_text(conf)
        # tegrastats, for the agent to run: it reads the INA3221 files of this sandbox.
        tool = root / "usr" / "local" / "bin" / "tegrastats"
        tool.parent.mkdir(parents=True, exist_ok=True)
        tool.write_text(
            f"#!{sys.executable}\n"
            "import sys\n"
            "from pytest_think.emulator.families.tegrastats import main\n"
            f"sys.exit(main(sys.argv[1:], {str(root)!r}))\n"
        )
        tool.chmod(0o755)

    @property
    def tools(self) -> dict[str, Command]:
        tools: dict[str, Command] = {
            "jetson_clocks": self.jetson_clocks,
            "trtexec": self.trtexec,
        }
        if self.config.power_modes is not None:
            tools["nvpmodel"] = self.nvpmodel
        return tools

    async def nvpmodel(self, args: list[str], io: ShellIO) -> int:
        modes = self.config.power_modes or {}
        if args[:1] == ["-q"]:
            io.out(f"NV Power Mode: {modes[self.mode]}\n{self.mode}\n".encode())
            return 0
        if len(args) == 2 and args[0] == "-m" and args[1].isdigit():
            if int(args[1]) not in modes:
                io.err(f"NVPM ERROR: Invalid mode index {args[1]}\n".encode())
                return 1
            self.mode = int(args[1])
            return 0
        io.err(b"Usage: nvpmodel [-m <mode id>] [-q] [-p --verbose] [-f <conf file>]\n")
        return 1

    def _show(self) -> str:
        cur = 1 if self.clocks_max else 0
        lines = [
            f"SOC family:{self.config.soc}  Machine:{self.config.model}",
            f"Online CPUs: 0-{CPUS - 1}",
        ]
        for cpu in range(CPUS):
            lines.append(
                f"cpu{cpu}: Online=1 Governor=schedutil MinFreq={CPU_KHZ[0]} MaxFreq={CPU_KHZ[1]} "
                f"CurrentFreq={CPU_KHZ[cur]} IdleStates: WFI=1 cpuidle={0 if cur else 1}"
            )
        lines.append(f"GPU MinFreq={GPU_HZ[0]} MaxFreq={GPU_HZ[1]} CurrentFreq={GPU_HZ[cur]}")
        lines.append(
            f"EMC MinFreq={EMC_HZ[0]} MaxFreq={EMC_HZ[1]} CurrentFreq={EMC_HZ[1]} "
            f"FreqOverride={cur}"
        )
        if self.config.power_modes is not None:
            lines.append(f"NV Power Mode: {self.config.power_modes[self.mode]}")
        return "\n".join(lines) + "\n"

    async def jetson_clocks(self, args: list[str], io: ShellIO) -> int:
        if not args:
            self.clocks_max = True
            return 0
        if args == ["--show"]:
            io.out(self._show().encode())
            return 0
        if len(args) == 2 and args[0] in ("--store", "--restore"):
            path = self.sandbox.host_path(args[1])
            if path is None:
                io.err(f"Error: cannot access {args[1]}\n".encode())
                return 1
            if args[0] == "--store":
                path.write_text(self._show())
                return 0
            if not path.is_file():
                io.err(f"Error: file {args[1]} doesn't exist\n".encode())
                return 1
            self.clocks_max = "FreqOverride=1" in path.read_text()
            return 0
        io.err(b"usage: jetson_clocks [--show] [--store [file]] [--restore [file]] [--fan]\n")
        return 1

    async def trtexec(self, args: list[str], io: ShellIO) -> int:
        """trtexec --loadEngine=F --iterations=N --warmUp=MS: timings from the latency model."""
        opts = dict(a.lstrip("-").split("=", 1) for a in args if "=" in a)
        banner = f"TensorRT.trtexec [TensorRT v{self.config.tensorrt}] # trtexec {shlex.join(args)}"
        stamp = time.strftime("[%m/%d/%Y-%H:%M:%S]")
        io.out(f"&&&& RUNNING {banner}\n".encode())
        engine = opts.get("loadEngine", "")
        path = self.sandbox.host_path(engine) if engine else None
        if path is None or not path.is_file() or path.stat().st_size == 0:
            io.out(f"{stamp} [E] Error opening engine file: {engine}\n".encode())
            io.out(f"&&&& FAILED {banner}\n".encode())
            return 1
        iterations = int(opts.get("iterations", "10"))
        fixed, jitter = self.latency.fixed_us / 1e3, self.latency.jitter_us / 1e3
        latency_ms = fixed + self.rng.uniform(0.0, jitter, iterations)  # ms per inference
        await asyncio.sleep(float(latency_ms.sum()) / 1e3 + int(opts.get("warmUp", "200")) / 1e3)

        def stats(name: str, ms: np.ndarray) -> str:
            p90, p95, p99 = np.percentile(ms, [90, 95, 99])
            return (
                f"{stamp} [I] {name}: min = {ms.min():.5f} ms, max = {ms.max():.5f} ms, "
                f"mean = {ms.mean():.5f} ms, median = {np.median(ms):.5f} ms, "
                f"percentile(90%) = {p90:.5f} ms, percentile(95%) = {p95:.5f} ms, "
                f"percentile(99%) = {p99:.5f} ms"
            )

        h2d = np.full(iterations, 0.012)
        d2h = np.full(iterations, 0.006)
        compute = latency_ms - h2d - d2h
        lines = [
            f"{stamp} [I] === Performance summary ===",
            f"{stamp} [I] Throughput: {1e3 / latency_ms.mean():.4f} qps",
            stats("Latency", latency_ms),
            stats("Enqueue Time", np.full(iterations, 0.02)),
            stats("H2D Latency", h2d),
            stats("GPU Compute Time", compute),
            stats("D2H Latency", d2h),
            f"{stamp} [I] Total Host Walltime: {latency_ms.sum() / 1e3:.5f} s",
            f"{stamp} [I] Total GPU Compute Time: {compute.sum() / 1e3:.5f} s",
        ]
        io.out(("\n".join(lines) + f"\n&&&& PASSED {banner}\n").encode())
        return 0


class NvidiaJetsonTwin(TwinPart[TwinJetson]):
    """The nvidia-jetson family's twin: L4T's files, nvpmodel, jetson_clocks, trtexec and
    tegrastats."""

    section = "jetson"
    Section = TwinJetson

    def attach(self, board: BoardTwin) -> None:
        jetson = JetsonTwin(board.sandbox, self.config(board.twin), board.twin.latency)
        board.shell.tools.update(jetson.tools)
