"""`LabgridPlaces`: the endpoint provider of boards that live in labgrid places.

`reach` holds the board's place for the session (reserved by tags or named, acquired) and
gives the board file back rewired to the place's resources; `close()` of what it returns
releases the place. `expand` says which boards a board file stands for (one per place its tags
match), `release_orphan` gives back the place of a worker that died holding it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_think.boards import BoardConfig
from pytest_think.errors import BoardConfigError
from pytest_think.farm.coordinator import Coordinator
from pytest_think.farm.endpoints import rewire
from pytest_think.farm.holding import Held, matching_places, take_place
from pytest_think.farm.labgrid_import import require
from pytest_think.farm.leases import read_lease
from pytest_think.farm.signals import TermAsInterrupt

__all__ = ["DEFAULT_ACQUIRE_TIMEOUT", "LabgridPlaces", "PlaceReached", "places_provider"]

DEFAULT_ACQUIRE_TIMEOUT = 600.0
PROVIDER_KEY = pytest.StashKey["LabgridPlaces"]()


@dataclass
class FarmOptions:
    """What the command line says: --lg-coordinator (env LG_COORDINATOR), --lg-acquire-timeout."""

    coordinator: str | None = None
    acquire_timeout: float | None = None


class PlaceReached:
    """A board reached through the labgrid place this session holds."""

    emulated = False

    def __init__(self, config: BoardConfig, held: Held) -> None:
        self.config = config
        self.held = held
        self.facts: dict[str, Any] = {
            "labgrid_place": held.place,
            "labgrid_coordinator": held.client.address,
        }

    def close(self) -> None:
        self.held.release()


def _key(config: BoardConfig) -> tuple[str, str]:
    return (str(config.source), config.name)


class LabgridPlaces:
    """The endpoint provider for boards whose board file has a `labgrid` section."""

    def __init__(self, options: FarmOptions, say: Callable[[str], None]) -> None:
        self.options = options
        self.say = say
        self._clients: dict[str, Coordinator] = {}
        self._reached: dict[tuple[str, str], PlaceReached] = {}
        self._signals = TermAsInterrupt()

    def coordinator(self, config: BoardConfig) -> str:
        """Where the board's place is known: the file, --lg-coordinator, LG_COORDINATOR."""
        section = config.labgrid
        assert section is not None
        address = section.coordinator or self.options.coordinator
        if not address:
            raise BoardConfigError(
                f"board file {config.source}: field 'labgrid.coordinator': no labgrid "
                "coordinator named; give HOST:PORT there, with --lg-coordinator or in "
                "LG_COORDINATOR"
            )
        return address

    def acquire_timeout(self, config: BoardConfig) -> float:
        """The command line's, else the board file's, else 600 s."""
        section = config.labgrid
        assert section is not None
        chosen = self.options.acquire_timeout or section.acquire_timeout
        return chosen or DEFAULT_ACQUIRE_TIMEOUT

    def client(self, config: BoardConfig) -> Coordinator:
        address = self.coordinator(config)
        if address not in self._clients:
            self._clients[address] = Coordinator(address)
        return self._clients[address]

    # -- EndpointProvider ------------------------------------------------------------------

    def reach(self, config: BoardConfig, state_dir: Path | None = None) -> PlaceReached:
        key = _key(config)
        reached = self._reached.get(key)
        if reached is not None and not reached.held.released:
            return reached
        require(
            "labgrid", f"board file {config.source}: the labgrid place of board '{config.name}'"
        )
        client = self.client(config)
        self._signals.install()
        held = take_place(client, config, self.acquire_timeout(config), self.say)
        try:
            where = f"place {held.place} on labgrid coordinator {client.address}"
            reached = PlaceReached(rewire(config, self._resources(held), where), held)
        except BaseException:
            held.release()
            raise
        self._reached[key] = reached
        return reached

    def _resources(self, held: Held) -> dict[tuple[str, str], Any]:
        client = held.client
        return client.in_loop(
            lambda: client.session.get_target_resources(client.session.places[held.place])
        )

    def expand(self, config: BoardConfig) -> list[BoardConfig]:
        """One board per place the file's tags match (named `name@place`); [config] for a
        named place."""
        section = config.labgrid
        if section is None or section.tags is None:
            return [config]
        places = matching_places(self.client(config), section, config.source)
        return [
            config.model_copy(
                update={
                    "name": f"{config.name}@{place}",
                    "labgrid": section.model_copy(update={"place": place, "tags": None}),
                }
            )
            for place in places
        ]

    def release_orphan(self, config: BoardConfig) -> None:
        """Release the place of `config` (named by `expand`) if a session of ours that has
        ended still holds it."""
        section = config.labgrid
        if section is None or section.place is None:
            return
        client = self.client(config)
        place = client.places().get(section.place)
        if place is None or place.acquired != client.holder:
            return
        lease = read_lease(client.address, section.place)
        if lease is not None and lease.alive():
            return  # a live session holds it
        client.release(section.place, client.holder)

    def held(self) -> list[PlaceReached]:
        return [r for r in self._reached.values() if not r.held.released]

    def close(self) -> None:
        """Release every place still held, close the coordinators."""
        try:
            for reached in self._reached.values():
                reached.close()
        finally:
            self._reached.clear()
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            self._signals.restore()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def places_provider(config: pytest.Config) -> LabgridPlaces:
    """The session's labgrid provider (one per pytest config)."""
    provider = config.stash.get(PROVIDER_KEY, None)
    if provider is None:
        timeout = config.getoption("--lg-acquire-timeout", None)
        coordinator = config.getoption("lg_coordinator", None) or os.environ.get("LG_COORDINATOR")
        options = FarmOptions(coordinator, timeout)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        say = reporter.write_line if reporter is not None else _stderr
        provider = config.stash[PROVIDER_KEY] = LabgridPlaces(options, say)
    return provider
