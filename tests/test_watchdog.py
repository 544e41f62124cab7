"""The watchdog's bounds, the power switches a board file names, and a pool member that
hangs dropped at its bound (against scripted fake agents)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np
import pytest
import yaml
from fake_agent import Start, assert_correct, fake_agents, in_order, never_answers, vectors
from support import REPO, sim_board_data

from pytest_think.boards import BoardConfig, WatchdogConfig, load_board
from pytest_think.device import Device
from pytest_think.errors import BoardConfigError, BoardHung
from pytest_think.pool import PoolMember, PoolStream
from pytest_think.power.switches import CommandSwitch, PowerSwitchError, SupplySwitch
from pytest_think.stream import InFlight
from pytest_think.watchdog import Watchdog, p99


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("pytest_think.watchdog.time.monotonic", clock)
    return clock


def test_the_bound_is_the_floor_until_the_measured_waits_ask_for_more(clock: Clock) -> None:
    watch = Watchdog("b", WatchdogConfig(floor_s=2.0, p99_multiple=10.0)).stream()
    assert watch.start_wait() == 2.0  # nothing measured: the floor
    for _ in range(50):
        watch.start_wait()
        clock.now += 0.05  # fast answers: 10 x p99 = 0.5 s, under the floor
        watch.answered()
    assert watch.start_wait() == 2.0
    for _ in range(50):
        watch.start_wait()
        clock.now += 1.0  # a board whose answers take a second
        watch.answered()
    assert watch.start_wait() == pytest.approx(10.0)  # follows what the board does


def test_a_hang_names_the_board_the_vectors_in_flight_and_the_bound(clock: Clock) -> None:
    dog = Watchdog("zcu", WatchdogConfig(floor_s=3.0))
    watch = dog.stream()
    watch.start_wait()
    error = watch.hung([InFlight(64, 128, 0), InFlight(0, 64, 0)])
    assert isinstance(error, BoardHung)
    assert str(error) == "board 'zcu' hung at vectors 0–127, no answer in 3 s"
    assert dog.tripped is not None
    assert dog.tripped.as_json() == {
        "during": "stream",
        "bound_s": 3.0,
        "vectors": [0, 127],
        "waited_s": 0.0,
    }
    assert dog.loop_bound(10.0) == 13.0


@pytest.fixture
def start() -> Iterator[Start]:
    with fake_agents() as start_agent:
        yield start_agent


class FakeDevice:
    def __init__(self, client: object, board: str) -> None:
        self.agent = client
        self.config = type("Config", (), {"name": board})()

    def close_agent(self) -> None:
        self.agent = None


def test_a_pool_member_that_hangs_is_dropped_at_its_watchdog_bound(start: Start) -> None:
    silent, _ = start(never_answers)
    silent.watchdog = Watchdog("slow", WatchdogConfig(floor_s=0.5))
    other, _ = start(in_order)
    members = [
        PoolMember("m0", cast(Device, FakeDevice(silent, "slow"))),
        PoolMember("m1", cast(Device, FakeDevice(other, "fast"))),
    ]
    _, x = vectors()
    stream = PoolStream(members, vectors()[0], ["y"], window=1, per_frame=64, progress=None)

    result, report = stream.run()

    assert_correct(result, x)
    (drop,) = report.dropped
    assert drop.member == "m0"
    assert re.fullmatch(r"board 'slow' hung at vectors \d+–\d+, no answer in 0.5 s", drop.reason)
    assert drop.vectors_moved == 64  # the frame it held went to the other member


# -- power switches -------------------------------------------------------------------------


def _board(tmp_path: Path, **sections: object) -> BoardConfig:
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(sim_board_data(name="b", **sections)))
    return load_board(path)


def test_power_commands_run_as_argv_and_a_failing_one_is_one_line(tmp_path: Path) -> None:
    flag = tmp_path / "state"
    script = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"
    board = _board(
        tmp_path,
        recovery={
            "power_off": [sys.executable, "-c", script, str(flag), "off; rm -rf /"],
            "power_on": [sys.executable, "-c", script, str(flag), "on"],
        },
    )
    switch = CommandSwitch(board)
    switch.power(False)
    assert flag.read_text() == "off; rm -rf /"  # one argument, never a shell
    switch.power(True)
    assert flag.read_text() == "on"

    failing = _board(
        tmp_path,
        recovery={"power_off": [sys.executable, "-c", "exit('relay 3 busy')"], "power_on": ["x"]},
    )
    with pytest.raises(PowerSwitchError) as info:
        CommandSwitch(failing).power(False)
    assert str(info.value).endswith("failed: exit status 1: relay 3 busy")


def test_a_meter_that_cannot_switch_a_supply_is_no_power_switch(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "boards" / "jetson-tx1.yaml").read_text())  # onboard sensors
    path = tmp_path / "j.yaml"
    data["recovery"] = {"power": "meter"}
    path.write_text(yaml.safe_dump(data))
    board = load_board(path)
    with pytest.raises(PowerSwitchError) as info:
        SupplySwitch(board).power(False)
    assert "field 'recovery.power': meter driver 'onboard' cannot switch" in str(info.value)


@pytest.mark.parametrize(
    ("recovery", "expected"),
    [
        ({"power": "meter"}, "recovery.power is 'meter' but the board file has no 'meter' section"),
        ({"power": "port"}, "recovery.power is 'port' but the board file has no 'power' section"),
        ({"power_on": ["on"]}, "give both 'power_off' and 'power_on'"),
        ({"power": "command"}, "power: command needs 'power_off' and 'power_on'"),
        ({"boot_timeout": 0}, "field 'recovery.boot_timeout'"),
    ],
)
def test_bad_recovery_sections_are_one_line(
    tmp_path: Path, recovery: dict[str, object], expected: str
) -> None:
    with pytest.raises(BoardConfigError) as info:
        _board(tmp_path, recovery=recovery)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("count", [1, 2, 3, 31, 32, 100, 1024])
def test_p99_interpolates_as_numpy_does(count: int) -> None:
    waits = np.random.default_rng(count).exponential(0.01, count)
    assert p99(waits.tolist()) == pytest.approx(float(np.percentile(waits, 99)), rel=1e-12)
