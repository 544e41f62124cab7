"""The agent's pipeline runner (think_pipeline.py): stages on their own workers, jobs in order,
each exactly once, failures carried in place, every thread gone at close. No timing: where
stages must overlap, events prove it."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from pytest_think.agent.think_layout import device_calls
from pytest_think.agent.think_pipeline import Gather, Job, Pipeline, Tally


class Add:
    """A stage that appends its mark to the state, and records who ran it."""

    def __init__(self, mark: str, fail_on: int | None = None) -> None:
        self.mark = mark
        self.fail_on = fail_on
        self.threads: set[str] = set()
        self.device_ns: int | None = None

    def run(self, state: list[Any]) -> list[Any]:
        self.threads.add(threading.current_thread().name)
        if state[0] == self.fail_on:
            raise ValueError(f"stage {self.mark} fails on job {state[0]}")
        return [*state, self.mark]


def run_jobs(stages: list[Any], count: int) -> tuple[Pipeline, list[Job]]:
    out: list[Job] = []
    pipeline = Pipeline(stages, out.append)
    for i in range(count):
        pipeline.submit(Job([i], ticket=i))
    pipeline.drain()
    return pipeline, out


def test_every_job_comes_out_once_in_order_through_every_stage() -> None:
    stages = [Add("a"), Add("b"), Add("c")]
    pipeline, out = run_jobs(stages, 200)
    assert [job.ticket for job in out] == list(range(200))
    assert all(job.state == [job.ticket, "a", "b", "c"] for job in out)
    assert all(len(job.stage_ns) == 3 and job.error is None for job in out)
    # One worker per stage, each stage always on its own.
    assert [s.threads for s in stages] == [{"think-stage-0"}, {"think-stage-1"}, {"think-stage-2"}]
    assert pipeline.close(timeout=10)


def test_a_failing_stage_fails_its_job_in_place_and_the_others_go_on() -> None:
    stages = [Add("a"), Add("b", fail_on=7), Add("c")]
    pipeline, out = run_jobs(stages, 20)
    assert [job.ticket for job in out] == list(range(20))
    failed = [job for job in out if job.error is not None]
    assert [job.ticket for job in failed] == [7]
    assert str(failed[0].error) == "stage b fails on job 7"
    assert failed[0].state == [7, "a"]  # the stages after the failure left it alone
    assert len(failed[0].stage_ns) == 1
    assert all(job.state == [job.ticket, "a", "b", "c"] for job in out if job.error is None)
    assert pipeline.close(timeout=10)


def test_stages_work_on_different_jobs_at_once() -> None:
    """Stage 1 holds job 0 until stage 0 has started job 1: only a pipeline gets through."""
    started_second = threading.Event()

    class First:
        def run(self, state: int) -> int:
            if state == 1:
                started_second.set()
            return state

    class Second:
        def run(self, state: int) -> int:
            if state == 0:
                assert started_second.wait(timeout=30), "stage 0 did not run job 1 meanwhile"
            return state

    out: list[Job] = []
    pipeline = Pipeline([First(), Second()], out.append)
    pipeline.submit(Job(0))
    pipeline.submit(Job(1))
    pipeline.drain()
    assert [job.error for job in out] == [None, None]
    assert pipeline.close(timeout=10)


def test_a_stage_own_device_count_replaces_the_clock() -> None:
    stage = Add("a")
    stage.device_ns = 12345
    pipeline, out = run_jobs([stage, Add("b")], 3)
    assert all(job.stage_ns[0] == 12345 and job.device_ns == 12345 + job.stage_ns[1] for job in out)
    assert pipeline.close(timeout=10)


def test_close_finishes_queued_jobs_and_ends_every_thread() -> None:
    release = threading.Event()

    class Slow:
        def run(self, state: int) -> int:
            release.wait(timeout=30)
            return state

    before = set(threading.enumerate())
    out: list[Job] = []
    pipeline = Pipeline([Slow(), Add("b")], out.append)
    for i in range(2):
        pipeline.submit(Job([i]))
    release.set()
    assert pipeline.close(timeout=30)
    assert [job.state for job in out] == [[0, "b"], [1, "b"]]
    assert set(threading.enumerate()) <= before
    with pytest.raises(RuntimeError, match="closed"):
        pipeline.submit(Job([2]))


def test_a_failing_done_does_not_stop_the_jobs_after_it() -> None:
    seen: list[int] = []

    def done(job: Job) -> None:
        if job.ticket == 3:
            raise KeyError("answer for job 3")
        seen.append(job.ticket)

    pipeline = Pipeline([Add("a")], done)
    for i in range(6):
        pipeline.submit(Job([i], ticket=i))
    with pytest.raises(KeyError, match="answer for job 3"):
        pipeline.drain()
    assert seen == [0, 1, 2, 4, 5]
    pipeline.drain()  # reported once
    assert pipeline.close(timeout=10)


def test_gather_splits_device_time_per_vector_and_keeps_the_first_error() -> None:
    finished: list[Gather] = []
    gather = Gather(3, finished.append, tag=9)
    jobs = [Job(None) for _ in range(3)]
    jobs[0].state, jobs[0].stage_ns = ["x"], [40, 20]
    jobs[1].state, jobs[1].stage_ns = ["y"], [10, 10]
    jobs[2].state, jobs[2].stage_ns = ["z"], [6, 9]
    for job, n in zip(jobs, (2, 1, 3)):
        gather.add(job, n)
    assert finished == [gather]
    assert gather.device_ns == [30, 30, 20, 5, 5, 5]
    assert gather.stage_ns == [[20, 10], [20, 10], [10, 10], [2, 3], [2, 3], [2, 3]]
    assert gather.outputs == [["x"], ["y"], ["z"]]

    failing = Gather(2, finished.append)
    bad = Job(None)
    bad.error = ValueError("first")
    failing.add(bad, 1)
    worse = Job(None)
    worse.error = ValueError("second")
    failing.add(worse, 1)
    assert str(failing.error) == "first" and finished[-1] is failing


def test_a_pipeline_needs_a_stage() -> None:
    with pytest.raises(ValueError, match="at least one stage"):
        Pipeline([], lambda job: None)


def test_device_calls_cut_a_request_by_device_batch_or_per_vector() -> None:
    feeds = {"x": np.arange(10).reshape(5, 2)}
    calls = device_calls(feeds, 5, 2, {"x": True}, free=True)
    assert [count for _, count in calls] == [2, 2, 1]
    assert [sub["x"].shape for sub, _ in calls] == [(2, 2), (2, 2), (1, 2)]
    per_vector = device_calls(feeds, 5, 4, {"x": False}, free=False)  # no batch axis: one a call
    assert [sub["x"].shape for sub, _ in per_vector] == [(2,)] * 5
    assert np.concatenate([sub["x"] for sub, _ in per_vector]).tolist() == list(range(10))


def test_tally_sums_device_time_per_stage_and_keeps_the_first_error() -> None:
    tally = Tally()
    for stage_ns in ([5, 7], [1, 2]):
        job = Job(["out"])
        job.stage_ns = stage_ns
        gather = Gather(1, tally)
        gather.add(job, 1)
    assert (tally.device_ns, tally.stage_ns) == (15, [6, 9])
    failed = Job(None)
    failed.error = ValueError("stage 1 failed")
    Gather(1, tally).add(failed, 1)
    assert str(tally.error) == "stage 1 failed"
    tally.reset()
    assert (tally.device_ns, tally.stage_ns) == (0, [])


def test_one_stage_runs_in_the_submitters_thread_unless_asked_otherwise() -> None:
    inline = Add("a")
    pipeline, out = run_jobs([inline], 5)
    assert inline.threads == {threading.current_thread().name} and pipeline.threads == []
    assert [job.state for job in out] == [[i, "a"] for i in range(5)]
    assert pipeline.close(timeout=10)
    threaded = Add("a")
    out = []
    pipeline = Pipeline([threaded], out.append, threaded=True)
    pipeline.submit(Job([0]))
    pipeline.drain()
    assert threaded.threads == {"think-stage-0"} and out[0].state == [0, "a"]
    assert pipeline.close(timeout=10)
