"""A session's results against a baseline results file: every figure of every test and model
judged (report.deltas), the regressions, the improvements, and what could not be compared.

Tests are matched by node id without the board (a campaign's ``test[fpga-zcu102]`` is the
baseline's ``test`` when the baseline ran that board alone), within each board; a test's models
by sha256, then by label. A model whose sha256 differs under the same label is another model and
is not compared (one line says so) — unless it is a design the test flashed: a new bitstream of
the same design is exactly what a baseline is for, and its line names both sha256s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_think.errors import InputFileError
from pytest_think.pytest.campaign import without_board
from pytest_think.pytest.results import ModelEntry, model_entries
from pytest_think.report.comparison import boards_of, load_results
from pytest_think.report.deltas import FIGURES, Delta, judge, measures

__all__ = [
    "Baseline",
    "Finding",
    "Judgement",
    "compare_with_baseline",
    "load_baseline",
]


@dataclass(frozen=True)
class Baseline:
    """A baseline results file: its path, document and, per board, its tests by node id."""

    path: Path
    document: dict[str, Any]
    boards: dict[str, dict[str, Any]]  # name -> board entry
    tests: dict[str, dict[str, dict[str, Any]]]  # board -> node id without board -> test


def load_baseline(path: Path) -> Baseline:
    """The results file at `path` (one line naming it when missing, not JSON or not ours)."""
    try:
        doc = load_results(path)
    except InputFileError as exc:
        raise InputFileError(f"--think-baseline: {exc}") from None
    boards: dict[str, dict[str, Any]] = {}
    tests: dict[str, dict[str, dict[str, Any]]] = {}
    for board, board_tests in boards_of(doc):
        boards[board["name"]] = board
        tests[board["name"]] = {without_board(t["nodeid"], board["name"]): t for t in board_tests}
    return Baseline(path, doc, boards, tests)


def check_boards(baseline: Baseline, session: Iterable[tuple[str, str, bool]]) -> list[str]:
    """Check that `baseline` is of the session's boards (name, family, twin): an error line
    when no board matches or a board differs; a note per session board it lacks."""
    session = list(session)
    names = ", ".join(f"'{b}'" for b in baseline.boards)
    where = f"--think-baseline {baseline.path}"
    if not any(name in baseline.boards for name, _, _ in session):
        mine = ", ".join(f"'{n}'" for n, _, _ in session)
        raise InputFileError(
            f"{where}: a results file of board {names}, this session's is {mine}; "
            "give a results file of the same board"
        )
    notes = []
    for name, family, twin in session:
        theirs = baseline.boards.get(name)
        if theirs is None:
            notes.append(f"{where} has no board '{name}': its tests are not compared")
            continue
        if theirs.get("family") not in (None, family):
            raise InputFileError(
                f"{where}: board '{name}' is of family {theirs['family']} there, {family} here; "
                "give a results file of the same board"
            )
        if theirs.get("twin") is not None and bool(theirs["twin"]) != twin:
            ran = {True: "its digital twin", False: "the hardware"}
            raise InputFileError(
                f"{where}: it ran {ran[bool(theirs['twin'])]} of '{name}', this session "
                f"{ran[twin]}; compare the hardware with the hardware (or twin with twin)"
            )
    return notes


@dataclass(frozen=True)
class Finding:
    """One figure of one (board, test, model) against the baseline."""

    board: str
    test: str  # the node id without the board
    model: str  # the model's label ('' when the test ran one unnamed model)
    delta: Delta
    design: str | None = None  # "old sha256 → new sha256" when a flashed design changed

    @property
    def where(self) -> str:
        name = self.test.rsplit("::", 1)[-1]
        return f"{name} [{self.model}] on {self.board}" if self.model else f"{name} on {self.board}"

    def line(self) -> str:
        design = f" (design {self.design})" if self.design else ""
        return f"{self.where}{design}: {self.delta.line()}"

    def as_json(self) -> dict[str, Any]:
        d = self.delta
        return {
            "board": self.board,
            "test": self.test,
            "model": self.model,
            "figure": d.figure.name,
            "before": d.before.value,
            "after": d.after.value,
            "change": d.change,
            "limit": d.limit,
            "beyond_noise": d.beyond_noise,
            "verdict": d.verdict,
            "line": self.line(),
        }


@dataclass
class Judgement:
    """Every figure compared, and one line for each thing that could not be."""

    baseline: Baseline
    limits: dict[str, float]
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.delta.verdict == "regression"]

    @property
    def improvements(self) -> list[Finding]:
        return [f for f in self.findings if f.delta.verdict == "improvement"]

    def as_json(self) -> dict[str, Any]:
        """The results JSON's `baseline` entry."""
        return {
            "file": str(self.baseline.path),
            "created": self.baseline.document.get("created"),
            "revision": self.baseline.document.get("revision"),
            "fail_on": {
                name: limit * 100 if FIGURES[name].relative else limit
                for name, limit in self.limits.items()
            },
            "regressions": len(self.regressions),
            "improvements": len(self.improvements),
            "deltas": [f.as_json() for f in self.findings],
            "notes": list(self.notes),
        }


