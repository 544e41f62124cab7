"""Kria SOMs: designs are accelerator apps loaded with xmutil and checked in listapps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO, bench_twin, make_bitstream, write_design

from pytest_think.emulator.launcher import TwinProcess

SMALL = 1_500_000


@pytest.fixture(scope="module")
def kria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TwinProcess, Path]]:
    base = tmp_path_factory.mktemp("kria")
    board_file = REPO / "boards" / "kria-kv260.yaml"
    with bench_twin(base, board_file, "kv260-bench", bitstream_bytes=SMALL) as running:
        yield running


def _design(base: Path, name: str, size: int, *, sync: bool = True, overlay: bool = True) -> Path:
    d = base / name
    d.mkdir(parents=True)
    files = {"bitstream": make_bitstream(d / f"{name}.bit.bin", size, sync=sync)}
    if overlay:
        files["overlay"] = d / f"{name}.dtbo"
        files["overlay"].write_bytes(b"\xd0\x0d\xfe\xed" + bytes(60))
    return write_design(d, name, "xilinx-kria", **files)


def test_app_is_loaded_listed_and_not_reloaded(
    pytester: pytest.Pytester, kria: tuple[TwinProcess, Path], tmp_path: Path
) -> None:
    twin, boards = kria
    design = _design(tmp_path, "digits-kv260", SMALL)
    pytester.makepyfile(
        f"""
        def test_load(dut):
            first = dut.flash({str(design)!r})
            assert first.flashed and "Accelerator loaded to slot 0" in first.log
            listing = dut.board.transport.run(["xmutil", "listapps"]).out.splitlines()
            row = next(line.split() for line in listing if line.split()[:1] == ["digits-kv260"])
            assert row[-1] == "0"
            assert not dut.flash({str(design)!r}).flashed
        """
    )
    pytester.runpytest("--board=kv260-bench", f"--board-dir={boards}").assert_outcomes(passed=1)
    app = twin.sandbox_root / "lib/firmware/xilinx/digits-kv260"
    assert sorted(p.name for p in app.iterdir()) == [
        "digits-kv260.bit.bin",
        "digits-kv260.dtbo",
        "shell.json",
    ]


def test_bad_app_reports_slot_minus_one_and_state(
    pytester: pytest.Pytester, kria: tuple[TwinProcess, Path], tmp_path: Path
) -> None:
    _, boards = kria
    broken = _design(tmp_path, "broken", SMALL, sync=False)
    no_overlay = _design(tmp_path, "bare", SMALL, overlay=False)
    pytester.makepyfile(
        f"""
        def test_broken(dut):
            dut.flash({str(broken)!r})

        def test_no_overlay(dut):
            dut.flash({str(no_overlay)!r})
        """
    )
    result = pytester.runpytest("--board=kv260-bench", f"--board-dir={boards}")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "FlashError: xmutil could not load app 'broken' on board 'kv260-bench' (127.0.0.1:*): "
            "'Accelerator loaded to slot -1'; fpga0 state is 'write init error'",
            f"InputFileError: design file {no_overlay}: field 'files.overlay' is missing "
            "(has: bitstream)",
        ]
    )
