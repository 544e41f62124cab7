"""Two measurements of one figure, and whether the change between them is real.

A change is a regression (or an improvement) only when it is larger than its threshold **and**
outside the noise of both runs: each figure carries the interval its run measured it to (the
median device time's 95 % interval, the energy trials' range). With no interval (files written
before intervals were recorded, figures that have none) only the threshold decides, and the
delta says the noise is unknown. A run with too few samples to have an interval at all (one
vector, whose median has no 95 % interval; one energy trial, which has no range) is not judged:
the delta shows the change and says why it is not a verdict.

The figures, as ``--think-fail-on`` and ``think compare`` name them:

========== ======================== ============ ==================
name       what                     unit         threshold in
========== ======================== ============ ==================
latency    device latency p50       µs           % of the baseline
p99        device latency p99       µs           % of the baseline
throughput vectors per second       vectors/s    % of the baseline
energy     energy per inference     mJ           % of the baseline
accuracy   top-1 accuracy           %            points
========== ======================== ============ ==================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pytest_think.errors import ThinkError
from pytest_think.pytest.results import ModelEntry

__all__ = [
    "DEFAULT_FAIL_ON",
    "FIGURES",
    "Delta",
    "Figure",
    "Measure",
    "judge",
    "measures",
    "parse_fail_on",
    "plain_number",
]


@dataclass(frozen=True)
class Figure:
    name: str  # as --think-fail-on spells it
    title: str  # in words, for tables
    unit: str
    higher_is_better: bool
    relative: bool  # its threshold is a % of the baseline (else in the figure's own unit)
    # fewer samples (vectors, energy trials) than this give no noise interval: not judged
    min_samples: int = 1
    samples_are: str = "vectors"


# The median of fewer vectors has no 95 % interval: the order statistics' widest, the sample's
# range, covers it with probability 1 − 2·0.5ⁿ (94 % at n = 5, 97 % at n = 6).
MEDIAN_MIN_SAMPLES = 6

FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        Figure("latency", "device latency p50", "µs", False, True, MEDIAN_MIN_SAMPLES),
        Figure("p99", "device latency p99", "µs", False, True, MEDIAN_MIN_SAMPLES),
        Figure("throughput", "throughput", "vectors/s", True, True, MEDIAN_MIN_SAMPLES),
        Figure("energy", "energy per inference", "mJ", False, True, 2, "energy trials"),
        Figure("accuracy", "top-1 accuracy", "%", higher_is_better=True, relative=False),
    )
}

DEFAULT_FAIL_ON = "latency:5%,energy:3%,accuracy:0.5"


@dataclass(frozen=True)
class Measure:
    """A figure as one run measured it: its value and the interval of its noise, if known."""

    value: float
    lo: float | None = None
    hi: float | None = None
    samples: int | None = None  # vectors (or energy trials) it was measured over, if known

    @property
    def has_interval(self) -> bool:
        return self.lo is not None and self.hi is not None


def measures(entry: ModelEntry) -> dict[str, Measure]:
    """The figures of one (test, model) of a results file, each with its noise interval."""
    found: dict[str, Measure] = {}
    run = entry.run
    if run is not None:
        device = (run.get("latency") or {}).get("device_ns") or {}
        if device.get("n") and device.get("p50") is not None:
            lo, hi = device.get("p50_lo"), device.get("p50_hi")
            n = int(device["n"])
            found["latency"] = Measure(
                device["p50"] / 1e3,
                lo / 1e3 if lo is not None else None,
                hi / 1e3 if hi is not None else None,
                n,
            )
            if device.get("p99") is not None:
                found["p99"] = Measure(device["p99"] / 1e3, samples=n)
        if run.get("throughput_per_s") is not None:
            vectors = run.get("vectors")
            found["throughput"] = Measure(float(run["throughput_per_s"]), samples=vectors)
        accuracy = (run.get("accuracy") or {}).get("device")
        if accuracy is not None:
            # The same vectors give the same accuracy: no noise beyond the threshold.
            a = accuracy * 100
            found["accuracy"] = Measure(a, a, a, run.get("vectors"))
    energy = entry.energy
    if energy and energy.get("valid") and energy.get("mj_per_inference") is not None:
        trials = [
            t["mj_per_inference"]
            for t in energy.get("trials") or []
            if t.get("invalid") is None and t.get("mj_per_inference") is not None
        ]
        found["energy"] = Measure(
            float(energy["mj_per_inference"]),
            min(trials) if len(trials) > 1 else None,
            max(trials) if len(trials) > 1 else None,
            len(trials),
        )
    return found


Verdict = Literal["regression", "improvement", "unchanged"]


@dataclass(frozen=True)
class Delta:
    figure: Figure
    before: Measure
    after: Measure
    change: float  # after − before: a fraction of `before` for relative figures, else absolute
    limit: float | None  # the threshold, in the same terms as `change` (None: not judged)
    beyond_noise: bool | None  # None: a run has no noise interval
    verdict: Verdict
    unjudged: str | None = None  # why no verdict could be reached (too few samples)

    @property
    def change_text(self) -> str:
        if self.figure.relative:
            return f"{self.change * 100:+.1f} %"
        return f"{self.change:+.2f} {'pt' if self.figure.unit == '%' else self.figure.unit}"

    @property
    def noise_text(self) -> str:
        if self.unjudged:
            return self.unjudged

        def one(m: Measure) -> str:
            if not m.has_interval:
                return "?"
            assert m.lo is not None and m.hi is not None
            return f"{plain_number(m.lo)}–{plain_number(m.hi)}"

        return f"noise {one(self.before)} → {one(self.after)} {self.figure.unit}"

    def line(self) -> str:
        """One line: before, after, change, noise."""
        unit = self.figure.unit
        return (
            f"{self.figure.title}: {plain_number(self.before.value)} {unit} → "
            f"{plain_number(self.after.value)} {unit} ({self.change_text}; {self.noise_text})"
        )


def plain_number(value: float) -> str:
    """Plain numbers, never 3.764e+04: digits enough for three significant figures."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{digits}f}"


