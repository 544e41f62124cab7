"""Edge TPU boards: int8 TFLite through the delegate, dequantized; segment pipelines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support import REPO, bench_twin

from pytest_think.emulator.launcher import TwinProcess

DESIGNS = REPO / "fixtures" / "designs" / "digits-coral"
VECTORS = REPO / "fixtures" / "vectors" / "digits_test.npz"


@pytest.fixture(scope="module")
def coral_usb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TwinProcess, Path]]:
    base = tmp_path_factory.mktemp("coral")
    with bench_twin(base, REPO / "boards" / "coral-usb.yaml", "coral-bench") as running:
        yield running


def _board_with(boards: Path, name: str, devices: list[str]) -> None:
    """Another board file for the same twin, naming other TPUs."""
    data = yaml.safe_load((boards / "coral-bench.yaml").read_text())
    data["name"] = name
    data["options"]["devices"] = devices
    (boards / f"{name}.yaml").write_text(yaml.safe_dump(data))


def test_pipeline_over_two_tpus_equals_the_whole_model_exactly(
    pytester: pytest.Pytester, coral_usb: tuple[TwinProcess, Path]
) -> None:
    _, boards = coral_usb
    pytester.makepyfile(
        f"""
        import numpy as np

        def test_pipeline(dut, reference):
            whole = dut.run_design({str(DESIGNS / "design.yaml")!r}, {str(VECTORS)!r})
            piped = dut.run_design({str(DESIGNS / "pipeline-2.yaml")!r}, {str(VECTORS)!r})
            assert piped.signature["segments"] == 2 and whole.signature["segments"] == 1
            for name in ("logits", "probabilities"):
                np.testing.assert_array_equal(piped.outputs[name], whole.outputs[name])
            # Dequantized int8: values sit on the output's quantization grid, not the float
            # reference's, so the check needs a quantized tolerance to pass.
            probs = piped.outputs["probabilities"]
            assert np.allclose(probs * 256, np.round(probs * 256), atol=1e-3)
            report = reference.check(piped, rtol=0.05, atol=0.5, max_mismatch_fraction=0.01,
                                     min_top1_agreement=0.99)
            assert 0 < report.outputs["logits"].max_abs_err < 5
        """
    )
    pytester.runpytest("--board=coral-bench", f"--board-dir={boards}").assert_outcomes(passed=1)


def test_float_tolerance_fails_on_int8_outputs(
    pytester: pytest.Pytester, coral_usb: tuple[TwinProcess, Path]
) -> None:
    _, boards = coral_usb
    pytester.makepyfile(
        f"""
        def test_exact(dut, reference):
            run = dut.run_design({str(DESIGNS / "design.yaml")!r}, {str(VECTORS)!r})
            reference.check(run, rtol=1e-3, atol=1e-5)
        """
    )
    result = pytester.runpytest("--board=coral-bench", f"--board-dir={boards}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*output 'logits': * of 4500 elements outside tolerance*"])


def test_missing_tpu_and_too_few_tpus_are_one_line_each(
    pytester: pytest.Pytester, coral_usb: tuple[TwinProcess, Path]
) -> None:
    _, boards = coral_usb
    _board_with(boards, "coral-one", ["usb:0"])
    _board_with(boards, "coral-ghost", ["usb:3"])
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.parametrize("board_spec", ["coral-one", "coral-ghost"], scope="session")
        def test_pipeline(dut):
            dut.run_design({str(DESIGNS / "pipeline-2.yaml")!r}, {str(VECTORS)!r})

        @pytest.mark.parametrize("board_spec", ["coral-ghost"], scope="session")
        def test_whole(dut):
            dut.run_design({str(DESIGNS / "design.yaml")!r}, {str(VECTORS)!r})
        """
    )
    result = pytester.runpytest(f"--board-dir={boards}")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*InputFileError: design file *pipeline-2.yaml: 2 segments need 2 TPUs; "
            "board 'coral-one' lists 1 in options.devices",
            "*AgentRefused: *delegate libedgetpu.so.1 on device usb:3 failed to load: "
            "Failed to load delegate from libedgetpu.so.1: Failed to open device",
        ]
    )
