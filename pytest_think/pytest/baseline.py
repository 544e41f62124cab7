"""``--think-baseline FILE`` and ``--think-fail-on SPEC``: the session judged against a baseline
results file of the same board(s), and failed when a figure regressed beyond its threshold and
beyond both runs' noise (report.regressions, report.deltas).

Both are checked when the session starts (one line for a missing file, another board, a bad
threshold), before any board is touched. The judgement is made where every test's record ends
up — the process itself, or pytest-xdist's controller from what its workers sent — after the
last test: each regression is a session failure (exit status 1, as for a failed test; pytest's
exit statuses have no other for it), one line each with its before, after, change and noise;
improvements are listed too, a table shows every delta, and the results JSON's ``baseline``
entry holds them all (what a CI job keeps as an artifact).
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_think import emulation
from pytest_think.errors import ThinkError
from pytest_think.pytest.session import ensure_session, handed_to_worker, think_session
from pytest_think.report.deltas import DEFAULT_FAIL_ON, FIGURES, parse_fail_on
from pytest_think.report.regressions import (
    Baseline,
    Judgement,
    check_boards,
    compare_with_baseline,
    load_baseline,
)
from pytest_think.report.summary import aligned

__all__ = ["BASELINE_KEY", "think_baseline", "think_fail_on"]


class BaselineState:
    """The baseline, the thresholds, what the session found against them."""

    def __init__(self, baseline: Baseline, limits: dict[str, float], notes: list[str]) -> None:
        self.baseline = baseline
        self.limits = limits
        self.notes = notes
        self.judgement: Judgement | None = None


BASELINE_KEY = pytest.StashKey[BaselineState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("think")
    group.addoption(
        "--think-baseline",
        default=None,
        metavar="FILE",
        help="a results JSON of the same board(s) (--think-json of an earlier run): each test "
        "and model is compared with it, and regressions beyond noise fail the session",
    )
    group.addoption(
        "--think-fail-on",
        default=None,
        metavar="SPEC",
        help="with --think-baseline: the changes that fail the session, e.g. "
        f"'{DEFAULT_FAIL_ON}' (the default): % of the baseline for "
        f"{', '.join(n for n, f in FIGURES.items() if f.relative)}; points for accuracy",
    )


@pytest.hookimpl(trylast=True)  # after the plug-in's pytest_configure made the session
def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--think-baseline")
    spec = config.getoption("--think-fail-on")
    if handed_to_worker(config) is not None:
        return  # an xdist worker: its controller judges
    if path is None:
        if spec is not None:
            raise pytest.UsageError(
                "--think-fail-on says what fails against a baseline: give --think-baseline FILE"
            )
        return
    try:
        limits = parse_fail_on(spec if spec is not None else DEFAULT_FAIL_ON)
        baseline = load_baseline(Path(path))
        session = ensure_session(config)
        notes = check_boards(
            baseline,
            [(b.name, b.family, emulation.emulated(b, session.emulate)) for b in session.campaign],
        )
    except ThinkError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[BASELINE_KEY] = BaselineState(baseline, limits, notes)


def _state(config: pytest.Config) -> BaselineState | None:
    return config.stash.get(BASELINE_KEY, None)


@pytest.fixture(scope="session")
def think_baseline(request: pytest.FixtureRequest) -> Path | None:
    """The baseline results file (--think-baseline), or None."""
    path = request.config.getoption("--think-baseline")
    return Path(path) if path else None


@pytest.fixture(scope="session")
def think_fail_on(request: pytest.FixtureRequest) -> dict[str, float]:
    """The thresholds that fail the session against the baseline (--think-fail-on, parsed:
    fractions for % figures, points for accuracy); empty without a baseline."""
    if request.config.getoption("--think-baseline") is None:
        return {}
    return parse_fail_on(request.config.getoption("--think-fail-on") or DEFAULT_FAIL_ON)


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = _state(config)
    if state is None:
        return []
    doc = state.baseline.document
    revision = doc.get("revision") or {}
    commit = f", commit {revision['commit'][:12]}" if revision.get("commit") else ""
    spec = config.getoption("--think-fail-on") or DEFAULT_FAIL_ON
    return [
        f"think: baseline {state.baseline.path} (written {doc.get('created', '?')}{commit}); "
        f"fail on {spec}",
        *(f"think: {note}" for note in state.notes),
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    result = yield
    state = _state(session.config)
    if state is not None and not session.config.option.collectonly:
        think = think_session(session.config)
        judgement = compare_with_baseline(state.baseline, think.results.tests(), state.limits)
        judgement.notes[:0] = state.notes
        state.judgement = judgement
        think.results.extra["baseline"] = judgement.as_json()
        if judgement.regressions:
            session.testsfailed += 1  # the exit status of failed tests
    return result


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = _state(config)
    if state is None or state.judgement is None:
        return
    judgement = state.judgement
    write = terminalreporter.write_line
    terminalreporter.write_sep("-", f"think: against the baseline {state.baseline.path}")
    for line in delta_table(judgement):
        write(line)
    for note in judgement.notes:
        write(f"think: {note}")
    for finding in judgement.improvements:
        write(f"think: improvement: {finding.line()}", green=True)
    for finding in judgement.regressions:
        write(f"think: REGRESSION: {finding.line()}", red=True, bold=True)
    counts = (
        f"{len(judgement.findings)} figures compared, {len(judgement.regressions)} "
        f"regressions, {len(judgement.improvements)} improvements"
    )
    if judgement.regressions:
        terminalreporter.write_sep("=", f"think: {counts}: the session fails", red=True)
    else:
        write(f"think: {counts}")


MARKS = {"regression": "!", "improvement": "*", "unchanged": ""}


def delta_table(judgement: Judgement) -> list[str]:
    """One row per test and model, one column per figure: every change against the baseline
    ('!' a regression, '*' an improvement; '~' not judged: too few samples)."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for f in judgement.findings:
        mark = "~" if f.delta.unjudged else MARKS[f.delta.verdict]
        rows.setdefault((f.board, f.where), {})[f.delta.figure.name] = f.delta.change_text + mark
    if not rows:
        return []
    figures = [n for n in FIGURES if any(n in r for r in rows.values())]
    header = ("test", "board", *(f"{FIGURES[n].name} Δ" for n in figures))
    table = [header] + [
        (where.rsplit(" on ", 1)[0], board, *(cells.get(n, "") for n in figures))
        for (board, where), cells in rows.items()
    ]
    legend = "! regression, * improvement (beyond the threshold and both runs' noise), ~ not judged"
    return [*aligned(table, left=2), legend]