def judge(name: str, before: Measure, after: Measure, limit: float | None) -> Delta:
    """The change of figure `name` from `before` to `after`; `limit` is its threshold (a
    fraction for relative figures, e.g. 0.05, points for accuracy), None to report only."""
    figure = FIGURES[name]
    few = [m.samples for m in (before, after) if m.samples is not None]
    unjudged = None
    if few and min(few) < figure.min_samples:
        unjudged = (
            f"not judged: {min(few)} {figure.samples_are} in a run, "
            f"{figure.min_samples} give a noise interval"
        )
        before = Measure(before.value, samples=before.samples)
        after = Measure(after.value, samples=after.samples)
    diff = after.value - before.value
    if figure.relative:
        change = diff / before.value if before.value else (math.inf if diff else 0.0)
    else:
        change = diff
    worse = diff > 0 if not figure.higher_is_better else diff < 0
    beyond_noise: bool | None = None
    if before.has_interval and after.has_interval:
        assert before.lo is not None and before.hi is not None
        assert after.lo is not None and after.hi is not None
        beyond_noise = after.lo > before.hi or after.hi < before.lo
    # Without a threshold (report only) a change is real only when shown beyond noise.
    beyond_limit = abs(change) > limit if limit is not None else beyond_noise is True
    real = unjudged is None and diff != 0 and beyond_noise is not False and beyond_limit
    verdict: Verdict = ("regression" if worse else "improvement") if real else "unchanged"
    return Delta(figure, before, after, change, limit, beyond_noise, verdict, unjudged)


def parse_fail_on(text: str, where: str = "--think-fail-on") -> dict[str, float]:
    """'latency:5%,energy:3%,accuracy:0.5' → {'latency': 0.05, 'energy': 0.03, 'accuracy':
    0.5}: relative figures in %, accuracy in points. One line naming the item when wrong."""
    limits: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, number = item.partition(":")
        name = name.strip()
        if name not in FIGURES:
            raise ThinkError(
                f"{where}: unknown figure '{name}' in '{item}'; figures are " + ", ".join(FIGURES)
            )
        figure = FIGURES[name]
        number = number.strip()
        percent = number.endswith("%")
        try:
            value = float(number[:-1] if percent else number) if sep else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            example = "5%" if figure.relative else "0.5"
            raise ThinkError(
                f"{where}: '{item}' needs a threshold that is a number ≥ 0, e.g. {name}:{example}"
            )
        if figure.relative and not percent:
            raise ThinkError(f"{where}: '{item}': {name} is a change in %, e.g. {name}:{value:g}%")
        if not figure.relative and percent:
            raise ThinkError(
                f"{where}: '{item}': {name} is a change in points, e.g. {name}:{value:g}"
            )
        limits[name] = value / 100 if figure.relative else value
    return limits
