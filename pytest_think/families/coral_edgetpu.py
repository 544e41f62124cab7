"""The coral-edgetpu family: Coral Dev Board (PCIe TPU, Mendel Linux) and USB Accelerator hosts.

Designs are TFLite models compiled for the Edge TPU (``*_edgetpu.tflite``), whole or in N
segments (``*_segment_<i>_of_<N>_edgetpu.tflite``). The agent runs them with tflite_runtime
through ``libedgetpu.so.1``, one delegate per TPU; segments run as a pipeline, one TPU each,
and their integer tensors pass between stages untouched, so the result must equal the
unsegmented model's exactly. Inputs are quantized and outputs dequantized with each tensor's
scale and zero point.
"""

from __future__ import annotations

import posixpath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pytest_think.boards import BoardConfig
from pytest_think.capabilities import Accelerators, DesignRunner, DesignRuntime, NotCapable
from pytest_think.connection import Board
from pytest_think.designs import Design
from pytest_think.errors import InputFileError
from pytest_think.families.generic import GenericLinuxFamily
from pytest_think.families.linux import design_subdir
from pytest_think.transport.ssh import SshTransport


class CoralOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delegate: str = Field("libedgetpu.so.1", description="the Edge TPU runtime library")
    devices: list[str] = Field(
        default_factory=lambda: [":0"],
        min_length=1,
        description="TPUs in pipeline order: 'pci:0' (Dev Board), 'usb:0', 'usb:1' …",
    )


class EdgeTpuRunner:
    """Runs .tflite designs through libedgetpu, one TPU per segment."""

    def __init__(self, config: BoardConfig, options: CoralOptions) -> None:
        self.config = config
        self.opts = options

    def design_runtime(self, design: Design, signature: dict[str, Any]) -> DesignRuntime:
        opts = self.opts
        roles = design.model_roles()
        for role in roles:
            if design.files[role].suffix != ".tflite":
                raise InputFileError(
                    f"design file {design.source}: files.{role}: {design.files[role].name} is "
                    "not a .tflite model"
                )
        if len(roles) > len(opts.devices):
            raise InputFileError(
                f"design file {design.source}: {len(roles)} segments need {len(roles)} TPUs; "
                f"board '{self.config.name}' lists {len(opts.devices)} in options.devices"
            )
        paths = [posixpath.join(design_subdir(design), design.files[r].name) for r in roles]
        options = {
            **design.runtime,
            "delegate": opts.delegate,
            "devices": opts.devices[: len(roles)],
            "segments": paths[1:],
        }
        return DesignRuntime(paths[0], "tflite", options)


class EdgeTpus:
    """The board's TPUs (`options.devices`): an agent session runs a whole-model design on
    one of them, its delegate opened on that TPU alone."""

    def __init__(self, config: BoardConfig, options: CoralOptions) -> None:
        self.config = config
        self.opts = options

    def devices(self) -> list[str]:
        return list(self.opts.devices)

    def bind(self, device: str, backend: str, options: dict[str, Any]) -> dict[str, Any]:
        if backend != "tflite":
            raise NotCapable(
                f"board '{self.config.name}' runs {backend} models on its CPU; its TPUs "
                f"{self.opts.devices} run Edge TPU designs (dut_pool.run_design)"
            )
        segments = 1 + len(options.get("segments") or [])
        if segments > 1:
            raise InputFileError(
                f"a design in {segments} segments needs {segments} TPUs, and a pool binds one "
                f"TPU of board '{self.config.name}' to each session: pool a whole-model design"
            )
        return {**options, "devices": [device]}


class CoralEdgeTpuFamily(GenericLinuxFamily):
    name = "coral-edgetpu"
    Options = CoralOptions

    def runner(self, config: BoardConfig, ssh: SshTransport) -> DesignRunner:
        return EdgeTpuRunner(config, self.options(config))

    def accelerators(self, config: BoardConfig) -> Accelerators | None:
        return EdgeTpus(config, self.options(config))

    def identify(self, board: Board) -> dict[str, Any]:
        facts = super().identify(board)
        facts["edgetpu_devices"] = self.options(board.config).devices
        return facts
