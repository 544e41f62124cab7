"""Boards and runs side by side, as data: results JSON files read into one row per (test,
model) and one cell per column (what `think compare` writes as pages and plots).

A column is one board of one results file: a file is one board's run, or a session of
several boards (``--board`` given several times), whose tests then name their board; the
board's id is taken out of their node ids so that the same test lines up across boards. Two
runs of one board are two columns, named by board and date (or by ``--label``)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict

from pytest_think.errors import InputFileError
from pytest_think.pytest.campaign import without_board
from pytest_think.pytest.results import SCHEMA, SCHEMA_VERSION, ModelEntry, model_entries
from pytest_think.report.deltas import DEFAULT_FAIL_ON, Measure, measures, parse_fail_on
from pytest_think.user_files import field_problems

__all__ = ["CASES_AT", "Cell", "Column", "Comparison", "Row", "build", "load_results"]

CASES_AT = 20  # a test function with more cases than this is a conformance suite


@dataclass
class Column:
    """One board of one results file."""

    name: str  # the heading: the board, or board and date, or the run's --label
    board: str
    family: str | None
    twin: bool | None
    source: str
    created: str | None
    designs: list[str] = field(default_factory=list)  # the designs its tests flashed
    power_mode: str | None = None  # Jetson: nvpmodel's mode
    place: str | None = None  # where a farm says the board is
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def target(self) -> str:
        return "twin" if self.twin else "hardware"


@dataclass
class Cell:
    """One (test, model) in one column: its outcome and figures (absent: not measured)."""

    outcome: str
    test: str  # the test's name, for the reader who wants to know where a figure came from
    figures: dict[str, Measure] = field(default_factory=dict)  # deltas.FIGURES names
    message: str | None = None
    vectors: int | None = None
    top1_agreement: float | None = None
    accuracy_delta_pt: float | None = None  # board − float reference, in points
    loop_us_per_inference: float | None = None  # the energy loop's device time per inference
    load_ms: float | None = None  # the model's LOAD -> READY on the board, when it was loaded
    energy_note: str | None = None


@dataclass(frozen=True)
class Row:
    """Where a row belongs: its suite (test file), test function, model and headline model."""

    suite: str
    function: str
    test: str
    model: str  # the model's label in the test ('' for a test that runs one model or none)
    headline: str  # the model as the headline names it ('' when no model ran)


@dataclass
class Comparison:
    columns: list[Column] = field(default_factory=list)
    rows: dict[str, dict[str, Cell]] = field(default_factory=dict)  # row -> column -> cell
    info: dict[str, Row] = field(default_factory=dict)  # row -> where it belongs
    # Tables the tests recorded (record_table): test -> column -> tables.
    tables: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    baseline: str | None = None  # the column others are compared with (--baseline)
    # A change is real beyond these thresholds (and the runs' noise): deltas.parse_fail_on.
    limits: dict[str, float] = field(default_factory=lambda: parse_fail_on(DEFAULT_FAIL_ON))

    def case_functions(self) -> set[tuple[str, str]]:
        """(suite, function) of the test functions with more than `CASES_AT` cases: a
        conformance suite, read as a pass rate rather than as models and figures."""
        tests = Counter((r.suite, r.function, r.test) for r in self.info.values())
        per_function = Counter((suite, function) for suite, function, _ in tests)
        return {f for f, n in per_function.items() if n > CASES_AT}

    @property
    def boards(self) -> list[dict[str, Any]]:
        return [{"name": c.name, "family": c.family, "twin": c.twin} for c in self.columns]

    def is_baseline(self, column: Column) -> bool:
        """Whether `column` is a board of the baseline file."""
        base = next((c for c in self.columns if c.name == self.baseline), None)
        return base is not None and column.source == base.source

    def baseline_for(self, column: str) -> str | None:
        """The baseline column that `column` is compared with: the baseline file's column of
        the same board, else the baseline file's only board; None for the baseline itself."""
        if self.baseline is None or column == self.baseline:
            return None
        base = next(c for c in self.columns if c.name == self.baseline)
        same_file = [c for c in self.columns if c.source == base.source]
        board = next(c.board for c in self.columns if c.name == column)
        match = next((c.name for c in same_file if c.board == board), None)
        if match is not None:
            return None if match == column else match
        return base.name if len(same_file) == 1 else None


class _BoardRead(TypedDict):
    name: str


class _TestRead(TypedDict):
    nodeid: str
    board: NotRequired[str | None]
    runs: NotRequired[list[dict[str, Any]]]
    energy: NotRequired[dict[str, Any] | None]


class _ResultsRead(TypedDict):
    """What the readers of results files (compare, history, baseline) index without asking:
    a file that is not so (truncated, hand-edited) is one line, not a traceback. The full
    schema (pytest_think.pytest.schema) is what pytest writes; this is what is read."""

    board: _BoardRead
    boards: NotRequired[list[_BoardRead]]
    tests: list[_TestRead]
    revision: NotRequired[dict[str, Any]]


@functools.cache
def _readable() -> TypeAdapter[_ResultsRead]:
    return TypeAdapter(_ResultsRead)


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
    try:
        _readable().validate_python(doc)
    except ValidationError as exc:
        raise InputFileError(
            f"results file {path}: not as pytest --think-json writes it (truncated or edited?): "
            f"{field_problems(exc, limit=3)}"
        ) from None
    return doc