def _sha(entry: ModelEntry) -> str:
    source = entry.run or entry.energy or {}
    return str(source.get("model_sha256") or "")


def _pairs(
    test: dict[str, Any], mine: list[ModelEntry], theirs: list[ModelEntry]
) -> tuple[list[tuple[ModelEntry, ModelEntry, str | None]], list[str]]:
    """The (current, baseline, design change) model pairs of one test, and why others are not
    paired."""
    designs = {f.get("sha256") for f in test.get("flash") or []}
    left = list(theirs)
    pairs: list[tuple[ModelEntry, ModelEntry, str | None]] = []
    notes = []
    for entry in mine:
        sha = _sha(entry)
        same = [b for b in left if sha and _sha(b) == sha]
        match = next((b for b in same if b.label == entry.label), same[0] if same else None)
        design = None
        if match is None:
            match = next((b for b in left if b.label == entry.label), None)
            if match is not None and sha not in designs:
                left.remove(match)
                notes.append(
                    f"model '{entry.label}' is not the baseline's (sha256 {sha[:12]}…, baseline "
                    f"{_sha(match)[:12]}…): not compared"
                )
                continue
            if match is not None:
                design = f"{_sha(match)[:12]}… → {sha[:12]}…"
        if match is None:
            notes.append(f"model '{entry.label}' is not in the baseline: not compared")
            continue
        left.remove(match)
        pairs.append((entry, match, design))
    return pairs, notes


def compare_with_baseline(
    baseline: Baseline, tests: list[dict[str, Any]], limits: dict[str, float]
) -> Judgement:
    """Judge each test (results-JSON entries, each naming its board) against the baseline:
    every figure both runs have, with `limits` (parse_fail_on) deciding which can fail."""
    judgement = Judgement(baseline, limits)
    seen: dict[str, set[str]] = {}
    for test in tests:
        board = test.get("board")
        if not board or board not in baseline.tests:
            continue
        key = without_board(test["nodeid"], board)
        seen.setdefault(board, set()).add(key)
        before = baseline.tests[board].get(key)
        mine = model_entries(test)
        if before is None:
            if mine:
                judgement.notes.append(f"{key} on {board}: not in the baseline, not compared")
            continue
        pairs, notes = _pairs(test, mine, model_entries(before))
        judgement.notes += [f"{key} on {board}: {n}" for n in notes]
        for entry, old, design in pairs:
            now_m, old_m = measures(entry), measures(old)
            for name in FIGURES:
                if name in now_m and name in old_m:
                    delta = judge(name, old_m[name], now_m[name], limits.get(name))
                    judgement.findings.append(Finding(board, key, entry.label, delta, design))
    for board, keys in seen.items():
        missing = len(set(baseline.tests[board]) - keys)
        if missing:
            judgement.notes.append(f"{missing} tests of the baseline on {board} did not run here")
    return judgement
