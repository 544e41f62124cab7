"""Many boards in one session: campaign and pool modes, with and without pytest-xdist, one
results JSON with every board, a worker that dies holding a board, bad command lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

from pytest_think.boards import BoardConfig
from pytest_think.cli import main
from pytest_think.emulator.pytest_plugin import TwinEndpoints
from pytest_think.errors import ThinkError
from pytest_think.pytest.campaign import board_in_nodeid, without_board
from pytest_think.pytest.workers import BoardHolders
from pytest_think.report.comparison import build

BOARDS = ("alpha", "beta", "gamma")

# Each test appends (worker, board it ran on, the twin's hostname) to a log, so a test can
# check where every test ran.
SUITE = f"""
import json, os

def _log(board):
    with open("ran.jsonl", "a") as f:
        f.write(json.dumps({{
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
            "board": board.config.name,
            "host": board.identity["uname"].split()[1],
        }}) + "\\n")

def test_agrees(board, dut, reference):
    _log(board)
    reference.check(dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}))

def test_accuracy(board, dut, reference):
    _log(board)
    run = dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
    assert run.accuracy() >= reference.check(run).accuracy["reference"] - 0.01

def test_without_a_board():
    assert 1 + 1 == 2
"""


def ran(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    path = pytester.path / "ran.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def results(pytester: pytest.Pytester, name: str = "out.json") -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((pytester.path / name).read_text())
    return doc


@pytest.fixture
def three_boards(write_board: Callable[..., Path]) -> list[str]:
    for name in BOARDS:
        write_board(name, twin={"hostname": f"host-{name}"})
    return [f"--board={name}" for name in BOARDS]


@pytest.fixture
def two_boards(write_board: Callable[..., Path]) -> list[str]:
    """Boards alpha and beta, under xdist (skipped without it)."""
    pytest.importorskip("xdist")
    for name in ("alpha", "beta"):
        write_board(name, twin={"hostname": f"host-{name}"})
    return ["--board=alpha", "--board=beta"]


def outcomes(doc: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return sorted((t["nodeid"], t.get("board"), t["outcome"]) for t in doc["tests"])


def test_campaign_runs_every_test_on_every_board_one_after_another(
    pytester: pytest.Pytester, three_boards: list[str]
) -> None:
    pytester.makepyfile(test_campaign=SUITE)
    result = pytester.runpytest(*three_boards, "--think-json=out.json", "-v")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(
        [
            "think: 3 boards, campaign mode (every board runs every test)",
            "think: board alpha (family generic, digital twin) from *alpha.yaml",
            "think: board beta (family generic, digital twin) from *beta.yaml",
            "think: board gamma (family generic, digital twin) from *gamma.yaml",
            "*test_campaign.py::test_agrees[[]alpha[]] PASSED*",
        ]
    )
    # Node ids carry the board; the boards take turns (pytest groups a session parameter).
    log = ran(pytester)
    assert [e["board"] for e in log] == ["alpha", "alpha", "beta", "beta", "gamma", "gamma"]
    assert all(e["host"] == f"host-{e['board']}" for e in log)
    doc = results(pytester)
    assert [b["name"] for b in doc["boards"]] == list(BOARDS)
    assert all(b["identity"]["uname"].split()[1] == f"host-{b['name']}" for b in doc["boards"])
    assert all(b["agent"]["protocol"] == 1 for b in doc["boards"])
    assert doc["board"]["name"] == "alpha"
    assert outcomes(doc) == sorted(
        [
            *(
                (f"test_campaign.py::{test}[{board}]", board, "passed")
                for test in ("test_agrees", "test_accuracy")
                for board in BOARDS
            ),
            ("test_campaign.py::test_without_a_board", None, "passed"),
        ]
    )


def test_campaign_under_xdist_gives_each_worker_one_board_and_the_same_results(
    pytester: pytest.Pytester, three_boards: list[str]
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_campaign=SUITE)
    pytester.runpytest(*three_boards, "--think-json=alone.json").assert_outcomes(passed=7)
    (pytester.path / "ran.jsonl").unlink()
    result = pytester.runpytest("-n", "3", *three_boards, "--think-json=out.json")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(["*think: board results*"])
    log = ran(pytester)
    workers = {e["worker"] for e in log}
    assert len(workers) == 3
    # Each worker ran the tests of one board, each board's tests ran in one worker.
    for worker in workers:
        assert len({e["board"] for e in log if e["worker"] == worker}) == 1
    for board in BOARDS:
        assert len({e["worker"] for e in log if e["board"] == board}) == 1
    assert all(e["host"] == f"host-{e['board']}" for e in log)
    alone, spread = results(pytester, "alone.json"), results(pytester)
    assert outcomes(spread) == outcomes(alone)
    assert sorted(b["name"] for b in spread["boards"]) == sorted(b["name"] for b in alone["boards"])
    assert all(b["identity"] and b["agent"] for b in spread["boards"])
    assert spread["board"]["name"] == "alpha" and spread["board"]["identity"]
    runs = {t["nodeid"]: t["vectors"] for t in spread["tests"] if "vectors" in t}
    assert runs == {t["nodeid"]: t["vectors"] for t in alone["tests"] if "vectors" in t}
    schema = json.loads((REPO / "docs" / "results.schema.json").read_text())
    jsonschema.validate(spread, schema)

    # think compare reads the one file: a column per board, the board out of the test's name.
    comparison = build([pytester.path / "out.json"])
    assert [b["name"] for b in comparison.boards] == list(BOARDS)
    assert set(comparison.rows) == {"test_agrees", "test_accuracy"}
    for cells in comparison.rows.values():
        assert set(cells) == set(BOARDS)
        assert all(c.outcome == "passed" and c.top1_agreement == 1.0 for c in cells.values())
    out = pytester.path / "compare"
    cli = CliRunner().invoke(main, ["compare", str(pytester.path / "out.json"), "-o", str(out)])
    assert cli.exit_code == 0, cli.output
    page = (out / "compare.md").read_text()
    assert all(f"| {name} |" in page for name in BOARDS)


def test_n_auto_starts_one_worker_per_board(
    pytester: pytest.Pytester, three_boards: list[str]
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_campaign=SUITE)
    result = pytester.runpytest("-n", "auto", *three_boards)
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(["*3 workers*"])


def test_a_worker_that_dies_gives_its_board_to_its_replacement(
    pytester: pytest.Pytester, two_boards: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_crash=SUITE
        + f"""
