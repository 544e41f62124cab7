"""Energy per inference, measured as MLPerf Tiny and MLPerf Power do (docs/energy.md).

1. Idle baseline: the meter acquires while the board does nothing.
2. Each trial: the meter starts acquiring, then the agent runs the model in a loop on the
   device for at least the window, after warm-up, and reports the loop's exact start and end
   on the device's clock. Only samples inside that window count; energy = average power in
   the window × its length, per inference. Trials' median is reported.
3. Clocks: the agent stamps when it took the LOOP and when it answered; the host stamps when
   it sent the LOOP and got the answer. As in NTP, this bounds the device-host offset to half
   the link's round trip; the meter's trigger lies inside the ``*TRG;*OPC?`` round trip.
   Those bounds are the alignment uncertainty. A loaded link stretches one round trip, so
   (NTP's clock filter) short probe exchanges before and after each trial bound the same
   offset too: the offset lies in every bracket, and the narrowest intersection is used.

A measurement is invalid, and says why, when a window holds too few samples, the meter's
range overflowed, the alignment uncertainty could move the energy by more than allowed, or
the meter was lost (stopped answering, closed its connection) before its trials were done:
then it stops there, with the trials it completed, and the report says the meter is lost so
that its owner opens it again.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pytest_think.power.meters import EnergyIntegrator, MeterLost, PowerMeter, Trace

PROBES = 3  # clock probes before and after each trial: the least delayed bounds the offset


@dataclass(frozen=True)
class EnergySettings:
    window_s: float = 10.0  # MLPerf Tiny: at least 10 s of inference per trial
    trials: int = 5
    idle_s: float | None = None  # default: the window, up to 5 s
    warmup: int = 10
    min_samples: int = 100
    max_alignment_error: float = 0.01  # share of the window's energy alignment may move
    sample_rate_hz: float | None = None  # None: the meter's finest

    @property
    def idle_window_s(self) -> float:
        """The idle baseline's length: `idle_s`, else the window up to 5 s."""
        return self.idle_s if self.idle_s is not None else min(self.window_s, 5.0)

    @property
    def nominal_s(self) -> float:
        """What the method measures for: the idle baseline and every trial's window."""
        return self.idle_window_s + self.trials * self.window_s


@dataclass
class Trial:
    inferences: int
    window_s: float
    samples: int
    avg_power_w: float
    energy_j: float
    mj_per_inference: float
    dynamic_mj_per_inference: float
    alignment_s: float  # ± on each window edge
    alignment_error: float  # share of the energy that alignment could move
    start_unix_ns: int  # on the device's clock, as LOOP_DONE reports it
    invalid: str | None = None
    # The meter's own integrator across the trial (warm-up and link included), if it has one.
    integrated_avg_power_w: float | None = None
    integrated_s: float | None = None  # the span the integrator ran, by its own clock
    window_host_start_ns: int = 0  # where the window was placed on the host's clock


@dataclass
class EnergyReport:
    valid: bool
    reason: str | None
    meter: str
    settings: EnergySettings
    idle_power_w: float
    trials: list[Trial] = field(default_factory=list)
    sample_rate_hz: float = 0.0
    meter_lost: bool = False  # the meter stopped answering or went away: open it again
    # The last trial's trace, for plots: (seconds, watts, (window start, end) in seconds).
    plot: tuple[Any, Any, tuple[float, float]] | None = field(default=None, repr=False)

    def _median(self, key: str) -> float | None:
        values = [getattr(t, key) for t in self.trials if t.invalid is None]
        return statistics.median(values) if values and self.valid else None

    @property
    def mj_per_inference(self) -> float | None:
        return self._median("mj_per_inference")

    @property
    def us_per_inference(self) -> float | None:
        """The loop's device time per inference (median over trials): the latency that goes
        with this energy, both taken under the same sustained load."""
        values = [t.window_s / t.inferences * 1e6 for t in self.trials if t.invalid is None]
        return statistics.median(values) if values and self.valid else None

    @property
    def spread(self) -> float | None:
        """(max - min) / median of the trials' energy per inference."""
        values = [t.mj_per_inference for t in self.trials if t.invalid is None]
        median = self.mj_per_inference
        if not values or not median:
            return None
        return (max(values) - min(values)) / median

    def as_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "reason": self.reason,
            "mj_per_inference": self.mj_per_inference,
            "dynamic_mj_per_inference": self._median("dynamic_mj_per_inference"),
            "avg_power_w": self._median("avg_power_w"),
            "idle_power_w": self.idle_power_w,
            "samples": self._median("samples"),
            "sample_rate_hz": self.sample_rate_hz,
            "window_s": self._median("window_s"),
            "us_per_inference": self.us_per_inference,
            "spread": self.spread,
            "trials": [asdict(t) for t in self.trials],
            "meter": self.meter,
            **({"meter_lost": True} if self.meter_lost else {}),
            "settings": asdict(self.settings),
        }


