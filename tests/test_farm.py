"""Boards in labgrid places, against a real coordinator and exporter on 127.0.0.1: a suite
test end to end, the place given back however the session ends, waiting for a place others
hold, a place left by a session that died, and two sessions wanting one board."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
from pathlib import Path

import pytest
from farm_support import (
    HOLD_TEST,
    Session,
    farm,
    held_by,
    holder,
    lg,
    private_leases,
    start_farm,
)
from support import DIGITS_MODEL, DIGITS_VECTORS

from pytest_think.boards import load_board
from pytest_think.emulator.farm import TwinFarm
from pytest_think.farm.provider import FarmOptions, LabgridPlaces

__all__ = ["farm", "private_leases"]  # fixtures

DIGITS_TEST = f"""
def test_digits(dut, reference):
    run = dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
    report = reference.check(run, rtol=1e-4, atol=1e-5)
    assert run.accuracy() >= report.accuracy["reference"] - 0.01
"""


def board_file(farm: TwinFarm) -> Path:
    return farm.boards["sim"].board_file


def test_a_labgrid_board_runs_a_suite_test_and_gives_its_place_back(
    pytester: pytest.Pytester, farm: TwinFarm
) -> None:
    pytester.makepyfile(DIGITS_TEST)
    results = pytester.path / "results.json"
    result = pytester.runpytest(
        f"--board={board_file(farm)}", f"--think-json={results}", "--alluredir=allure"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"think: board sim in labgrid place sim (coordinator {farm.coordinator}, held by */*)"]
    )
    assert holder(farm.coordinator, "sim") is None
    [board] = json.loads(results.read_text())["boards"]
    assert board["twin"] is False  # a place changes endpoints only; the reports do not know
    assert board["facts"] == {"labgrid_place": "sim", "labgrid_coordinator": farm.coordinator}
    # Allure: the place is a label of the test and a line of the environment.
    [allure] = [json.loads(p.read_text()) for p in (pytester.path / "allure").glob("*-result.json")]
    assert {"name": "place", "value": "sim"} in allure["labels"]
    environment = (pytester.path / "allure" / "environment.properties").read_text().splitlines()
    assert "sim.place=sim" in environment and "sim.target=hardware" in environment
    assert f"sim.coordinator={farm.coordinator}" in environment


@pytest.mark.parametrize(
    ("files", "outcome"),
    [
        ({"test_crash": "def test_crash(board):\n    raise RuntimeError('crash')\n"}, "failed"),
        (
            {
                "conftest": "def pytest_runtest_logreport(report):\n    raise RuntimeError('x')\n",
                "test_one": "def test_one(board):\n    pass\n",
            },
            "internal error",
        ),
    ],
)
def test_the_place_is_released_after_a_crashed_test_or_an_internal_error(
    pytester: pytest.Pytester, farm: TwinFarm, files: dict[str, str], outcome: str
) -> None:
    for name, text in files.items():
        pytester.makepyfile(**{name: text})
    result = pytester.runpytest(f"--board={board_file(farm)}")
    if outcome == "failed":
        result.assert_outcomes(failed=1)
    else:
        assert result.ret == pytest.ExitCode.INTERNAL_ERROR
        result.stdout.fnmatch_lines(["INTERNALERROR*RuntimeError: x"])
    assert holder(farm.coordinator, "sim") is None


def test_sigterm_ends_the_session_cleanly_and_releases_the_place(
    pytester: pytest.Pytester, farm: TwinFarm
) -> None:
    pytester.makepyfile(HOLD_TEST)
    session = Session(
        pytester.path, f"--board={board_file(farm)}", env={"FARM_TEST_DIR": str(pytester.path)}
    )
    session.wait_for(lambda: any(pytester.path.glob("start-*")), "the test started")
    assert holder(farm.coordinator, "sim") is not None
    session.proc.send_signal(signal.SIGTERM)
    assert session.finish() == pytest.ExitCode.INTERRUPTED, session.output
    assert "KeyboardInterrupt" in session.output
    assert holder(farm.coordinator, "sim") is None


def test_a_session_waits_while_another_user_holds_the_place_then_runs(
    pytester: pytest.Pytester, farm: TwinFarm
) -> None:
    line = f"place sim on labgrid coordinator {farm.coordinator} is held by "
    pytester.makepyfile(DIGITS_TEST)
    with held_by(farm.coordinator, "sim", "alice"):
        session = Session(pytester.path, f"--board={board_file(farm)}")
        session.wait_for(lambda: line in session.output, "the session said who holds it")
    assert session.finish() == 0, session.output
    said = [ln for ln in session.output.splitlines() if line in ln]
    assert len(said) == 1, said  # once
    assert "/alice since " in said[0] and "waiting up to 600 s" in said[0]
    assert holder(farm.coordinator, "sim") is None


def test_at_the_timeout_the_session_stops_with_who_holds_the_place(
    pytester: pytest.Pytester, farm: TwinFarm
) -> None:
    pytester.makepyfile(DIGITS_TEST)
    with held_by(farm.coordinator, "sim", "alice"):
        result = pytester.runpytest(f"--board={board_file(farm)}", "--lg-acquire-timeout=0.3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: place sim on labgrid coordinator {farm.coordinator} is held by */alice "
            "since *UTC; gave up after 0.3 s (labgrid.acquire_timeout or --lg-acquire-timeout); "
            f"if that holder is gone, free it with: labgrid-client -x {farm.coordinator} -p sim "
            "release-from */alice"
        ]
    )


def _killed_holder(pytester: pytest.Pytester, farm: TwinFarm) -> int:
    """A session that held the place and was killed (SIGKILL: nothing could release it)."""
    pytester.makepyfile(HOLD_TEST)
    session = Session(
        pytester.path, f"--board={board_file(farm)}", env={"FARM_TEST_DIR": str(pytester.path)}
    )
    session.wait_for(lambda: any(pytester.path.glob("start-*")), "the test started")
    session.proc.kill()
    session.finish()
    return session.proc.pid


def test_a_place_left_by_a_dead_session_is_reported_with_the_command_that_frees_it(
    pytester: pytest.Pytester, farm: TwinFarm
) -> None:
    pid = _killed_holder(pytester, farm)
    held_by = holder(farm.coordinator, "sim")
    assert held_by is not None
    result = pytester.runpytest(f"--board={board_file(farm)}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    command = f"labgrid-client -x {farm.coordinator} -p sim release-from {held_by}"
    result.stderr.fnmatch_lines(
        [
            f"ERROR: place sim on labgrid coordinator {farm.coordinator} is still acquired by "
            f"{held_by} since *UTC, by a pytest session (pid {pid}) that has ended; "
            f"free it with: {command}"
        ]
    )
    argv = shlex.split(command)
    subprocess.run([lg_path(), *argv[1:]], check=True, capture_output=True)
    assert holder(farm.coordinator, "sim") is None


def lg_path() -> str:
    from pytest_think.emulator.labgrid_procs import labgrid_command

    return labgrid_command("labgrid-client")


def test_release_orphan_gives_back_a_dead_workers_place_and_no_live_one(
    pytester: pytest.Pytester, farm: TwinFarm
) -> None:
    provider = LabgridPlaces(FarmOptions(), print)
    config = load_board(board_file(farm))
    try:
        held = provider.reach(config)
        provider.release_orphan(config)  # this process is alive: nothing to give back
        assert holder(farm.coordinator, "sim") == held.held.lease.holder
        held.close()
        _killed_holder(pytester, farm)
        assert holder(farm.coordinator, "sim") is not None
        provider.release_orphan(config)
        assert holder(farm.coordinator, "sim") is None
    finally:
        provider.close()


def test_expand_gives_one_board_per_place_its_tags_match(farm: TwinFarm) -> None:
    for place in ("sim-b2", "sim-b3"):
        lg(farm.coordinator, "create", place=place)
        lg(farm.coordinator, "set-tags", "family=generic", place=place)
    provider = LabgridPlaces(FarmOptions(), print)
    try:
        named = load_board(board_file(farm))
        assert provider.expand(named) == [named]
        assert named.labgrid is not None
        tagged = named.model_copy(
            update={
                "labgrid": named.labgrid.model_copy(
                    update={"place": None, "tags": {"family": "generic"}}
                )
            }
        )
        boards = provider.expand(tagged)
        assert [b.name for b in boards] == ["sim@sim", "sim@sim-b2", "sim@sim-b3"]
        assert [b.labgrid.place for b in boards if b.labgrid] == ["sim", "sim-b2", "sim-b3"]
    finally:
        provider.close()
        for place in ("sim-b2", "sim-b3"):
            lg(farm.coordinator, "delete", place=place)


def test_two_sessions_wanting_one_board_never_overlap(
    pytester: pytest.Pytester, farm: TwinFarm
) -> None:
    pytester.makepyfile(HOLD_TEST)
    env = {"FARM_TEST_DIR": str(pytester.path)}
    first = Session(pytester.path, f"--board={board_file(farm)}", env=env)
    first.wait_for(lambda: (pytester.path / f"start-{first.proc.pid}").exists(), "first ran")
    second = Session(pytester.path, f"--board={board_file(farm)}", env=env)
    second.wait_for(lambda: "is held by" in second.output, "the second waits")
    assert not (pytester.path / f"start-{second.proc.pid}").exists()
    (pytester.path / "go").touch()
    assert first.finish() == 0, first.output
    assert second.finish() == 0, second.output

    def interval(session: Session) -> tuple[int, int]:
        pid = session.proc.pid
        return tuple(int((pytester.path / f"{e}-{pid}").read_text()) for e in ("start", "end"))  # type: ignore[return-value]

    (start1, end1), (start2, end2) = interval(first), interval(second)
    assert start1 < end1 <= start2 < end2  # one after the other, the second having waited
    assert f"a pytest session, pid {first.proc.pid}" in second.output
    assert holder(farm.coordinator, "sim") is None


POWER_TEST = """
import pytest
from pytest_think.errors import LinkError
from pytest_think.transport.ssh import SshTransport