def test_dies_on_beta(board):
    _log(board)
    if board.config.name == "beta":
        os._exit(3)

def test_after(board, dut, reference):
    _log(board)
    reference.check(dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}))
"""
    )
    # The controller gives the dead worker's board back through the board's provider.
    released: list[str] = []
    monkeypatch.setattr(
        TwinEndpoints, "release_orphan", lambda self, config: released.append(config.name)
    )
    result = pytester.runpytest("-n", "2", *two_boards, "--think-json=out.json")
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*think: worker gw* died holding board beta; board released for its replacement*",
            "*replacing crashed worker*",
        ]
    )
    log = ran(pytester)
    beta = [e["worker"] for e in log if e["board"] == "beta"]
    alpha = {e["worker"] for e in log if e["board"] == "alpha"}
    # beta's tests ran in its first worker up to the crash, then in the replacement only.
    died = beta[0]
    assert beta.index(died) == 0 and len(set(beta)) == 2
    assert beta[: beta.count(died)] == [died] * beta.count(died)
    assert len(alpha) == 1 and not alpha & set(beta)
    doc = results(pytester)
    crashed = [t for t in doc["tests"] if t["outcome"] == "failed"]
    assert [(t["nodeid"], t["board"]) for t in crashed] == [
        ("test_crash.py::test_dies_on_beta[beta]", "beta")
    ]
    assert "crashed" in crashed[0]["message"]
    # Nothing lost: every other test of both boards is in the file, once.
    nodeids = [t["nodeid"] for t in doc["tests"]]
    assert len(nodeids) == len(set(nodeids)) == 9
    assert {b["name"] for b in doc["boards"]} == {"alpha", "beta"}
    assert released == ["beta"]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_a_board_file_that_stands_for_several_boards(
    pytester: pytest.Pytester,
    write_board: Callable[..., Path],
    workers: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if workers:
        pytest.importorskip("xdist")
    write_board("alpha")

    # A provider whose board file stands for two boards, as a farm's tags filter may (the
    # controller expands: the xdist workers are handed the boards).
    def expand(self: TwinEndpoints, config: BoardConfig) -> list[BoardConfig]:
        return [config.model_copy(update={"name": f"alpha.bench{i}"}) for i in (1, 2)]

    monkeypatch.setattr(TwinEndpoints, "expand", expand)
    pytester.makepyfile(
        """
        def test_on(board, board_spec):
            assert board.config.name == board_spec
        """
    )
    result = pytester.runpytest(*workers, "--board=alpha", "--think-json=out.json", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "think: 2 boards, campaign mode*",
            "think: board alpha.bench1 *",
            "*test_on[[]alpha.bench2[]]*",
        ]
    )
    doc = results(pytester)
    assert [b["name"] for b in doc["boards"]] == ["alpha.bench1", "alpha.bench2"]
    assert sorted(t["board"] for t in doc["tests"]) == ["alpha.bench1", "alpha.bench2"]


def test_pool_spreads_tests_over_the_boards(
    pytester: pytest.Pytester, three_boards: list[str]
) -> None:
    pytester.makepyfile(
        test_spread=SUITE
        + """
