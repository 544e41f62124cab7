"""NVIDIA Jetson modules (TX1 … Orin) under L4T/JetPack: power mode through nvpmodel, clocks
through jetson_clocks, inference through onnxruntime with the TensorRT/CUDA providers."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from pytest_think.boards import BoardConfig
from pytest_think.designs import Design
from pytest_think.errors import BoardConfigError, RemoteCommandError
from pytest_think.families.generic import GenericLinuxFamily
from pytest_think.families.trtexec import TrtexecSummary, parse_trtexec, trtexec_argv
from pytest_think.transport.ssh import SshTransport

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


class NvidiaJetsonFamily(GenericLinuxFamily):
    name = "nvidia-jetson"
    Options = JetsonOptions

    def power_modes(self, transport: SshTransport) -> dict[int, str] | None:
        result = transport.run(["cat", NVPMODEL_CONF])
        return parse_nvpmodel_conf(result.out) if result.exit_status == 0 else None

    def power_mode(self, transport: SshTransport) -> tuple[str, int] | None:
        result = transport.run(["nvpmodel", "-q"])
        return parse_nvpmodel_query(result.out) if result.exit_status == 0 else None

    def _wanted_mode(self, board: BoardConfig, transport: SshTransport, wanted: int | str) -> int:
        modes = self.power_modes(transport)
        field = f"board file {board.source or board.name}: field 'options.power_mode'"
        if not modes:
            raise BoardConfigError(
                f"{field}: {board.name} has no {NVPMODEL_CONF}, so its power mode cannot be "
                "set (modules before the TX2 have no nvpmodel); remove the option"
            )
        for mode_id, name in modes.items():
            if wanted == mode_id or str(wanted).lower() == name.lower():
                return mode_id
        listed = ", ".join(f"{i} {n}" for i, n in sorted(modes.items()))
        raise BoardConfigError(
            f"{field}: mode {wanted!r} is not on this module; {NVPMODEL_CONF} lists {listed}"
        )

    def prepare(self, board: BoardConfig, transport: SshTransport | None) -> None:
        transport = self._ssh(board, transport)
        options: JetsonOptions = self.options(board)
        where = transport.where
        if options.power_mode is not None:
            mode_id = self._wanted_mode(board, transport, options.power_mode)
            current = self.power_mode(transport)
            if current is None or current[1] != mode_id:
                transport.run(["nvpmodel", "-m", str(mode_id)]).check(where)
                current = self.power_mode(transport)
                if current is None or current[1] != mode_id:
                    raise RemoteCommandError(
                        f"`nvpmodel -m {mode_id}` on {where} did not take: `nvpmodel -q` "
                        f"reports {current}"
                    )
        if options.jetson_clocks:
            transport.run(["mkdir", "-p", "/run/think"]).check(where)
            transport.run(["jetson_clocks", "--store", CLOCKS_STORE]).check(where)
            transport.run(["jetson_clocks"]).check(where)

    def trtexec(
        self,
        board: BoardConfig,
        transport: SshTransport,
        design: Design,
        iterations: int = 200,
        warmup_ms: int = 200,
    ) -> TrtexecSummary:
        """Benchmark the design's TensorRT engine with trtexec on the module."""
        engine = posixpath.join(self.design_dir(board, design), design.file("engine").name)
        result = transport.run(trtexec_argv(engine, iterations, warmup_ms))
        if result.exit_status != 0:
            tail = (result.err or result.out).strip().splitlines()[-1:] or ["no output"]
            raise RemoteCommandError(
                f"trtexec failed on {transport.where} (exit {result.exit_status}): {tail[0]}"
            )
        return parse_trtexec(result.out)

    def identify(self, board: BoardConfig, transport: SshTransport | None) -> dict[str, Any]:
        facts = super().identify(board, transport)
        transport = self._ssh(board, transport)
        model = transport.run(["cat", "/proc/device-tree/model"])
        facts["model"] = model.out.strip("\0\n ") if model.exit_status == 0 else None
        release = transport.run(["cat", "/etc/nv_tegra_release"])
        facts["l4t"] = release.out.splitlines()[0] if release.exit_status == 0 else None
        mode = self.power_mode(transport)
        facts["power_mode"] = {"name": mode[0], "id": mode[1]} if mode else None
        clocks = transport.run(["jetson_clocks", "--show"])
        facts["clocks_pinned"] = "FreqOverride=1" in clocks.out if clocks.exit_status == 0 else None
        return facts
