"""The judgement of one figure between two runs (report.deltas): the boundaries of threshold
and noise, on synthetic measures, and the --think-fail-on spec."""

from __future__ import annotations

import pytest

from pytest_think.errors import ThinkError
from pytest_think.pytest.results import ModelEntry
from pytest_think.report.deltas import (
    DEFAULT_FAIL_ON,
    MEDIAN_MIN_SAMPLES,
    Measure,
    judge,
    measures,
    parse_fail_on,
)

N = 450  # vectors of a run: enough for an interval


def m(value: float, lo: float | None = None, hi: float | None = None, n: int = N) -> Measure:
    return Measure(value, lo, hi, n)


@pytest.mark.parametrize(
    ("after", "verdict"),
    [
        (m(110, 109, 111), "regression"),  # +10 %, intervals apart
        (m(110, 99.5, 111), "unchanged"),  # +10 % but the intervals overlap: noise
        (m(110, 100, 111), "unchanged"),  # touching intervals overlap
        (m(104, 103.5, 104.5), "unchanged"),  # apart, but within the 5 % threshold
        (m(105, 104.9, 105.1), "unchanged"),  # exactly the threshold is not beyond it
        (m(90, 89, 91), "improvement"),  # faster, beyond both
        (m(110), "regression"),  # no interval (an older file): the threshold decides
    ],
)
def test_latency_is_a_regression_only_beyond_threshold_and_both_runs_noise(
    after: Measure, verdict: str
) -> None:
    delta = judge("latency", m(100, 99, 100), after, 0.05)
    assert delta.verdict == verdict


def test_the_noise_of_either_run_can_hide_a_change() -> None:
    # A wide baseline interval hides what a narrow current one would show.
    assert judge("latency", m(100, 90, 112), m(111, 110.5, 111.5), 0.05).verdict == "unchanged"
    assert judge("latency", m(100, 99.9, 100.1), m(111, 100, 120), 0.05).verdict == "unchanged"


def test_higher_is_better_for_throughput_and_accuracy() -> None:
    assert judge("throughput", m(1000, 990, 1010), m(800, 790, 810), 0.05).verdict == ("regression")
    # Accuracy: points, not %; the same vectors give the same accuracy (no noise).
    drop = judge("accuracy", m(97.8, 97.8, 97.8), m(97.1, 97.1, 97.1), 0.5)
    assert drop.verdict == "regression" and drop.change == pytest.approx(-0.7)
    small = judge("accuracy", m(97.8, 97.8, 97.8), m(97.4, 97.4, 97.4), 0.5)
    assert small.verdict == "unchanged"


def test_without_a_threshold_a_change_is_only_reported_when_beyond_noise() -> None:
    assert judge("p99", m(100), m(300), None).verdict == "unchanged"
    assert judge("latency", m(100, 99, 101), m(103, 102, 104), None).verdict == "regression"


def test_too_few_samples_for_an_interval_are_not_judged() -> None:
    # One vector: its "interval" is the value itself; a conformance case's one time is noise.
    one = judge("latency", m(200, 200, 200, n=1), m(300, 300, 300, n=1), 0.05)
    assert one.verdict == "unchanged" and one.beyond_noise is None
    assert "not judged: 1 vectors" in one.line()
    enough = MEDIAN_MIN_SAMPLES
    assert judge("latency", m(200, 199, 201, enough), m(300, 299, 301, enough), 0.05).verdict == (
        "regression"
    )
    # One energy trial has no range.
    trial = judge("energy", Measure(1.0, samples=1), Measure(2.0, samples=1), 0.03)
    assert trial.verdict == "unchanged" and "energy trials" in trial.line()


def test_a_delta_line_says_before_after_change_and_noise() -> None:
    line = judge("latency", m(55.61, 55.29, 55.95), m(61.2, 60.9, 61.5), 0.05).line()
    assert line == (
        "device latency p50: 55.6 µs → 61.2 µs (+10.1 %; noise 55.3–56.0 → 60.9–61.5 µs)"
    )
    assert "noise ? →" in judge("latency", m(50), m(60, 59, 61), 0.05).line()


def test_measures_of_an_entry_carry_vectors_and_trials() -> None:
    run = {
        "vectors": 450,
        "latency": {"device_ns": {"n": 450, "p50": 55610.0, "p99": 9e4, "p50_lo": 55287.0,
                                  "p50_hi": 55953.0}},
        "throughput_per_s": 3086.0,
        "accuracy": {"device": 0.9778},
    }  # fmt: skip
    energy = {
        "valid": True,
        "mj_per_inference": 1.5,
        "trials": [{"mj_per_inference": 1.4}, {"mj_per_inference": 1.7}, {"invalid": "x"}],
    }
    found = measures(ModelEntry("digits", run, energy))
    assert found["latency"] == Measure(55.61, 55.287, 55.953, 450)
    assert found["energy"] == Measure(1.5, 1.4, 1.7, 2)
    assert found["accuracy"].value == pytest.approx(97.78)
    # An older file: no interval of the median, the figure still there.
    del run["latency"]["device_ns"]["p50_lo"], run["latency"]["device_ns"]["p50_hi"]
    assert not measures(ModelEntry("digits", run))["latency"].has_interval


def test_the_default_spec_parses() -> None:
    assert parse_fail_on(DEFAULT_FAIL_ON) == {"latency": 0.05, "energy": 0.03, "accuracy": 0.5}


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("latncy:5%", "unknown figure 'latncy' in 'latncy:5%'; figures are latency, p99"),
        ("latency:five%", "'latency:five%' needs a threshold that is a number ≥ 0"),
        ("latency", "'latency' needs a threshold"),
        ("energy:-3%", "'energy:-3%' needs a threshold that is a number ≥ 0"),
        ("latency:5", "latency is a change in %, e.g. latency:5%"),
        ("accuracy:0.5%", "accuracy is a change in points, e.g. accuracy:0.5"),
    ],
)
def test_a_bad_fail_on_spec_is_one_line_naming_the_item(spec: str, says: str) -> None:
    with pytest.raises(ThinkError) as raised:
        parse_fail_on(spec)
    assert says in str(raised.value) and "\n" not in str(raised.value)
