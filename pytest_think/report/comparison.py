"""Boards side by side, as data: results JSON files read into one row per (test, model) and
one cell per board (what `think compare` writes as pages and plots).

A file is one board's run, or a session of several boards (``--board`` given several times):
its tests then name their board, and the board's id is taken out of their node ids so that
the same test lines up across boards."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_think.errors import InputFileError
from pytest_think.pytest.campaign import without_board
from pytest_think.pytest.results import SCHEMA, SCHEMA_VERSION, ModelEntry, model_entries


@dataclass
class Cell:
    """One test on one board: its headline figures (None: not measured there)."""

    outcome: str
    vectors: int | None = None
    top1_agreement: float | None = None
    accuracy: float | None = None
    accuracy_delta_pt: float | None = None  # board − float reference, in points
    device_p50_us: float | None = None
    device_p99_us: float | None = None
    throughput: float | None = None
    mj_per_inference: float | None = None
    loop_us_per_inference: float | None = None  # the energy loop's device time per inference
    energy_note: str | None = None


@dataclass
class Comparison:
    boards: list[dict[str, Any]] = field(default_factory=list)  # name, family, twin, source
    rows: dict[str, dict[str, Cell]] = field(default_factory=dict)  # test -> board -> cell
    # Tables the tests recorded (record_table): "test: table" -> board -> table.
    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


def load_results(path: Path) -> dict[str, Any]:
    """A results file, checked: one line naming the file for anything else."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"results file {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"results file {path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputFileError(
            f"results file {path}: not a pytest-think results file (no schema '{SCHEMA}'); "
            "write one with pytest --think-json"
        )
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputFileError(
            f"results file {path}: schema_version {version}, this pytest-think reads "
            f"{SCHEMA_VERSION}; compare it with the pytest-think version that wrote it"
        )
    return doc


def _cell(outcome: str, entry: ModelEntry) -> Cell:
    cell = Cell(outcome=outcome)
    run = entry.run
    if run is not None:
        device = (run.get("latency") or {}).get("device_ns") or {}
        compare = run.get("compare") or {}
        accuracy = run.get("accuracy") or {}
        cell.vectors = run.get("vectors")
        cell.top1_agreement = compare.get("top1_agreement")
        cell.accuracy = accuracy.get("device")
        if cell.accuracy is not None and accuracy.get("reference") is not None:
            cell.accuracy_delta_pt = (cell.accuracy - accuracy["reference"]) * 100
        cell.device_p50_us = device["p50"] / 1e3 if device.get("p50") is not None else None
        cell.device_p99_us = device["p99"] / 1e3 if device.get("p99") is not None else None
        cell.throughput = run.get("throughput_per_s")
    energy = entry.energy
    if energy:
        cell.mj_per_inference = energy.get("mj_per_inference")
        cell.loop_us_per_inference = energy.get("us_per_inference")
        cell.energy_note = None if energy.get("valid") else f"invalid: {energy.get('reason')}"
    return cell


def boards_of(doc: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """A results document's boards, each with its tests: the session's board with every test,
    or, when the tests ran on several boards, each of those with the tests that name it."""
    tests = doc.get("tests", [])
    named = list(dict.fromkeys(t["board"] for t in tests if t.get("board")))
    if len(named) < 2:
        return [(doc["board"], tests)]
    entries = {b["name"]: b for b in doc.get("boards", [])}
    named.sort(key=lambda n: list(entries).index(n) if n in entries else len(entries))
    return [
        (entries.get(name, {"name": name}), [t for t in tests if t.get("board") == name])
        for name in named
    ]


def build(paths: list[Path]) -> Comparison:
    result = Comparison()
    for path in paths:
        for board, tests in boards_of(load_results(path)):
            _add_board(result, path, board, tests)
    return result


def _add_board(
    result: Comparison, path: Path, board: dict[str, Any], tests: list[dict[str, Any]]
) -> None:
    name = board["name"]
    if any(b["name"] == name for b in result.boards):
        raise InputFileError(
            f"results file {path}: board '{name}' is already in another file; compare "
            "one run per board"
        )
    result.boards.append(
        {
            "name": name,
            "family": board.get("family"),
            "twin": board.get("twin"),
            "source": str(path),
        }
    )
    for test in tests:
        name_of_test = without_board(test["nodeid"], name).rsplit("::", 1)[-1]
        entries = model_entries(test)
        if not entries:  # a test without figures still shows its outcome
            entries = [ModelEntry("")]
        for entry in entries:
            key = name_of_test if len(entries) == 1 else f"{name_of_test} [{entry.label}]"
            result.rows.setdefault(key, {})[name] = _cell(test.get("outcome", "?"), entry)
        for table in test.get("tables", []):
            key = f"{name_of_test}: {table['name']}"
            result.tables.setdefault(key, {})[name] = table
