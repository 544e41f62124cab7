"""What a connected board can do: small protocols that a family's parts implement.

A family binds its parts to a connected board once (`Family.bind`); each part does one thing
on that board's transport — start the agent, load designs, run them, read power monitors,
benchmark with a vendor tool. The board keeps them in `Capabilities`; asking a board for one
it lacks is the one line "board X (family Y) cannot Z" (`NotCapable`), whoever asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_think.errors import ThinkError

if TYPE_CHECKING:
    from pytest_think.designs import Design
    from pytest_think.power.onboard import PowerSensor
    from pytest_think.transport.link import Link
    from pytest_think.transport.shell import Shell
    from pytest_think.trtexec import TrtexecSummary


class NotCapable(ThinkError):
    """The board's family cannot do what was asked (flash a design, run trtexec …)."""


@dataclass(frozen=True)
class DesignRuntime:
    """What the agent is asked to LOAD to run a design."""

    path: str  # on the board, relative to the agent's work directory or absolute
    backend: str  # onnxruntime | tflite | exec
    options: dict[str, Any] = field(default_factory=dict)


class AgentLauncher(Protocol):
    """Starts the board-side agent (or reaches the firmware that speaks its protocol)."""

    def start_agent(self) -> Link:
        """A link to a freshly started agent; it sends HELLO first."""
        ...

    def deploy_model(self, model: Path, sha256: str, data: Sequence[str] = ()) -> str:
        """Make `model` loadable by the agent; returns the path to name in LOAD. `data`: the
        model's external data files, relative to its directory, which go beside it (given
        only for a model that has some)."""
        ...


class Flasher(Protocol):
    """Loads designs (bitstreams, overlays, firmware …) and tells whether one still runs."""

    @property
    def design_record(self) -> str:
        """Where on the board the loaded design's sha256 is kept: somewhere forgotten exactly
        when the board forgets the design (a tmpfs for an FPGA's fabric)."""
        ...

    def flash(self, design: Design) -> list[str]:
        """Load `design` and verify the board runs it; the loader's output lines.

        FlashError naming what failed. Called only when the design is not already active
        (pytest_think.flashing decides)."""
        ...

    def design_active(self) -> bool:
        """Whether the last design loaded is still what the board runs."""
        ...


class DesignRunner(Protocol):
    """How the agent runs a loaded design: the file to LOAD, the backend, its options."""

    def design_runtime(self, design: Design, signature: dict[str, Any]) -> DesignRuntime:
        """`signature` is the reference model's (inputs and outputs), for runners needing it."""
        ...


class PowerSensors(Protocol):
    """The board's onboard power monitors."""

    def sensors(self) -> list[PowerSensor]: ...


class Benchmarker(Protocol):
    """A vendor's own benchmark of a design (TensorRT's trtexec on a Jetson)."""

    def trtexec(self, design: Design, iterations: int, warmup_ms: int) -> TrtexecSummary: ...


class Accelerators(Protocol):
    """The devices of one board that agent sessions can each be bound to (the TPUs of a
    multi-TPU card, the GPUs of a GPU server): one session per device, as `dut_pool` runs."""

    def devices(self) -> list[str]:
        """The devices by the names the board file gives them."""
        ...

    def bind(self, device: str, backend: str, options: dict[str, Any]) -> dict[str, Any]:
        """The LOAD options for `backend` that bind an agent session to `device`."""
        ...


class PowerSwitch(Protocol):
    """Switches the board's power (a supply's output, a farm's power port)."""

    def power(self, on: bool) -> None: ...


@dataclass(frozen=True)
class Capabilities:
    """The parts a family bound to one connected board; None where the board cannot."""

    agent: AgentLauncher
    shell: Shell | None = None
    flasher: Flasher | None = None
    runner: DesignRunner | None = None
    sensors: PowerSensors | None = None
    benchmarker: Benchmarker | None = None
    power_switch: PowerSwitch | None = None
    accelerators: Accelerators | None = None
