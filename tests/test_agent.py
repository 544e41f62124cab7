"""The board-side agent on its own: run as a local process, spoken to in raw frames."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from support import DIGITS_MODEL, DIGITS_VECTORS

from pytest_think.agent import AGENT_DIR, AGENT_FILES
from pytest_think.agent import think_frames as tf
from pytest_think.wire import from_wire, to_wire


class AgentProcess:
    def __init__(self, workdir: Path, *python_flags: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *python_flags, str(workdir / "think_agent.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd="/",  # the agent must not depend on its current directory
        )
        self.seq = 0

    def send(self, ftype: int, payload: bytes = b"") -> int:
        self.seq += 1
        assert self.proc.stdin
        self.proc.stdin.write(tf.encode_frame(ftype, self.seq, payload))
        self.proc.stdin.flush()
        return self.seq

    def send_json(self, ftype: int, obj: object) -> int:
        import json

        return self.send(ftype, json.dumps(obj).encode())

    def recv(self) -> tf.Frame:
        assert self.proc.stdout
        frame = tf.read_frame(self.proc.stdout)
        assert frame is not None, "agent closed its output"
        return frame

    def infer(self, **arrays: np.ndarray) -> tf.Frame:
        seq = self.send(tf.INFER, tf.encode_tensors([to_wire(k, v) for k, v in arrays.items()]))
        frame = self.recv()
        assert frame.seq == seq
        return frame

    def finish(self) -> tuple[int, str]:
        assert self.proc.stdin
        self.proc.stdin.close()
        status = self.proc.wait(timeout=20)
        assert self.proc.stderr
        return status, self.proc.stderr.read().decode()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A board work directory as the host lays it out: agent, codec, models/."""
    for name in AGENT_FILES:
        shutil.copy(AGENT_DIR / name, tmp_path / name)
    (tmp_path / "models").mkdir()
    shutil.copy(DIGITS_MODEL, tmp_path / "models" / "digits.onnx")
    return tmp_path