def test_power_port(board):
    assert board.config.power is not None and board.config.power.model == "simplerest"
    # the meter's address came from the place too (its NetworkService named 'meter')
    assert board.config.meter.resource == {meter!r}
    switch = board.power_switch
    switch.power(False)
    assert switch.is_on() is False
    with pytest.raises(LinkError):  # the twin's supply is off: nothing answers
        SshTransport(board.config.ssh, board.name).connect()
    switch.power(True)
    assert switch.is_on() is True
"""


def test_the_places_power_port_switches_the_board(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with start_farm(tmp_path_factory.mktemp("zcu-farm"), "fpga-zcu102") as zcu:
        meter = zcu.boards["fpga-zcu102"].twin.endpoint["meter"]
        pytester.makepyfile(POWER_TEST.replace("{meter!r}", repr(meter)))
        result = pytester.runpytest(f"--board={zcu.boards['fpga-zcu102'].board_file}")
        result.assert_outcomes(passed=1)
        assert holder(zcu.coordinator, "fpga-zcu102") is None


def test_a_worker_that_dies_holding_a_place_gives_it_to_its_replacement(
    pytester: pytest.Pytester, farm: TwinFarm
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(
        DIGITS_TEST
        + """
import os

def test_dies(board):
    os._exit(3)  # the worker dies holding the place: nothing in it can release it
"""
    )
    result = pytester.runpytest("-n", "1", f"--board={board_file(farm)}", "-p", "no:randomly")
    # the controller released the place, so the replacement worker took it again
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*died holding board sim; board released*"])
    assert holder(farm.coordinator, "sim") is None
