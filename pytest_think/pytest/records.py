"""What each test did on the board: its runs, flashes, console, energies, tables and outcome.

Filled by the fixtures while the test runs and by the plugin's report hook; `as_json` gives
the test's entry of the results JSON (schema: docs/results.md, pytest_think/pytest/schema.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pytest_think.pool import PoolRun
from pytest_think.pytest.schema import (
    CompareJson,
    ConsoleLineJson,
    ConsoleTroubleJson,
    EnergyJson,
    ExpectedJson,
    FlashJson,
    HangJson,
    ModelLoadJson,
    Outcome,
    PoolJson,
    RecoveryJson,
    ResumeJson,
    RunJson,
    StreamJson,
    TableJson,
    TestJson,
)
from pytest_think.revision import git_revision

if TYPE_CHECKING:
    from pytest_think.device import Run
    from pytest_think.flashing import FlashReport


@dataclass
class RunRecord:
    run: Run
    compare: CompareJson | None = None
    accuracy: dict[str, float] = field(default_factory=dict)
    label: str | None = None  # what the test calls this run (a variant, a design)
    expected: ExpectedJson | None = None  # checked against outputs given with the model

    def as_json(self) -> RunJson:
        run = self.run
        stream: StreamJson = {
            "frames": run.result.frames,
            "vectors_per_frame": run.result.vectors_per_frame,
            "window": run.result.window,
            "wall_s": run.result.wall_s,
        }
        if run.result.link:
            stream["link"] = run.result.link
        stream["reconnects"] = run.result.reconnects
        if run.result.resumes:
            stream["resumes"] = [cast(ResumeJson, r.as_json()) for r in run.result.resumes]
        data: RunJson = {
            "board": run.board,
            "model": str(run.model),
            "model_sha256": run.model_sha256,
            "vectors": run.count,
            "vectors_file": str(run.vectors.path),
            "providers": run.signature.get("providers"),
            "compare": self.compare,
            "accuracy": self.accuracy or None,
            "latency": cast(Any, run.latency()),
            "throughput_per_s": run.throughput_per_s,
            "stream": stream,
        }
        if run.load is not None:
            data["load"] = cast(ModelLoadJson, run.load.as_json())
        if isinstance(run, PoolRun):
            data["pool"] = cast(PoolJson, run.pool.as_json())
        if self.expected is not None:
            data["expected"] = self.expected
        # The label leads, when there is one.
        return cast(RunJson, {"label": self.label, **data}) if self.label else data


@dataclass
class TestRecord:
    """One test's entry of the results JSON, as it fills."""

    __test__ = False  # not a test class, despite the name

    nodeid: str
    board: str | None = None  # the board the test ran on (its runs' board)
    runs: list[RunRecord] = field(default_factory=list)
    flashes: list[FlashJson] = field(default_factory=list)
    trtexec: list[dict[str, Any]] = field(default_factory=list)
    console: list[ConsoleLineJson] = field(default_factory=list)  # lines with their time
    console_trouble: list[ConsoleTroubleJson] = field(default_factory=list)  # kernel trouble
    energies: list[EnergyJson] = field(default_factory=list)  # one per energy.measure
    tables: list[TableJson] = field(default_factory=list)  # record_table: trade-offs
    hang: HangJson | None = None  # the board stopped answering (pytest_think.watchdog)
    recovery: RecoveryJson | None = None  # and what bringing it back took
    outcome: Outcome = "unknown"
    duration_s: float = 0.0
    message: str | None = None
    time_limit_s: float | None = None  # pytest-timeout's, with what long steps added

    def record_for(self, run: Run) -> RunRecord:
        for record in self.runs:
            if record.run is run:
                return record
        record = RunRecord(run)
        self.runs.append(record)
        return record

    def add_flash(self, flash: FlashReport, design: Path) -> None:
        """A design the test brought the board to, with the revision of its directory's git
        repository when it is in one."""
        entry = cast(FlashJson, flash.as_json())
        revision = git_revision(design)
        if revision is not None:
            entry["revision"] = revision
        self.flashes.append(entry)

    def as_json(self) -> TestJson:
        data: TestJson = {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "duration_s": round(self.duration_s, 6),
        }
        if self.message:
            data["message"] = self.message
        if self.time_limit_s is not None:
            data["time_limit_s"] = self.time_limit_s
        if self.board:
            data["board"] = self.board
        if self.flashes:
            data["flash"] = self.flashes
        if self.trtexec:
            data["trtexec"] = self.trtexec
        if self.console:
            data["console"] = self.console
        if self.console_trouble:
            data["console_trouble"] = self.console_trouble
        if self.energies:
            # As with runs: the headline is the last measurement, all are listed when several.
            data["energy"] = self.energies[-1]
            if len(self.energies) > 1:
                data["energies"] = list(self.energies)
        if self.tables:
            data["tables"] = self.tables
        if self.hang is not None:
            data["hang"] = self.hang
        if self.recovery is not None:
            data["recovery"] = self.recovery
        if self.runs:
            # The headline fields are the last run's; every run is listed when there are several.
            data.update(cast(TestJson, self.runs[-1].as_json()))
            if len(self.runs) > 1:
                data["runs"] = [r.as_json() for r in self.runs]
        return data
