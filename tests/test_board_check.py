"""`think check` takes what pytest takes, and every file a user gives is tried with bad contents:
one line naming the file, never a traceback."""

from __future__ import annotations

import importlib
import json
import re
import zipfile
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import numpy as np
import paramiko
import pytest
import yaml
from click.testing import CliRunner, Result
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO, sim_board_data

from pytest_think.board_check import access_problems, check_spec
from pytest_think.boards import PACKAGED_BOARDS, load_board
from pytest_think.cli import main
from pytest_think.designs import load_design
from pytest_think.errors import BoardConfigError, InputFileError
from pytest_think.reference import ReferenceModel
from pytest_think.vectors import load_arrays

PORT = 2222  # never dialled: nothing here connects
BAD_TEXT = {
    "binary": bytes(range(256)) * 4,
    "not-utf8": "name: café\nfamily: generic\n".encode("latin-1"),
    "empty": b"",
    "truncated": b"name: bench\nssh: {host: bench.lab, user",
    "list": b"- name: bench\n- family: generic\n",
    "number": b"42\n",
}


def _check(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, ["check", *args], env=env)


def _one_line(result: Result, *names: str) -> str:
    """The one `invalid:` line of a refused check, which names each of `names`."""
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
    line = result.output.strip()
    assert line.startswith("invalid: "), line
    for name in names:
        assert name in line, line
    return line


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    assert not re.search(r"pytest_think/[\w/]+\.py:\d+", text), "a frame of our code leaked out"


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
    by_name = _check("bench", "--board-dir", str(tmp_path / "boards"))
    assert by_name.exit_code == 0, by_name.output
    assert by_name.output == f"ok: {path} (board 'bench', family generic)\n"
    assert _check(str(path)).exit_code == 0


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
    result = _check(str(path), env={"THINK_CHECK_UNSET": None})
    line = _one_line(result, f"board file {path}: {says.format(dir=tmp_path)}")
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
    ok = _check(str(path), env={"THINK_PW": "x", "THINK_CON_PW": "y"})
    assert ok.exit_code == 0, ok.output


def test_emulate_checks_the_twin_not_the_bench(tmp_path: Path, keys: dict[str, Path]) -> None:
    boards = tmp_path / "boards"
    path = _hardware(boards, keys, ssh={"key_file": str(tmp_path / "absent")})
    _one_line(_check(str(path)), "field 'ssh.key_file'")
    assert _check("--emulate", str(path)).exit_code == 0  # the twin gives key and host key
    bare = _hardware(boards, keys, name="bare", twin=None)
    assert _check(str(bare)).exit_code == 0
    _one_line(_check("--emulate", str(bare)), f"board file {bare}", "has no 'twin' section")
    typo = _hardware(boards, keys, name="typo", twin={"hostnme": "x"})
    _one_line(_check(str(typo)), "field 'twin.hostnme': unknown field")


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
    _one_line(_check(str(path)), f"board file {path}", says)


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
    _one_line(_check("--emulate", str(path)), line)


def test_board_names_are_looked_up_as_pytest_does(tmp_path: Path) -> None:
    line = _one_line(_check("simm"), "unknown board 'simm' (did you mean 'sim'?)")
    assert "known boards: " in line
    _one_line(_check(str(tmp_path / "absent.yaml")), f"board file {tmp_path}/absent.yaml not found")
    assert check_spec("sim", [PACKAGED_BOARDS]).name == "sim"
    with pytest.raises(BoardConfigError, match="unknown board 'nope'; known boards: sim"):
        check_spec("nope", [PACKAGED_BOARDS])