def _cell(outcome: str, test: str, entry: ModelEntry) -> Cell:
    cell = Cell(outcome=outcome, test=test, figures=measures(entry))
    run = entry.run
    if run is not None:
        accuracy = run.get("accuracy") or {}
        cell.vectors = run.get("vectors")
        cell.top1_agreement = (run.get("compare") or {}).get("top1_agreement")
        if accuracy.get("device") is not None and accuracy.get("reference") is not None:
            cell.accuracy_delta_pt = (accuracy["device"] - accuracy["reference"]) * 100
        load = run.get("load") or {}
        if load.get("loaded") and isinstance(load.get("device_ns"), (int, float)):
            cell.load_ms = load["device_ns"] / 1e6
    energy = entry.energy
    if energy:
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


@dataclass
class _Part:
    """One board of one file, before the columns are named."""

    path: Path
    doc: dict[str, Any]
    board: dict[str, Any]
    tests: list[dict[str, Any]]
    label: str | None


def build(
    paths: list[Path], labels: list[str] | None = None, baseline: Path | None = None
) -> Comparison:
    """The comparison of `paths` (with `baseline`, when given, first): a column per board of
    each file, named by `labels` (one per file, in that order) when given."""
    files = list(paths)
    if baseline is not None:
        files = [baseline, *(p for p in files if p.resolve() != baseline.resolve())]
    if labels and len(labels) != len(files):
        raise InputFileError(
            f"--label given {len(labels)} times for {len(files)} results files; give one "
            "label per file, in the order of the files (the baseline first)"
        )
    seen: dict[Path, Path] = {}
    parts: list[_Part] = []
    for n, path in enumerate(files):
        if path.resolve() in seen:
            raise InputFileError(f"results file {path} is given twice; give each run once")
        seen[path.resolve()] = path
        doc = load_results(path)
        label = labels[n] if labels else None
        parts += [_Part(path, doc, board, tests, label) for board, tests in boards_of(doc)]
    _check_common_tests(parts)
    result = Comparison()
    for part, name in zip(parts, _column_names(parts)):
        _add_column(result, part, name)
    if baseline is not None:
        result.baseline = result.columns[0].name
    return result


def _test_name(test: dict[str, Any], board: str) -> str:
    return without_board(test["nodeid"], board).rsplit("::", 1)[-1]


def _check_common_tests(parts: list[_Part]) -> None:
    by_file: dict[Path, set[str]] = {}
    for part in parts:
        names = {_test_name(t, part.board["name"]) for t in part.tests}
        by_file.setdefault(part.path, set()).update(names)
    if len(by_file) < 2:
        return
    for path, names in by_file.items():
        others = [p for p in by_file if p != path]
        if not names & set().union(*(by_file[p] for p in others)):
            raise InputFileError(
                f"results file {path} has no test in common with "
                + ", ".join(str(p) for p in others)
                + "; compare results of the same test suites"
            )


def _column_names(parts: list[_Part]) -> list[str]:
    boards = Counter(p.board["name"] for p in parts)

    def when(part: _Part) -> str:
        try:
            created = dt.datetime.fromisoformat(str(part.doc.get("created")))
        except ValueError:
            return part.path.stem
        return created.strftime("%Y-%m-%d %H:%M")

    names = []
    for part in parts:
        board = part.board["name"]
        if part.label is not None:
            several = sum(p.path == part.path for p in parts) > 1
            names.append(f"{part.label} · {board}" if several else part.label)
        else:
            names.append(board if boards[board] == 1 else f"{board} · {when(part)}")
    counts = Counter(names)
    names = [f"{n} · {p.path.stem}" if counts[n] > 1 else n for n, p in zip(names, parts)]
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise InputFileError(f"two results files give the column '{twice}'; name them --label")
    return names


def _add_column(result: Comparison, part: _Part, name: str) -> None:
    board = part.board
    identity = board.get("identity") or {}
    facts = board.get("facts") or {}
    mode = identity.get("power_mode")
    column = Column(
        name=name,
        board=board["name"],
        family=board.get("family"),
        twin=board.get("twin"),
        source=str(part.path),
        created=part.doc.get("created"),
        power_mode=str(mode.get("name")) if isinstance(mode, dict) else None,
        place=facts.get("place") or facts.get("location"),
    )
    result.columns.append(column)
    designs: dict[str, None] = {}
    for test in part.tests:
        test_name = _test_name(test, board["name"])
        outcome = str(test.get("outcome", "?"))
        column.outcomes[outcome] += 1
        flashed = [f["design"] for f in test.get("flash") or [] if f.get("design")]
        designs.update(dict.fromkeys(flashed))
        entries = model_entries(test) or [ModelEntry("")]  # no figures: still an outcome
        for entry in entries:
            key = test_name if len(entries) == 1 else f"{test_name} [{entry.label}]"
            cell = _cell(outcome, test_name, entry)
            cell.message = test.get("message")
            result.rows.setdefault(key, {})[name] = cell
            if key not in result.info or not result.info[key].headline:
                # A test skipped on the first column has no model yet: the next one says.
                result.info[key] = _row(test, test_name, entry, flashed, len(entries) > 1)
        for table in test.get("tables", []):
            result.tables.setdefault(test_name, {}).setdefault(name, []).append(table)
    column.designs = list(designs)


def _row(
    test: dict[str, Any], name: str, entry: ModelEntry, designs: list[str], several: bool
) -> Row:
    suite = Path(str(test["nodeid"]).split("::", 1)[0]).stem
    model_path = (entry.run or entry.energy or {}).get("model")
    stem = Path(str(model_path)).stem if model_path else ""
    label = entry.label
    # A label that only names the board's design or repeats the model adds nothing.
    if label and label != stem and label not in designs:
        headline = f"{label} ({stem})" if stem else label
    else:
        headline = stem
    return Row(suite, name.split("[", 1)[0], name, label if several else "", headline)
