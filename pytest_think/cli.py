"""The `think` command: list and check board files, run a board's twin by hand."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import NoReturn

import click

from pytest_think import __version__, emulation
from pytest_think.board_check import check_spec
from pytest_think.boards import board_dirs, find_board, known_boards, load_board
from pytest_think.emulation import start_twin
from pytest_think.errors import ThinkError
from pytest_think.private_dirs import PrivateDir

BOARD_DIR = click.option(
    "--board-dir",
    default=None,
    metavar="DIR",
    help="directory of board files (default: ./boards, then the boards shipped with pytest-think)",
)


@click.group(name="think")
@click.version_option(__version__, prog_name="think")
def main() -> None:
    """THINK: test neural networks on FPGA, MPPA, Jetson and Edge TPU boards."""


@main.command("boards")
@BOARD_DIR
def boards_command(board_dir: str | None) -> None:
    """List the boards pytest --board can name."""
    dirs = board_dirs(Path.cwd(), board_dir)
    rows = [("board", "family", "twin", "file")]
    problems = []
    for name, path in sorted(known_boards(dirs).items()):
        try:
            board = load_board(path)
        except ThinkError as exc:
            problems.append(str(exc))
            continue
        twin = "only" if board.twin and board.twin.only else ("yes" if board.twin else "no")
        rows.append((name, board.family, twin, str(path)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    for problem in problems:
        click.echo(f"invalid: {problem}", err=True)
    if problems:
        sys.exit(1)


@main.command("check")
@click.argument("boards", nargs=-1, required=True)
@BOARD_DIR
@click.option(
    "--emulate",
    is_flag=True,
    help="check the boards as pytest --emulate takes them (reached through their twins)",
)
def check_command(boards: tuple[str, ...], board_dir: str | None, emulate: bool) -> None:
    """Check BOARDS (names, as pytest --board takes them, or board files) as a pytest session
    would, short of connecting: one line per board; exit status 0 only when all would do.

    \b
    Beyond the file's fields, its family's options, the meter driver's and the twin section:
    what connecting to the hardware needs — the key file, the host key pinned or in
    known_hosts, the password variables, the serial devices (not for --emulate).
    """
    dirs = board_dirs(Path.cwd(), board_dir)
    failed = False
    for spec in boards:
        try:
            board = check_spec(spec, dirs, emulate)
        except ThinkError as exc:
            click.echo(f"invalid: {exc}", err=True)
            failed = True
        else:
            click.echo(f"ok: {board.source} (board '{board.name}', family {board.family})")
    if failed:
        sys.exit(1)


@main.command("twin")
@click.argument("board")
@BOARD_DIR
@click.option("--state", type=click.Path(path_type=Path), default=None, help="twin state directory")
def twin_command(board: str, board_dir: str | None, state: Path | None) -> None:
    """Run BOARD's digital twin until Ctrl-C, and show how to reach it with ssh."""
    _stop_on_signals()
    with ExitStack() as stack:
        try:
            config = find_board(board, board_dirs(Path.cwd(), board_dir))
            if config.twin is None:
                raise ThinkError(
                    f"board file {config.source}: board '{config.name}' has no 'twin' section"
                )
            if state is None:  # its keys: removed when it stops, however it stops
                state = stack.enter_context(PrivateDir.make(f"think-twin-{config.name}-")).path
            twin = stack.enter_context(start_twin(config, state))
        except ThinkError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        e = twin.endpoint
        if "host" not in e:  # a board on a serial line: its twin is a pty
            click.echo(f"twin of '{config.name}' on serial port {e['port']}")
        else:
            click.echo(
                f"twin of '{config.name}' listening on {e['host']}:{e['port']} "
                f"(host key {e['host_key']})"
            )
            for line in emulation.twin_commands(e):
                click.echo(f"  {line}")
            click.echo(f"  board filesystem: {e['root']}")
        click.echo("Ctrl-C stops it.")
        try:
            while twin.proc.poll() is None:
                time.sleep(0.5)
            click.echo(f"twin exited (log: {twin.log})", err=True)
        except KeyboardInterrupt:
            pass


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM stop a command that serves until stopped, from its first line on.

    Set before anything starts, so a signal that comes as soon as the command has said where
    it listens is not lost; and SIGINT explicitly, because a process a non-interactive shell
    starts in the background inherits SIGINT ignored (and Python then keeps it so)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)