def test_each_board_is_one_line_and_the_status_is_of_them_all(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(BAD_TEXT["binary"])
    result = _check("sim", str(bad), "sim")
    assert result.exit_code == 1
    ok = f"ok: {PACKAGED_BOARDS / 'sim.yaml'} (board 'sim', family generic)"
    assert result.output.splitlines().count(ok) == 2
    assert f"invalid: board file {bad}: a binary file, not text" in result.output


@pytest.mark.parametrize("kind", sorted(BAD_TEXT))
def test_board_file_with_bad_contents_is_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.yaml"
    path.write_bytes(BAD_TEXT[kind])
    says = {
        "binary": ": a binary file, not text (is it the right file?)",
        "not-utf8": " line 1: not UTF-8 text (byte 0xe9); save it as UTF-8",
        "empty": ": empty; expected a mapping of fields",
        "truncated": " line 2: not valid YAML: ",
        "list": ": expected a mapping of fields, got a list [{'name': 'bench'}, ",
        "number": ": expected a mapping of fields, got a number 42",
    }[kind]
    _one_line(_check(str(path)), f"board file {path}{says}")
    with pytest.raises(BoardConfigError, match=re.escape(f"board file {path}{says}")):
        load_board(path)


@pytest.mark.parametrize("kind", ["binary", "not-utf8", "empty"])
def test_pytest_refuses_what_think_check_refuses_in_one_line(
    pytester: pytest.Pytester, kind: str
) -> None:
    boards = pytester.path / "boards"
    boards.mkdir()
    (boards / "junk.yaml").write_bytes(BAD_TEXT[kind])
    pytester.makepyfile("def test_x(board): pass")
    result = pytester.runpytest("--board=junk")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    _no_traceback(result.stdout.str() + result.stderr.str())
    result.stderr.fnmatch_lines([f"*board file {boards / 'junk.yaml'}*"])
    assert _check("junk", "--board-dir", str(boards)).exit_code == 1


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
    ("contents", "says"),
    [
        (BAD_TEXT["binary"], ": a binary file, not text"),
        (BAD_TEXT["not-utf8"], " line 1: not UTF-8 text (byte 0xe9)"),
        (b"", ": empty; expected a mapping of fields"),
        (b"name: d\nfiles: {model: m.onnx", " line 2: not valid YAML: "),
        (b"[1, 2]", ": expected a mapping of fields, got a list [1, 2]"),
        (b"name: d\nfamily: generic\nfiles: {model: 5}\n", ": field 'files.model': "),
        (b"name: d\nfamily: generic\nfiles: [m.onnx]\n", ": field 'files': "),
    ],
)
def test_design_file_with_bad_contents_is_one_line(
    tmp_path: Path, contents: bytes, says: str
) -> None:
    path = tmp_path / "design.yaml"
    path.write_bytes(contents)
    with pytest.raises(InputFileError) as info:
        load_design(path)
    assert str(info.value).startswith(f"design file {path}{says}"), info.value
    assert "\n" not in str(info.value)


