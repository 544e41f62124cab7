"""What an Allure results directory holds, by board: for `think report` to say what it
renders, and which results Allure would take for retries of another board's.

Allure 3 tells results apart by test case (the full name) and parameters. Results that
pytest-think wrote carry their board as the parameter ``board``; results written before it
did, by one-board sessions, carry only the board's label, and Allure shows the same test on
another board as a retry. The files are read as JSON, never executed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ResultsByBoard", "results_by_board"]


@dataclass
class ResultsByBoard:
    results: int = 0
    boards: Counter[str] = field(default_factory=Counter)  # results per board label
    unreadable: list[str] = field(default_factory=list)  # files that are not JSON results
    # Tests whose results on different boards Allure would take for one test's retries.
    merged: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What `think report` says of the directory: its results by board, and the tests
        Allure shows as one test with retries although they ran on several boards."""
        boards = sorted(self.boards)
        said = _count(self.results, "result")
        if boards:
            said += f" of {_count(len(boards), 'board')} ({', '.join(boards)})"
        lines = [said]
        if self.merged:
            lines.append(
                f"{_count(len(self.merged), 'test')} ran on several boards with no board "
                "parameter (pool mode, or results of an earlier pytest-think): Allure shows "
                f"each once, the other boards' runs as its retries: {_listed(self.merged)}"
            )
        if self.unreadable:
            files = _count(len(self.unreadable), "result file")
            lines.append(f"left out {files} (not JSON): {_listed(self.unreadable)}")
        return lines


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def _listed(names: list[str]) -> str:
    return ", ".join(names[:3]) + (" …" if len(names) > 3 else "")


def _identity(result: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    params = result.get("parameters") or []
    kept = sorted(
        (str(p.get("name")), str(p.get("value")))
        for p in params
        if isinstance(p, dict) and not p.get("excluded")
    )
    return str(result.get("testCaseId") or result.get("fullName") or ""), tuple(kept)


def results_by_board(results_dir: Path) -> ResultsByBoard:
    """Count `results_dir`'s results by board, and find results of different boards that
    Allure would merge into one test with retries."""
    found = ResultsByBoard()
    boards_of: dict[tuple[str, tuple[tuple[str, str], ...]], set[str]] = {}
    names: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    for path in sorted(results_dir.glob("*-result.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            found.unreadable.append(path.name)
            continue
        if not isinstance(result, dict):
            found.unreadable.append(path.name)
            continue
        found.results += 1
        labels = [x for x in result.get("labels") or [] if isinstance(x, dict)]
        boards = {str(x.get("value")) for x in labels if x.get("name") == "board"}
        if len(boards) == 1:  # a pool test over several boards is one result of them all
            found.boards.update(boards)
            key = _identity(result)
            boards_of.setdefault(key, set()).update(boards)
            names.setdefault(key, str(result.get("name") or result.get("fullName")))
    found.merged = sorted(names[k] for k, b in boards_of.items() if len(b) > 1)
    return found