@main.command("farm-twins")
@click.argument("boards", nargs=-1, required=True)
@BOARD_DIR
@click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(path_type=Path),
    help="where the labgrid-backed board files are written (the farm's state too)",
)
@click.option(
    "--coordinator",
    default=None,
    metavar="HOST:PORT",
    help="export to this labgrid coordinator (default: start one on 127.0.0.1)",
)
def farm_twins_command(
    boards: tuple[str, ...], board_dir: str | None, directory: Path, coordinator: str | None
) -> None:
    """Export BOARDS' twins through labgrid until Ctrl-C: a place and a board file each."""
    _stop_on_signals()
    try:
        dirs = board_dirs(Path.cwd(), board_dir)
        configs = [find_board(b, dirs) for b in boards]
        for config in configs:
            if config.twin is None:
                raise ThinkError(
                    f"board file {config.source}: board '{config.name}' has no 'twin' section"
                )
        farm = emulation.start_twin_farm(configs, directory, coordinator)
    except ThinkError as exc:
        fail("think farm-twins", str(exc))
    try:
        where = farm.coordinator
        click.echo(f"labgrid coordinator {where} (export LG_COORDINATOR={where})")
        for served in farm.boards.values():
            power = "power port" if served.outlet is not None else "no power port"
            click.echo(
                f"  place {served.place} (tags board={served.place}), {power}: {served.board_file}"
            )
        first = next(iter(farm.boards.values())).board_file
        click.echo(f"  pytest test_suites --board={first}")
        click.echo("Ctrl-C stops it.")
        while all(s.twin.proc.poll() is None for s in farm.boards.values()):
            time.sleep(0.5)
        click.echo("a twin exited; stopping the farm", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        farm.stop()


@main.command("compare")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", "out", required=True, type=click.Path(path_type=Path), help="directory"
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="NAME",
    help="name of a file's column; once per file, in the files' order (the baseline first)",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    default=None,
    metavar="FILE",
    help="the run the others are compared with (first column): changes shown against it",
)
@click.option(
    "--threshold",
    default=None,
    metavar="SPEC",
    help="when a change against the baseline is real, beyond both runs' noise "
    "(default 'latency:5%,energy:3%,accuracy:0.5'; also p99, throughput)",
)
def compare_command(
    results: tuple[Path, ...],
    out: Path,
    labels: tuple[str, ...],
    baseline: Path | None,
    threshold: str | None,
) -> None:
    """Boards and runs side by side from results JSON files (pytest --think-json):
    index.html (one self-contained page), compare.md and PNG plots in OUTPUT.

    Each board of each file is a column; several runs of one board are columns named by
    board and date, or by --label. With --baseline FILE every figure shows its change
    against that run, marked only when beyond --threshold and both runs' noise.

    \b
      think compare campaign.json -o compare/
      think compare --baseline monday.json tuesday.json -o compare/
      think compare a.json b.json --label before --label after -o compare/
    """
    from pytest_think.report.compare import write_comparison

    try:
        index = write_comparison(list(results), out, list(labels) or None, baseline, threshold)
    except ThinkError as exc:
        click.echo(f"think compare: {exc}", err=True)
        sys.exit(2)
    files = len(set(results) | ({baseline} if baseline else set()))
    click.echo(f"wrote {index} (and compare.md, plots) for {files} results files")


@main.command("history")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", "out", required=True, type=click.Path(path_type=Path), help="directory"
)
def history_command(results: tuple[Path, ...], out: Path) -> None:
    """Each board × model's figures over runs, from results JSON files or directories of them
    (pytest --think-json): index.html and one PNG per board and model in OUTPUT."""
    from pytest_think.report.history_page import write_history

    try:
        index, history = write_history(list(results), out)
    except ThinkError as exc:
        fail("think history", str(exc))
    for line in history.skipped:
        click.echo(f"think history: {line}", err=True)
    click.echo(
        f"wrote {index} (and {len(history.series)} plots) for {len(history.runs)} runs of "
        f"{len(history.boards())} boards"
    )


@main.command("schema")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=None, help="file")
def schema_command(out: Path | None) -> None:
    """The JSON Schema of the results file (pytest --think-json), to OUTPUT or stdout;
    docs/results.schema.json is this command's output."""
    import json

    from pytest_think.pytest.schema import results_schema

    text = json.dumps(results_schema(), indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"wrote {out}")


ALLURE_INSTALL = "npm install allure@3 (Allure 3 runs on Node, no Java), or make test"


def find_allure() -> str | None:
    """The Allure command line: on PATH, or installed in this project by npm."""
    found = shutil.which("allure")
    local = Path.cwd() / "node_modules" / ".bin" / "allure"
    return found or (str(local) if local.is_file() else None)


@main.command("report")
@click.argument("results_dir", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", "out", required=True, type=click.Path(path_type=Path), help="directory"
)
def report_command(results_dir: Path, out: Path) -> None:
    """The Allure HTML report of RESULTS_DIR (pytest --alluredir) in OUTPUT."""
    if not results_dir.is_dir():
        fail("think report", f"allure results directory {results_dir} not found")
    if not any(results_dir.glob("*-result.json")):
        fail(
            "think report",
            f"allure results directory {results_dir} holds no test results; "
            f"run pytest --alluredir {results_dir} first",
        )
    if out.exists() and not _replaceable_report(out):
        fail(
            "think report",
            f"{out} exists and is not an Allure report (its files would be mixed with the "
            "report's); give -o a new directory or an earlier report's",
        )
    allure = find_allure()
    if allure is None:
        fail("think report", f"the Allure command line is not installed: {ALLURE_INSTALL}")
    # Allure 3 does not clear a directory it wrote before (the old page would stay in front):
    # generate beside it, then put the new report in its place.
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.absolute().parent))
    try:
        proc = subprocess.run(
            [allure, "generate", str(results_dir), "-o", str(staging)],
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        if proc.returncode != 0 or not (staging / "index.html").is_file():
            said = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            fail("think report", f"allure generate failed (exit {proc.returncode}): {said[0]}")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    from pytest_think.report.allure_results import results_by_board

    summary = results_by_board(results_dir).lines()
    click.echo(f"think report: {summary[0]}")
    for line in summary[1:]:
        click.echo(f"think report: {line}", err=True)
    click.echo(f"wrote {out / 'index.html'}; serve it: python -m http.server -d {out}")


def _replaceable_report(out: Path) -> bool:
    """Whether `out` may be replaced by a new report: empty, or a report Allure wrote."""
    if not out.is_dir():
        return False
    return not any(out.iterdir()) or (
        (out / "index.html").is_file() and (out / "summary.json").is_file()
    )


def fail(command: str, message: str) -> NoReturn:
    click.echo(f"{command}: {message}", err=True)
    sys.exit(2)


if __name__ == "__main__":
    main()
