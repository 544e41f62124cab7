"""Device timings as pytest-benchmark entries: every `dut.run`, `dut_pool.run` and energy
measurement in ``--benchmark-json``, ``--benchmark-save`` / ``--benchmark-autosave``,
``--benchmark-compare`` (``--benchmark-compare-fail``) and ``pytest-benchmark compare``.

A run gives two entries: its per-vector device times (the board's own clock) and its
per-vector host round trips; an energy measurement gives one, the device time per inference
of each trial's loop. Rounds are seconds, as pytest-benchmark keeps them: one round per vector
(per trial), one iteration each, every vector kept (nothing subsampled). An entry's name is
the test's, then ``::KIND:WHAT@BOARD`` (KIND ``device``, ``host`` or ``loop``; WHAT the run's
label, else the model's file name), with ``#2``, ``#3`` … for the same again in one test: the
same in every session, and distinct per board, model and label. ``extra_info`` holds the
board, the model, the sha256 of what ran (the model's, a design's for ``run_design``), whether
a digital twin answered, and the vectors (trials).

Entries are made only where pytest-benchmark records: not without its plug-in, nor with
``--benchmark-disable`` or ``--benchmark-skip``, nor under pytest-xdist (which disables it;
the session then says so once, and the figures are in the results JSON).

pytest-benchmark's internals this module relies on (5.x), and nothing else does:

- ``config._benchmarksession``, its ``BenchmarkSession``: the ``benchmarks`` list it
  serializes, compares and tabulates at the session's end, and its ``disabled`` and ``skip``.
- ``pytest_benchmark.stats.Metadata(fixture, iterations, options)``, which reads ``name``,
  ``fullname``, ``group``, ``param``, ``params``, ``extra_info``, ``cprofile_stats`` and
  ``has_error`` from `fixture` (here an `_Entry`).
- ``pytest_benchmark.stats.Stats``: the figures named in ``Stats.fields`` and ``data``.
  `DeviceTimes` computes the same figures with numpy over an array, and makes the ``data``
  list only when pytest-benchmark writes it (``--benchmark-json``, ``--benchmark-save-data``),
  so a run of a million vectors is not a million Python floats held to the session's end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pytest_benchmark.stats import Metadata, Stats

from pytest_think.device import Run
from pytest_think.pool import PoolRun
from pytest_think.power.energy import EnergyReport
from pytest_think.pytest.session import think_session

__all__ = [
    "GROUPS",
    "XDIST_NOTE",
    "DeviceTimes",
    "add_energy_loop",
    "add_run",
    "benchmark_session",
    "xdist_note_due",
]

# pytest-benchmark's tables: one per kind of time, the boards side by side in each.
GROUPS = {
    "device": "think: device time per vector",
    "host": "think: host round trip per vector",
    "loop": "think: energy loop, device time per inference",
}
XDIST_NOTE = (
    "think: pytest-benchmark is off under pytest-xdist (-n), so no device timings went to "
    "--benchmark-json/--benchmark-save; they are in the results JSON (--think-json)"
)
_OUTPUT_OPTIONS = ("benchmark_json", "benchmark_save", "benchmark_autosave", "benchmark_compare")
_NAMES_KEY = pytest.StashKey[dict[str, int]]()


class DeviceTimes(Stats):
    """pytest-benchmark's `Stats` over a numpy array of seconds: the same figures, by the
    same definitions (quartiles by its methods 2 and 3, Tukey's fences, outliers' counts)."""

    def __init__(self, seconds: np.ndarray) -> None:  # Stats.__init__ would start a list
        self._seconds = np.ascontiguousarray(seconds, dtype=np.float64)

    @property
    def data(self) -> list[float]:
        """The rounds as pytest-benchmark writes them: made when asked, not kept."""
        values: list[float] = self._seconds.tolist()
        return values

    @data.setter
    def data(self, values: list[float]) -> None:
        self._seconds = np.asarray(values, dtype=np.float64)
        self._forget()

    def update(self, duration: float) -> None:
        self._seconds = np.append(self._seconds, float(duration))
        self._forget()

    def _forget(self) -> None:
        for name in [k for k in vars(self) if k != "_seconds"]:
            delattr(self, name)

    def __bool__(self) -> bool:
        return self._seconds.size > 0

    @cached_property
    def sorted_data(self) -> np.ndarray:
        return np.sort(self._seconds)

    @cached_property
    def total(self) -> float:
        return float(self._seconds.sum())

    @cached_property
    def min(self) -> float:
        return float(self.sorted_data[0])

    @cached_property
    def max(self) -> float:
        return float(self.sorted_data[-1])

    @cached_property
    def mean(self) -> float:
        return float(self._seconds.mean())

    @cached_property
    def stddev(self) -> float:
        return float(self._seconds.std(ddof=1)) if self._seconds.size > 1 else 0.0

    @property
    def stddev_outliers(self) -> int:
        low, high = self.mean - self.stddev, self.mean + self.stddev
        return int(np.count_nonzero((self._seconds < low) | (self._seconds > high)))

    @cached_property
    def rounds(self) -> int:
        return int(self._seconds.size)

    @cached_property
    def median(self) -> float:
        return float(np.median(self.sorted_data))

    def _quartile(self, upper: bool) -> float:
        data, rounds = self.sorted_data, self.rounds
        if rounds == 1:
            return float(data[0])
        if rounds % 2 == 0:  # method 2: the median of each half
            half = data[rounds // 2 :] if upper else data[: rounds // 2]
            return float(np.median(half))
        n, q = rounds // 4, rounds % 4  # method 3
        if upper:
            pair = (data[3 * n], data[3 * n + 1]) if q == 1 else (data[3 * n + 1], data[3 * n + 2])
            weights = (0.75, 0.25) if q == 1 else (0.25, 0.75)
        else:
            pair = (data[n - 1], data[n]) if q == 1 else (data[n], data[n + 1])
            weights = (0.25, 0.75) if q == 1 else (0.75, 0.25)
        return float(weights[0] * pair[0] + weights[1] * pair[1])

    @cached_property
    def q1(self) -> float:
        return self._quartile(upper=False)

    @cached_property
    def q3(self) -> float:
        return self._quartile(upper=True)

    @cached_property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def iqr_outliers(self) -> int:
        low, high = self.q1 - 1.5 * self.iqr, self.q3 + 1.5 * self.iqr
        return int(np.count_nonzero((self._seconds < low) | (self._seconds > high)))

    @cached_property
    def outliers(self) -> str:
        return f"{self.stddev_outliers};{self.iqr_outliers}"

    @cached_property
    def ld15iqr(self) -> float:
        data = self.sorted_data
        return float(data[np.searchsorted(data, self.q1 - 1.5 * self.iqr, side="left")])

    @cached_property
    def hd15iqr(self) -> float:
        data = self.sorted_data
        return float(data[np.searchsorted(data, self.q3 + 1.5 * self.iqr, side="right") - 1])

    @cached_property
    def ops(self) -> float:
        return self.rounds / self.total if self.total else 0.0


@dataclass
class _Entry:
    """What `Metadata` reads from pytest-benchmark's fixture."""

    name: str
    fullname: str
    group: str
    param: str | None
    params: dict[str, Any] | None
    extra_info: dict[str, Any] = field(default_factory=dict)
    cprofile_stats: None = None
    has_error: bool = False


