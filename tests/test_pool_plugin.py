"""The `dut_pool` fixture on twins: a pool over several boards, one member's agent killed
mid-run, a pool over the devices of one board, each bound to its own TPU or GPU."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO, bench_twin

from pytest_think.emulator.launcher import TwinProcess

WriteBoard = Callable[..., Path]


def results(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = json.loads((pytester.path / "results.json").read_text())["tests"]
    return tests


def test_a_member_killed_mid_run_moves_its_vectors_and_is_recorded(
    pytester: pytest.Pytester, write_board: WriteBoard
) -> None:
    # steady takes its time (2 ms a vector), so flaky is sure to be handed frames; flaky's
    # agent is killed (SIGSEGV) once it has been sent more than 30 vectors: on its 4th frame.
    write_board("steady", twin={"latency": {"fixed_us": 2000}})
    write_board("flaky", twin={"faults": {"crash_after_vectors": 30}})
    pytester.makepyfile(
        f"""
        import numpy as np

        def test_pool(dut_pool, dut, reference):
            assert [m.name for m in dut_pool.members] == ["steady", "flaky"]
            run = dut_pool.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}, vectors_per_frame=10)
            reference.check(run, rtol=1e-4, atol=1e-5)
            alone = dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})  # steady, alone
            for name in alone.outputs:
                assert np.array_equal(run.outputs[name], alone.outputs[name]), name
            (drop,) = run.pool.dropped
            assert drop.member == "flaky" and drop.vectors_done <= 30
            assert "agent died" in drop.reason
            assert (run.member_of >= 0).all()
            assert sum(m.vectors for m in run.pool.members) == run.count == 450
        """
    )
    # In campaign mode the test is also collected for board flaky, whose `dut` alone would
    # crash: the pool run is the subject here, once.
    result = pytester.runpytest(
        "--board=steady", "--board=flaky", "--think-json=results.json", "-k", "steady"
    )
    result.assert_outcomes(passed=1)
    (test,) = results(pytester)
    pool = test["runs"][0]["pool"]
    assert test["runs"][0]["board"] == "steady+flaky"
    assert [m["name"] for m in pool["members"]] == ["steady", "flaky"]
    (drop,) = pool["dropped"]
    assert drop["member"] == "flaky" and drop["vectors_moved"] >= 10
    assert 0 < drop["at_s"] <= pool["wall_s"]
    flaky = pool["members"][1]
    assert flaky["dropped"] and flaky["vectors"] == drop["vectors_done"]
    assert sum(m["vectors"] for m in pool["members"]) == 450
    assert pool["throughput_per_s"] > 0 and all(m["throughput_per_s"] >= 0 for m in pool["members"])


def test_one_board_is_a_pool_of_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        def test_pool(dut_pool, reference):
            assert [m.name for m in dut_pool.members] == ["sim"]
            run = dut_pool.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
            reference.check(run)
            assert run.pool.members[0].vectors == 450 and run.pool.dropped == []
        """
    )
    pytester.runpytest("--think-json=results.json").assert_outcomes(passed=1)
    assert results(pytester)[0]["pool"]["members"][0]["vectors"] == 450


def test_every_member_dropping_fails_in_one_line(
    pytester: pytest.Pytester, write_board: WriteBoard
) -> None:
    write_board("dies-a", twin={"faults": {"crash_after_vectors": 0}})
    write_board("dies-b", twin={"faults": {"crash_after_vectors": 0}})
    pytester.makepyfile(
        f"""
        def test_pool(dut_pool):
            dut_pool.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
        """
    )
    result = pytester.runpytest("--board=dies-a", "--board=dies-b")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["AgentError: pool of 2 lost * vectors (first: *): every member dropped out (dies-a: *"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_a_gpu_boards_devices_each_get_a_session_bound_by_device_id(
    pytester: pytest.Pytester, write_board: WriteBoard
) -> None:
    write_board("gpus", agent={"devices": [0, 1, 2]})
    pytester.makepyfile(
        f"""
        def test_pool(dut_pool, reference):
            assert [m.name for m in dut_pool.members] == ["gpus[0]", "gpus[1]", "gpus[2]"]
            run = dut_pool.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
            reference.check(run)
            # each member's agent loaded the model bound to its own device
            ids = [m.device.agent.loaded["device_id"] for m in dut_pool.members]
            assert ids == [0, 1, 2]
            assert sum(m.vectors for m in run.pool.members) == 450

        def test_then_the_board_alone(dut, reference):
            reference.check(dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}))
        """
    )
    result = pytester.runpytest("--board=gpus", "--think-json=results.json")
    result.assert_outcomes(passed=2)
    pool = results(pytester)[0]["pool"]
    assert [m["device"] for m in pool["members"]] == ["0", "1", "2"]


@pytest.fixture(scope="module")
def coral_usb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TwinProcess, Path]]:
    base = tmp_path_factory.mktemp("coral-pool")
    with bench_twin(base, REPO / "boards" / "coral-usb.yaml", "coral-pool") as running:
        yield running


DESIGN = REPO / "fixtures" / "designs" / "digits-coral" / "design.yaml"


def test_a_pool_over_the_tpus_of_one_card_binds_one_session_to_each(
    pytester: pytest.Pytester, coral_usb: tuple[TwinProcess, Path]
) -> None:
    _, boards = coral_usb
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_think import Device, NotCapable
        from pytest_think.errors import AgentRefused

        DESIGN = {str(DESIGN)!r}
        VECTORS = {str(DIGITS_VECTORS)!r}

        def test_pool_over_tpus(dut, dut_pool, reference):
            dut.run_design(DESIGN, VECTORS)  # the board's own agent holds usb:0 now
            assert [m.bound_to for m in dut_pool.members] == ["usb:0", "usb:1"]
            run = dut_pool.run_design(DESIGN, VECTORS)
            reference.check(run, rtol=0.05, atol=0.5, max_mismatch_fraction=0.01,
                            min_top1_agreement=0.99, min_cosine=0.98)
            assert sum(m.vectors for m in run.pool.members) == 450

        def test_onnx_models_are_not_bound_to_tpus(dut_pool):
            with pytest.raises(NotCapable, match="runs onnxruntime models on its CPU"):
                dut_pool.run({str(DIGITS_MODEL)!r}, VECTORS)

        def test_a_tpu_is_held_by_one_session(board):
            one, two = Device(board), Device(board)
            bind = lambda backend, options: board.accelerators.bind("usb:1", backend, options)
            try:
                one.load_design(DESIGN, bind=bind)
                with pytest.raises(AgentRefused, match="usb:1 failed.*Failed to open device"):
                    two.load_design(DESIGN, bind=bind)
            finally:
                one.close()
                two.close()
        """
    )
    result = pytester.runpytest("--board=coral-pool", f"--board-dir={boards}")
    result.assert_outcomes(passed=3)


def test_a_segmented_design_cannot_be_pooled_over_single_tpus(
    pytester: pytest.Pytester, coral_usb: tuple[TwinProcess, Path]
) -> None:
    _, boards = coral_usb
    pipeline = DESIGN.parent / "pipeline-2.yaml"
    pytester.makepyfile(
        f"""
        def test_pool(dut_pool):
            dut_pool.run_design({str(pipeline)!r}, {str(DIGITS_VECTORS)!r})
        """
    )
    result = pytester.runpytest("--board=coral-pool", f"--board-dir={boards}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["InputFileError: a design in 2 segments needs 2 TPUs, and a pool binds one TPU of *"]
    )
