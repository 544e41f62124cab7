"""One connection to a labgrid coordinator: labgrid's own `ClientSession` (subscribed to every
place and resource), run on an event loop in a thread of its own so that its updates keep
arriving while tests run, and called through the coordinator's gRPC stub.

labgrid's ClientSession.acquire()/release() read labgrid-client's command line; the session
calls the stub as they do (AcquirePlace, ReleasePlace, CreateReservation, PollReservation …).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pytest_think.errors import FarmError
from pytest_think.farm.labgrid_import import require

__all__ = ["DEFAULT_PORT", "Coordinator"]

DEFAULT_PORT = 20408  # labgrid's
T = TypeVar("T")


class Coordinator:
    """A connected coordinator. `address` is HOST[:PORT] as the user wrote it."""

    def __init__(self, address: str, connect_timeout: float = 10.0) -> None:
        client = require("labgrid.remote.client", f"labgrid coordinator {address}")
        proxy = require("labgrid.util.proxy", f"labgrid coordinator {address}")
        self.pb = require("labgrid.remote.generated.labgrid_coordinator_pb2", "labgrid")
        self.address = address
        self.grpc_address: str = proxy.proxymanager.get_grpc_address(
            address, default_port=DEFAULT_PORT
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"labgrid {address}", daemon=True
        )
        self._thread.start()

        async def start() -> Any:
            session = client.ClientSession(self.grpc_address, self._loop)
            await asyncio.wait_for(session.start(), connect_timeout)
            return session

        try:
            self.session = self._run(start(), connect_timeout + 5)
        except (Exception, concurrent.futures.TimeoutError) as exc:
            self._stop_loop()
            raise FarmError(
                f"labgrid coordinator {self.grpc_address} is unreachable ({_reason(exc)}); "
                "is labgrid-coordinator running there, and is it the one meant (the board "
                "file's labgrid.coordinator, else --lg-coordinator, else LG_COORDINATOR)?"
            ) from None
        self.holder: str = f"{self.session.gethostname()}/{self.session.getuser()}"

    def _run(self, coro: Awaitable[T], timeout: float) -> T:
        async def wrapped() -> T:
            return await coro

        future = asyncio.run_coroutine_threadsafe(wrapped(), self._loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def in_loop(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """`fn()` run in the session's thread (where its places and resources change)."""

        async def call() -> T:
            return fn()

        return self._run(call(), timeout)

    def rpc(self, what: str, call: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
        """A coordinator call (made in the session's thread), then a sync so that the
        session's view of places has caught up; a refusal is one FarmError line."""
        grpc = require("grpc", "labgrid")

        async def run() -> T:
            result = await call()
            await self.session.sync_with_coordinator()
            return result

        try:
            return self._run(run(), timeout)
        except grpc.aio.AioRpcError as exc:
            raise FarmError(
                f"labgrid coordinator {self.grpc_address} refused to {what}: {exc.details()}"
            ) from None
        except concurrent.futures.TimeoutError:
            raise FarmError(
                f"labgrid coordinator {self.grpc_address} did not answer within {timeout} s "
                f"when asked to {what}"
            ) from None

    # -- what the coordinator knows --------------------------------------------------------

    def places(self) -> dict[str, Any]:
        """Every place (labgrid.remote.common.Place), by name."""
        return self.in_loop(lambda: dict(self.session.places))

    def place_resources(self, place: Any) -> dict[tuple[str, str], Any]:
        """The resources that match `place` now, acquired or not: (name, cls) → entry
        (labgrid's ResourceEntry: .cls, .args, .avail), named as the place renames them."""

        def collect() -> dict[tuple[str, str], Any]:
            found = {}
            for exporter, groups in self.session.resources.items():
                for group_name, group in groups.items():
                    for resource_name, entry in group.items():
                        path = (exporter, group_name, entry.cls, resource_name)
                        match = place.getmatch(path)
                        if match is not None:
                            found[(match.rename or resource_name, entry.cls)] = entry
            return found

        return self.in_loop(collect)

    # -- places and reservations -----------------------------------------------------------

    def reserve(self, tags: dict[str, str]) -> str:
        """A reservation for one place with `tags` (`name` matches the place's name); its
        token."""
        pb = self.pb
        request = pb.CreateReservationRequest(
            filters={"main": pb.Reservation.Filter(filter=tags)}, prio=0.0
        )
        what = f"reserve a place with {_tags(tags)}"
        response = self.rpc(what, lambda: self.session.stub.CreateReservation(request))
        return str(response.reservation.token)

    def poll(self, token: str) -> str | None:
        """Keep the reservation alive; the place it was given, or None while it waits."""
        request = self.pb.PollReservationRequest(token=token)
        response = self.rpc(
            "poll a reservation", lambda: self.session.stub.PollReservation(request)
        )
        allocated = dict(response.reservation.allocations)
        return allocated.get("main") or None

    def cancel(self, token: str) -> None:
        request = self.pb.CancelReservationRequest(token=token)
        self.rpc("cancel a reservation", lambda: self.session.stub.CancelReservation(request))

    def acquire(self, place: str) -> None:
        request = self.pb.AcquirePlaceRequest(placename=place)
        self.rpc(f"acquire place {place}", lambda: self.session.stub.AcquirePlace(request))

    def release(self, place: str, holder: str) -> None:
        """Release `place` if `holder` still holds it (labgrid's release-from)."""
        request = self.pb.ReleasePlaceRequest(placename=place, fromuser=holder)
        self.rpc(f"release place {place}", lambda: self.session.stub.ReleasePlace(request))

    def close(self) -> None:
        try:
            self._run(self.session.stop(), 5)
            self._run(self.session.close(), 5)
        except (Exception, concurrent.futures.TimeoutError):
            pass  # the coordinator went first; nothing is left to give back
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()


def _tags(tags: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, concurrent.futures.TimeoutError)):
        return "no answer"
    return "the connection failed"
