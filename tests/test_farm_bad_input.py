"""Bad input of labgrid boards: one clear line naming the file, field or place and what to
do, no traceback from pytest-think."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from farm_support import farm, lg, private_leases
from support import sim_board_data

from pytest_think.boards import PowerConfig
from pytest_think.emulator.farm import TwinFarm
from pytest_think.emulator.labgrid_procs import free_port
from pytest_think.errors import FarmError
from pytest_think.farm.power import NetworkPowerSwitch

__all__ = ["farm", "private_leases"]  # fixtures


def _no_traceback(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text
    assert not re.search(r"pytest_think/[\w/]+\.py:\d+", text), "a frame of our code leaked out"


def labgrid_board(pytester: pytest.Pytester, **labgrid: Any) -> Path:
    """A board file like the farm's: its endpoints come from a place."""
    data = sim_board_data(name="bench")
    data.pop("twin")
    data["ssh"] = {"user": "think"}
    data["labgrid"] = labgrid
    path = pytester.path / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(pytester: pytest.Pytester, board: Path, *args: str) -> pytest.RunResult:
    pytester.makepyfile("def test_x(board):\n    pass\n")
    result = pytester.runpytest(f"--board={board}", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    _no_traceback(result)
    return result


def test_an_unreachable_coordinator_is_named(pytester: pytest.Pytester) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    result = run(pytester, labgrid_board(pytester, place="bench3", coordinator=address))
    result.stderr.fnmatch_lines(
        [f"ERROR: labgrid coordinator {address} is unreachable (*); is labgrid-coordinator *"]
    )


def test_the_coordinator_comes_from_the_option_then_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = labgrid_board(pytester, place="bench3")
    result = run(pytester, board)
    result.stderr.fnmatch_lines(
        [
            f"ERROR: board file {board}: field 'labgrid.coordinator': no labgrid coordinator "
            "named; give HOST:PORT there, with --lg-coordinator or in LG_COORDINATOR"
        ]
    )
    option, env = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("LG_COORDINATOR", env)
    run(pytester, board).stderr.fnmatch_lines([f"ERROR: labgrid coordinator {env} is *"])
    result = run(pytester, board, f"--lg-coordinator={option}")
    result.stderr.fnmatch_lines([f"ERROR: labgrid coordinator {option} is *"])


def test_an_unknown_place_lists_the_known_ones(pytester: pytest.Pytester, farm: TwinFarm) -> None:
    board = labgrid_board(pytester, place="zcu102-bench9", coordinator=farm.coordinator)
    run(pytester, board).stderr.fnmatch_lines(
        [
            f"ERROR: board file {board}: field 'labgrid.place': labgrid coordinator "
            f"{farm.coordinator} has no place 'zcu102-bench9' (its places: *sim*)"
        ]
    )


def test_tags_that_match_no_place_list_the_places_and_their_tags(
    pytester: pytest.Pytester, farm: TwinFarm
) -> None:
    board = labgrid_board(pytester, tags={"board": "zcu102"}, coordinator=farm.coordinator)
    run(pytester, board).stderr.fnmatch_lines(
        [
            f"ERROR: board file {board}: field 'labgrid.tags': no place on labgrid coordinator "
            f"{farm.coordinator} has the tags board=zcu102 (its places: *sim: board=sim "
            "family=generic*)"
        ]
    )


def test_a_place_without_network_service_is_named_with_what_it_has(
    pytester: pytest.Pytester, farm: TwinFarm
) -> None:
    lg(farm.coordinator, "create", place="bare")
    try:
        board = labgrid_board(pytester, place="bare", coordinator=farm.coordinator)
        run(pytester, board).stderr.fnmatch_lines(
            [
                f"ERROR: place bare has no NetworkService resource, which board file {board} "
                "needs for its 'ssh' section (the place's resources: none); add one to the "
                "exporter's configuration and a match to the place"
            ]
        )
    finally:
        lg(farm.coordinator, "delete", place="bare")


BLOCK_LABGRID = """
import importlib.machinery

_find_spec = importlib.machinery.PathFinder.find_spec


def find_spec(cls, fullname, path=None, target=None):
    if fullname.split(".")[0] == "labgrid":
        return None  # as when it is not installed
    return _find_spec(fullname, path, target)


importlib.machinery.PathFinder.find_spec = classmethod(find_spec)
"""


def test_without_labgrid_a_labgrid_board_says_how_to_install_it(
    pytester: pytest.Pytester,
) -> None:
    blocker = pytester.mkdir("no-labgrid")
    (blocker / "sitecustomize.py").write_text(BLOCK_LABGRID)
    board = labgrid_board(pytester, place="bench3", coordinator="127.0.0.1:1")
    pytester.makepyfile("def test_x(board):\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    # labgrid's own plug-in is not there either for a user without labgrid
    argv = [sys.executable, "-m", "pytest", "-p", "no:labgrid", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*argv, f"--board={board}", "--lg-coordinator=127.0.0.1:2"],
        cwd=pytester.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"ERROR: board file {board}: the labgrid place of board 'bench' needs labgrid, which "
        "is not installed: pip install 'pytest-think[farm]'"
    ]


@pytest.mark.parametrize(
    ("sections", "line"),
    [
        (
            {"labgrid": {"place": "p", "tags": {"board": "x"}}},
            "field 'labgrid': name either a 'place' or the 'tags' to reserve one by, not both",
        ),
        (
            {"labgrid": {"tags": {"Board": "x"}}},
            "field 'labgrid': tag key 'Board' is not a labgrid tag key *",
        ),
        (
            {"labgrid": {"place": "p", "acquire_timeout": 0}},
            "field 'labgrid.acquire_timeout': Input should be greater than 0",
        ),
        (
            {"labgrid": None, "ssh": {"user": "think"}},
            "field '(top level)': *'ssh.host' is missing (required unless a 'labgrid' section "
            "names the place that gives it)",
        ),
    ],
)
def test_a_bad_labgrid_section_names_its_field(
    pytester: pytest.Pytester, sections: dict[str, Any], line: str
) -> None:
    data = sim_board_data(name="bench")
    data.pop("twin")
    for key, value in sections.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    board = pytester.path / "bench.yaml"
    board.write_text(yaml.safe_dump(data))
    run(pytester, board).stderr.fnmatch_lines([f"ERROR: board file {board}: {line}"])


def test_an_unknown_power_model_lists_labgrids() -> None:
    with pytest.raises(FarmError) as caught:
        NetworkPowerSwitch(PowerConfig(model="nopdu", host="pdu.lab"), "place bench3")
    assert re.fullmatch(
        r"place bench3: field 'power.model': labgrid has no power backend 'nopdu' "
        r"\(its models: .*\bapc\b.*\bsimplerest\b.*\)",
        str(caught.value),
    )


def test_with_emulate_a_labgrid_board_is_its_twin_and_no_coordinator_is_asked(
    pytester: pytest.Pytester,
) -> None:
    data = sim_board_data(name="bench")
    data["twin"]["only"] = False
    data["labgrid"] = {"place": "bench3", "coordinator": f"127.0.0.1:{free_port()}"}
    board = pytester.path / "bench.yaml"
    board.write_text(yaml.safe_dump(data))
    pytester.makepyfile("def test_x(board):\n    assert board.emulated\n")
    result = pytester.runpytest(f"--board={board}", "--emulate")
    result.assert_outcomes(passed=1)
    assert "labgrid place" not in result.stdout.str()


def test_the_farm_options_are_fixtures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        def test_options(lg_coordinator, lg_acquire_timeout):
            assert (lg_coordinator, lg_acquire_timeout) == ("farm.lab:20408", 90.0)

        def test_environment(lg_coordinator):
            assert lg_coordinator == "farm.lab:20408"
        """
    )
    args = ("--lg-coordinator=farm.lab:20408", "--lg-acquire-timeout=90")
    pytester.runpytest(*args, "-k", "test_options").assert_outcomes(passed=1)
    monkeypatch.setenv("LG_COORDINATOR", "farm.lab:20408")
    pytester.runpytest("-k", "test_environment").assert_outcomes(passed=1)