@pytest.fixture
def agent(workdir: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(workdir)
    yield process
    if process.proc.poll() is None:
        process.proc.kill()
        process.proc.wait()


def load(agent: AgentProcess, path: str = "models/digits.onnx", **options: object) -> tf.Frame:
    agent.send_json(tf.LOAD, {"path": path, "backend": "onnxruntime", "options": options})
    return agent.recv()


def digits(n: int) -> np.ndarray:
    return np.load(DIGITS_VECTORS)["input"][:n]


def test_hello_identifies_agent_device_and_versions(agent: AgentProcess) -> None:
    hello = agent.recv()
    assert hello.type == tf.HELLO and hello.seq == 0
    info = hello.json()
    assert info["agent"] == "think-agent" and info["protocol"] == tf.PROTOCOL_VERSION
    assert {"onnxruntime", "exec"} <= set(info["backends"])
    assert {"hostname", "kernel", "machine", "cpu_count"} <= set(info["device"])
    assert {"python", "numpy", "onnxruntime"} <= set(info["versions"])


def test_load_resolves_paths_against_its_own_directory(agent: AgentProcess) -> None:
    agent.recv()
    ready = load(agent)
    assert ready.type == tf.READY
    sig = ready.json()
    assert sig["inputs"] == [{"name": "input", "dtype": "float32", "shape": [None, 64]}]
    assert [o["name"] for o in sig["outputs"]] == ["logits", "probabilities"]
    assert sig["load_ns"] > 0


def test_infer_matches_onnxruntime_and_times_every_vector(agent: AgentProcess) -> None:
    import onnxruntime as ort

    agent.recv()
    load(agent)
    x = digits(37)
    result = agent.infer(input=x)
    assert result.type == tf.RESULT
    device_ns, tensors = tf.decode_result(result.payload)
    assert len(device_ns) == 37 and all(t > 0 for t in device_ns)
    expected = ort.InferenceSession(str(DIGITS_MODEL)).run(None, {"input": x})
    for got, exp in zip(tensors, expected):
        np.testing.assert_array_equal(from_wire(got), exp)


def test_device_batch_splits_time_evenly_within_a_call(agent: AgentProcess) -> None:
    agent.recv()
    load(agent, device_batch=4)
    device_ns, tensors = tf.decode_result(agent.infer(input=digits(10)).payload)
    assert len(device_ns) == 10
    assert device_ns[0] == device_ns[1] == device_ns[2] == device_ns[3]
    assert device_ns[8] == device_ns[9]  # the short last call
    assert from_wire(tensors[0]).shape == (10, 10)


def test_model_without_batch_axis_runs_vector_by_vector(workdir: Path) -> None:
    node = helper.make_node("Mul", ["x", "two"], ["y"])
    graph = helper.make_graph(
        [node],
        "scale",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        [helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, workdir / "models" / "scale.onnx")
    agent = AgentProcess(workdir)
    try:
        agent.recv()
        assert load(agent, "models/scale.onnx").type == tf.READY
        x = np.arange(12, dtype=np.float32).reshape(4, 3)
        _, tensors = tf.decode_result(agent.infer(x=x).payload)
        np.testing.assert_array_equal(from_wire(tensors[0]), x * 2)
    finally:
        agent.finish()


@pytest.mark.parametrize(
    ("setup", "arrays", "code"),
    [
        (False, {"input": np.zeros((2, 64), np.float32)}, "no_model"),
        (True, {"image": np.zeros((2, 64), np.float32)}, "bad_inputs"),
        (True, {"input": np.zeros((2, 63), np.float32)}, "infer_failed"),
    ],
)
def test_bad_requests_get_an_error_and_the_agent_keeps_serving(
    agent: AgentProcess, setup: bool, arrays: dict[str, np.ndarray], code: str
) -> None:
    agent.recv()
    if setup:
        load(agent)
    error = agent.infer(**arrays)
    assert error.type == tf.ERROR
    assert error.json()["code"] == code
    # Still serving:
    assert load(agent).type == tf.READY
    assert agent.infer(input=digits(1)).type == tf.RESULT


def test_missing_model_and_unknown_backend(agent: AgentProcess) -> None:
    agent.recv()
    error = load(agent, "models/absent.onnx")
    assert error.type == tf.ERROR and error.json()["code"] == "no_model"
    assert "models/absent.onnx not found on the board" in error.json()["message"]
    agent.send_json(tf.LOAD, {"path": "models/digits.onnx", "backend": "tensorrt"})
    error = agent.recv()
    assert error.json()["code"] == "no_backend"


def test_loop_runs_on_device_for_the_requested_time(agent: AgentProcess) -> None:
    agent.recv()
    load(agent)
    payload = tf.encode_loop(
        {"warmup": 2, "min_seconds": 0.2, "min_iterations": 50},
        [to_wire("input", digits(16))],
    )
    seq = agent.send(tf.LOOP, payload)
    done = agent.recv()
    assert done.type == tf.LOOP_DONE and done.seq == seq
    report = done.json()
    assert report["inferences"] >= 50 and report["inferences"] % 16 == 0
    assert report["loop_ns"] >= 0.2e9
    assert 0 < report["device_ns_total"] <= report["loop_ns"]
    assert report["end_unix_ns"] - report["start_unix_ns"] == report["loop_ns"]


def test_bye_is_answered_and_the_agent_exits_cleanly(agent: AgentProcess) -> None:
    agent.recv()
    seq = agent.send(tf.BYE)
    bye = agent.recv()
    assert bye.type == tf.BYE and bye.seq == seq
    status, _ = agent.finish()
    assert status == 0


def test_end_of_input_stops_the_agent(agent: AgentProcess) -> None:
    agent.recv()
    status, stderr = agent.finish()
    assert status == 0
    assert "host closed the link" in stderr


def test_corrupted_frame_is_reported_and_fatal(agent: AgentProcess) -> None:
    agent.recv()
    blob = bytearray(tf.encode_json(tf.LOAD, 7, {"path": "models/digits.onnx"}))
    blob[15] ^= 0x01
    assert agent.proc.stdin
    agent.proc.stdin.write(bytes(blob))
    agent.proc.stdin.flush()
    error = agent.recv()
    assert error.type == tf.ERROR and error.seq == 7
    assert error.json()["code"] == "bad_frame"
    assert "CRC mismatch" in error.json()["message"]
    status, _ = agent.finish()
    assert status == 2


def test_agent_needs_only_stdlib_numpy_and_its_backend(workdir: Path) -> None:
    agent = AgentProcess(workdir, "-X", "importtime")
    agent.recv()
    load(agent)
    agent.infer(input=digits(2))
    _, stderr = agent.finish()
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in stderr.splitlines() if "|" in line
    }
    assert "pytest_think" not in imported
    assert {"numpy", "onnxruntime", "think_frames"} <= imported


def _oldest_python() -> str | None:
    """A Python 3.6 interpreter, the oldest a supported board runs (Jetson TX1, JetPack 4)."""
    candidates = sorted((Path.home() / ".pyenv" / "versions").glob("3.6*/bin/python3.6"))
    for python in [*map(str, candidates), shutil.which("python3.6")]:
        # A pyenv shim is on PATH even when its version is not active: check it runs.
        if python and subprocess.run([python, "-c", ""], capture_output=True).returncode == 0:
            return python
    return None


def test_agent_and_codec_run_on_python_3_6(tmp_path: Path) -> None:
    python = _oldest_python()
    if python is None:
        pytest.skip("no Python 3.6 interpreter on this machine")
    for name in AGENT_FILES:
        shutil.copy(AGENT_DIR / name, tmp_path / name)
    script = (
        "import sys, io, py_compile\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import think_frames as tf\n"
        "t = tf.Tensor('x', 'float32', (2, 3), bytes(24))\n"
        "f = tf.read_frame(io.BytesIO(tf.encode_frame(tf.INFER, 9, tf.encode_tensors([t]))))\n"
        "assert f.seq == 9 and tf.decode_tensors(f.payload)[0][:3] == ('x', 'float32', (2, 3))\n"
        f"py_compile.compile({str(tmp_path / 'think_agent.py')!r}, doraise=True)\n"
        f"py_compile.compile({str(tmp_path / 'think_pipeline.py')!r}, doraise=True)\n"
        "print('ok', sys.version_info[:2])\n"
    )
    proc = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok (3, 6)"


FINN_DRIVER = """
import argparse, sys
import numpy as np
p = argparse.ArgumentParser()
p.add_argument("--exec_mode"); p.add_argument("--batchsize", type=int)
p.add_argument("--bitfile"); p.add_argument("--inputfile"); p.add_argument("--outputfile")
a = p.parse_args()
if a.bitfile != "digits.bit":
    print("ERROR: cannot open bitfile " + a.bitfile); sys.exit(3)
x = np.load(a.inputfile)
assert x.shape[0] == a.batchsize
np.save(a.outputfile, (x[:, :10] * 2).astype(np.float32))
print("runtime[ms]: 0.5")
"""

EXEC_SIGNATURE = {
    "inputs": [{"name": "input", "dtype": "float32", "shape": [None, 64]}],
    "outputs": [{"name": "scores", "dtype": "float32", "shape": [None, 10]}],
}


def _exec_load(agent: AgentProcess, workdir: Path, script: str, **options: object) -> tf.Frame:
    (workdir / "driver.py").write_text(script)
    agent.recv()  # HELLO
    request = {"argv": [sys.executable, "driver.py"], **EXEC_SIGNATURE}
    request.update(options)
    agent.send_json(tf.LOAD, {"path": "driver.py", "backend": "exec", "options": request})
    return agent.recv()


def test_exec_runner_in_finn_driver_shape(agent: AgentProcess, workdir: Path) -> None:
    argv = [
        sys.executable, "driver.py", "--exec_mode=execute", "--batchsize", "{batch}",
        "--bitfile", "digits.bit", "--inputfile", "{input}", "--outputfile", "{output}",
    ]  # fmt: skip
    ready = _exec_load(
        agent,
        workdir,
        FINN_DRIVER,
        argv=argv,
        io="npy",
        device_batch=4,
        device_time={"pattern": r"runtime\[ms\]: ([0-9.]+)", "unit": "ms"},
    )
    assert ready.type == tf.READY, ready.json()
    x = digits(10)
    frame = agent.infer(input=x)
    assert frame.type == tf.RESULT, frame.payload
    device_ns, (scores,) = tf.decode_result(frame.payload)
    np.testing.assert_array_equal(from_wire(scores), x[:, :10] * 2)
    # Batches of 4, 4 and 2 vectors, 0.5 ms each, shared among their vectors.
    assert device_ns == [125_000] * 8 + [250_000] * 2


def test_exec_runner_failures_are_errors_naming_the_runner(
    agent: AgentProcess, workdir: Path
) -> None:
    script = "import sys\nprint('loading bitfile...')\nprint('ERROR: DMA timeout'); sys.exit(3)\n"
    assert _exec_load(agent, workdir, script).type == tf.READY
    frame = agent.infer(input=digits(2))
    assert frame.type == tf.ERROR
    error = frame.json()
    assert error["code"] == "runner_failed"
    assert error["message"] == f"runner {sys.executable} exited with status 3: ERROR: DMA timeout"
    # A runner that writes a short output file; the agent goes on serving.
    (workdir / "driver.py").write_text(
        "import sys\nopen(sys.argv[1] + '/output_0.bin', 'wb').write(bytes(12))\n"
    )
    agent.send_json(tf.LOAD, {"path": "driver.py", "backend": "exec", "options": {
        "argv": [sys.executable, "driver.py", "{iodir}"], **EXEC_SIGNATURE}})  # fmt: skip
    assert agent.recv().type == tf.READY
    frame = agent.infer(input=digits(2))
    assert frame.json()["message"] == (
        f"runner {sys.executable} wrote 12 bytes for output 'scores' (output_0.bin), "
        "expected 40 bytes"
    )


def test_agent_samples_sensor_files_in_the_background(agent: AgentProcess, tmp_path: Path) -> None:
    sensor = tmp_path / "in_power0_input"
    sensor.write_text("2900\n")
    agent.recv()  # HELLO
    seq = agent.send_json(tf.SAMPLE, {"files": [str(sensor)], "period_s": 0.002})
    started = agent.recv()
    assert started.type == tf.SAMPLING and started.seq == seq
    stamps = started.json()
    assert stamps["received_unix_ns"] <= stamps["done_unix_ns"]
    import time

    time.sleep(0.05)
    sensor.write_text("6800\n")
    time.sleep(0.05)
    agent.send(tf.SAMPLE_END)
    samples = agent.recv()
    assert samples.type == tf.SAMPLES
    data = samples.json()
    values = [row[0] for row in data["values"]]
    assert data["error"] is None and 20 <= len(values) <= 60
    assert values[0] == 2900 and values[-1] == 6800 and set(values) == {2900, 6800}
    assert data["t_unix_ns"] == sorted(data["t_unix_ns"])
    # A sensor that cannot be read is refused before sampling starts.
    agent.send_json(tf.SAMPLE, {"files": [str(tmp_path / "nope")]})
    error = agent.recv()
    assert error.type == tf.ERROR and error.json()["code"] == "no_sensor"
    assert "cannot read sensor" in error.json()["message"]
