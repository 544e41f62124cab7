"""What each test did on the board: its runs, flashes, console, energies, tables and outcome.

Filled by the fixtures while the test runs and by the plugin's report hook; `as_json` gives
the test's entry of the results JSON (schema: docs/results.md, pytest_think/pytest/schema.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pytest_think.device import Run

Outcome = Literal["unknown", "passed", "failed", "error", "skipped", "xfailed", "xpassed"]


@dataclass
class RunRecord:
    run: Run
    compare: dict[str, Any] | None = None
    accuracy: dict[str, float] = field(default_factory=dict)
    label: str | None = None  # what the test calls this run (a variant, a design)

    def as_json(self) -> dict[str, Any]:
        run = self.run
        return {
            **({"label": self.label} if self.label else {}),
            "board": run.board,
            "model": str(run.model),
            "model_sha256": run.model_sha256,
            "vectors": run.count,
            "vectors_file": str(run.vectors.path),
            "providers": run.signature.get("providers"),
            "compare": self.compare,
            "accuracy": self.accuracy or None,
            "latency": run.latency(),
            "throughput_per_s": run.throughput_per_s,
            "stream": {
                "frames": run.result.frames,
                "vectors_per_frame": run.result.vectors_per_frame,
                "window": run.result.window,
                "wall_s": run.result.wall_s,
                **({"link": run.result.link} if run.result.link else {}),
            },
        }


@dataclass
class TestRecord:
    """One test's entry of the results JSON, as it fills."""

    __test__ = False  # not a test class, despite the name

    nodeid: str
    runs: list[RunRecord] = field(default_factory=list)
    flashes: list[dict[str, Any]] = field(default_factory=list)
    trtexec: list[dict[str, Any]] = field(default_factory=list)
    console: list[dict[str, Any]] = field(default_factory=list)  # lines with their time
    energies: list[dict[str, Any]] = field(default_factory=list)  # one per energy.measure
    tables: list[dict[str, Any]] = field(default_factory=list)  # record_table: trade-offs
    outcome: Outcome = "unknown"
    duration_s: float = 0.0
    message: str | None = None

    def record_for(self, run: Run) -> RunRecord:
        for record in self.runs:
            if record.run is run:
                return record
        record = RunRecord(run)
        self.runs.append(record)
        return record

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "duration_s": round(self.duration_s, 6),
        }
        if self.message:
            data["message"] = self.message
        if self.flashes:
            data["flash"] = self.flashes
        if self.trtexec:
            data["trtexec"] = self.trtexec
        if self.console:
            data["console"] = self.console
        if self.energies:
            # As with runs: the headline is the last measurement, all are listed when several.
            data["energy"] = self.energies[-1]
            if len(self.energies) > 1:
                data["energies"] = list(self.energies)
        if self.tables:
            data["tables"] = self.tables
        if self.runs:
            # The headline fields are the last run's; every run is listed when there are several.
            data.update(self.runs[-1].as_json())
            if len(self.runs) > 1:
                data["runs"] = [r.as_json() for r in self.runs]
        return data
