"""Allure across boards: the same test on N boards is N results (the board a parameter and in
the history id, never a retry), labels by board and family, an environment with every board
of every session written into one --alluredir, and the report over such a directory."""

from __future__ import annotations

import functools
import http.server
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import support
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO, SESSION_TEST

from pytest_think.report.allure_environment import (
    merge_environment,
    parse_properties,
    write_environment,
)
from pytest_think.report.allure_results import results_by_board

# A test on a board, and one skipped before its fixtures set up (still that board's test).
ON_A_BOARD = f"""
import pytest

def test_digits(dut, reference):
    reference.check(dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}))

@pytest.mark.skip(reason="not today")
def test_skipped(dut):
    pass
"""
SUITE = (
    ON_A_BOARD
    + f"""
@pytest.mark.parametrize("variant", ["float"])
def test_variant(board, variant):
    assert board.identity["uname"]

def test_without_a_board():
    pass

def test_over_the_pool(dut_pool, reference):
    reference.check(dut_pool.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}))
"""
)


def _results(alluredir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in alluredir.glob("*-result.json")]


def _of(results: list[dict[str, Any]], test: str) -> list[dict[str, Any]]:
    return [r for r in results if r["fullName"].endswith(f"#{test}")]


def _labels(result: dict[str, Any], name: str) -> list[str]:
    return [label["value"] for label in result["labels"] if label["name"] == name]


def _params(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in result.get("parameters", [])}


def _environment(alluredir: Path) -> dict[str, str]:
    return dict(parse_properties((alluredir / "environment.properties").read_text()))


def _board_lines(environment: dict[str, str], board: str) -> dict[str, str]:
    return {k: v for k, v in environment.items() if k.startswith(board + ".")}


@pytest.fixture
def twin_boards(write_board: Callable[..., Path]) -> None:
    for name in ("alpha", "beta"):
        write_board(name, twin={"hostname": f"host-{name}"})


def test_three_boards_are_three_results_and_sessions_merge_their_environment(
    pytester: pytest.Pytester, write_board: Callable[..., Path], twin_boards: None
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_suite=SUITE)
    boards = ("sim", "alpha", "beta")
    result = pytester.runpytest("-n", "3", *(f"--board={b}" for b in boards), "--alluredir=allure")
    result.assert_outcomes(passed=8, skipped=3)
    alluredir = pytester.path / "allure"
    results = _results(alluredir)
    for test in ("test_digits", "test_variant", "test_skipped"):
        runs = _of(results, test)
        # One result per board, each with its own history id and the board as a parameter.
        assert len(runs) == 3 and len({r["historyId"] for r in runs}) == 3
        assert sorted(_params(r)["board"]["value"] for r in runs) == sorted(map(repr, boards))
        for run in runs:
            board = _params(run)["board"]["value"].strip("'")
            # The campaign's board_spec says the same: hidden, outside the history id.
            spec = _params(run)["board_spec"]
            assert spec["value"] == repr(board) and spec["excluded"] and spec["mode"] == "hidden"
            assert _labels(run, "board") == [board] and _labels(run, "parentSuite") == [board]
            assert _labels(run, "family") == ["generic"]
            assert run["name"].startswith(f"{test}[{board}")
    assert _params(_of(results, "test_variant")[0])["variant"]["value"] == "'float'"
    [host_only] = _of(results, "test_without_a_board")
    assert "board" not in _params(host_only) and not _labels(host_only, "board")
    # A pool of one board's devices (a worker holds one board): that board's test.
    [pooled] = _of(results, "test_over_the_pool")
    assert _labels(pooled, "board") == [_params(pooled)["board"]["value"].strip("'")]

    # The controller wrote the environment, with every worker's board.
    first = _environment(alluredir)
    assert first["boards"] == "sim, alpha, beta"
    for board in boards:
        lines = _board_lines(first, board)
        assert lines[f"{board}.family"] == "generic"
        assert lines[f"{board}.target"] == "digital twin"
        assert lines[f"{board}.agent.version"]
        assert lines[f"{board}.os"].startswith("THINK sim board")
    assert first["alpha.kernel"].split()[1] == "host-alpha"

    # A second session, of alpha alone, into the same directory: alpha's lines are the newest
    # session's, the other boards' stay; alpha's results keep their history id.
    write_board("alpha", twin={"hostname": "host-alpha-again"})
    pytester.runpytest("--board=alpha", "--alluredir=allure").assert_outcomes(passed=4, skipped=1)
    merged = _environment(alluredir)
    assert merged["boards"] == "sim, alpha, beta"
    assert merged["alpha.kernel"].split()[1] == "host-alpha-again"
    for board in ("sim", "beta"):
        assert _board_lines(merged, board) == _board_lines(first, board)
    again = _results(alluredir)
    for test in ("test_digits", "test_skipped"):
        alpha = [r for r in _of(again, test) if _labels(r, "board") == ["alpha"]]
        assert len(alpha) == 2 and len({r["historyId"] for r in alpha}) == 1
        assert {r["name"] for r in alpha} == {f"{test}[alpha]"}  # the board named alone too
        assert len({r["historyId"] for r in _of(again, test)}) == 3
    latest = max(_of(again, "test_over_the_pool"), key=lambda r: r["start"])
    assert latest["name"] == "test_over_the_pool[alpha]"
    assert _params(latest)["board"]["value"] == "'alpha'"
    assert json.loads((alluredir / "categories.json").read_text())


