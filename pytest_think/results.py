"""What each test did on the board, and the session's results JSON (schema: docs/results.md)."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_think import __version__

if TYPE_CHECKING:
    from pytest_think.connection import Board
    from pytest_think.device import Run

SCHEMA = "pytest-think/results"
SCHEMA_VERSION = 1


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
    nodeid: str
    runs: list[RunRecord] = field(default_factory=list)
    flashes: list[dict[str, Any]] = field(default_factory=list)
    trtexec: list[dict[str, Any]] = field(default_factory=list)
    console: list[dict[str, Any]] = field(default_factory=list)  # lines with their time
    energies: list[dict[str, Any]] = field(default_factory=list)  # one per energy.measure
    tables: list[dict[str, Any]] = field(default_factory=list)  # record_table: trade-offs
    outcome: str = "unknown"
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


@dataclass
class ModelEntry:
    """One model of a test, as a reader sees it: its stream run and its energy, either absent."""

    label: str
    run: dict[str, Any] | None = None
    energy: dict[str, Any] | None = None


def _label(item: dict[str, Any]) -> str:
    if item.get("label"):
        return str(item["label"])
    return Path(str(item["model"])).stem if item.get("model") else ""


def model_entries(test: dict[str, Any]) -> list[ModelEntry]:
    """A results-file test's models, each with its run and energy matched by model.

    Reads every file of this schema version: files written before energy records named their
    model (the test's one energy is then its one model's) and files with a single run (no
    `runs` list: the run's fields are the test's own) included."""
    runs = test.get("runs") or ([test] if "model" in test else [])
    energies = test.get("energies") or ([test["energy"]] if test.get("energy") else [])
    entries = [ModelEntry(_label(run), run) for run in runs]
    for energy in energies:
        match = next(
            (
                e
                for e in entries
                if e.energy is None
                and e.run is not None
                and (
                    "model" not in energy
                    or energy.get("model_sha256", "") == e.run.get("model_sha256", "")
                    or energy["model"] == e.run.get("model")
                )
            ),
            None,
        )
        if match is not None:
            match.energy = energy
        else:
            entries.append(ModelEntry(_label(energy), None, energy))
    return entries


def board_json(
    conn: Board | None,
    name: str,
    family: str,
    emulated: bool,
    agent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "family": family,
        "twin": emulated,
        "identity": conn.identity if conn else None,
        "agent": agent,
    }


def results_document(
    board: dict[str, Any], boards: list[dict[str, Any]], tests: list[dict[str, Any]]
) -> dict[str, Any]:
    """The results JSON: `board` is the session's board, `boards` every board a test used."""
    document: dict[str, Any] = _clean(
        {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "pytest_think": __version__,
            "board": board,
            "boards": boards,
            "tests": tests,
        }
    )
    return document


def write_results(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def _clean(value: Any) -> Any:
    """Plain JSON: numpy scalars unwrapped, NaN and infinities as null (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
