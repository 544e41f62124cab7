"""The `think` command: boards, check, twin."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
import yaml
from click.testing import CliRunner
from support import REPO, sim_board_data

from pytest_think.cli import main


def test_boards_lists_lab_and_shipped_boards() -> None:
    result = CliRunner().invoke(main, ["boards", "--board-dir", str(REPO / "boards")])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["board", "family", "twin", "file"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["sim"][1:3] == ["generic", "only"]
    assert rows["arm64-linux"][1:3] == ["generic", "yes"]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"family": "xilinx-fgpa"}, "field 'family': unknown family 'xilinx-fgpa'"),
        ({"options": {"power_mode": 1}}, "field 'options.power_mode': not an option of family"),
        ({"twin": {"only": True, "fpga": {}}}, "field 'twin.fpga': unknown field"),
    ],
)
def test_check_asks_the_family_and_the_twins(
    tmp_path: Path, section: dict[str, object], expected: str
) -> None:
    path = tmp_path / "board.yaml"
    path.write_text(yaml.safe_dump(sim_board_data(name="b", **section)))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert expected in result.output, result.output


def test_check_reports_one_line_per_bad_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(sim_board_data(name="good")))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(sim_board_data(name="bad", ssh={"port": "twenty-two"})))
    result = CliRunner().invoke(main, ["check", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"ok: {good} (board 'good', family generic)" in result.output
    bad_lines = [line for line in result.output.splitlines() if line.startswith("invalid:")]
    assert bad_lines == [
        f"invalid: board file {bad}: field 'ssh.port': Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


@contextmanager
def think_twin(board: str, state: Path) -> Iterator[IO[str]]:
    """`think twin BOARD` running; yields its stdout; Ctrl-C (SIGINT) on the way out."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_think.cli", "twin", board, "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        # What is tested is that it stops, not how fast a loaded machine lets it: the wait is
        # bounded by the test's time limit (its one line names this step), not a margin.
        try:
            proc.wait()
        finally:
            if proc.poll() is None:  # the limit ran out: leave nothing running
                proc.kill()
                proc.wait()


def test_twin_command_serves_until_interrupted(tmp_path: Path) -> None:
    with think_twin("sim", tmp_path) as out:
        assert out.readline().startswith("twin of 'sim' listening on 127.0.0.1:")
        assert "ssh -i" in out.readline()
    # The twin process it started is gone too: it ends with its parent (waited for until it
    # has, within the test's time limit, as the parent was).
    while subprocess.run(
        ["pgrep", "-f", f"pytest_think.emulator .*{tmp_path}"], capture_output=True, text=True
    ).stdout.split():
        time.sleep(0.1)


def test_twin_of_board_without_twin_section(tmp_path: Path) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text(yaml.safe_dump(sim_board_data(name="bare", twin=None)))
    result = CliRunner().invoke(main, ["twin", str(path)])
    assert result.exit_code == 2
    assert "has no 'twin' section" in result.output


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0
    assert result.output.startswith(("think, version", "Usage: think"))


def test_twin_command_for_a_serial_board(tmp_path: Path) -> None:
    with think_twin("mcu-uart", tmp_path) as out:
        assert out.readline().startswith("twin of 'mcu-uart' on serial port /dev/pts/")