def benchmark_session(config: pytest.Config) -> Any | None:
    """pytest-benchmark's session when it records in this process, else None (no plug-in,
    ``--benchmark-disable``, ``--benchmark-skip``, pytest-xdist)."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled or session.skip:
        return None
    return session


def add_run(request: pytest.FixtureRequest, run: Run, label: str | None) -> None:
    """A run's device times and host round trips, as two entries."""
    bench = benchmark_session(request.config)
    if bench is None or run.count == 0:
        return
    pool = run.pool.members if isinstance(run, PoolRun) else []
    boards = [m.board for m in pool] or [run.board]
    info: dict[str, Any] = {
        "board": run.board,
        "model": _shown(request.config, run.model),
        "model_sha256": run.model_sha256,
        "twin": _twin(request.config, boards),
        "vectors": run.count,
    }
    if pool:
        info["members"] = [m.name for m in pool]
    if label:
        info["label"] = label
    what = label or run.model.name
    _add(bench, request.node, "device", what, run.board, run.result.device_ns / 1e9, info)
    _add(bench, request.node, "host", what, run.board, run.result.host_ns / 1e9, info)


def add_energy_loop(
    request: pytest.FixtureRequest, record: dict[str, Any], report: EnergyReport
) -> None:
    """An energy measurement's loop (`record`: its results JSON entry; `report`: its
    EnergyReport): each trial's device time per inference, invalid trials' too (the loop's
    time is the device clock's, whatever the meter's validity)."""
    bench = benchmark_session(request.config)
    trials = [t for t in report.trials if t.inferences > 0]
    if bench is None or not trials:
        return
    board, label = record["board"], record.get("label")
    info: dict[str, Any] = {
        "board": board,
        "model": _shown(request.config, Path(record["model"])),
        "model_sha256": record["model_sha256"],
        "twin": _twin(request.config, [board]),
        "trials": len(trials),
        "energy_valid": report.valid,
        "mj_per_inference": report.mj_per_inference,
    }
    if label:
        info["label"] = label
    seconds = np.array([t.window_s / t.inferences for t in trials])
    what = label or Path(record["model"]).name
    _add(bench, request.node, "loop", what, board, seconds, info)


def _add(
    bench: Any,
    node: pytest.Item,
    kind: str,
    what: str,
    board: str,
    seconds: np.ndarray,
    info: dict[str, Any],
) -> None:
    names = node.stash.setdefault(_NAMES_KEY, {})
    key = f"{kind}:{what}@{board}"
    names[key] = seen = names.get(key, 0) + 1
    if seen > 1:
        key += f"#{seen}"
    callspec = getattr(node, "callspec", None)
    entry = _Entry(
        name=f"{node.name}::{key}",
        fullname=f"{node.nodeid}::{key}",
        group=GROUPS[kind],
        param=callspec.id if callspec is not None else None,
        params=dict(callspec.params) if callspec is not None else None,
        extra_info={**info, "kind": kind},
    )
    options = {"timer": GROUPS[kind], "source": "pytest-think"}
    metadata = Metadata(entry, iterations=1, options=options)  # type: ignore[no-untyped-call]
    metadata.stats = DeviceTimes(seconds)
    bench.benchmarks.append(metadata)


def _shown(config: pytest.Config, path: Path) -> str:
    """A model's path as entries show it: from the rootdir when under it."""
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)


def _twin(config: pytest.Config, boards: list[str]) -> bool:
    """Whether twins answered for these boards (a pool: every member's)."""
    opened = think_session(config).boards.opened_by_name()
    return all(opened[b].connection.emulated for b in dict.fromkeys(boards) if b in opened)


def xdist_note_due(config: pytest.Config) -> bool:
    """Whether to say `XDIST_NOTE`: pytest-xdist's controller, with benchmark output asked
    for and pytest-benchmark not disabled by the user (xdist disabled it)."""
    if getattr(config, "workerinput", None) is not None:
        return False
    if getattr(config, "_benchmarksession", None) is None:
        return False
    if config.getoption("dist", "no") == "no" or config.getoption("benchmark_disable"):
        return False
    return any(config.getoption(name, None) for name in _OUTPUT_OPTIONS)
