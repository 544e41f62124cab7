"""Serial consoles: per-test capture with timestamps, expect with timeouts, login, commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support import REPO, bench_twin

from pytest_think.emulator.launcher import TwinProcess

PASSWORD_ENV = "THINK_ZCU102_ROOT_PASSWORD"


@pytest.fixture(scope="module")
def zcu102(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TwinProcess, Path]]:
    base = tmp_path_factory.mktemp("console")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSWORD_ENV, "twin-secret")  # the twin's board takes the lab's password
        with bench_twin(base, REPO / "boards" / "fpga-zcu102.yaml", "zcu-console") as running:
            yield running


def _variant(boards: Path, name: str, **console: object) -> None:
    data = yaml.safe_load((boards / "zcu-console.yaml").read_text())
    data["name"] = name
    data["console"] = {**data["console"], **console}
    (boards / f"{name}.yaml").write_text(yaml.safe_dump(data))


def test_login_and_commands_over_the_console_are_captured_with_times(
    pytester: pytest.Pytester, zcu102: tuple[TwinProcess, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, boards = zcu102
    monkeypatch.setenv(PASSWORD_ENV, "twin-secret")
    pytester.makepyfile(
        """
        def test_shell(console):
            console.login()
            result = console.run(["uname", "-r"])
            assert result.exit_status == 0 and result.out == "5.15.36-xilinx-v2022.2\\n"
            missing = console.run(["cat", "/no/such/file"])
            assert missing.exit_status == 1
            assert "No such file or directory" in missing.out
            assert console.run(["cat", "/sys/class/fpga_manager/fpga0/state"]).out.strip()
            assert False, "show the console in the report"
        """
    )
    results = pytester.path / "results.json"
    result = pytester.runpytest(
        "--board=zcu-console", f"--board-dir={boards}", f"--think-json={results}"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- think console -*",
            "[[]??:??:??.???[]] xilinx-zcu102-2022_2 login: root",
            "[[]??:??:??.???[]] root@xilinx-zcu102-2022_2:~# uname -r",
            "[[]??:??:??.???[]] 5.15.36-xilinx-v2022.2",
        ]
    )
    assert "twin-secret" not in result.stdout.str()
    (test,) = json.loads(results.read_text())["tests"]
    texts = [line["text"] for line in test["console"]]
    assert "5.15.36-xilinx-v2022.2" in texts and "twin-secret" not in json.dumps(test)
    times = [line["time"] for line in test["console"]]
    assert times == sorted(times) and times[0] > 1.7e9


def test_console_faults_are_one_line_each(
    pytester: pytest.Pytester, zcu102: tuple[TwinProcess, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, boards = zcu102
    _variant(boards, "zcu-nopass", login={"user": "root", "password_env": "THINK_UNSET_PASSWORD"})
    _variant(boards, "zcu-ghost", url=str(pytester.path / "ttyGHOST"))
    monkeypatch.delenv("THINK_UNSET_PASSWORD", raising=False)
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    pytester.makepyfile(
        """
        import pytest

        def test_wrong_password(console):
            console.login()  # still logged in from the last session: the shell prompt is there
            console.logout()
            console.login()

        @pytest.mark.parametrize("board_spec", ["zcu-ghost"], scope="session")
        def test_no_port(console):
            pass
        """
    )
    result = pytester.runpytest("--board=zcu-console", f"--board-dir={boards}")
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines_random(
        [
            "*LinkError: console of board 'zcu-console' (/dev/pts/*): login as 'root' refused: "
            f"Login incorrect (password from ${PASSWORD_ENV})",
            "*LinkError: console of board 'zcu-ghost' (*ttyGHOST): cannot open: *No such file*",
        ]
    )
    # The getty is back at its login prompt; this board file names no password it can find.
    pytester.makepyfile("def test_no_password(console):\n    console.login()\n")
    result = pytester.runpytest("--board=zcu-nopass", f"--board-dir={boards}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*BoardConfigError: console of board 'zcu-nopass' (/dev/pts/*): the board asks for "
            "a password: set $THINK_UNSET_PASSWORD",
        ]
    )


def test_console_that_never_prompts_times_out_in_one_line(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    data = yaml.safe_load((REPO / "boards" / "fpga-zcu102.yaml").read_text())
    data["twin"]["console"] = {"silent": True}
    data["console"]["timeout"] = 1.0
    board_file = tmp_path / "hung.yaml"
    board_file.write_text(yaml.safe_dump(data))
    pytester.makepyfile(
        """
        def test_login(console):
            console.login()
        """
    )
    result = pytester.runpytest(f"--board={board_file}", "--emulate")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ConsoleTimeout: console of board 'fpga-zcu102' (/dev/pts/*): no login or shell "
            "prompt within 1.0 s; nothing was printed"
        ]
    )


def test_a_console_held_by_another_program_is_refused(
    zcu102: tuple[TwinProcess, Path],
) -> None:
    from pytest_think.boards import load_board
    from pytest_think.errors import LinkError
    from pytest_think.transport.console import SerialConsole

    _, boards = zcu102
    board = load_board(boards / "zcu-console.yaml")
    assert board.console is not None
    first = SerialConsole(board.console, board.name)
    try:
        with pytest.raises(LinkError, match=r"cannot open: .*exclusively lock"):
            SerialConsole(board.console, board.name)
    finally:
        first.close()