def test_in_pool_mode_the_board_that_ran_a_test_is_a_label(
    pytester: pytest.Pytester, twin_boards: None
) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(
        "--board-mode=pool", "--board=alpha", "--board=beta", "--alluredir=allure"
    )
    result.assert_outcomes(passed=4, skipped=1)
    results = _results(pytester.path / "allure")
    [digits] = _of(results, "test_digits")
    # One test on interchangeable boards: not a result per board, the board a label.
    assert "board" not in _params(digits) and digits["name"] == "test_digits"
    [ran_on] = _labels(digits, "board")
    assert ran_on in ("alpha", "beta") and _labels(digits, "parentSuite") == [ran_on]
    [pooled] = _of(results, "test_over_the_pool")
    assert _labels(pooled, "board") == ["alpha", "beta"]
    assert _labels(pooled, "family") == ["generic"]
    environment = _environment(pytester.path / "allure")
    assert environment["boards"] == "alpha, beta"


def test_environment_merge_keeps_other_boards_and_reads_the_one_board_form() -> None:
    # The one-board form of earlier versions is that board's lines.
    old = "board=sim\nfamily=generic\ntarget=digital twin\nboard.os=Debian\nci.job=17\n"
    merged = dict(parse_properties(merge_environment(old, {"zcu": {"family": "xilinx-fpga"}})))
    assert merged == {
        "boards": "sim, zcu",
        "sim.family": "generic",
        "sim.target": "digital twin",
        "sim.os": "Debian",
        "zcu.family": "xilinx-fpga",
        "ci.job": "17",  # another tool's line stays
    }
    # Board 'a' again: its lines are replaced (a field it no longer has goes), 'a.b' stays.
    text = merge_environment("", {"a": {"family": "f", "meter": "m"}, "a.b": {"family": "g"}})
    again = dict(parse_properties(merge_environment(text, {"a": {"family": "h"}})))
    assert again == {"boards": "a, a.b", "a.family": "h", "a.b.family": "g"}
    # Keys and values that need escaping come back as they were.
    odd = {"lab:7 #2": {"place": "rack=3 \\ slot 4", "os": " leading"}}
    assert dict(parse_properties(merge_environment("", odd))) == {
        "boards": "lab:7 #2",
        "lab:7 #2.place": "rack=3 \\ slot 4",
        "lab:7 #2.os": " leading",
    }


def _think(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_think.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=support.TEST_LIMIT_S,
    )  # fmt: skip


def test_report_does_not_write_into_a_directory_that_is_not_a_report(tmp_path: Path) -> None:
    results = tmp_path / "allure"
    results.mkdir()
    (results / "x-result.json").write_text("{}")
    out = tmp_path / "notes"
    out.mkdir()
    (out / "todo.txt").write_text("keep me")
    made = _think("report", str(results), "-o", str(out))
    assert made.returncode == 2
    assert made.stderr == (
        f"think report: {out} exists and is not an Allure report (its files would be mixed "
        "with the report's); give -o a new directory or an earlier report's\n"
    )
    assert [p.name for p in out.iterdir()] == ["todo.txt"]


def _write_boards(alluredir: Path, prefix: str) -> None:
    for n in range(40):
        board = {"name": f"{prefix}{n}", "family": "generic", "twin": True}
        write_environment(alluredir, {"board": board, "boards": [board], "tests": []})