def _npz(path: Path, members: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path.read_bytes()


def _vector_files(tmp: Path) -> dict[str, tuple[str, bytes, str]]:
    """name -> (suffix, contents, what the one line says)."""
    np.save(tmp / "a.npy", np.zeros((4, 3), np.float32))
    npy = (tmp / "a.npy").read_bytes()
    np.savez(tmp / "a.npz", x=np.zeros((4, 3), np.float32))
    npz = (tmp / "a.npz").read_bytes()
    np.savez(tmp / "o.npz", x=np.array([{"a": 1}], dtype=object))
    return {
        "empty npy": (".npy", b"", "empty (0 bytes)"),
        "empty npz": (".npz", b"", "empty (0 bytes)"),
        "binary npy": (".npy", BAD_TEXT["binary"], "not a NumPy .npy file (np.save writes one)"),
        "text npz": (".npz", b"x,y\n1,2\n", "not a NumPy .npz file (np.savez writes one)"),
        "npz as npy": (".npy", npz, "not a NumPy .npy file but an .npz: rename it"),
        "npy as npz": (".npz", npy, "not a NumPy .npz file but an .npy: rename it"),
        "truncated npy header": (".npy", npy[:40], "cannot read (truncated?): "),
        "truncated npy data": (".npy", npy[:-8], "cannot read (truncated?): "),
        "truncated npz": (".npz", npz[: len(npz) // 2], "cannot read (truncated?): "),
        "object npz": (".npz", (tmp / "o.npz").read_bytes(), "holds Python objects"),
        "other zip": (".npz", _npz(tmp / "z.zip", {"notes.txt": b"hi"}), "holds notes.txt, not"),
        "empty zip": (".npz", _npz(tmp / "e.zip", {}), "holds no arrays, not NumPy arrays"),
        "csv": (".csv", b"1,2\n", "expected a .npy or .npz file"),
    }


def test_vector_files_with_bad_contents_are_one_line(tmp_path: Path) -> None:
    cases = _vector_files(tmp_path)
    for name, (suffix, contents, says) in cases.items():
        path = tmp_path / f"{name.replace(' ', '-')}{suffix}"
        path.write_bytes(contents)
        with pytest.raises(InputFileError) as info:
            load_arrays(path)
        message = str(info.value)
        assert message.startswith(f"vector file {path}: "), (name, message)
        assert says in message and "\n" not in message, (name, message)
        assert "allow_pickle" not in message and "unsafely" not in message, (name, message)


def test_a_bad_vector_file_fails_its_test_in_one_line(pytester: pytest.Pytester) -> None:
    (pytester.path / "v.npz").write_bytes(BAD_TEXT["binary"])
    pytester.makepyfile(f"def test_v(dut):\n    dut.run({str(DIGITS_MODEL)!r}, 'v.npz')\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"*InputFileError: vector file {pytester.path / 'v.npz'}: not a NumPy .npz file*"]
    )
    _no_traceback(result.stdout.str())


@pytest.mark.parametrize("kind", ["binary", "empty", "truncated", "text"])
def test_reference_model_file_with_bad_contents_is_one_line(tmp_path: Path, kind: str) -> None:
    contents = {
        "binary": BAD_TEXT["binary"],
        "empty": b"",
        "truncated": DIGITS_MODEL.read_bytes()[:4000],
        "text": b"name: not a model\n",
    }[kind]
    path = tmp_path / f"{kind}.onnx"
    path.write_bytes(contents)
    with pytest.raises(InputFileError) as info:
        ReferenceModel(path)
    assert str(info.value).startswith(f"model file {path}: onnxruntime cannot load it: ")
    assert "\n" not in str(info.value)


def _results_files(tmp: Path, sim: dict[str, Any]) -> dict[str, tuple[bytes, str]]:
    header = {k: sim[k] for k in ("schema", "schema_version")}

    def doc(**fields: Any) -> bytes:
        return json.dumps({**header, **fields}).encode()

    text = json.dumps(sim).encode()
    return {
        "empty": (b"", ": not JSON ("),
        "binary": (BAD_TEXT["binary"], ": not JSON ("),
        "not-utf8": ('{"é": 1}'.encode("latin-1"), ": not JSON ("),
        "truncated": (text[: len(text) // 2], ": not JSON ("),
        "list": (b"[1, 2]", ": not a pytest-think results file"),
        "tests not a list": (doc(board=sim["board"], tests=5), ": not as pytest --think-json "
                             "writes it (truncated or edited?): field 'tests': "),
        "no board": (doc(tests=[]), ": not as pytest --think-json writes it (truncated or "
                     "edited?): field 'board': Field required"),
        "test not an object": (doc(board=sim["board"], tests=[1]), ": not as pytest "
                               "--think-json writes it (truncated or edited?): field 'tests.0': "),
    }  # fmt: skip


def test_results_files_with_bad_contents_are_one_line_for_think_compare(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"def test_d(dut):\n    dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})\n"
    )
    pytester.runpytest("--think-json=sim.json").assert_outcomes(passed=1)
    good = pytester.path / "sim.json"
    sim = json.loads(good.read_text())
    for name, (contents, says) in _results_files(pytester.path, sim).items():
        path = pytester.path / f"{name.replace(' ', '-')}.json"
        path.write_bytes(contents)
        result = CliRunner().invoke(main, ["compare", str(good), str(path), "-o", "out"])
        assert result.exit_code == 2, (name, result.output)
        assert result.output.startswith(f"think compare: results file {path}{says}"), (
            name,
            result.output,
        )
        assert result.output.count("\n") == 1, (name, result.output)


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
    _one_line(
        _check(str(path)),
        f"board file {path}: field '{field}': 'broken-npu' is installed but does not load: "
        "ModuleNotFoundError: No module named 'think_no_such_lab_module'; reinstall it or fix "
        "its entry point think_no_such_lab_module:Plugin",
    )
