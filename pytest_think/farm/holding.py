"""Taking a place for a session and giving it back.

A place is taken through a labgrid reservation (filter: the tags, or the place's `name`), so
that sessions waiting for the same place queue at the coordinator; once the reservation is
given a place, the place is acquired and the reservation cancelled. While others hold the
place the session waits (bounded), saying once who holds it and since when. A place acquired
by a session of this user that has ended (its record names a process that is gone) is
reported at once with the command that frees it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_think.boards import BoardConfig, LabgridConfig
from pytest_think.errors import FarmError
from pytest_think.farm.coordinator import Coordinator
from pytest_think.farm.endpoints import missing
from pytest_think.farm.leases import (
    Lease,
    read_lease,
    release_command,
    remove_lease,
    write_lease,
)

__all__ = ["POLL_S", "Held", "matching_places", "take_place"]

POLL_S = 0.2  # how often a waiting session asks the coordinator again


def when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _tags(tags: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def matching_places(client: Coordinator, section: LabgridConfig, source: Any) -> list[str]:
    """The places the section can be given: the named one, or every place with its tags."""
    places = client.places()
    where = f"labgrid coordinator {client.address}"
    if section.place is not None:
        if section.place not in places:
            known = ", ".join(sorted(places)) or "none"
            raise FarmError(
                f"board file {source}: field 'labgrid.place': {where} has no place "
                f"'{section.place}' (its places: {known})"
            )
        return [section.place]
    tags = section.tags or {}
    found = sorted(n for n, p in places.items() if tags.items() <= dict(p.tags).items())
    if not found:
        known = "; ".join(
            f"{n}: {_tags(dict(p.tags)) or '(no tags)'}" for n, p in sorted(places.items())
        )
        raise FarmError(
            f"board file {source}: field 'labgrid.tags': no place on {where} has the tags "
            f"{_tags(tags)} (its places: {known or 'none'})"
        )
    return found


@dataclass
class Held:
    """A place this session holds, until `release()`."""

    client: Coordinator
    place: str
    lease: Lease
    say: Callable[[str], None]
    released: bool = field(default=False)

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            self.client.release(self.place, self.lease.holder)
        except FarmError as exc:
            command = release_command(self.client.address, self.place, self.lease.holder)
            self.say(f"think: could not release place {self.place}: {exc}; free it with: {command}")
            return
        remove_lease(self.lease)


def _holder_line(client: Coordinator, name: str, place: Any) -> str:
    since = when(place.changed)
    lease = read_lease(client.address, name)
    session = ""
    if place.acquired == client.holder and lease is not None and lease.holder == place.acquired:
        session = f" (a pytest session, pid {lease.pid})"
    return (
        f"place {name} on labgrid coordinator {client.address} is held by "
        f"{place.acquired}{session} since {since}"
    )


def _stale(client: Coordinator, name: str, place: Any) -> str | None:
    """The line for a place left acquired by a session of ours that has ended, if it is."""
    if place.acquired != client.holder:
        return None
    lease = read_lease(client.address, name)
    if lease is None or lease.holder != place.acquired or lease.alive():
        return None
    return (
        f"place {name} on labgrid coordinator {client.address} is still acquired by "
        f"{place.acquired} since {when(place.changed)}, by a pytest session (pid {lease.pid}) "
        f"that has ended; free it with: {release_command(client.address, name, place.acquired)}"
    )


def _free_hint(client: Coordinator, candidates: list[str], places: dict[str, Any]) -> str:
    held = [(n, places[n].acquired) for n in candidates if n in places and places[n].acquired]
    if len(held) != 1:
        return ""
    name, by = held[0]
    return f"; if that holder is gone, free it with: {release_command(client.address, name, by)}"


def _waiting_line(client: Coordinator, candidates: list[str]) -> str:
    places = client.places()
    held = [(n, places[n]) for n in candidates if n in places and places[n].acquired]
    if held:
        return "; ".join(_holder_line(client, n, p) for n, p in held)
    names = " and ".join(candidates)
    return f"place {names} on labgrid coordinator {client.address} is reserved for others"


def take_place(
    client: Coordinator,
    config: BoardConfig,
    timeout: float,
    say: Callable[[str], None],
) -> Held:
    """Reserve and acquire a place for `config` (its `labgrid` section), waiting at most
    `timeout` seconds while others hold it."""
    section = config.labgrid
    assert section is not None
    candidates = matching_places(client, section, config.source)
    usable = []
    for name in candidates:
        problem = missing(config, client.place_resources(client.places()[name]), f"place {name}")
        if problem is None:
            usable.append(name)
        elif section.place is not None or len(candidates) == 1:
            raise FarmError(problem)
    if not usable:
        raise FarmError(
            f"board file {config.source}: none of the places with the tags "
            f"{_tags(section.tags or {})} ({', '.join(candidates)}) has the resources it needs"
        )
    filters = {"name": section.place} if section.place is not None else dict(section.tags or {})
    token = client.reserve(filters)
    try:
        place = _wait(client, token, candidates, timeout, say)
        lease = write_lease(client.address, place, client.holder)
        try:
            client.acquire(place)
        except BaseException:
            remove_lease(lease)
            raise
    finally:
        _cancel(client, token)
    return Held(client, place, lease, say)


def _cancel(client: Coordinator, token: str) -> None:
    """Cancel the reservation: acquired, the place needs it no more; given up, no one does."""
    with contextlib.suppress(FarmError):  # the coordinator is gone, and the reservation
        client.cancel(token)


def _wait(
    client: Coordinator,
    token: str,
    candidates: list[str],
    timeout: float,
    say: Callable[[str], None],
) -> str:
    deadline = time.monotonic() + timeout
    told = False
    while True:
        allocated = client.poll(token)
        if allocated is not None:
            return allocated
        places = client.places()
        for name in candidates:
            stale = _stale(client, name, places[name]) if name in places else None
            if stale:
                raise FarmError(stale)
        line = _waiting_line(client, candidates)
        if time.monotonic() >= deadline:
            raise FarmError(
                f"{line}; gave up after {timeout:g} s (labgrid.acquire_timeout or "
                f"--lg-acquire-timeout){_free_hint(client, candidates, places)}"
            )
        if not told:
            say(f"think: {line}; waiting up to {timeout:g} s")
            told = True
        time.sleep(POLL_S)