import pytest

@pytest.mark.parametrize("i", range(4))
def test_more(board, board_mode, i):
    _log(board)
    assert board_mode == "pool"
"""
    )
    result = pytester.runpytest(*three_boards, "--board-mode=pool", "--think-json=out.json")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(
        ["think: 3 boards, pool mode (tests spread over equivalent boards)"]
    )
    log = ran(pytester)
    # In one process the boards take turns; node ids do not carry a board.
    assert [e["board"] for e in log] == [BOARDS[i % 3] for i in range(6)]
    doc = results(pytester)
    assert all("[alpha" not in t["nodeid"] for t in doc["tests"])
    assert sorted(b["name"] for b in doc["boards"]) == sorted(BOARDS)


def test_pool_under_xdist_gives_each_worker_one_board(
    pytester: pytest.Pytester, three_boards: list[str]
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(
        test_spread=SUITE
        + """
import pytest

@pytest.mark.parametrize("i", range(9))
def test_more(board, i):
    _log(board)
"""
    )
    result = pytester.runpytest("-n", "3", *three_boards, "--board-mode=pool")
    result.assert_outcomes(passed=12)
    log = ran(pytester)
    assert len(log) == 11
    for worker in {e["worker"] for e in log}:
        assert len({e["board"] for e in log if e["worker"] == worker}) == 1
    for board in {e["board"] for e in log}:
        assert len({e["worker"] for e in log if e["board"] == board}) == 1


def test_pool_of_different_families_is_one_line(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    write_board("alpha")
    pytester.makepyfile("def test_x(board): pass")
    zcu102 = REPO / "boards" / "fpga-zcu102.yaml"
    result = pytester.runpytest("--board=alpha", f"--board={zcu102}", "--board-mode=pool")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --board-mode=pool spreads tests over equivalent boards, but these are of "
            "families generic, xilinx-fpga; compare different boards in campaign mode"
        ]
    )


@pytest.mark.parametrize(
    ("specs", "line"),
    [
        (
            ["--board=alpha", "--board=alpha"],
            "ERROR: board 'alpha' is given twice on the command line (--board alpha and "
            "--board alpha); give each board once",
        ),
        (
            ["--board=alpha", "--board=elsewhere/alpha.yaml"],
            "ERROR: board 'alpha' is given twice on the command line (--board alpha and "
            "--board elsewhere/alpha.yaml); give each board once",
        ),
    ],
    ids=["same spec", "same name in two files"],
)
def test_two_boards_with_the_same_name_are_one_line(
    pytester: pytest.Pytester, write_board: Callable[..., Path], specs: list[str], line: str
) -> None:
    other = write_board("alpha")
    (pytester.path / "elsewhere").mkdir()
    (pytester.path / "elsewhere" / "alpha.yaml").write_text(other.read_text())
    pytester.makepyfile("def test_x(board): pass")
    result = pytester.runpytest(*specs)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([line])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_n_that_is_not_the_number_of_boards_is_one_line(
    pytester: pytest.Pytester, three_boards: list[str]
) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile("def test_x(board): pass")
    result = pytester.runpytest("-n", "2", *three_boards)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: -n 2 with 3 board(s) (alpha, beta, gamma): every pytest-xdist worker "
            "holds one board for its life; use -n 3 (or -n auto), or one --board per worker"
        ]
    )


def test_a_worker_never_opens_a_board_another_holds(
    pytester: pytest.Pytester, two_boards: list[str]
) -> None:
    # Every test asks for beta: only beta's worker may reach it.
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def beta(request):
            from pytest_think.pytest.session import think_session
            return think_session(request.config).board_for("beta", True)

        def test_beta(board_spec, beta):
            pass
        """
    )
    result = pytester.runpytest("-n", "2", *two_boards)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*board 'beta' is held by another pytest-xdist worker; this one holds alpha*"]
    )


