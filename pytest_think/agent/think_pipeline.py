"""A model's stages on worker threads, one per device, with bounded queues between them.

The agent's inference runs here, as Coral's ``PipelinedModelRunner`` runs a model compiled in
segments: stage k of a job runs on worker k while stage k+1 of the job before runs on worker
k+1, so N devices work on N jobs at once. A job is one device call's worth of vectors.

* Every job submitted comes out exactly once, in submission order, through ``done`` (called on
  the pipeline's own collector thread).
* Each job carries the time each stage took on its worker (``stage_ns``), measured around the
  stage call only: waiting in a queue is not device time. A stage object may set
  ``device_ns`` after a call, the device's own count, used instead of the clock.
* A stage that raises marks the job failed (``error``); the later stages pass it on untouched,
  the others keep working, and the job still comes out in its place.
* ``done`` raising does not stop the jobs after it; ``drain()`` raises it.
* ``close()`` lets the jobs already queued finish, then stops and joins every thread.
* A single stage runs in the submitter's thread (``threaded=False``): nothing to overlap.

Runs on Python >= 3.6 with the standard library only.
"""

import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, List, Optional

if TYPE_CHECKING:  # on the board the layout sits beside this file, not in a package
    from pytest_think.agent.think_layout import with_vector_axis
else:
    try:
        from think_layout import with_vector_axis
    except ImportError:  # imported on the host, as a module of the package
        from pytest_think.agent.think_layout import with_vector_axis

perf_ns = getattr(time, "perf_counter_ns", None) or (lambda: int(time.perf_counter() * 1e9))

# Jobs waiting in front of each stage: enough to keep a worker busy while the one before it
# hands over the next, few enough that a frame's arrays are not held long.
QUEUE_DEPTH = 2
_STOP = object()


class Job:
    """One device call's inputs on their way through the stages."""

    __slots__ = ("error", "stage_ns", "state", "ticket")

    def __init__(self, state: Any, ticket: Any = None) -> None:
        self.state = state  # stage 0's input; after the last stage, the outputs
        self.ticket = ticket  # the submitter's: what the job belongs to
        self.stage_ns: List[int] = []
        self.error: Optional[BaseException] = None

    @property
    def device_ns(self) -> int:
        return sum(self.stage_ns)


class Pipeline:
    """``stages``: objects with ``run(state) -> state`` (and optionally ``device_ns``)."""

    def __init__(
        self,
        stages: List[Any],
        done: Callable[[Job], None],
        depth: int = QUEUE_DEPTH,
        threaded: Optional[bool] = None,
    ) -> None:
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        self.stages = list(stages)
        self.done = done
        # One stage has nothing to overlap with: it runs in the submitter's thread, sparing
        # a whole model two thread hand-offs per device call.
        self.threaded = len(self.stages) > 1 if threaded is None else threaded
        self.queues: List["queue.Queue[Any]"] = [
            queue.Queue(maxsize=depth) for _ in range(len(self.stages) + 1)
        ]
        self.pending = 0  # submitted and not yet through `done`
        self.idle = threading.Condition()
        self.closed = False
        self.fault: Optional[BaseException] = None  # what `done` raised, for drain()
        self.threads: List[threading.Thread] = []
        if not self.threaded:
            return
        self.threads = [
            threading.Thread(target=self._work, args=(k,), name="think-stage-{}".format(k))
            for k in range(len(self.stages))
        ]
        self.threads.append(threading.Thread(target=self._collect, name="think-collector"))
        for thread in self.threads:
            thread.daemon = True  # a stage stuck in a driver must not keep the agent alive
            thread.start()

    def submit(self, job: Job) -> None:
        """Queue a job for the first stage; blocks while that stage's queue is full."""
        if self.closed:
            raise RuntimeError("pipeline is closed")
        if not self.threaded:
            for stage in self.stages:
                _step(stage, job)
            self._deliver(job)
            return
        with self.idle:
            self.pending += 1
        self.queues[0].put(job)

    def drain(self) -> None:
        """Wait until every job submitted has come out through ``done``; raises what
        ``done`` raised on the way."""
        with self.idle:
            while self.pending:
                self.idle.wait()
        fault, self.fault = self.fault, None
        if fault is not None:
            raise fault

    def close(self, timeout: Optional[float] = None) -> bool:
        """Finish the queued jobs, stop every worker; True when all threads have ended."""
        if not self.closed:
            self.closed = True
            if self.threaded:
                self.queues[0].put(_STOP)
        for thread in self.threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in self.threads)

    def _work(self, k: int) -> None:
        stage, inbox, outbox = self.stages[k], self.queues[k], self.queues[k + 1]
        while True:
            job = inbox.get()
            if job is _STOP:
                outbox.put(_STOP)
                return
            _step(stage, job)
            outbox.put(job)

    def _collect(self) -> None:
        inbox = self.queues[-1]
        while True:
            job = inbox.get()
            if job is _STOP:
                return
            self._deliver(job)
            with self.idle:
                self.pending -= 1
                self.idle.notify_all()

    def _deliver(self, job: Job) -> None:
        try:
            self.done(job)
        except BaseException as exc:  # `done` failing must not stop the jobs after it
            self.fault = exc