def test_sessions_ending_at_once_lose_no_board(tmp_path: Path) -> None:
    # Two processes, each writing 40 boards one at a time: every board written once, so a
    # write that read the file before the other's last write would lose a board for good.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        done = [pool.submit(_write_boards, tmp_path, p) for p in ("x", "y")]
        for future in done:
            future.result()
    boards = _environment(tmp_path)["boards"].split(", ")
    assert sorted(boards) == sorted(f"{p}{n}" for p in "xy" for n in range(40))


NODE = shutil.which("node")
PLAYWRIGHT = REPO / "node_modules" / "playwright-core"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    not (NODE and CHROMIUM and PLAYWRIGHT.is_dir() and (REPO / "node_modules/.bin/allure").exists())
    and not os.environ.get("CI"),
    reason="node, Chromium, playwright-core or the Allure CLI missing (make test installs them)",
)
@SESSION_TEST  # five programs in a row, each within its own limit
def test_report_of_sessions_on_three_boards_shows_three_results_in_chromium(
    pytester: pytest.Pytester, twin_boards: None, tmp_path: Path
) -> None:
    # The suite run once per board, each session into the same directory.
    pytester.makepyfile(test_suite=ON_A_BOARD)
    report = tmp_path / "report"
    for board in ("sim", "alpha", "beta"):
        result = pytester.runpytest_subprocess(
            f"--board={board}", "--alluredir=allure", timeout=support.TEST_LIMIT_S
        )
        result.assert_outcomes(passed=1, skipped=1)
        if board != "alpha":  # a report after the first session, made again after the last
            made = _think("report", str(pytester.path / "allure"), "-o", str(report))
            assert made.returncode == 0, made.stderr
    assert "6 results of 3 boards (alpha, beta, sim)" in made.stdout
    # The Allure app loads its data with fetch: serve it over loopback HTTP.
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(report))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        shown = subprocess.run(
            [str(NODE), str(REPO / "tests/browser/allure.mjs"), url, str(tmp_path / "a.png")],
            cwd=REPO, capture_output=True, text=True, timeout=120,
            env={**os.environ, **({"CHROMIUM": CHROMIUM} if CHROMIUM else {})},
        )  # fmt: skip
    finally:
        server.shutdown()
        thread.join(5)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert (tmp_path / "a.png").stat().st_size > 10_000  # the overview was drawn
    lines = [line.strip() for line in shown.stdout.splitlines()]
    # Three results of each test, one per board, none taken for a retry of another (the
    # skipped one too, which never had its board set up).
    assert lines[lines.index("Total") + 1] == "6"
    assert "Retried tests" not in lines
    for test in ("test_digits", "test_skipped"):
        names = sorted(x for x in lines if x.startswith(test))
        assert names == [f"{test}[alpha]", f"{test}[beta]", f"{test}[sim]"]
    # The environment of both sessions: every board, a line per field.
    assert lines[lines.index("boards") + 1] == "sim, alpha, beta"
    for board in ("sim", "alpha", "beta"):
        assert lines[lines.index(f"{board}.family") + 1] == "generic"
        assert lines[lines.index(f"{board}.target") + 1] == "digital twin"
    assert lines[lines.index("beta.kernel") + 1].split()[1] == "host-beta"


def test_report_names_results_that_allure_would_take_for_retries(tmp_path: Path) -> None:
    def result(name: str, board: str, **more: Any) -> None:
        labels = [{"name": "board", "value": board}]
        data = {"name": "test_digits", "fullName": "t#test_digits", "labels": labels, **more}
        (tmp_path / f"{name}-result.json").write_text(json.dumps(data))

    # One-board sessions of an earlier pytest-think: the board a label only.
    result("a", "sim")
    result("b", "zcu")
    # Results of this version: the board a parameter too.
    for name, board in (("c", "sim"), ("d", "zcu")):
        param = [{"name": "board", "value": repr(board)}]
        result(name, board, fullName="t#test_other", parameters=param)
    (tmp_path / "e-result.json").write_text("{not json")
    summary = results_by_board(tmp_path)
    assert summary.boards == {"sim": 2, "zcu": 2} and summary.merged == ["test_digits"]
    assert summary.lines() == [
        "4 results of 2 boards (sim, zcu)",
        "1 test ran on several boards with no board parameter (pool mode, or results of an "
        "earlier pytest-think): Allure shows each once, the other boards' runs as its "
        "retries: test_digits",
        "left out 1 result file (not JSON): e-result.json",
    ]
