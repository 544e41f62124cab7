"""Board families: how a kind of board is identified, brought up and driven.

Families are plug-ins found through the ``pytest_think.families`` entry-point group, so a lab
adds one in its own package without touching pytest-think::

    [project.entry-points."pytest_think.families"]
    my-board = "my_lab.think_family:MyBoardFamily"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from pytest_think.errors import BoardConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_think.boards import BoardConfig
    from pytest_think.designs import Design
    from pytest_think.power.onboard import PowerSensor
    from pytest_think.transport.link import Link
    from pytest_think.transport.ssh import SshTransport

GROUP = "pytest_think.families"


@dataclass(frozen=True)
class DesignRuntime:
    """What the agent is asked to LOAD to run a design."""

    path: str  # on the board, relative to the agent's work directory or absolute
    backend: str  # onnxruntime | tflite | exec
    options: dict[str, Any] = field(default_factory=dict)


class Family(Protocol):
    """What pytest-think asks of a board family."""

    name: str

    def check_options(self, board: BoardConfig) -> None:
        """Validate the board file's `options` section; BoardConfigError naming the field."""
        ...

    def prepare(self, board: BoardConfig, transport: SshTransport | None) -> None:
        """Bring a freshly connected board to the state its options ask for."""
        ...

    def identify(self, board: BoardConfig, transport: SshTransport | None) -> dict[str, Any]:
        """Facts about the board as it is now (OS, kernel, hardware), for reports."""
        ...

    def start_agent(self, board: BoardConfig, ssh: SshTransport | None) -> Link:
        """Start the board-side agent (or reach the firmware that speaks its protocol)."""
        ...

    def deploy_model(
        self, board: BoardConfig, ssh: SshTransport | None, model: Path, sha: str
    ) -> str:
        """Make `model` loadable by the agent; returns the path to name in LOAD."""
        ...

    def flash(self, board: BoardConfig, transport: SshTransport, design: Design) -> list[str]:
        """Load `design` and verify the board runs it; return the loader's output lines.

        Raises FlashError naming what failed. Called only when the design is not already
        active (see pytest_think.flashing)."""
        ...

    def design_active(self, board: BoardConfig, transport: SshTransport) -> bool:
        """Whether the last design loaded is still what the board runs."""
        ...

    def design_runtime(
        self,
        board: BoardConfig,
        transport: SshTransport | None,
        design: Design,
        signature: dict[str, Any],
    ) -> DesignRuntime:
        """How the agent runs a loaded design: the file to LOAD, the backend, its options.

        `signature` is the reference model's (inputs and outputs), for runners that need it."""
        ...

    def power_sensors(
        self, board: BoardConfig, transport: SshTransport | None
    ) -> list[PowerSensor]:
        """The board's onboard power monitors (empty when it has none or no SSH)."""
        ...

    def design_record(self, board: BoardConfig) -> str:
        """Where on the board the loaded design's sha256 is kept: somewhere that is forgotten
        exactly when the board forgets the design (e.g. a tmpfs for an FPGA's fabric)."""
        ...


def available_families() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load_family(board: BoardConfig) -> Family:
    families = available_families()
    if board.family not in families:
        names = ", ".join(sorted(families)) or "none (is pytest-think installed?)"
        raise BoardConfigError(
            f"board file {board.source or board.name}: field 'family': unknown family "
            f"'{board.family}'; installed families: {names}"
        )
    factory = families[board.family].load()
    family: Family = factory()
    family.check_options(board)
    return family
