"""The farm's pytest hooks: its options (and their fixtures), the session's places held from
its start, named in the header, released at its end however it ends."""

from __future__ import annotations

import contextlib
import importlib.util
import os

import pytest

from pytest_think.errors import ThinkError
from pytest_think.farm.provider import places_provider
from pytest_think.pytest.session import think_session


def _labgrid_plugin_loads(pluginmanager: pytest.PytestPluginManager) -> bool:
    """Whether labgrid's own pytest plug-in (which has --lg-coordinator) is there."""
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") or pluginmanager.is_blocked("labgrid"):
        return pluginmanager.has_plugin("labgrid")
    try:
        return importlib.util.find_spec("labgrid") is not None
    except ImportError:
        return False


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("think")
    if not _labgrid_plugin_loads(pluginmanager):
        # labgrid's option, for the boards of users who have not installed labgrid yet (they
        # then get the one line saying how); with labgrid, its plug-in defines it
        with contextlib.suppress(ValueError):
            group.addoption(
                "--lg-coordinator",
                dest="lg_coordinator",
                default=None,
                metavar="HOST:PORT",
                help="labgrid coordinator of boards whose board file names none "
                "(env LG_COORDINATOR)",
            )
    group.addoption(
        "--lg-acquire-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds to wait while others hold a board's labgrid place (default: the board "
        "file's labgrid.acquire_timeout, else 600)",
    )


@pytest.fixture(scope="session")
def lg_coordinator(request: pytest.FixtureRequest) -> str | None:
    """The labgrid coordinator of the command line (--lg-coordinator / LG_COORDINATOR)."""
    return places_provider(request.config).options.coordinator


@pytest.fixture(scope="session")
def lg_acquire_timeout(request: pytest.FixtureRequest) -> float | None:
    """--lg-acquire-timeout (None: each board file's, else 600 s)."""
    return places_provider(request.config).options.acquire_timeout


def _holds_boards(config: pytest.Config) -> bool:
    """Places are held where tests run: not in an xdist controller, not to collect only."""
    is_controller = config.pluginmanager.has_plugin("dsession")
    return not is_controller and not config.getoption("collectonly", False)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Hold the places of the session's labgrid boards now, before the header is printed."""
    config = session.config
    think = think_session(config)
    if not _holds_boards(config):
        return
    provider = places_provider(config)
    for spec in think.board_specs:
        try:
            board = think.boards.resolve(spec)
            if think.boards.provider_for(board, think.emulate) is provider:
                provider.reach(board)
        except ThinkError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    for reached in places_provider(config).held():
        facts = reached.facts
        lines.append(
            f"think: board {reached.config.name} in labgrid place {facts['labgrid_place']} "
            f"(coordinator {facts['labgrid_coordinator']}, held by {reached.held.lease.holder})"
        )
    return lines


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    places_provider(config).close()
