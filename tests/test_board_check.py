"""`think check` takes what pytest takes, short of connecting: names as well as files, what
connecting to the hardware needs, what a misspelt name meant, plug-ins that do not load."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml
from support import REPO, one_invalid_line, sim_board_data, think_check

from pytest_think.board_check import access_problems, check_spec
from pytest_think.boards import PACKAGED_BOARDS, SshConfig, load_board
from pytest_think.errors import BoardConfigError, LinkError
from pytest_think.transport.ssh import SshTransport

PORT = 2222  # never dialled: nothing here connects
BINARY = bytes(range(256)) * 4


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """A private key, its public half, and a known_hosts file that lists bench.lab:PORT."""
    key = paramiko.ECDSAKey.generate()
    private = tmp_path / "id_bench"
    key.write_private_key_file(str(private))
    public = tmp_path / "id_bench.pub"
    public.write_text(f"{key.get_name()} {key.get_base64()}\n")
    host = paramiko.ECDSAKey.generate()
    known = tmp_path / "known_hosts"
    known.write_text(f"[bench.lab]:{PORT} {host.get_name()} {host.get_base64()}\n")
    return {"key": private, "pub": public, "known_hosts": known}


def _hardware(directory: Path, keys: dict[str, Path], name: str = "bench", **sections: Any) -> Path:
    """A bench board reached over SSH with everything connecting needs present, `sections`
    replacing or merged into its own (a twin section too unless `twin=None`)."""
    ssh = {
        "host": "bench.lab",
        "port": PORT,
        "user": "root",
        "key_file": str(keys["key"]),
        "known_hosts": str(keys["known_hosts"]),
        **sections.pop("ssh", {}),
    }
    sections.setdefault("twin", {"only": False})
    data = sim_board_data(name=name, ssh=ssh, **sections)
    data["ssh"] = {k: v for k, v in data["ssh"].items() if v is not None}
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_bench_board_with_all_it_needs_is_ok_by_name_and_by_path(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    path = _hardware(tmp_path / "boards", keys)
    by_name = think_check("bench", "--board-dir", str(tmp_path / "boards"))
    assert by_name.exit_code == 0, by_name.output
    assert by_name.output == f"ok: {path} (board 'bench', family generic)\n"
    assert think_check(str(path)).exit_code == 0


@pytest.mark.parametrize(
    ("ssh", "says"),
    [
        ({"key_file": "{dir}/absent"}, "field 'ssh.key_file': {dir}/absent not found"),
        ({"key_file": "{dir}/id_bench.pub"}, "field 'ssh.key_file': {dir}/id_bench.pub is a"),
        ({"key_file": "{dir}/known_hosts"}, "field 'ssh.key_file': {dir}/known_hosts is not an"),
        ({"known_hosts": "{dir}/absent"}, "field 'ssh.known_hosts': {dir}/absent not found"),
        ({"port": 22}, "field 'ssh.host_key': not pinned, and {dir}/known_hosts has no entry for "
                       "bench.lab; pin the board's key"),
        ({"password_env": "THINK_CHECK_UNSET"}, "field 'ssh.password_env': names "
                                                "THINK_CHECK_UNSET, which is not set"),
    ],
)  # fmt: skip
def test_what_connecting_needs_is_checked(
    tmp_path: Path, keys: dict[str, Path], ssh: dict[str, Any], says: str
) -> None:
    given = {k: v.format(dir=tmp_path) if isinstance(v, str) else v for k, v in ssh.items()}
    path = _hardware(tmp_path / "boards", keys, ssh=given)
    result = think_check(str(path), env={"THINK_CHECK_UNSET": None})
    line = one_invalid_line(result, f"board file {path}: {says.format(dir=tmp_path)}")
    assert line.count("field '") == 1, line  # only what is wrong


def test_a_pinned_host_key_needs_no_known_hosts_and_variables_are_read_from_the_environment(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    path = _hardware(
        tmp_path / "boards",
        keys,
        ssh={"known_hosts": None, "host_key": "SHA256:" + "A" * 43, "password_env": "THINK_PW"},
        console={"url": str(tmp_path / "ttyBENCH"), "login": {"password_env": "THINK_CON_PW"}},
    )
    board = load_board(path)
    problems = access_problems(board, environ={"THINK_PW": "x"})
    assert problems == [
        "field 'console.login.password_env': names THINK_CON_PW, which is not set in the "
        "environment; export it",
        f"field 'console.url': {tmp_path}/ttyBENCH does not exist (is the board plugged in?)",
    ]
    (tmp_path / "ttyBENCH").touch()
    assert access_problems(board, environ={"THINK_PW": "x", "THINK_CON_PW": "y"}) == []
    # think check reads the real environment: set there, the board is ok.
    ok = think_check(str(path), env={"THINK_PW": "x", "THINK_CON_PW": "y"})
    assert ok.exit_code == 0, ok.output


def test_emulate_checks_the_twin_not_the_bench(tmp_path: Path, keys: dict[str, Path]) -> None:
    boards = tmp_path / "boards"
    path = _hardware(boards, keys, ssh={"key_file": str(tmp_path / "absent")})
    one_invalid_line(think_check(str(path)), "field 'ssh.key_file'")
    assert think_check("--emulate", str(path)).exit_code == 0  # the twin gives key and host key
    bare = _hardware(boards, keys, name="bare", twin=None)
    assert think_check(str(bare)).exit_code == 0
    one_invalid_line(
        think_check("--emulate", str(bare)), f"board file {bare}", "has no 'twin' section"
    )
    typo = _hardware(boards, keys, name="typo", twin={"hostnme": "x"})
    one_invalid_line(think_check(str(typo)), "field 'twin.hostnme': unknown field")


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ({"family": "xilinx-fgpa"}, "unknown family 'xilinx-fgpa' (did you mean 'xilinx-fpga'?)"),
        (
            {"meter": {"driver": "keysight-n6700", "resource": "TCPIP::x::5025::SOCKET"}},
            "field 'meter.driver': unknown driver 'keysight-n6700' (did you mean "
            "'keysight-n6705'?)",
        ),
    ],
)
def test_misspelt_family_and_meter_say_what_was_meant(
    tmp_path: Path, section: dict[str, Any], says: str
) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(sim_board_data(name="b", **section)))
    one_invalid_line(think_check(str(path)), f"board file {path}", says)


UNKNOWN = "unknown field (check its spelling and docs/boards.md)"


@pytest.mark.parametrize(
    ("section", "meant", "given", "says"),
    [
        ("ssh", "key_file", "key_fil", UNKNOWN),
        ("options", "power_rails", "power_rail", "not an option of family 'xilinx-fpga'"),
        ("meter", "channel", "chanel", "not an option of driver 'keysight-n6705'"),
        ("twin", "hostname", "hostnme", UNKNOWN),
        ("twin.latency", "fixed_us", "fixd_us", UNKNOWN),
    ],
)
def test_misspelt_fields_say_what_was_meant(
    tmp_path: Path, section: str, meant: str, given: str, says: str
) -> None:
    data = yaml.safe_load((REPO / "boards" / "fpga-zcu102.yaml").read_text())
    where = data
    for part in section.split("."):
        where = where[part]
    where[given] = where.pop(meant)
    path = tmp_path / "zcu102.yaml"
    path.write_text(yaml.safe_dump(data))
    line = f"board file {path}: field '{section}.{given}': {says} (did you mean '{meant}'?)"
    one_invalid_line(think_check("--emulate", str(path)), line)


def test_board_names_are_looked_up_as_pytest_does(tmp_path: Path) -> None:
    line = one_invalid_line(think_check("simm"), "unknown board 'simm' (did you mean 'sim'?)")
    assert "known boards: " in line
    one_invalid_line(
        think_check(str(tmp_path / "absent.yaml")), f"board file {tmp_path}/absent.yaml not found"
    )
    assert check_spec("sim", [PACKAGED_BOARDS]).name == "sim"
    with pytest.raises(BoardConfigError, match="unknown board 'nope'; known boards: sim"):
        check_spec("nope", [PACKAGED_BOARDS])


def test_each_board_is_one_line_and_the_status_is_of_them_all(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(BINARY)
    result = think_check("sim", str(bad), "sim")
    assert result.exit_code == 1
    ok = f"ok: {PACKAGED_BOARDS / 'sim.yaml'} (board 'sim', family generic)"
    assert result.output.splitlines().count(ok) == 2
    assert f"invalid: board file {bad}: a binary file, not text" in result.output


def test_pytest_board_errors_say_what_was_meant(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(board): pass")
    result = pytester.runpytest("--board=simm")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown board 'simm' (did you mean 'sim'?); known boards: *"])
    (pytester.path / "boards").mkdir()
    (pytester.path / "boards" / "b.yaml").write_text(
        yaml.safe_dump(sim_board_data(name="b", family="generik"))
    )
    result = pytester.runpytest("--board=b")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown family 'generik' (did you mean 'generic'?)*"])


@pytest.mark.parametrize(
    ("module", "section", "field"),
    [
        ("pytest_think.families", {"family": "broken-npu"}, "family"),
        ("pytest_think.power.meters", {"meter": {"driver": "broken-npu"}}, "meter.driver"),
    ],
)
def test_a_plug_in_that_does_not_load_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    section: dict[str, Any],
    field: str,
) -> None:
    broken = EntryPoint("broken-npu", "think_no_such_lab_module:Plugin", "pytest_think.x")
    plugins = importlib.import_module(module)
    real = plugins.entry_points
    monkeypatch.setattr(plugins, "entry_points", lambda group: [*real(group=group), broken])
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(sim_board_data(name="b", **section)))
    one_invalid_line(
        think_check(str(path)),
        f"board file {path}: field '{field}': 'broken-npu' is installed but does not load: "
        "ModuleNotFoundError: No module named 'think_no_such_lab_module'; reinstall it or fix "
        "its entry point think_no_such_lab_module:Plugin",
    )


@pytest.mark.parametrize(
    "section",
    [{}, {"family": "generik"}, {"meter": {"driver": "onbord"}}, {"options": {"clock": 1}}],
    ids=["good", "family", "meter", "option"],
)
def test_think_check_says_ok_only_when_pytest_starts(
    pytester: pytest.Pytester, write_board: Callable[..., Path], section: dict[str, Any]
) -> None:
    path = write_board("b", **section)
    checked = think_check("b", "--board-dir", str(path.parent))
    pytester.makepyfile("def test_x(board): pass")
    result = pytester.runpytest("--board=b")
    if checked.exit_code == 0:
        result.assert_outcomes(passed=1)
    else:
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        # the same line, as pytest's usage error
        result.stderr.fnmatch_lines([f"*{checked.output.strip().removeprefix('invalid: ')}"])
    assert (checked.exit_code == 0) == (section == {})


def test_a_session_names_a_missing_key_file_before_dialling(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is never dialled: the key is looked for first.
    ssh = SshConfig(host="192.0.2.1", user="root", key_file=tmp_path / "id_absent")
    with pytest.raises(LinkError) as info:
        SshTransport(ssh, "bench").connect()
    assert str(info.value) == (
        f"board 'bench' (192.0.2.1:22): ssh.key_file {tmp_path}/id_absent not found (the private "
        "key to log in with); think check names what a board file lacks"
    )