def test_a_test_with_its_own_boards_runs_where_they_are_held(
    pytester: pytest.Pytester, two_boards: list[str]
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("board_spec", ["beta"], scope="session")
        @pytest.mark.parametrize("i", range(3))
        def test_own(board, i):
            assert board.config.name == "beta"

        def test_campaign(board):
            pass
        """
    )
    result = pytester.runpytest("-n", "2", *two_boards, "-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*test_campaign[[]alpha[]]*", "*test_own[[]*beta*"])


def test_holders_hand_each_board_to_one_worker_at_a_time() -> None:
    holders = BoardHolders(["a", "b"])
    assert holders.take("gw0") == "a" and holders.take("gw1") == "b"
    with pytest.raises(ThinkError, match="every board is held"):
        holders.take("gw2")
    assert holders.give_back("gw1", died=True) == "b" and holders.board_of("gw1") is None
    assert holders.take("gw2") == "b" and holders.had["gw1"] == "b"
    assert holders.give_back("gw9") is None


def test_a_replacement_takes_the_dead_workers_board_not_a_finished_one() -> None:
    # gw0 finished with "a" before gw1 died holding "b": the replacement must take "b" (the
    # first board in order, "a", is done; taking it would leave b's tests unrun).
    holders = BoardHolders(["a", "b"])
    holders.take("gw0"), holders.take("gw1")
    assert holders.give_back("gw0") == "a"
    assert holders.give_back("gw1", died=True) == "b"
    assert holders.take("gw2") == "b"
    with pytest.raises(ThinkError, match="held or done"):
        holders.take("gw3")


def test_board_ids_are_found_in_node_ids() -> None:
    names = ["a", "a-b", "c"]
    collection = {
        "t.py::test[a]",
        "t.py::test[a-b]",
        "t.py::test[c]",
        "t.py::test2[a-b-1]",
        "t.py::test2[a-1]",
        "t.py::test2[c-1]",
        "t.py::plain",
        "t.py::own[a]",
    }
    assert board_in_nodeid("t.py::test[a-b]", names, collection) == "a-b"
    assert board_in_nodeid("t.py::test[a]", names, collection) == "a"
    assert board_in_nodeid("t.py::test2[a-1]", names, collection) == "a"
    assert board_in_nodeid("t.py::test2[a-b-1]", names, collection) == "a-b"
    assert board_in_nodeid("t.py::plain", names, collection) is None
    assert board_in_nodeid("t.py::own[a]", names, collection) == "a"  # its own board_spec
    assert board_in_nodeid("t.py::own[1-c]", names, collection) == "c"
    assert board_in_nodeid("t.py::own[b]", names, collection) is None
    assert without_board("t.py::test2[a-b-1]", "a-b") == "t.py::test2[1]"
    assert without_board("t.py::test[c]", "c") == "t.py::test"
    assert without_board("t.py::plain", "c") == "t.py::plain"
