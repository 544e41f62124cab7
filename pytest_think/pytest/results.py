"""The session's results JSON (docs/results.md): the document, and how readers take it apart."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_think import __version__

if TYPE_CHECKING:
    from pytest_think.connection import Board

SCHEMA = "pytest-think/results"
SCHEMA_VERSION = 1


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
    facts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A board's entry; `facts` are what its endpoint provider said (a farm's place …)."""
    entry = {
        "name": name,
        "family": family,
        "twin": emulated,
        "identity": conn.identity if conn else None,
        "agent": agent,
    }
    if facts:
        entry["facts"] = dict(facts)
    return entry


def results_document(
    board: dict[str, Any],
    boards: list[dict[str, Any]],
    tests: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The results JSON: `board` is the session's board, `boards` every board a test used,
    `extra` the fields of what else the session knows (`revision`, `baseline`)."""
    document: dict[str, Any] = plain(
        {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "pytest_think": __version__,
            "board": board,
            "boards": boards,
            "tests": tests,
            **{k: v for k, v in (extra or {}).items() if v is not None},
        }
    )
    return document


def write_results(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def plain(value: Any) -> Any:
    """Plain JSON (what the results file and xdist's channel carry): numpy scalars unwrapped,
    NaN and infinities as null (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