def samples_in(trace: Trace, start_ns: float, end_ns: float) -> np.ndarray:
    """Indices of samples whose whole interval lies inside [start, end]."""
    interval = trace.interval_s * 1e9
    inside = (trace.times_ns - interval >= start_ns) & (trace.times_ns <= end_ns)
    return np.flatnonzero(inside)


def time_weighted_mean(trace: Trace, picked: np.ndarray) -> float:
    """Average power over the picked samples, each weighted by the time it really covers:
    the gap since the sample before it (its nominal interval for the first). Uniform traces
    give the plain mean; polled meters, whose readings come at uneven times, are integrated
    over their real time stamps."""
    if len(picked) == 0:
        return float("nan")
    times = trace.times_ns[picked].astype(np.float64)
    gaps = np.diff(times, prepend=times[0] - trace.interval_s * 1e9)
    weights = np.clip(gaps, 0, None)
    if weights.sum() <= 0:
        return float(trace.watts[picked].mean())
    return float(np.average(trace.watts[picked], weights=weights))


def offset_bracket(report: dict[str, Any]) -> tuple[int, int]:
    """Bounds on (device clock - host clock) from one exchange's four time stamps (NTP): the
    agent got the request after the host sent it and answered before the host had it."""
    sent, received = int(report["host_sent_unix_ns"]), int(report["host_received_unix_ns"])
    return int(report["done_unix_ns"]) - received, int(report["received_unix_ns"]) - sent


def evaluate_trial(
    trace: Trace,
    loop: dict[str, Any],
    host_window: tuple[int, int],
    idle_w: float,
    settings: EnergySettings,
    probes: Sequence[dict[str, Any]] = (),
) -> Trial:
    """One trial's figures from the meter's trace and the agent's LOOP_DONE report (and the
    reports of the probe exchanges around it, which bound the device clock's offset)."""
    start, end = int(loop["start_unix_ns"]), int(loop["end_unix_ns"])
    sent, received = host_window
    # The tightest host bracket: around the LOOP frame itself, when the client reports it.
    sent = max(sent, int(loop.get("host_sent_unix_ns", sent)))
    received = min(received, int(loop.get("host_received_unix_ns", received)))
    # The agent got the LOOP after the host sent it and answered before the host had the
    # answer (NTP's four time stamps): bounds on (device clock - host clock). Without the
    # agent's own stamps, its loop itself lies inside the host's bracket.
    got = int(loop.get("received_unix_ns", start))
    answered = int(loop.get("done_unix_ns", end))
    low, high = answered - received, got - sent
    # Probes' brackets bound the same offset: it lies in their intersection (clocks that
    # stepped in between leave it empty, and the loop's own bracket stands).
    for probe in probes:
        p_low, p_high = offset_bracket(probe)
        if max(low, p_low) <= min(high, p_high):
            low, high = max(low, p_low), min(high, p_high)
    offset = (low + high) / 2
    slack_ns = max(0.0, (high - low) / 2)
    window_start, window_end = start - offset, end - offset
    window_s = (end - start) / 1e9
    picked = samples_in(trace, window_start, window_end)
    inferences = int(loop["inferences"])
    samples = len(picked)
    watts = trace.watts[picked]
    avg = time_weighted_mean(trace, picked)
    energy = avg * window_s
    alignment_s = (slack_ns + trace.uncertainty_ns) / 1e9
    # The window's length is exact (the device's monotonic clock); misplacing it by the
    # alignment bound swaps samples at its edges for ones just outside, which can differ at
    # most by the swing between idle and the highest power seen.
    swing = float(np.abs(watts - idle_w).max()) if samples else 0.0
    alignment_error = 2 * alignment_s * swing / energy if samples and energy > 0 else float("inf")
    invalid = None
    if trace.overflow:
        invalid = "the meter's range overflowed during the window"
    elif samples < settings.min_samples:
        invalid = (
            f"only {samples} samples in the {window_s:.3f} s window (at "
            f"{1 / trace.interval_s:.4g} Hz), at least {settings.min_samples} are needed"
        )
    elif alignment_error > settings.max_alignment_error:
        invalid = (
            f"clock alignment (± {alignment_s * 1e3:.2f} ms per window edge) could move the "
            f"energy by {alignment_error:.1%}, more than the {settings.max_alignment_error:.1%} "
            "allowed; use a longer window"
        )
    return Trial(
        inferences=inferences,
        window_s=window_s,
        samples=samples,
        avg_power_w=avg,
        energy_j=energy,
        mj_per_inference=energy * 1e3 / max(1, inferences),
        dynamic_mj_per_inference=(avg - idle_w) * window_s * 1e3 / max(1, inferences),
        alignment_s=alignment_s,
        alignment_error=alignment_error,
        start_unix_ns=start,
        invalid=invalid,
        window_host_start_ns=int(window_start),
    )


