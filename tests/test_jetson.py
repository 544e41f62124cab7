"""Jetson modules: power mode through nvpmodel, clocks through jetson_clocks, L4T identity."""

from __future__ import annotations

import json

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
            "'nvidia-jetson'"
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
