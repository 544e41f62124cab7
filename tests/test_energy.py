"""Energy per inference: the N6705 twin measures what the board twin really did."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

from pytest_think.emulator.servers import scpi
from pytest_think.power.energy import EnergySettings, evaluate_trial
from pytest_think.power.meters import Trace

ZCU102 = REPO / "boards" / "fpga-zcu102.yaml"

ENERGY_TEST = f"""
import pytest

@pytest.mark.energy(window_s=1.0, trials=3, idle_s=0.5)
def test_energy(energy):
    report = energy.measure({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
    assert report.valid and report.mj_per_inference > 0
"""


def _board(tmp_path: Path, **twin: object) -> Path:
    data = yaml.safe_load(ZCU102.read_text())
    for key, value in twin.items():
        data["twin"][key] = {**data["twin"].get(key, {}), **value}  # type: ignore[dict-item]
    path = tmp_path / "zcu102-energy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def held_to_its_bounds(energy: dict[str, Any], polled: bool) -> bool:
    """Whether the measurement is valid. It may be invalid only for what a loaded machine
    moves, with the recorded figures that say so and never with a number: the alignment the
    measured round trips allow, or (a meter followed by polling) the samples it delivered."""
    if energy["valid"]:
        return True
    settings = energy["settings"]
    assert energy["mj_per_inference"] is None
    for trial in energy["trials"]:
        reason = trial["invalid"]
        if reason is not None and reason.startswith("clock alignment"):
            assert trial["alignment_error"] > settings["max_alignment_error"]
        elif reason is not None:
            assert polled and reason.startswith("only ")
            assert trial["samples"] < settings["min_samples"]
    return False


def test_t1_measured_energy_is_within_one_percent_of_the_twins_truth(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(ENERGY_TEST)
    result = pytester.runpytest(f"--board={ZCU102}", "--emulate", "--think-json=out.json")
    (test,) = json.loads((pytester.path / "out.json").read_text())["tests"]
    energy = test["energy"]
    if not held_to_its_bounds(energy, polled=False):  # round trips a loaded host stretched
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["EnergyInvalid: * trials invalid: clock alignment *"])
        return
    result.assert_outcomes(passed=1)
    assert energy["valid"] is True and energy["reason"] is None
    # Progress while it measures, and the figure in the summary's mJ/inf column.
    result.stdout.fnmatch_lines(
        [
            "think: test_*.py::test_energy: energy of digits*.onnx on 'fpga-zcu102': "
            "trial 1/3: 1 s window (* s)",
            "think: test_*.py::test_energy: energy of digits*.onnx on 'fpga-zcu102': "
            "trial 3/3: 1 s window (* s)",
            "test * mJ/inf",
            f"test_energy *passed *fpga-zcu102 *{energy['mj_per_inference']:.4g}",
        ]
    )
    truth = energy["twin_truth_mj_per_inference"]
    assert abs(energy["mj_per_inference"] - truth) / truth <= 0.01
    assert energy["meter"].startswith("Keysight Technologies,N6705C")
    assert energy["idle_power_w"] == pytest.approx(16.5, rel=0.01)
    assert energy["avg_power_w"] == pytest.approx(19.8, rel=0.01)
    assert energy["samples"] >= 100 and energy["sample_rate_hz"] > 1000
    assert len(energy["trials"]) == 3 and energy["window_s"] >= 1.0
    # Dynamic energy is what the inference adds over idle.
    ratio = energy["dynamic_mj_per_inference"] / energy["mj_per_inference"]
    assert ratio == pytest.approx((19.8 - 16.5) / 19.8, rel=0.05)


def test_long_acquisitions_use_the_n6705_data_logger(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    # Below `datalog_above_s` the digitizer samples points; above it the data logger averages
    # every period. Here even the quick 1 s trials are long enough to take the logger's path.
    data = yaml.safe_load(ZCU102.read_text())
    data["meter"]["datalog_above_s"] = 0.5
    board = tmp_path / "zcu102-datalog.yaml"
    board.write_text(yaml.safe_dump(data))
    # 2 s windows: the trigger's bracket widens on a loaded machine, and 1 s sits near the
    # alignment rule's limit.
    pytester.makepyfile(ENERGY_TEST.replace("window_s=1.0", "window_s=2.0"))
    result = pytester.runpytest(f"--board={board}", "--emulate", "--think-json=out.json")
    energy = json.loads((pytester.path / "out.json").read_text())["tests"][0]["energy"]
    assert all(t["samples"] > 0 for t in energy["trials"])  # the logger held every window
    if not held_to_its_bounds(energy, polled=False):
        result.assert_outcomes(failed=1)
        return
    result.assert_outcomes(passed=1)
    truth = energy["twin_truth_mj_per_inference"]
    assert abs(energy["mj_per_inference"] - truth) / truth <= 0.01
    assert energy["samples"] >= 100 and energy["idle_power_w"] == pytest.approx(16.5, rel=0.01)


def test_data_log_csv_is_read_by_column_name_and_bad_records_are_one_line() -> None:
    from pytest_think.power.meters import MeterError
    from pytest_think.power.meters.keysight_n6705 import parse_datalog_csv

    csv = (
        b"Sample interval: 1.024E-03\n"
        b"Sample,Volt avg 1,Curr avg 1,Volt avg 2,Curr avg 2\n"
        b"1,+5.0E+00,+1.0E-01,+1.2E+01,+1.5E+00\n"
        b"2,+5.0E+00,+2.0E-01,+1.2E+01,+1.6E+00\n"
    )
    interval, volts, amps = parse_datalog_csv(csv, 2, "meter M")
    assert interval == pytest.approx(1.024e-3)
    assert volts.tolist() == [12.0, 12.0] and amps.tolist() == [1.5, 1.6]
    with pytest.raises(
        MeterError, match=r"^meter M: the exported data log has a malformed record$"
    ):
        parse_datalog_csv(csv.replace(b"+1.6E+00", b"n/a"), 2, "meter M")
    with pytest.raises(MeterError, match="no sample interval or no records"):
        parse_datalog_csv(b"Sample,Volt avg 1,Curr avg 1\n", 1, "meter M")


def test_n6705_waits_for_its_data_log_export_by_the_record_count() -> None:
    # The instrument writes the log out as CSV and sends it back: a long log takes longer
    # than one query's timeout, and the wait grows with its rows.
    from pytest_think.power.meters.keysight_n6705 import (
        DLOG_CSV,
        EXPORT_ROWS_PER_S,
        KeysightN6705,
        KeysightN6705Options,
    )

    block = b"Sample interval: 2.048E-05\nSample,Volt avg 1,Curr avg 1\n" + b"".join(
        b"%d,+1.2E+01,+1.0E+00\n" % (i + 1) for i in range(170_000)
    )

    class Instrument:
        timeout = 10_000
        waits: dict[str, int] = {}  # noqa: RUF012 - one instrument per test

        def write(self, text: str) -> None:
            self.waits[text] = self.timeout
            self.reads = [b"#9", b"%09d" % len(block), block + b"\n"]

        def query(self, text: str) -> str:
            return '+0,"No error"'

        def read_bytes(self, count: int, chunk_size: int = 0) -> bytes:
            return self.reads.pop(0)

        def set_visa_attribute(self, *args: object) -> None:
            pass

    meter = KeysightN6705.__new__(KeysightN6705)
    meter.config = KeysightN6705Options(timeout_s=10.0)
    meter.inst = inst = Instrument()
    meter.where, meter.logging, meter.tint = "meter M", True, 2.048e-5
    meter.points, meter.trigger_window = 170_000, (0, 0)  # long over
    trace = meter.fetch()
    assert len(trace.watts) == 170_000
    allowed = round((10.0 + 170_000 / EXPORT_ROWS_PER_S) * 1000)
    assert inst.waits[f'MMEM:EXP:DLOG "{DLOG_CSV}"'] == allowed
    assert inst.waits[f'MMEM:DATA? "{DLOG_CSV}"'] == allowed
    assert inst.waits[f'MMEM:DEL "{DLOG_CSV}"'] == inst.timeout == 10_000  # back to one query's


def test_n6705_twin_data_logger_keeps_the_instruments_rules() -> None:
    from pytest_think.emulator.activity import DeviceActivity, TwinPowerModel
    from pytest_think.emulator.meters.base import TwinMeter
    from pytest_think.emulator.meters.keysight_n6705 import N6705Instrument
    from pytest_think.power.meters.keysight_n6705 import KeysightN6705Options

    twin = N6705Instrument(
        DeviceActivity(TwinPowerModel(idle_w=6.0, active_w=6.0)),
        TwinMeter(volts=12.0),
        KeysightN6705Options(channel=2),
    )

    def run(line: str) -> list[str | bytes]:
        return asyncio.run(twin.execute(line))

    def errors() -> list[str]:
        return [e for e in iter(twin.next_error, '+0,"No error"')]

    run('MMEM:EXP:DLOG "think.csv"')  # nothing logged yet
    # Rounded to the 20.48 µs step; PER? takes the path SENS:DLOG: left, as SCPI has it.
    assert float(run("SENS:DLOG:PER 0.00005;PER?")[0]) == pytest.approx(2 * 20.48e-6)
    run('TRIG:DLOG:SOUR BUS;:INIT:DLOG "internal:\\think.dlog"')
    run('MMEM:EXP:DLOG "internal:\\think.csv"')  # waiting for its trigger: nothing to export
    run('INIT:DLOG "internal:\\other.txt"')
    assert errors() == [
        '-230,"Data corrupt or stale"',
        '-230,"Data corrupt or stale"',
        '-257,"File name error"',
    ]
    run("*TRG")
    run('MMEM:EXP:DLOG "internal:\\think.csv"')  # still logging (30 s by default)
    assert errors() == ['-221,"Settings conflict"']
    time.sleep(0.01)
    run('ABOR:DLOG;:MMEM:EXP:DLOG "internal:\\think.csv"')
    (block,) = run('MMEM:DATA? "internal:\\think.csv"')
    assert isinstance(block, bytes) and block.startswith(b"#")
    digits = int(block[1:2])
    text = block[2 + digits :].decode()
    lines = text.splitlines()
    assert lines[0] == "Sample interval: 4.09600000E-05"
    assert lines[1].startswith("Sample,Volt avg 1,Curr avg 1,Volt avg 2,Curr avg 2")
    sample = lines[2].split(",")
    assert float(sample[3]) == 12.0 and float(sample[4]) == pytest.approx(0.5)  # 6 W at 12 V
    run('MMEM:DEL "internal:\\think.csv";:MMEM:DEL "internal:\\think.csv"')
    run('MMEM:DATA? "internal:\\think.csv"')
    assert errors() == ['-256,"File name not found"', '-256,"File name not found"']


def test_overflowing_range_makes_the_measurement_invalid(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    board = _board(tmp_path, meter={"current_range_a": 1.5})  # 19.8 W at 12 V is 1.65 A
    pytester.makepyfile(ENERGY_TEST)
    result = pytester.runpytest(f"--board={board}", "--emulate", "--think-json=out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "EnergyInvalid: energy on board 'fpga-zcu102' is invalid: 3 of 3 trials invalid: "
            "the meter's range overflowed during the window"
        ]
    )
    (test,) = json.loads((pytester.path / "out.json").read_text())["tests"]
    assert test["energy"]["valid"] is False and test["energy"]["mj_per_inference"] is None


def test_t3_a_slow_meter_on_a_short_window_is_invalid() -> None:
    # A 10 Hz meter (a WT310E at its 0.1 s update rate) over a 1 s loop.
    times = (np.arange(1, 21) * 100_000_000).astype(np.int64)
    trace = Trace(times, np.full(20, 19.8), 0.1, 50_000, overflow=False)
    loop = {"start_unix_ns": 300_000_000, "end_unix_ns": 1_300_000_000, "inferences": 1000}
    trial = evaluate_trial(trace, loop, (299_000_000, 1_301_000_000), 16.5, EnergySettings())
    assert trial.samples == 10
    assert trial.invalid == (
        "only 10 samples in the 1.000 s window (at 10 Hz), at least 100 are needed"
    )


def test_probe_exchanges_narrow_the_clock_bracket_a_loaded_link_widened() -> None:
    # A 1 s loop whose LOOP took 80 ms each way (a loaded link), the device's clock 5 ms
    # ahead of the host's: alone, the bracket is ± 80 ms and the 1 s window is too coarse.
    ms = 1_000_000
    times = (np.arange(1, 3001) * ms).astype(np.int64)  # a 1 kHz trace over 3 s
    trace = Trace(times, np.full(3000, 19.8), 1e-3, 0, overflow=False)
    ahead = 5 * ms
    loop = {
        "start_unix_ns": 1000 * ms + ahead, "end_unix_ns": 2000 * ms + ahead, "inferences": 1000,
        "host_sent_unix_ns": 900 * ms, "received_unix_ns": 980 * ms + ahead,
        "done_unix_ns": 2000 * ms + ahead, "host_received_unix_ns": 2080 * ms,
    }  # fmt: skip
    window = (900 * ms, 2080 * ms)
    alone = evaluate_trial(trace, loop, window, 16.5, EnergySettings())
    assert alone.alignment_s == pytest.approx(0.080)
    assert alone.invalid is not None and alone.invalid.startswith("clock alignment (± 80.00 ms")
    # Probes whose exchanges were quick (1 ms and 2 ms each way) bound the same offset.
    probes = [
        {"host_sent_unix_ns": t, "received_unix_ns": t + way + ahead,
         "done_unix_ns": t + way + ahead, "host_received_unix_ns": t + 2 * way}
        for t, way in ((100 * ms, 1 * ms), (2500 * ms, 2 * ms), (2600 * ms, 40 * ms))
    ]  # fmt: skip
    tight = evaluate_trial(trace, loop, window, 16.5, EnergySettings(), probes)
    assert tight.alignment_s == pytest.approx(0.001)  # the quickest exchange's half round trip
    assert tight.invalid is None and tight.samples == 1000
    assert tight.window_host_start_ns == 1000 * ms  # the device's 5 ms lead taken out
    # A probe that no offset agrees with (the clock stepped in between) is left out.
    stepped = [{**probes[0], "received_unix_ns": probes[0]["received_unix_ns"] + 500 * ms,
                "done_unix_ns": probes[0]["done_unix_ns"] + 500 * ms}]  # fmt: skip
    assert evaluate_trial(trace, loop, window, 16.5, EnergySettings(), stepped) == alone


def test_a_polled_meter_that_the_load_slows_gets_a_longer_loop() -> None:
    from pytest_think.power.energy import delivered_share, measure_energy

    class Slow:  # a 100 Hz meter that delivers 60 readings a second
        idn = "slow"

        def __init__(self) -> None:
            self.armed: list[float] = []
            self.start = 0

        def arm(self, duration_s: float, max_rate_hz: float | None = None) -> None:
            self.armed.append(duration_s)
            self.start = time.time_ns()

        def fetch(self) -> Trace:
            n = int(self.armed[-1] * 60)
            times = self.start + (np.arange(1, n + 1) * 1e9 / 60).astype(np.int64)
            return Trace(times, np.full(n, 19.8), 0.01, 0, overflow=False)

    windows: list[float] = []

    def run_loop(min_seconds: float, warmup: int) -> dict[str, int]:
        windows.append(min_seconds)
        now = time.time_ns()
        return {"start_unix_ns": now, "end_unix_ns": now + int(min_seconds * 1e9),
                "inferences": 100}  # fmt: skip

    settings = EnergySettings(window_s=1.5, trials=2, idle_s=1.0)
    measure_energy(Slow(), run_loop, settings)  # type: ignore[arg-type]
    assert windows == [pytest.approx(1.5 / 0.6, rel=0.01)] * 2  # the shortfall, each trial
    trace = Trace(np.arange(1, 61, dtype=np.int64), np.zeros(60), 0.01, 0, overflow=False)
    assert delivered_share(trace, 1.0) == pytest.approx(0.6)
    assert delivered_share(trace, 0.5) == 1.0  # never below the rate's own length


def test_board_without_meter_skips_or_fails_on_require_power(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(ENERGY_TEST)
    result = pytester.runpytest("--board=sim", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*board 'sim' has no power meter (no 'meter' section in *sim.yaml)"]
    )
    result = pytester.runpytest("--board=sim", "--require-power")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*has no power meter*and --require-power is set"])


class _OtherInstrument(scpi.ScpiInstrument):
    idn = "Rohde&Schwarz,HMC8015,021345678,FW:1.403"


@pytest.fixture
def other_instrument() -> Iterator[str]:
    """An instrument of another model on loopback: its VISA resource."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(scpi.serve(_OtherInstrument()))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"TCPIP::127.0.0.1::{server.sockets[0].getsockname()[1]}::SOCKET"

    async def shutdown() -> None:
        server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_wrong_instrument_and_unreachable_meter_are_one_line_each(
    pytester: pytest.Pytester, other_instrument: str, closed_port: int
) -> None:
    from pytest_think.power.meters import MeterError
    from pytest_think.power.meters.keysight_n6705 import KeysightN6705, KeysightN6705Options

    with pytest.raises(MeterError) as wrong:
        KeysightN6705(KeysightN6705Options(resource=other_instrument), "meter X")
    assert str(wrong.value) == (
        f"meter X ({other_instrument}): answers *IDN? with 'Rohde&Schwarz,HMC8015,021345678,"
        "FW:1.403', not a Keysight N6705; check meter.driver and meter.resource"
    )
    nowhere = f"TCPIP::127.0.0.1::{closed_port}::SOCKET"
    with pytest.raises(
        MeterError, match=r"^meter X \(TCPIP::127.0.0.1::\d+::SOCKET\): cannot reach it: "
    ):
        KeysightN6705(KeysightN6705Options(resource=nowhere, timeout_s=2), "meter X")


def test_scpi_errors_are_queued_and_reported(other_instrument: str) -> None:
    import pyvisa

    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(other_instrument, read_termination="\n", write_termination="\n")
    try:
        inst.write("SENS:BOGUS 3")
        assert inst.query("SYST:ERR?") == '-113,"Undefined header"'
        assert inst.query("SYST:ERR?") == '+0,"No error"'
        assert inst.query("*IDN?;*OPC?") == "Rohde&Schwarz,HMC8015,021345678,FW:1.403;1"
    finally:
        inst.close()


def test_t3_ten_hertz_on_a_one_second_window_is_flagged_invalid(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.energy(window_s=1.0, trials=1, idle_s=0.5, sample_rate_hz=10)
        def test_slow_meter(energy):
            energy.measure({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
        """
    )
    result = pytester.runpytest(f"--board={ZCU102}", "--emulate", "--think-json=out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "EnergyInvalid: energy on board 'fpga-zcu102' is invalid: 1 of 1 trials invalid: "
            "only * samples in the 1.0* s window (at 10 Hz), at least 100 are needed"
        ]
    )
    (test,) = json.loads((pytester.path / "out.json").read_text())["tests"]
    assert test["energy"]["valid"] is False
    assert test["energy"]["mj_per_inference"] is None  # never reported as a number


METERS = {
    # driver: (meter fields, twin meter, window for >= 100 samples, idn start, rate in Hz)
    "yokogawa-wt310e": ({}, {"volts": 230.0, "current_range_a": 0.5}, 11.0, "YOKOGAWA,WT310E", 10),
    "rs-hmc8015": ({}, {"volts": 230.0, "current_range_a": 0.5}, 11.0, "Rohde&Schwarz,HMC8015", 10),
    "keithley-2280s": ({}, {"volts": 12.0, "current_range_a": 6.1}, 1.0, "KEITHLEY", None),
    "generic-scpi": (
        {"idn": "ACME,PM-1000", "setup": ["CONF:POW:DC"], "power_query": "MEAS:POW?",
         "update_s": 0.01},
        {"volts": 12.0},
        1.5,
        "ACME,PM-1000",
        100,
    ),
}  # fmt: skip


@pytest.mark.parametrize("driver", sorted(METERS))
def test_every_meter_driver_against_its_twin_is_within_one_percent(
    pytester: pytest.Pytester, tmp_path: Path, driver: str
) -> None:
    fields, twin_meter, window, idn, rate = METERS[driver]
    data = yaml.safe_load(ZCU102.read_text())
    data["meter"] = {"driver": driver, "resource": "TCPIP::meter.lab::5025::SOCKET", **fields}
    data["twin"]["meter"] = twin_meter
    board = tmp_path / f"zcu102-{driver}.yaml"
    board.write_text(yaml.safe_dump(data))
    pytester.makepyfile(
        f"""
        import pytest

        from pytest_think.pytest.energy import EnergyInvalid

        @pytest.mark.energy(window_s={window}, trials=1, idle_s=1.0)
        def test_energy(energy):
            try:  # the verdict is held to the recorded figures below
                report = energy.measure({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
            except EnergyInvalid:
                return
            assert report.meter.startswith({idn!r})
            if {rate!r} is not None:
                assert report.sample_rate_hz == pytest.approx({rate!r})
            truth = energy.last_record["twin_truth_mj_per_inference"]
            assert abs(report.mj_per_inference - truth) <= 0.01 * truth
        """
    )
    result = pytester.runpytest(f"--board={board}", "--emulate", "--think-json=out.json")
    result.assert_outcomes(passed=1)
    (test,) = json.loads((pytester.path / "out.json").read_text())["tests"]
    energy = test["energy"]
    (trial,) = energy["trials"]
    if held_to_its_bounds(energy, polled=driver != "keithley-2280s"):
        assert energy["samples"] >= 100
    # Valid or not, the trial's figure is as close to the truth as its own alignment bound
    # says, give or take the twin's reading noise averaged over the window (4 sigma).
    assert trial["samples"] > 0
    noise = 4 * data["twin"]["power_model"]["noise_w"] / trial["samples"] ** 0.5
    truth = energy["twin_truth_mj_per_inference"]
    off = abs(trial["mj_per_inference"] - truth) / truth
    assert off <= trial["alignment_error"] + noise / trial["avg_power_w"]
    if driver in ("yokogawa-wt310e", "rs-hmc8015"):  # their integrators ran as a cross-check
        # The integrator is started and stopped by commands over the network, before the
        # loop is sent and after its answer: it holds the window at the window's power and,
        # for the rest of its span (the commands, the link, the warm-up: as long as the
        # machine's load makes them), between idle and active power. The window's share of
        # the span is measured (its length on the device's clock over the span on the
        # integrator's), and the sampled average is itself only as exact as the trial's
        # alignment bound: the share of its energy that misplacing the window could move.
        active, idle = trial["avg_power_w"], energy["idle_power_w"]
        inside = trial["window_s"] / trial["integrated_s"]
        moved = trial["alignment_error"]
        assert 0 < inside <= 1  # the loop runs between the start and the stop
        lowest = idle + (active * (1 - moved) - idle) * inside
        assert lowest <= trial["integrated_avg_power_w"] <= active * (1 + moved)


def test_onboard_meter_naming_a_rail_the_board_lacks_is_one_line(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    data = yaml.safe_load((REPO / "boards" / "jetson-tx1.yaml").read_text())
    data["meter"]["rails"] = ["VDD_IN", "VDD_SOC"]
    board = tmp_path / "tx1.yaml"
    board.write_text(yaml.safe_dump(data))
    pytester.makepyfile(ENERGY_TEST)
    result = pytester.runpytest(f"--board={board}", "--emulate")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "MeterError: meter of board 'jetson-tx1': rails VDD_SOC are not on the board "
            "(it has: VDD_IN, VDD_GPU, VDD_CPU)"
        ]
    )


@pytest.fixture
def silent_instrument() -> Iterator[str]:
    """Something on loopback that accepts connections and never answers."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"TCPIP::127.0.0.1::{server.getsockname()[1]}::SOCKET"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def test_meter_not_answering_and_instrument_errors_are_one_line(
    silent_instrument: str, other_instrument: str
) -> None:
    from pytest_think.power.meters import MeterError
    from pytest_think.power.meters.generic_scpi import GenericScpiMeter, GenericScpiOptions
    from pytest_think.power.meters.keysight_n6705 import KeysightN6705, KeysightN6705Options

    silent = KeysightN6705Options(resource=silent_instrument, timeout_s=0.5)
    with pytest.raises(MeterError) as mute:
        KeysightN6705(silent, "meter X")
    assert str(mute.value).startswith(f"meter X ({silent_instrument}): cannot reach it: ")
    assert "\n" not in str(mute.value)
    # The instrument refuses a setup command: its own error, from its error queue.
    picky = GenericScpiOptions(resource=other_instrument, idn="HMC8015", setup=["CONF:BOGUS"])
    with pytest.raises(MeterError) as refused:
        GenericScpiMeter(picky, "meter X")
    assert str(refused.value) == (
        f"meter X ({other_instrument}): 'CONF:BOGUS' refused: -113,\"Undefined header\""
    )


def test_meter_channel_out_of_range_is_refused_with_the_board_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = yaml.safe_load(ZCU102.read_text())
    data["meter"]["channel"] = 7
    board = tmp_path / "bad.yaml"
    board.write_text(yaml.safe_dump(data))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_think.cli", "check", str(board)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    expected = f"board file {board}: field 'meter.channel': Input should be less than or equal to 4"
    assert expected in proc.stdout + proc.stderr


def test_drivers_against_pyvisa_sim_dialogues() -> None:
    from pytest_think.power.meters import MeterError
    from pytest_think.power.meters.keysight_n6705 import KeysightN6705, KeysightN6705Options

    library = f"{Path(__file__).parent / 'data' / 'meters.sim.yaml'}@sim"
    meter = KeysightN6705(
        KeysightN6705Options(
            resource="TCPIP::n6705.sim::5025::SOCKET",
            visa_library=library,
        ),
        "meter S",
    )
    assert meter.idn == "Keysight Technologies,N6705B,MY12345678,D.01.09"
    meter.close()
    with pytest.raises(MeterError, match=r"answers \*IDN\? with 'Tektronix,MSO44,"):
        KeysightN6705(
            KeysightN6705Options(
                resource="TCPIP::scope.sim::4000::SOCKET",
                visa_library=library,
            ),
            "meter S",
        )


def test_jetson_energy_from_tegrastats_run_by_the_agent(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    data = yaml.safe_load((REPO / "boards" / "jetson-orin-nano.yaml").read_text())
    data["meter"] = {
        "driver": "onboard",
        "source": "tegrastats",
        "rails": ["VDD_IN"],
        "period_s": 0.005,
    }
    for rail in data["twin"]["power"]["rails"]:
        rail["active_w"] = rail["idle_w"] * 2
    board = tmp_path / "orin-tegrastats.yaml"
    board.write_text(yaml.safe_dump(data))
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.energy(window_s=2.0, trials=2, idle_s=0.5)
        def test_energy(energy):
            report = energy.measure({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
            assert report.meter == "tegrastats: VDD_IN"
            assert report.idle_power_w == pytest.approx(4.6, rel=0.01)
            truth = energy.last_record["twin_truth_mj_per_inference"]
            assert abs(report.mj_per_inference - truth) <= 0.01 * truth
        """
    )
    result = pytester.runpytest(f"--board={board}", "--emulate")
    result.assert_outcomes(passed=1)