def delivered_share(trace: Trace, duration_s: float) -> float:
    """The share of its rate's readings a meter delivered over an acquisition (at most 1; a
    meter that delivered none counts as whole, its trace is judged by the sample rule)."""
    expected = duration_s / trace.interval_s
    if len(trace.times_ns) == 0 or expected <= 0:
        return 1.0
    return min(1.0, len(trace.times_ns) / expected)


def plot_data(trace: Trace, trial: Trial) -> tuple[Any, Any, tuple[float, float]]:
    """A trace thinned to at most 4000 points, in seconds from its start, with the window."""
    if len(trace.times_ns) == 0:
        return np.zeros(0), np.zeros(0), (0.0, trial.window_s)
    origin = float(trace.times_ns[0]) - trace.interval_s * 1e9
    stride = max(1, len(trace.times_ns) // 4000)
    seconds = (trace.times_ns[::stride] - origin) / 1e9
    start = (trial.window_host_start_ns - origin) / 1e9
    return seconds, trace.watts[::stride], (start, start + trial.window_s)


def measure_energy(
    meter: PowerMeter,
    run_loop: Callable[[float, int], dict[str, Any]],
    settings: EnergySettings,
    probe: Callable[[], dict[str, Any]] | None = None,
) -> EnergyReport:
    """Idle baseline, then `settings.trials` trials of `run_loop(min_seconds, warmup)`.

    `run_loop` runs the model on the device and returns the agent's LOOP_DONE report;
    `probe`, a short exchange with the agent (its report with the four time stamps), is
    taken `PROBES` times before and after each trial to bound the clocks' offset. A meter
    lost on the way ends the measurement: invalid, saying where, with no number."""
    # No idle figure until the baseline is measured (null in the results, never a number).
    report = EnergyReport(True, None, meter.idn, settings, float("nan"))
    phase = "the idle baseline"
    try:
        idle_s = settings.idle_window_s
        meter.arm(idle_s, settings.sample_rate_hz)
        idle = meter.fetch()
        if idle.overflow:
            report.valid, report.reason = False, "the meter's range overflowed at idle"
            return report
        report.idle_power_w = float(np.mean(idle.watts))
        report.sample_rate_hz = 1 / idle.interval_s
        # A meter that is followed by polling delivers fewer readings than its rate when the
        # host is slow to ask: the loop is lengthened by that shortfall (measured at idle,
        # then on each trial), so the window holds the samples its length gives at the
        # meter's rate.
        delivered = delivered_share(idle, idle_s)
        for number in range(1, settings.trials + 1):
            phase = f"trial {number} of {settings.trials}"
            trial, delivered = _trial(meter, run_loop, settings, report, probe, delivered)
            report.trials.append(trial)
    except MeterLost as exc:
        report.valid, report.meter_lost = False, True
        report.reason = f"the meter was lost during {phase}: {exc}"
        return report
    invalid = [t.invalid for t in report.trials if t.invalid]
    if invalid:
        report.valid = False
        report.reason = f"{len(invalid)} of {settings.trials} trials invalid: {invalid[0]}"
    return report


def _trial(
    meter: PowerMeter,
    run_loop: Callable[[float, int], dict[str, Any]],
    settings: EnergySettings,
    report: EnergyReport,
    probe: Callable[[], dict[str, Any]] | None,
    delivered: float,
) -> tuple[Trial, float]:
    """One trial, its loop lengthened by the share of readings the meter `delivered` so far;
    the trial and that share updated by its trace."""
    window_s = settings.window_s / delivered
    probes = [probe() for _ in range(PROBES)] if probe is not None else []
    # Acquire a little beyond the window: warm-up and the link come first.
    acquisition_s = window_s * 1.25 + 1.0
    meter.arm(acquisition_s, settings.sample_rate_hz)
    integrator = meter if isinstance(meter, EnergyIntegrator) else None
    if integrator is not None:
        integrator.integrate_start()
    sent = time.time_ns()
    loop = run_loop(window_s, settings.warmup)
    received = time.time_ns()
    integrated = integrator.integrate_stop() if integrator is not None else None
    trace = meter.fetch()
    probes += [probe() for _ in range(PROBES)] if probe is not None else []
    report.sample_rate_hz = 1 / trace.interval_s
    delivered = min(delivered, delivered_share(trace, acquisition_s))
    trial = evaluate_trial(trace, loop, (sent, received), report.idle_power_w, settings, probes)
    report.plot = plot_data(trace, trial)
    if integrated is not None and integrated[1] > 0:
        trial.integrated_avg_power_w = integrated[0] / integrated[1]
        trial.integrated_s = integrated[1]
    return trial, delivered
