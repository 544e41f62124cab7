"""`think history`: each board × model's figures over many runs, from results JSON files.

A run is one results file's board (a file of several boards is a run of each); runs are in
the order they were written (`created`), each labelled with its date and, when the file
records one, the git commit of its tests (``revision``; ``+`` when the tree was dirty) and of
the design a test flashed. A series is one (board, test, model), as `think compare` makes its
rows; its figures are those of report.deltas: device latency p50 (with its 95 % interval)
and p99, throughput, energy per inference and accuracy. Series of fewer than
MEDIAN_MIN_SAMPLES vectors and no energy (conformance cases of one vector) have no figure
worth a history and are left out, counted on the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_think.errors import InputFileError
from pytest_think.pytest.campaign import without_board
from pytest_think.pytest.results import model_entries
from pytest_think.report.comparison import boards_of, load_results
from pytest_think.report.deltas import MEDIAN_MIN_SAMPLES, Measure, measures

__all__ = ["History", "Run", "Series", "collect", "read_history"]


@dataclass(frozen=True)
class Run:
    """One board's run: where it came from, when, and at which commit."""

    source: Path
    board: str
    created: str  # ISO 8601
    commit: str | None = None  # the tests' commit, short, '+' when dirty

    @property
    def label(self) -> str:
        date = self.created[:16].replace("T", " ")
        return f"{date} {self.commit}" if self.commit else date


@dataclass
class Series:
    """One board × (test, model): its figures in each run that measured them."""

    board: str
    name: str  # the test (and model label when the test ran several)
    points: list[tuple[Run, dict[str, Measure]]] = field(default_factory=list)
    designs: dict[int, str] = field(default_factory=dict)  # point index -> design commit


@dataclass
class History:
    runs: list[Run] = field(default_factory=list)
    series: dict[tuple[str, str], Series] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # one line per file that is no results
    left_out: int = 0  # series without a figure worth a history (single-vector cases)

    def boards(self) -> list[str]:
        return list(dict.fromkeys(s.board for s in self.series.values()))


def read_history(inputs: list[Path]) -> tuple[list[tuple[Path, dict[str, Any]]], list[str]]:
    """The results files of `inputs` (files, or directories searched for *.json), and one
    line for each file in a directory that is not a results file (skipped). A file named
    itself must be one: one line of error otherwise."""
    docs: list[tuple[Path, dict[str, Any]]] = []
    skipped: list[str] = []
    for given in inputs:
        if given.is_dir():
            files = sorted(p for p in given.rglob("*") if p.is_file())
            for path in files:
                try:
                    docs.append((path, load_results(path)))
                except InputFileError as exc:
                    skipped.append(f"skipped {exc}")
        else:
            docs.append((given, load_results(given)))
    if not docs:
        where = ", ".join(str(p) for p in inputs)
        raise InputFileError(
            f"no results files in {where}; write them with pytest --think-json PATH"
        )
    return docs, skipped


def _short(revision: dict[str, Any] | None) -> str | None:
    if not revision or not revision.get("commit"):
        return None
    return str(revision["commit"])[:8] + ("+" if revision.get("dirty") else "")


def collect(docs: list[tuple[Path, dict[str, Any]]], skipped: list[str] | None = None) -> History:
    """The runs of `docs` in date order, and each board × (test, model)'s series."""
    history = History(skipped=list(skipped or []))
    dated = sorted(docs, key=lambda d: (str(d[1].get("created", "")), str(d[0])))
    kept: dict[tuple[str, str], Series] = {}
    for path, doc in dated:
        for board, tests in boards_of(doc):
            run = Run(path, board["name"], str(doc.get("created", "")), _short(doc.get("revision")))
            history.runs.append(run)
            for test in tests:
                name = without_board(test["nodeid"], run.board).rsplit("::", 1)[-1]
                entries = model_entries(test)
                designs = {f["sha256"]: _short(f.get("revision")) for f in test.get("flash") or []}
                for entry in entries:
                    found = measures(entry)
                    if not found:
                        continue
                    key = name if len(entries) == 1 else f"{name} [{entry.label}]"
                    series = kept.setdefault((run.board, key), Series(run.board, key))
                    series.points.append((run, found))
                    sha = (entry.run or entry.energy or {}).get("model_sha256")
                    design = designs.get(sha) if sha else None
                    if design:
                        series.designs[len(series.points) - 1] = design
    for series_key, series in kept.items():
        if any(_worth(m) for _, m in series.points):
            history.series[series_key] = series
        else:
            history.left_out += 1
    return history


def _worth(found: dict[str, Measure]) -> bool:
    """Whether a point has a figure worth a history: energy, or figures over enough vectors."""
    latency = found.get("latency")
    enough = latency is not None and (latency.samples or 0) >= MEDIAN_MIN_SAMPLES
    return "energy" in found or enough