def _step(stage: Any, job: Job) -> None:
    """One stage of a job, timed around the call; a failure stays with the job."""
    if job.error is not None:
        return
    t0 = perf_ns()
    try:
        job.state = stage.run(job.state)
    except BaseException as exc:  # the job carries it to `done`
        job.error = exc
        return
    elapsed = perf_ns() - t0
    own = getattr(stage, "device_ns", None)
    job.stage_ns.append(elapsed if own is None else int(own))


class Gather:
    """The jobs of one request (an INFER frame, a LOOP pass) as they come out, in order.

    A job of n vectors gives each of them 1/n of its device time and of each stage's time;
    the first failed job's error is the request's. ``finish(gather)`` is called once, after
    the last job."""

    def __init__(
        self,
        jobs: int,
        finish: Callable[["Gather"], None],
        tag: Any = None,
        batched: Optional[List[bool]] = None,
    ) -> None:
        self.left = jobs
        self.finish = finish
        self.tag = tag  # the request's: an INFER frame's sequence number
        # Per output, whether it has a batch axis (None: all have); one without is a vector's
        # output whole and gains the vector axis here (think_layout.py).
        self.batched = batched
        self.outputs: List[List[Any]] = []  # per job, the stage-last state (output arrays)
        self.device_ns: List[int] = []  # per vector
        self.stage_ns: List[List[int]] = []  # per vector, per stage
        self.error: Optional[BaseException] = None

    def add(self, job: Job, n: int) -> None:
        if job.error is not None:
            self.error = self.error or job.error
        elif self.error is None:
            self.device_ns.extend([job.device_ns // n] * n)
            self.stage_ns.extend([[ns // n for ns in job.stage_ns]] * n)
            flags = self.batched or [True] * len(job.state)
            self.outputs.append(with_vector_axis(job.state, flags))
        self.left -= 1
        if self.left == 0:
            self.finish(self)


class Tally:
    """LOOP passes as they come out: device time summed, in all and per stage; no outputs."""

    def __init__(self) -> None:
        self.device_ns = 0
        self.stage_ns: List[int] = []
        self.error: Optional[BaseException] = None

    def __call__(self, gather: Gather) -> None:
        if gather.error is not None:
            self.error = self.error or gather.error
            return
        self.device_ns += sum(gather.device_ns)
        per_stage = [sum(col) for col in zip(*gather.stage_ns)]
        self.stage_ns = [a + b for a, b in zip(self.stage_ns, per_stage)] or per_stage

    def reset(self) -> None:
        self.device_ns, self.stage_ns = 0, []
