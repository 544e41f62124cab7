"""A model checked on the host before it is sent to a board (pytest_think.model_check), and
what loading it cost each run (the agent's LOAD -> READY, in the results and reports)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

from pytest_think.boards import PACKAGED_BOARDS, find_board
from pytest_think.device import Device
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.errors import InputFileError, UnsupportedModel
from pytest_think.families import open_board
from pytest_think.model_check import (
    ModelFacts,
    check_runtime,
    inspect_model,
    onnxruntime_limits,
)
from pytest_think.reference import reference_model
from pytest_think.report.compare import write_comparison
from pytest_think.report.comparison import build

TERNARY = REPO / "fixtures" / "models" / "digits_mlp_ternary.onnx"
LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def scaled_model(directory: Path, *, external: bool = False, ir: int = 8, opset: int = 13) -> Path:
    """y = x * w, w a 64-element initializer: in the model file, or in `weights.bin` beside it."""
    w = numpy_helper.from_array(np.arange(64, dtype=np.float32).reshape(1, 64), "w")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["y"])],
        "scaled",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir
    path = directory / "scaled.onnx"
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=external,
        location="weights.bin",
        size_threshold=0,
    )
    return path


# -- what the host reads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "contents",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"name: fpga-zcu102\nfamily: xilinx-fpga\n", id="text"),
        pytest.param(bytes(range(256)) * 8, id="binary"),
        pytest.param(DIGITS_MODEL.read_bytes()[: DIGITS_MODEL.stat().st_size // 2], id="truncated"),
        pytest.param(DIGITS_VECTORS.read_bytes(), id="vectors-file"),
    ],
)
def test_a_file_that_is_not_an_onnx_model_is_one_line(tmp_path: Path, contents: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(contents)
    with pytest.raises(InputFileError) as info:
        inspect_model(path)
    message = str(info.value)
    assert message.startswith(f"model file {path} is not an ONNX model (")
    assert "nothing was sent to the board" in message and "\n" not in message


def test_a_missing_model_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"^model file .*nowhere\.onnx not found$"):
        inspect_model(tmp_path / "nowhere.onnx")


def test_the_signature_read_from_the_file_is_onnxruntime_s() -> None:
    models = [
        DIGITS_MODEL,
        TERNARY,
        LIGHT / "light_shufflenet.onnx",
        LIGHT / "light_bvlc_alexnet.onnx",
    ]
    for path in models:
        assert inspect_model(path).signature == reference_model(path).signature, path


def test_a_model_with_external_data_names_its_files(tmp_path: Path) -> None:
    facts = inspect_model(scaled_model(tmp_path, external=True))
    assert facts.external == ("weights.bin",)
    (tmp_path / "inline").mkdir()
    assert inspect_model(scaled_model(tmp_path / "inline")).external == ()


def test_missing_external_data_is_one_line_naming_the_file_and_tensor(tmp_path: Path) -> None:
    path = scaled_model(tmp_path, external=True)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(InputFileError) as info:
        inspect_model(path)
    assert str(info.value) == (
        f"model file {path}: its external data file {tmp_path / 'weights.bin'} (tensor 'w') "
        "is missing; copy it beside the model; nothing was sent to the board"
    )


def test_short_external_data_is_one_line_with_the_sizes(tmp_path: Path) -> None:
    path = scaled_model(tmp_path, external=True)
    data = tmp_path / "weights.bin"
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(InputFileError, match=r"has 100 bytes, tensor 'w' needs 256; the file is"):
        inspect_model(path)


def test_external_data_outside_the_model_s_directory_is_refused(tmp_path: Path) -> None:
    path = scaled_model(tmp_path, external=True)
    model = onnx.load(str(path), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../elsewhere/weights.bin"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(InputFileError, match=r"names external data '\.\./elsewhere/weights\.bin'"):
        inspect_model(path)


# -- against the board's onnxruntime --------------------------------------------------------


def test_onnxruntime_versions_map_to_their_documented_limits() -> None:
    tx1 = onnxruntime_limits("1.10.0")  # JetPack 4.6's wheels
    assert tx1 is not None and (tx1.ir_version, tx1.opset, tx1.ml_opset) == (8, 15, 2)
    ort116 = onnxruntime_limits("1.16.3")
    assert ort116 is not None and (ort116.ir_version, ort116.opset) == (9, 19)
    assert onnxruntime_limits("1.18.0+cu118") is not None
    # A release the table does not list (newer), or no version at all: nothing is known.
    assert onnxruntime_limits("9.99.0") is None
    assert onnxruntime_limits("present") is None


def facts(ir: int, opsets: dict[str, int]) -> ModelFacts:
    return ModelFacts(Path("m.onnx"), ir, opsets, (), {"inputs": [], "outputs": []})


def hello(version: str | None) -> dict[str, object]:
    return {"versions": {"python": "3.6.9", **({"onnxruntime": version} if version else {})}}


def test_a_model_newer_than_the_board_s_onnxruntime_is_one_line() -> None:
    with pytest.raises(UnsupportedModel) as info:
        check_runtime(facts(10, {"": 21}), "onnxruntime", hello("1.10.0"), "jetson-tx1")
    assert str(info.value) == (
        "model file m.onnx is IR version 10 and opset 21; board 'jetson-tx1' runs onnxruntime "
        "1.10.0, which runs up to IR version 8, opset 15 (ai.onnx.ml 2); export the model for "
        "that opset (or convert it: onnx.version_converter) or update the board's "
        "onnxruntime; nothing was sent to the board"
    )
    with pytest.raises(UnsupportedModel, match=r"is ai\.onnx\.ml opset 3; board 'b' runs"):
        check_runtime(facts(8, {"": 15, "ai.onnx.ml": 3}), "onnxruntime", hello("1.10.0"), "b")
    with pytest.raises(UnsupportedModel, match=r"is opset 16; board"):
        check_runtime(facts(8, {"ai.onnx": 16}), "onnxruntime", hello("1.10.0"), "b")


def test_a_model_the_board_s_onnxruntime_runs_passes() -> None:
    check_runtime(facts(8, {"": 15, "com.microsoft": 1}), "onnxruntime", hello("1.10.0"), "b")
    check_runtime(facts(10, {"": 21}), "onnxruntime", hello("1.20.1"), "b")
    # Unknown: a release newer than the table, no version in the HELLO, another backend.
    check_runtime(facts(99, {"": 99}), "onnxruntime", hello("9.0.0"), "b")
    check_runtime(facts(99, {"": 99}), "onnxruntime", hello(None), "b")
    check_runtime(facts(99, {"": 99}), "tflite", hello("1.10.0"), "b")


# -- on a board: nothing is uploaded --------------------------------------------------------


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Device, Path]]:
    """A Device on a sim twin, and the board's model directory as the twin's sandbox has it."""
    board = find_board("sim", [PACKAGED_BOARDS])
    with TwinProcess.start(board, tmp_path_factory.mktemp("twin")) as twin:
        device = Device(open_board(twin.board(board), emulated=True))
        models = twin.sandbox_root / board.agent.workdir.lstrip("/") / "models"
        try:
            yield device, models
        finally:
            device.close()
            device.board.close()


def uploaded(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir()) if models.is_dir() else []


def not_a_model(tmp_path: Path) -> tuple[Path, Path, str]:
    fake = tmp_path / "digits.onnx"
    fake.write_bytes(DIGITS_VECTORS.read_bytes())
    return fake, DIGITS_VECTORS, r"is not an ONNX model"


def without_its_data(tmp_path: Path) -> tuple[Path, Path, str]:
    path = scaled_model(tmp_path, external=True)
    (tmp_path / "weights.bin").unlink()
    vectors = tmp_path / "x.npz"
    np.savez(vectors, x=np.ones((4, 64), np.float32))
    return path, vectors, r"external data file .*weights\.bin .*is missing"


def vectors_for_another_model(tmp_path: Path) -> tuple[Path, Path, str]:
    model = tmp_path / "fresh" / "digits.onnx"  # a name the board has not had
    model.parent.mkdir()
    shutil.copy(DIGITS_MODEL, model)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, pixels=np.zeros((4, 64), np.float32))
    return model, wrong, r"do not match model inputs \['input'\]"


@pytest.mark.parametrize("case", [not_a_model, without_its_data, vectors_for_another_model])
def test_a_model_the_board_would_refuse_is_refused_before_any_upload(
    sim: tuple[Device, Path], tmp_path: Path, case: Callable[[Path], tuple[Path, Path, str]]
) -> None:
    device, models = sim
    before = uploaded(models)
    model, vectors, refusal = case(tmp_path)
    with pytest.raises(InputFileError, match=refusal):
        device.run(model, vectors)
    assert uploaded(models) == before


def test_a_model_with_external_data_is_deployed_with_it_and_runs(
    sim: tuple[Device, Path], tmp_path: Path
) -> None:
    device, models = sim
    path = scaled_model(tmp_path, external=True)
    vectors = tmp_path / "x.npz"
    x = np.random.default_rng(0).standard_normal((40, 64)).astype(np.float32)
    np.savez(vectors, x=x)
    run = device.run(path, vectors)
    w = np.arange(64, dtype=np.float32).reshape(1, 64)
    np.testing.assert_array_equal(run.outputs["y"], x * w)
    home = models / run.model_sha256[:16]
    assert sorted(p.name for p in home.iterdir()) == ["scaled.onnx", "weights.bin"]
    # A changed data file is a changed model: another hash, uploaded anew.
    data = tmp_path / "weights.bin"
    data.write_bytes(np.full(64, 2, np.float32).tobytes())
    again = device.run(path, vectors)
    assert again.model_sha256 != run.model_sha256
    np.testing.assert_array_equal(again.outputs["y"], x * 2)


def test_each_run_says_whether_its_model_was_loaded_and_how_long_it_took(
    sim: tuple[Device, Path],
) -> None:
    device, _ = sim
    device.close_agent()  # a fresh agent: the first run loads
    first = device.run(DIGITS_MODEL, DIGITS_VECTORS)
    again = device.run(DIGITS_MODEL, DIGITS_VECTORS)
    other = device.run(TERNARY, DIGITS_VECTORS)
    back = device.run(DIGITS_MODEL, DIGITS_VECTORS)
    for switch in (first, other, back):
        assert switch.load is not None and switch.load.loaded
        assert switch.load.device_ns is not None and switch.load.device_ns > 0
        # The round trip holds the board's load.
        assert switch.load.host_ns is not None and switch.load.host_ns >= switch.load.device_ns
    assert again.load is not None and not again.load.loaded
    assert again.load.device_ns is None and again.load.host_ns is None


# -- in the reports -------------------------------------------------------------------------


def test_the_results_and_the_compare_page_have_each_run_s_load(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        def test_switch(dut):
            dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}, label="float")
            dut.run({str(TERNARY)!r}, {str(DIGITS_VECTORS)!r}, label="ternary")
            dut.run({str(TERNARY)!r}, {str(DIGITS_VECTORS)!r}, label="held")
        """
    )
    result = pytester.runpytest(
        "--board=sim", "--think-json=sim.json", "--junitxml=junit.xml", "--alluredir=allure"
    )
    result.assert_outcomes(passed=1)
    doc = json.loads((pytester.path / "sim.json").read_text())
    runs = {r["label"]: r["load"] for r in doc["tests"][0]["runs"]}
    assert runs["float"]["loaded"] and runs["ternary"]["loaded"]
    assert runs["float"]["device_ns"] > 0 and runs["ternary"]["device_ns"] > 0
    assert runs["held"] == {"loaded": False, "device_ns": None, "host_ns": None}
    assert "model_load_ms" in (pytester.path / "junit.xml").read_text()
    allure = "".join(p.read_text() for p in (pytester.path / "allure").glob("*-result.json"))
    assert re.search(r'"load digits_mlp_ternary\.onnx on sim: [0-9.]+ ms on the board \(', allure)
    assert '"digits_mlp_ternary.onnx was loaded on sim already: no LOAD"' in allure
    cells = build([pytester.path / "sim.json"]).rows
    by_label = {key.split("[")[-1].rstrip("]"): c["sim"] for key, c in cells.items()}
    assert by_label["ternary"].load_ms == pytest.approx(runs["ternary"]["device_ns"] / 1e6)
    assert by_label["held"].load_ms is None
    page = write_comparison([pytester.path / "sim.json"], pytester.path / "page").read_text()
    assert "model load, ms" in page


def test_a_test_given_a_non_model_fails_with_the_one_line(pytester: pytest.Pytester) -> None:
    (pytester.path / "exported.onnx").write_bytes(DIGITS_VECTORS.read_bytes()[:3000])
    pytester.makepyfile(
        f"""
        def test_bad_model(dut):
            dut.run("exported.onnx", {str(DIGITS_VECTORS)!r})
        """
    )
    result = pytester.runpytest("--board=sim")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["InputFileError: model file *exported.onnx is not an ONNX model (*); nothing was sent*"]
    )
    assert "Traceback" not in result.stdout.str()
