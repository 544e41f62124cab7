"""NVIDIA Jetson modules (TX1 … Orin) under L4T/JetPack: power mode through nvpmodel, clocks
through jetson_clocks, inference through onnxruntime with the TensorRT/CUDA providers."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from pytest_think.boards import BoardConfig
from pytest_think.capabilities import Benchmarker
from pytest_think.connection import Board
from pytest_think.designs import Design
from pytest_think.errors import BoardConfigError, RemoteCommandError
from pytest_think.families.generic import GenericLinuxFamily
from pytest_think.families.linux import design_dir
from pytest_think.transport.shell import Shell
from pytest_think.transport.ssh import SshTransport
from pytest_think.trtexec import TrtexecSummary, parse_trtexec, trtexec_argv

NVPMODEL_CONF = "/etc/nvpmodel.conf"
CLOCKS_STORE = "/run/think/jetson_clocks.conf"
_MODEL_LINE = re.compile(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=([^\s>]+)\s*>")


class JetsonOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    power_mode: int | str | None = None  # an id or a NAME from /etc/nvpmodel.conf
    jetson_clocks: bool = False  # pin clocks at their maximum for stable timings


def parse_nvpmodel_conf(text: str) -> dict[int, str]:
    """Power modes by id from /etc/nvpmodel.conf (`< POWER_MODEL ID=0 NAME=MAXN >` lines)."""
    return {int(m.group(1)): m.group(2) for m in _MODEL_LINE.finditer(text)}


def parse_nvpmodel_query(text: str) -> tuple[str, int] | None:
    """`nvpmodel -q` prints `NV Power Mode: <NAME>` and then the mode id."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if line.startswith("NV Power Mode:") and i + 1 < len(lines) and lines[i + 1].isdigit():
            return line.split(":", 1)[1].strip(), int(lines[i + 1])
    return None


class Trtexec:
    """Benchmarks a design's TensorRT engine with trtexec on the module."""

    def __init__(self, config: BoardConfig, ssh: SshTransport) -> None:
        self.config = config
        self.ssh = ssh

    def trtexec(self, design: Design, iterations: int, warmup_ms: int) -> TrtexecSummary:
        engine = posixpath.join(design_dir(self.config, design), design.file("engine").name)
        result = self.ssh.run(trtexec_argv(engine, iterations, warmup_ms))
        if result.exit_status != 0:
            tail = (result.err or result.out).strip().splitlines()[-1:] or ["no output"]
            raise RemoteCommandError(
                f"trtexec failed on {self.ssh.where} (exit {result.exit_status}): {tail[0]}"
            )
        return parse_trtexec(result.out)


class Nvpmodel:
    """The module's power modes: /etc/nvpmodel.conf and `nvpmodel -q` / `-m`."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def modes(self) -> dict[int, str] | None:
        result = self.shell.run(["cat", NVPMODEL_CONF])
        return parse_nvpmodel_conf(result.out) if result.exit_status == 0 else None

    def current(self) -> tuple[str, int] | None:
        result = self.shell.run(["nvpmodel", "-q"])
        return parse_nvpmodel_query(result.out) if result.exit_status == 0 else None

    def wanted(self, config: BoardConfig, wanted: int | str) -> int:
        modes = self.modes()
        field = f"board file {config.source or config.name}: field 'options.power_mode'"
        if not modes:
            raise BoardConfigError(
                f"{field}: {config.name} has no {NVPMODEL_CONF}, so its power mode cannot be "
                "set (modules before the TX2 have no nvpmodel); remove the option"
            )
        for mode_id, name in modes.items():
            if wanted == mode_id or str(wanted).lower() == name.lower():
                return mode_id
        listed = ", ".join(f"{i} {n}" for i, n in sorted(modes.items()))
        raise BoardConfigError(
            f"{field}: mode {wanted!r} is not on this module; {NVPMODEL_CONF} lists {listed}"
        )

    def set(self, mode_id: int) -> None:
        where = self.shell.where
        current = self.current()
        if current is None or current[1] != mode_id:
            self.shell.run(["nvpmodel", "-m", str(mode_id)]).check(where)
            current = self.current()
            if current is None or current[1] != mode_id:
                raise RemoteCommandError(
                    f"`nvpmodel -m {mode_id}` on {where} did not take: `nvpmodel -q` "
                    f"reports {current}"
                )


class NvidiaJetsonFamily(GenericLinuxFamily):
    name = "nvidia-jetson"
    Options = JetsonOptions

    def benchmarker(self, config: BoardConfig, ssh: SshTransport) -> Benchmarker:
        return Trtexec(config, ssh)

    def prepare(self, board: Board) -> None:
        shell = board.shell
        options: JetsonOptions = self.options(board.config)
        if options.power_mode is not None:
            nvpmodel = Nvpmodel(shell)
            nvpmodel.set(nvpmodel.wanted(board.config, options.power_mode))
        if options.jetson_clocks:
            where = shell.where
            shell.run(["mkdir", "-p", "/run/think"]).check(where)
            shell.run(["jetson_clocks", "--store", CLOCKS_STORE]).check(where)
            shell.run(["jetson_clocks"]).check(where)

    def identify(self, board: Board) -> dict[str, Any]:
        facts = super().identify(board)
        shell = board.shell
        model = shell.run(["cat", "/proc/device-tree/model"])
        facts["model"] = model.out.strip("\0\n ") if model.exit_status == 0 else None
        release = shell.run(["cat", "/etc/nv_tegra_release"])
        facts["l4t"] = release.out.splitlines()[0] if release.exit_status == 0 else None
        mode = Nvpmodel(shell).current()
        facts["power_mode"] = {"name": mode[0], "id": mode[1]} if mode else None
        clocks = shell.run(["jetson_clocks", "--show"])
        facts["clocks_pinned"] = "FreqOverride=1" in clocks.out if clocks.exit_status == 0 else None
        return facts
