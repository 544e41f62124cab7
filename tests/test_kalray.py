"""Kalray MPPA hosts: KaNN networks run by kann_opencl_cnn, device time from its cycles."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO, bench_twin

from pytest_think.emulator.launcher import TwinProcess

DESIGN = REPO / "fixtures" / "designs" / "digits-kann" / "design.yaml"
VECTORS = REPO / "fixtures" / "vectors" / "digits_test.npz"


@pytest.fixture(scope="module")
def mppa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TwinProcess, Path]]:
    base = tmp_path_factory.mktemp("mppa")
    with bench_twin(base, REPO / "boards" / "kalray-mppa.yaml", "k200-bench") as running:
        yield running


def test_device_time_is_kann_cycles_at_the_board_clock(
    pytester: pytest.Pytester, mppa: tuple[TwinProcess, Path]
) -> None:
    _, boards = mppa
    pytester.makepyfile(
        f"""
        import numpy as np

        def test_run(dut, board, reference):
            assert board.identity["mppa_board"] == "k200"
            assert board.identity["mppa_clock_khz"] == 1100000
            run = dut.run_design({str(DESIGN)!r}, {str(VECTORS)!r})
            # 30000 fixed cycles + 6464 MACs at 256 per cycle, at 1.1 GHz, for every vector.
            expected_ns = int((30000 + 6464 // 256) / 1100000 * 1e6)
            assert set(run.result.device_ns) == {{expected_ns}}
            # fp16 on the clusters: close to the float reference, but not equal to it.
            report = reference.check(run, rtol=1e-2, atol=1e-2, min_top1_agreement=1.0)
            assert 1e-4 < report.outputs["logits"].max_abs_err < 0.05
        """
    )
    pytester.runpytest("--board=k200-bench", f"--board-dir={boards}").assert_outcomes(passed=1)


def test_runner_that_exits_non_zero_is_one_line(
    pytester: pytest.Pytester, mppa: tuple[TwinProcess, Path], tmp_path: Path
) -> None:
    _, boards = mppa
    broken = tmp_path / "broken"
    shutil.copytree(DESIGN.parent, broken)
    (broken / "digits_mlp_fp16_network.bin").write_bytes(b"not a KaNN network")
    text = (broken / "design.yaml").read_text()
    (broken / "design.yaml").write_text(
        text.replace("../../models/digits_mlp.onnx", str(REPO / "fixtures/models/digits_mlp.onnx"))
    )
    pytester.makepyfile(
        f"""
        def test_broken(dut):
            dut.run_design({str(broken / "design.yaml")!r}, {str(VECTORS)!r})

        def test_good_after_broken(dut):
            run = dut.run_design({str(DESIGN)!r}, {str(VECTORS)!r})
            assert run.count == 450
        """
    )
    result = pytester.runpytest("--board=k200-bench", f"--board-dir={boards}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AgentError: *runner kann_opencl_cnn exited with status 1: [[]KaNN[]] error: "
            "cannot deserialize network *digits_mlp_fp16_network.bin*"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_design_without_network_names_the_field(
    pytester: pytest.Pytester, mppa: tuple[TwinProcess, Path], tmp_path: Path
) -> None:
    _, boards = mppa
    design = tmp_path / "design.yaml"
    design.write_text(
        f"name: empty\nfamily: kalray-mppa\nreference: {REPO / 'fixtures/models/digits_mlp.onnx'}\n"
    )
    pytester.makepyfile(
        f"""
        def test_empty(dut):
            dut.run_design({str(design)!r}, {str(VECTORS)!r})
        """
    )
    result = pytester.runpytest("--board=k200-bench", f"--board-dir={boards}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"*InputFileError: design file {design}: field 'files.network' is missing (has: none)"]
    )


def test_cluster_program_over_jtag_prints_prefixed_lines(
    pytester: pytest.Pytester, mppa: tuple[TwinProcess, Path], tmp_path: Path
) -> None:
    twin, boards = mppa
    design = tmp_path / "jtag"
    design.mkdir()
    shutil.copy(DESIGN.parent / "digits_mlp_fp16_network.bin", design / "digits_mlp.elf")
    (design / "design.yaml").write_text(
        "name: digits-jtag\nfamily: kalray-mppa\n"
        f"reference: {REPO / 'fixtures/models/digits_mlp.onnx'}\n"
        "files:\n  elf: digits_mlp.elf\n"
    )
    pytester.makepyfile(
        f"""
        def test_jtag(dut, reference):
            run = dut.run_design({str(design / "design.yaml")!r}, {str(VECTORS)!r})
            assert set(run.result.device_ns) == {{int((30000 + 6464 // 256) / 1100000 * 1e6)}}
            reference.check(run, rtol=1e-2, atol=1e-2, min_top1_agreement=1.0)
        """
    )
    pytester.runpytest("--board=k200-bench", f"--board-dir={boards}").assert_outcomes(passed=1)
    # What the cluster printed, as the JTAG runner shows it on the host.
    tool = twin.sandbox_root / "opt/kalray/accesscore/bin/kvx-jtag-runner"
    iodir = tmp_path / "io"
    iodir.mkdir()
    (iodir / "input_0.bin").write_bytes(bytes(4 * 64))
    import subprocess

    shown = subprocess.run(
        [str(tool), f"--exec-file=Cluster0:{design / 'digits_mlp.elf'}", "--", str(iodir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert shown[-1] == f"Cluster0@0.0: Total: {30000 + 6464 // 256} cycles"
    assert all(line.startswith("Cluster0@0.0: ") for line in shown)
