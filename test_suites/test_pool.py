"""One vector set sharded over a pool (`dut_pool`): the session's boards (``--board`` given
several times), or the devices of its one board (the TPUs of a multi-TPU card, the GPUs of a
GPU board); one board with one device is a pool of one. Every vector comes back exactly
once, in vector order, and the merged run is checked as any run is.
"""

from __future__ import annotations

import pytest

from pytest_think import NotCapable

MODEL = "fixtures/models/digits_mlp.onnx"
VECTORS = "fixtures/vectors/digits_test.npz"


def assert_every_vector_once(run, dut_pool):
    pool = run.pool
    assert [m["name"] for m in pool.as_json()["members"]] == [m.name for m in dut_pool.members]
    assert (run.member_of >= 0).all()  # every vector has a member's result
    assert sum(m.vectors for m in pool.members) == run.count == len(run.result.device_ns)
    for k, member in enumerate(pool.members):
        assert member.vectors == int((run.member_of == k).sum())
    assert pool.throughput_per_s > 0


def test_digits_over_the_pool_agrees_with_reference(dut_pool, reference):
    try:
        run = dut_pool.run(MODEL, VECTORS)
    except NotCapable as exc:  # a pool over TPUs runs Edge TPU designs, not ONNX models
        pytest.skip(str(exc))
    reference.check(run, rtol=1e-4, atol=1e-5)
    assert_every_vector_once(run, dut_pool)
    assert run.accuracy() >= 0.9


def test_digits_design_over_the_pool(dut_pool, reference, digits_design, design_tolerance, board):
    families = {m.device.config.family for m in dut_pool.members}
    if families != {board.config.family}:
        pytest.skip(f"a design runs on boards of one family; the pool has {sorted(families)}")
    run = dut_pool.run_design(digits_design, VECTORS)
    reference.check(run, **design_tolerance)
    assert_every_vector_once(run, dut_pool)
