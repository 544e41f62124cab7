"""pytest-think's pytest hooks (the ``pytest11`` entry point): options, the session object,
outcomes into the records, reports at the end.

What the hooks do lives beside them: the session's boards in `session_boards`, the recording
of results in `recording`, the fixtures in `fixtures` and `energy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_think.errors import ThinkError
from pytest_think.pytest import benchmarks, hookspecs, time_limits
from pytest_think.pytest.allure_boards import BoardNames, identify_before_setup
from pytest_think.pytest.campaign import BOARD_MODES, CAMPAIGN, campaign_parametrize
from pytest_think.pytest.interrupts import interrupt_on_sigterm, restore_sigterm
from pytest_think.pytest.recording import RECORD_KEY
from pytest_think.pytest.session import (
    DEFAULT_BOARD,
    SESSION_KEY,
    WORKER_INPUT,
    ensure_session,
    handed_to_worker,
    think_session,
)
from pytest_think.report.allure_environment import write_environment
from pytest_think.report.summary import summary_lines
from pytest_think.revision import git_revision

pytest_plugins = (
    "pytest_think.pytest.console_trouble",  # before the fixtures, which import it
    "pytest_think.pytest.fixtures",
    "pytest_think.pytest.energy",
    "pytest_think.pytest.pool",
    "pytest_think.pytest.baseline",
    "pytest_think.farm.plugin",
    "pytest_think.pytest.workers",
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("think", "pytest-think (neural networks on boards)")
    group.addoption(
        "--board",
        action="append",
        default=None,
        metavar="NAME|PATH",
        help="board to test: a name looked up in --board-dir then in the boards shipped with "
        "pytest-think, or a path to a board file; may be given several times "
        f"(env THINK_BOARD, comma-separated; default '{DEFAULT_BOARD}')",
    )
    group.addoption(
        "--board-mode",
        choices=BOARD_MODES,
        default=CAMPAIGN,
        help="with several boards: 'campaign' (default) runs every test on every board, the "
        "board in the node id; 'pool' spreads the tests over equivalent boards",
    )
    group.addoption(
        "--board-dir",
        default=None,
        metavar="DIR",
        help="directory of board files (default: boards/ under the rootdir)",
    )
    group.addoption(
        "--emulate",
        action="store_true",
        default=False,
        help="run the board's digital twin instead of connecting to hardware",
    )
    group.addoption(
        "--force-flash",
        action="store_true",
        default=False,
        help="flash designs even when the board already runs the same one (same sha256)",
    )
    group.addoption(
        "--energy-window",
        type=float,
        default=None,
        metavar="S",
        help="seconds of inference per energy trial (default 10, or the test's energy marker)",
    )
    group.addoption(
        "--energy-trials",
        type=int,
        default=None,
        metavar="N",
        help="energy trials per measurement, median reported (default 5)",
    )
    group.addoption(
        "--require-power",
        action="store_true",
        default=False,
        help="fail, rather than skip, energy tests on boards without a power meter",
    )
    group.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run tests marked slow (large vector sets: minutes, gigabytes on disk)",
    )
    group.addoption(
        "--think-benchmark",
        default=",".join(benchmarks.KINDS),
        metavar="KINDS",
        help="the pytest-benchmark entries runs make, comma-separated: device (each vector's "
        "device time), host (its round trip), loop (an energy loop's device time per "
        "inference); default all three",
    )
    group.addoption(
        "--think-json",
        default=None,
        metavar="PATH",
        help="write the session's results (boards, runs, comparisons, timings) as JSON",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "energy(window_s=10, trials=5, idle_s=None, min_samples=100, max_alignment_error=0.01):"
        " defaults for the `energy` fixture's measurements in this test",
    )
    config.addinivalue_line(
        "markers", "slow: takes minutes or gigabytes; runs only with --run-slow"
    )
    config.addinivalue_line(
        "markers", "conformance: a case of an external conformance suite (ONNX backend tests)"
    )
    try:
        ensure_session(config)
        benchmarks.chosen_kinds(config)
    except ThinkError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(BoardNames(), "think-allure-names")
    interrupt_on_sigterm(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    restore_sigterm(config)
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        del config.stash[SESSION_KEY]
        session.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)  # the board's id leads a test's ids
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    campaign_parametrize(metafunc, think_session(metafunc.config).campaign_names)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return think_session(config).header_lines()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """With -q pytest drops its header; the boards the session tests are still said."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or reporter.showheader or reporter.no_header:
        return
    for line in think_session(session.config).header_lines():
        reporter.write_line(line)


@pytest.hookimpl(tryfirst=True)  # before skip marks: a skipped test has its record too
def pytest_runtest_setup(item: pytest.Item) -> None:
    think_session(item.config).results.begin(item)
    identify_before_setup(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    session = think_session(item.config)
    record = item.stash.get(RECORD_KEY, None)
    if record is not None:
        record.time_limit_s = time_limits.limit_of(item)
    session.results.report(item, call, report)
    if report.when == "teardown" and handed_to_worker(item.config) is not None:
        # pytest-xdist: the test's record travels with its last report to the controller.
        report.think = session.worker_record(item)
    return report


# pytest-timeout's timer (when it is installed): limits that long steps extend, and one line
# naming the step that ran when one runs out (time_limits).
@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool:
    return time_limits.start(item, settings)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool:
    return time_limits.cancel(item)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = think_session(config)
    lines = summary_lines(session.results.tests())
    if lines:
        terminalreporter.write_sep("-", "think: board results")
        for line in lines:
            terminalreporter.write_line(line)
    if session.json_path is not None:
        terminalreporter.write_line(f"think: results written to {session.json_path}")
    if benchmarks.xdist_note_due(config):
        terminalreporter.write_line(benchmarks.XDIST_NOTE)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    think = think_session(config)
    board, boards = think.board_documents()
    workeroutput = getattr(config, "workeroutput", None)
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir and workeroutput is None:  # with every worker's boards
        write_environment(Path(alluredir), think.results.document(board, boards))
    if workeroutput is not None:  # an xdist worker: the controller writes the file
        workeroutput[WORKER_INPUT] = think.worker_output()
        return
    if think.json_path is not None:
        think.results.extra["revision"] = git_revision(config.rootpath)
    think.results.write(board, boards)
