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

Entries are made when pytest-benchmark is asked for something (an output, a comparison, or
``--benchmark-enable`` for its table alone: otherwise a session's output is as it was), and
only where it records: not without its plug-in, nor with ``--benchmark-disable`` or
``--benchmark-skip``, nor under pytest-xdist (which disables it; the session then says so
once, and the figures are in the results JSON).

pytest-benchmark's internals this module relies on (5.x), and nothing else does:

- ``config._benchmarksession``, its ``BenchmarkSession``: the ``benchmarks`` list it
  serializes, compares and tabulates at the session's end, and its ``disabled`` and ``skip``;
  its options' ``dest`` names (``benchmark_json`` …, in `ASKING_OPTIONS`).
- ``pytest_benchmark.stats.Metadata(fixture, iterations, options)``, which reads ``name``,
  ``fullname``, ``group``, ``param``, ``params``, ``extra_info``, ``cprofile_stats`` and
  ``has_error`` from `fixture` (here an `_Entry`).
- ``pytest_benchmark.stats.Stats``: the figures named in ``Stats.fields`` and ``data``.
  `DeviceTimes` computes the same figures with numpy over the run's own array, and makes the
  ``data`` list only when pytest-benchmark writes it (``--benchmark-json``,
  ``--benchmark-save-data``), so a run of a million vectors is not a million Python floats
  held to the session's end (bench/bench_benchmark_entries.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pytest_benchmark.stats import Metadata, Stats

from pytest_think.device import Run
from pytest_think.errors import ThinkError
from pytest_think.pool import PoolRun
from pytest_think.power.energy import EnergyReport
from pytest_think.pytest.session import think_session

__all__ = [
    "ASKING_OPTIONS",
    "GROUPS",
    "KINDS",
    "XDIST_NOTE",
    "DeviceTimes",
    "add_energy_loop",
    "add_run",
    "benchmark_session",
    "chosen_kinds",
    "xdist_note_due",
]

KINDS = ("device", "host", "loop")
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
# What asks pytest-benchmark for something: without any, a session's output stays as it was
# (no table of every run's times).
ASKING_OPTIONS = (
    "benchmark_json",
    "benchmark_save",
    "benchmark_autosave",
    "benchmark_compare",
    "benchmark_histogram",
    "benchmark_enable",
)
_NAMES_KEY = pytest.StashKey[dict[str, int]]()


class DeviceTimes(Stats):
    """pytest-benchmark's `Stats` over a numpy array: the same figures by the same definitions
    (quartiles by its methods 2 and 3, Tukey's fences, the outliers' counts), all computed in
    one pass when first asked and kept as numbers.

    `values` are in units of 1/`per_second` s (a run's nanoseconds as they are, not copied:
    the run holds them anyway); the rounds are ``values / per_second``, made as a list only
    when pytest-benchmark writes them."""

    def __init__(self, values: np.ndarray, per_second: float = 1.0) -> None:
        # Not Stats.__init__: its rounds are a list, these an array.
        self._values = np.asarray(values)
        self._per_second = per_second

    @property
    def data(self) -> list[float]:
        """The rounds in seconds, as pytest-benchmark writes them: made when asked."""
        seconds: list[float] = (self._values / self._per_second).tolist()
        return seconds

    @data.setter
    def data(self, values: list[float]) -> None:
        self._values, self._per_second = np.asarray(values, dtype=np.float64), 1.0
        vars(self).pop("_figures", None)

    def update(self, duration: float) -> None:
        self.data = [*self.data, float(duration)]

    def __bool__(self) -> bool:
        return bool(self._values.size)

    @cached_property
    def _figures(self) -> dict[str, Any]:
        raw = np.sort(self._values.astype(np.float64))
        n = len(raw)
        mean = float(raw.mean())
        std = float(raw.std(ddof=1)) if n > 1 else 0.0
        q1, q3 = _quartile(raw, upper=False), _quartile(raw, upper=True)
        iqr = q3 - q1
        low, high = q1 - 1.5 * iqr, q3 + 1.5 * iqr
        scale = self._per_second
        total = float(raw.sum()) / scale
        figures: dict[str, Any] = {
            "min": float(raw[0]) / scale,
            "max": float(raw[-1]) / scale,
            "mean": mean / scale,
            "stddev": std / scale,
            "rounds": n,
            "median": float(np.median(raw)) / scale,
            "q1": q1 / scale,
            "q3": q3 / scale,
            "iqr": iqr / scale,
            "stddev_outliers": _outside(raw, mean - std, mean + std),
            "iqr_outliers": _outside(raw, low, high),
            "ld15iqr": float(raw[np.searchsorted(raw, low, side="left")]) / scale,
            "hd15iqr": float(raw[np.searchsorted(raw, high, side="right") - 1]) / scale,
            "total": total,
            "ops": n / total if total else 0.0,
        }
        figures["outliers"] = f"{figures['stddev_outliers']};{figures['iqr_outliers']}"
        return figures


def _figure(name: str) -> property:
    def get(self: DeviceTimes) -> Any:
        return self._figures[name]

    return property(get)


# Each figure pytest-benchmark reads (Stats.fields: min, max, mean … ops) from the one pass,
# in place of Stats' own, which work on the list.
for _field in Stats.fields:
    setattr(DeviceTimes, _field, _figure(_field))


def _quartile(data: np.ndarray, upper: bool) -> float:
    """Stats.q1 / Stats.q3 of sorted `data`."""
    rounds = len(data)
    if rounds == 1:
        return float(data[0])
    if rounds % 2 == 0:  # method 2: the median of each half
        return float(np.median(data[rounds // 2 :] if upper else data[: rounds // 2]))
    n, q = rounds // 4, rounds % 4  # method 3
    if upper:
        if q == 1:
            return float(0.75 * data[3 * n] + 0.25 * data[3 * n + 1])
        return float(0.25 * data[3 * n + 1] + 0.75 * data[3 * n + 2])
    if q == 1:
        return float(0.25 * data[n - 1] + 0.75 * data[n])
    return float(0.75 * data[n] + 0.25 * data[n + 1])


def _outside(data: np.ndarray, low: float, high: float) -> int:
    return int(np.count_nonzero((data < low) | (data > high)))


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
    """pytest-benchmark's session when it is asked for something (`ASKING_OPTIONS`) and
    records in this process, else None (no plug-in, ``--benchmark-disable``,
    ``--benchmark-skip``, pytest-xdist)."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled or session.skip or not _asked(config):
        return None
    return session


def chosen_kinds(config: pytest.Config) -> tuple[str, ...]:
    """The kinds of entry --think-benchmark asks for (e.g. only ``device``, so that
    ``--benchmark-compare-fail`` judges device times alone, not the host's round trips)."""
    given = config.getoption("--think-benchmark", None) or ",".join(KINDS)
    kinds = tuple(k.strip() for k in given.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        what = f"unknown kind {', '.join(map(repr, unknown))}" if unknown else "no kind"
        raise ThinkError(
            f"--think-benchmark {given!r}: {what} of entry; give some of "
            f"{', '.join(KINDS)}, separated by commas"
        )
    return kinds


def _asked(config: pytest.Config) -> bool:
    return any(config.getoption(name, None) for name in ASKING_OPTIONS)


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
    _add(bench, request.node, "device", what, run.board, run.result.device_ns, info)
    _add(bench, request.node, "host", what, run.board, run.result.host_ns, info)


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
    _add(bench, request.node, "loop", what, board, seconds, info, per_second=1.0)


def _add(
    bench: Any,
    node: pytest.Item,
    kind: str,
    what: str,
    board: str,
    values: np.ndarray,
    info: dict[str, Any],
    per_second: float = 1e9,
) -> None:
    if kind not in chosen_kinds(node.config):
        return
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
    metadata.stats = DeviceTimes(values, per_second)
    bench.benchmarks.append(metadata)


def _shown(config: pytest.Config, path: Path) -> str:
    """A model's path as entries show it: normalized, from the rootdir when under it."""
    plain = Path(os.path.normpath(path))
    try:
        return str(plain.relative_to(config.rootpath))
    except ValueError:
        return str(plain)


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
    return _asked(config)
