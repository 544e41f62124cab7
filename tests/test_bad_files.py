"""Every file a user gives — board, design, vector, model, results for `think compare` — tried
with bad contents (binary, not UTF-8, empty, truncated, the wrong type): one line naming the
file, never a traceback."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from support import DIGITS_MODEL, DIGITS_VECTORS, no_traceback, one_invalid_line, think_check

from pytest_think.boards import load_board
from pytest_think.cli import main
from pytest_think.designs import load_design
from pytest_think.errors import BoardConfigError, InputFileError
from pytest_think.reference import ReferenceModel
from pytest_think.vectors import load_arrays

BAD_TEXT = {
    "binary": bytes(range(256)) * 4,
    "not-utf8": "name: café\nfamily: generic\n".encode("latin-1"),
    "empty": b"",
    "truncated": b"name: bench\nssh: {host: bench.lab, user",
    "list": b"- name: bench\n- family: generic\n",
    "number": b"42\n",
}


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
    one_invalid_line(think_check(str(path)), f"board file {path}{says}")
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
    no_traceback(result.stdout.str() + result.stderr.str())
    result.stderr.fnmatch_lines([f"*board file {boards / 'junk.yaml'}*"])
    assert think_check("junk", "--board-dir", str(boards)).exit_code == 1


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
        (
            b"name: d\nfamily: generic\nrefrence: m.onnx\n",
            ": field 'refrence': unknown field (check its spelling) (did you mean 'reference'?)",
        ),
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
    no_traceback(result.stdout.str())


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
