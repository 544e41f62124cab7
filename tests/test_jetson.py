"""Jetson modules: power mode through nvpmodel, clocks through jetson_clocks, L4T identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

from pytest_think.families.nvidia_jetson import parse_nvpmodel_conf, parse_nvpmodel_query

IDENTITY_TEST = f"""
import json
def test_identity(board, dut):
    dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
    with open("identity.json", "w") as fh:
        json.dump(board.identity, fh)
"""


def test_parse_nvpmodel_conf_and_query() -> None:
    conf = (
        "< POWER_MODEL ID=0 NAME=MAXN >\nCPU_ONLINE CORE_0 1\n"
        "< POWER_MODEL ID=1 NAME=MODE_10W >\n< PM_CONFIG DEFAULT=0 >\n"
    )
    assert parse_nvpmodel_conf(conf) == {0: "MAXN", 1: "MODE_10W"}
    assert parse_nvpmodel_query("NV Power Mode: MAXN\n0\n") == ("MAXN", 0)
    assert parse_nvpmodel_query("NVPM WARN: something\nNV Power Mode: 7W\n1\n") == ("7W", 1)
    assert parse_nvpmodel_query("garbage") is None


def _board(pytester: pytest.Pytester, name: str, **changes: object) -> None:
    data = yaml.safe_load((REPO / "boards" / f"{name}.yaml").read_text())
    for key, value in changes.items():
        data[key] = value
    (pytester.path / "boards").mkdir(exist_ok=True)
    (pytester.path / "boards" / f"{name}.yaml").write_text(yaml.safe_dump(data))


def test_orin_power_mode_and_clocks_are_set_and_reported(pytester: pytest.Pytester) -> None:
    _board(pytester, "jetson-orin-nano")  # its twin boots in mode 1 (7W); the file asks 15W
    pytester.makepyfile(IDENTITY_TEST)
    result = pytester.runpytest("--board=jetson-orin-nano", "--emulate", "--think-json=out.json")
    result.assert_outcomes(passed=1)
    identity = json.loads((pytester.path / "identity.json").read_text())
    assert identity["power_mode"] == {"name": "15W", "id": 0}
    assert identity["clocks_pinned"] is True
    assert identity["model"] == "NVIDIA Jetson Orin Nano Developer Kit"
    assert identity["l4t"].startswith("# R36 (release), REVISION: 3.0")
    (test,) = json.loads((pytester.path / "out.json").read_text())["tests"]
    # The twin's onnxruntime has no GPU: the agent says what it really used.
    assert test["providers"] == ["CPUExecutionProvider"]


def test_power_mode_by_id_is_accepted(pytester: pytest.Pytester) -> None:
    _board(pytester, "jetson-orin-nano", options={"power_mode": 1})
    pytester.makepyfile(IDENTITY_TEST)
    pytester.runpytest("--board=jetson-orin-nano", "--emulate").assert_outcomes(passed=1)
    identity = json.loads((pytester.path / "identity.json").read_text())
    assert identity["power_mode"] == {"name": "7W", "id": 1}
    assert identity["clocks_pinned"] is False


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        (
            "jetson-orin-nano",
            {"power_mode": "25W"},
            "field 'options.power_mode': mode '25W' is not on this module; "
            "/etc/nvpmodel.conf lists 0 15W, 1 7W",
        ),
        (
            "jetson-tx1",
            {"power_mode": "MAXN"},
            "field 'options.power_mode': jetson-tx1 has no /etc/nvpmodel.conf, so its power "
            "mode cannot be set",
        ),
    ],
)
def test_power_mode_not_on_the_module(
    pytester: pytest.Pytester, name: str, options: dict, expected: str
) -> None:
    _board(pytester, name, options=options)
    pytester.makepyfile("def test_x(board): pass")
    result = pytester.runpytest(f"--board={name}", "--emulate")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"BoardConfigError: board file *{name}.yaml: {expected}*"])


def test_misspelt_option_stops_the_run_at_once(pytester: pytest.Pytester) -> None:
    _board(pytester, "jetson-orin-nano", options={"power_mod": "15W"})
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--board=jetson-orin-nano", "--emulate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*jetson-orin-nano.yaml: field 'options.power_mod': not an option of family "
            "'nvidia-jetson' (did you mean 'power_mode'?)"
        ]
    )


def test_tx1_runs_without_nvpmodel(pytester: pytest.Pytester) -> None:
    _board(pytester, "jetson-tx1")
    pytester.makepyfile(IDENTITY_TEST)
    pytester.runpytest("--board=jetson-tx1", "--emulate").assert_outcomes(passed=1)
    identity = json.loads((pytester.path / "identity.json").read_text())
    assert identity["power_mode"] is None
    assert identity["model"] == "NVIDIA Jetson TX1"
    assert identity["clocks_pinned"] is True


SUMMARY = """&&&& RUNNING TensorRT.trtexec [TensorRT v8602] # trtexec --loadEngine=m.engine
[11/22/2026-04:30:00] [I] Loading supplied engine
[11/22/2026-04:30:02] [I] === Performance summary ===
[11/22/2026-04:30:02] [I] Throughput: 1534.21 qps
[11/22/2026-04:30:02] [I] Latency: min = 0.611 ms, max = 1.20 ms, mean = 0.65 ms, \
median = 0.64 ms, percentile(90%) = 0.70 ms, percentile(95%) = 0.75 ms, percentile(99%) = 0.98 ms
[11/22/2026-04:30:02] [I] GPU Compute Time: min = 0.5 ms, max = 1.1 ms, mean = 0.55 ms, \
median = 0.54 ms, percentile(90%) = 0.6 ms, percentile(95%) = 0.65 ms, percentile(99%) = 0.9 ms
[11/22/2026-04:30:02] [I] Total Host Walltime: 3.0 s
&&&& PASSED TensorRT.trtexec [TensorRT v8602] # trtexec --loadEngine=m.engine
"""


def test_parse_trtexec_summary() -> None:
    from pytest_think.errors import RemoteCommandError
    from pytest_think.trtexec import parse_trtexec

    summary = parse_trtexec(SUMMARY)
    assert summary.throughput_qps == 1534.21
    assert summary.metrics["Latency"] == {
        "min": 0.611,
        "max": 1.2,
        "mean": 0.65,
        "median": 0.64,
        "p90": 0.7,
        "p95": 0.75,
        "p99": 0.98,
    }
    assert summary.metrics["GPU Compute Time"]["p99"] == 0.9
    with pytest.raises(RemoteCommandError, match="no performance summary; last line: boom"):
        parse_trtexec("[11/22/2026-04:30:00] [E] boom\n")


def test_trtexec_on_the_orin_twin_follows_its_latency_model(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    from support import write_design

    engine = tmp_path / "d" / "digits_fp16.engine"
    engine.parent.mkdir()
    engine.write_bytes(b"ftrt" + bytes(4096))
    good = write_design(tmp_path / "d", "digits-trt", "nvidia-jetson", engine=engine)
    empty = tmp_path / "e" / "empty.engine"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    bad = write_design(tmp_path / "e", "empty-trt", "nvidia-jetson", engine=empty)
    _board(pytester, "jetson-orin-nano")
    pytester.makepyfile(
        f"""
        def test_engine(dut):
            summary = dut.trtexec({str(good)!r}, iterations=100, warmup_ms=10)
            latency = summary.metrics["Latency"]
            # The board file's twin: 120 us fixed + up to 15 us jitter per inference.
            assert 0.120 <= latency["min"] <= latency["median"] <= latency["max"] <= 0.136
            assert 7300 < summary.throughput_qps < 8400

        def test_empty_engine(dut):
            dut.trtexec({str(bad)!r}, iterations=10, warmup_ms=10)
        """
    )
    result = pytester.runpytest("--board=jetson-orin-nano", "--emulate", "--think-json=o.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "RemoteCommandError: trtexec failed on board 'jetson-orin-nano' (127.0.0.1:*) "
            "(exit 1): &&&& FAILED TensorRT.trtexec [[]TensorRT v8602] # trtexec *"
        ]
    )
    tests = json.loads((pytester.path / "o.json").read_text())["tests"]
    assert tests[0]["trtexec"][0]["throughput_qps"] > 7300
