"""--emulate: boards reached through their digital twins.

The one product module that imports the emulator: the session asks it which boards to
emulate and for the twin provider (a pytest plug-in, registered on first use), and
``think twin`` starts a twin through it, ``think farm-twins`` a farm of them.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from pytest_think.boards import BoardConfig
    from pytest_think.emulator.farm import TwinFarm
    from pytest_think.emulator.launcher import TwinProcess
    from pytest_think.pytest.endpoints import EndpointProvider

TWINS_PLUGIN = "think-twins"


def emulated(board: BoardConfig, emulate: bool) -> bool:
    """Whether `board` is reached through its twin: asked for, or the board is twin-only."""
    return emulate or bool(board.twin and board.twin.only)


def target(board: BoardConfig, emulate: bool) -> str:
    """What answers for `board`, in the words of the reports."""
    return "digital twin" if emulated(board, emulate) else "hardware"


def twin_provider(config: pytest.Config) -> EndpointProvider:
    """The session's twins: a pytest plug-in that starts them and says what they know."""
    from pytest_think.emulator.pytest_plugin import TwinEndpoints

    plugin = config.pluginmanager.get_plugin(TWINS_PLUGIN)
    if plugin is None:
        plugin = TwinEndpoints()
        config.pluginmanager.register(plugin, TWINS_PLUGIN)
    assert isinstance(plugin, TwinEndpoints)
    return plugin


def check_twin(board: BoardConfig) -> None:
    """Validate the board's `twin` section against the twins installed (one-line
    BoardConfigError naming the field); nothing to check for a board without one."""
    if board.twin is not None:
        from pytest_think.emulator.config import validate_twin

        validate_twin(board)


def start_twin(board: BoardConfig, state_dir: Path) -> TwinProcess:
    """`board`'s twin, running in its own process (stop it with .stop())."""
    from pytest_think.emulator.launcher import TwinProcess

    return TwinProcess.start(board, state_dir)


def twin_commands(endpoint: dict[str, Any]) -> list[str]:
    """ssh and scp to a running twin (`TwinProcess.endpoint`), its host key pinned by the
    known_hosts file in its state directory: nothing is written to ~/.ssh."""
    e = endpoint
    options = (
        f"-i {shlex.quote(e['key_file'])} -o IdentitiesOnly=yes "
        f"-o UserKnownHostsFile={shlex.quote(e['known_hosts'])} -o StrictHostKeyChecking=yes"
    )
    return [
        f"ssh {options} -p {e['port']} {e['user']}@{e['host']} uname -a",
        f"scp {options} -P {e['port']} FILE {e['user']}@{e['host']}:",
    ]


def start_twin_farm(
    boards: list[BoardConfig], directory: Path, coordinator: str | None = None
) -> TwinFarm:
    """`boards`' twins exported through a labgrid exporter to `coordinator` (HOST:PORT; one
    started on 127.0.0.1 when None), a place and a board file in `directory` for each."""
    from pytest_think.emulator.farm import TwinFarm

    return TwinFarm.start(boards, directory, coordinator)
