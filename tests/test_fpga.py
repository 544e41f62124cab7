"""Xilinx FPGA boards: designs loaded with fpgautil, verified in sysfs, skipped when unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support import REPO, bench_twin, make_bitstream, write_design

from pytest_think.boards import find_board
from pytest_think.emulator.launcher import TwinProcess

SMALL = 2_000_000  # a small part keeps the tests quick; fpga-zcu102 itself uses the real size


@pytest.fixture(scope="module")
def fpga_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TwinProcess, Path]]:
    """A running xilinx-fpga twin and a board file that reaches it as hardware (no --emulate),
    so that several pytest sessions meet the same board, as on a bench."""
    base = tmp_path_factory.mktemp("fpga")
    board_file = REPO / "boards" / "fpga-zcu102.yaml"
    with bench_twin(base, board_file, "zcu-bench", bitstream_bytes=SMALL) as running:
        yield running


@pytest.fixture
def designs(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "designs"
    d.mkdir()
    return {
        "good": write_design(
            d / "good",
            "digits-fpga",
            "xilinx-fpga",
            bitstream=make_bitstream(_mk(d / "good") / "digits.bit.bin", SMALL),
        ),
        "other": write_design(
            d / "other",
            "digits-fpga-v2",
            "xilinx-fpga",
            bitstream=make_bitstream(_mk(d / "other") / "digits_v2.bit.bin", SMALL),
        ),
        "nosync": write_design(
            d / "nosync",
            "broken",
            "xilinx-fpga",
            bitstream=make_bitstream(_mk(d / "nosync") / "broken.bit.bin", SMALL, sync=False),
        ),
        "short": write_design(
            d / "short",
            "truncated",
            "xilinx-fpga",
            bitstream=make_bitstream(_mk(d / "short") / "short.bit.bin", SMALL - 4096),
        ),
        "jetson": write_design(
            d / "jetson",
            "digits-trt",
            "nvidia-jetson",
            engine=make_bitstream(_mk(d / "jetson") / "digits.engine", 1024),
        ),
    }


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


FLASH_TEST = """
import json, os
def test_flash(dut):
    report = dut.flash(os.environ["DESIGN"])
    with open("flash.json", "w") as fh:
        json.dump(report.as_json(), fh)
    state = dut.board.transport.run(["cat", "/sys/class/fpga_manager/fpga0/state"]).out
    assert state == "operating\\n"
"""


def _flash(pytester: pytest.Pytester, boards: Path, design: Path, *args: str) -> dict:
    """One pytest session that flashes `design`; returns its flash report."""
    pytester.makepyfile(FLASH_TEST)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DESIGN", str(design))
        result = pytester.runpytest("--board=zcu-bench", f"--board-dir={boards}", *args)
    result.assert_outcomes(passed=1)
    return json.loads((pytester.path / "flash.json").read_text())


def test_flash_then_skip_in_the_next_session_then_force(
    pytester: pytest.Pytester, fpga_twin: tuple[TwinProcess, Path], designs: dict[str, Path]
) -> None:
    twin, boards = fpga_twin
    first = _flash(pytester, boards, designs["good"])
    assert first["flashed"] is True
    assert "BIN FILE loaded through FPGA manager successfully" in first["log"]
    assert any(line.startswith("Time taken to load BIN is ") for line in first["log"])
    fabric = twin.sandbox_root / "sys/class/fpga_manager/fpga0"
    assert (fabric / "firmware").read_text() == "digits.bit.bin\n"
    assert (fabric / "flags").read_text() == "0\n"

    second = _flash(pytester, boards, designs["good"])
    assert second["flashed"] is False and second["sha256"] == first["sha256"]
    assert second["seconds"] < first["seconds"]

    forced = _flash(pytester, boards, designs["good"], "--force-flash")
    assert forced["flashed"] is True

    other = _flash(pytester, boards, designs["other"])
    assert other["flashed"] is True and other["sha256"] != first["sha256"]
    assert (fabric / "firmware").read_text() == "digits_v2.bit.bin\n"


@pytest.mark.parametrize(
    ("design", "state"), [("nosync", "write init error"), ("short", "write error")]
)
def test_bad_bitstream_fails_like_the_hardware_and_is_not_remembered(
    pytester: pytest.Pytester,
    fpga_twin: tuple[TwinProcess, Path],
    designs: dict[str, Path],
    design: str,
    state: str,
) -> None:
    _, boards = fpga_twin
    pytester.makepyfile(
        f"""
        def test_bad(dut):
            dut.flash({str(designs[design])!r})

        def test_good_after(dut):
            assert dut.flash({str(designs["good"])!r}).flashed
        """
    )
    result = pytester.runpytest("--board=zcu-bench", f"--board-dir={boards}")
    result.assert_outcomes(failed=1, passed=1)
    name = yaml.safe_load(designs[design].read_text())["files"]["bitstream"]
    result.stdout.fnmatch_lines(
        [
            f"FlashError: fpgautil did not load {name} on board 'zcu-bench' (127.0.0.1:*): "
            f"'BIN FILE loading through FPGA manager failed'; fpga0 state is '{state}'"
        ]
    )


def test_design_for_another_family_and_missing_design(
    pytester: pytest.Pytester, fpga_twin: tuple[TwinProcess, Path], designs: dict[str, Path]
) -> None:
    _, boards = fpga_twin
    pytester.makepyfile(
        f"""
        def test_wrong_family(dut):
            dut.flash({str(designs["jetson"])!r})

        def test_missing(dut):
            dut.flash("designs/absent/design.yaml")
        """
    )
    result = pytester.runpytest("--board=zcu-bench", f"--board-dir={boards}")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            f"InputFileError: design file {designs['jetson']}: design 'digits-trt' is for family "
            "'nvidia-jetson', board 'zcu-bench' is family 'xilinx-fpga'",
            f"InputFileError: design file {pytester.path}/designs/absent/design.yaml not found",
        ]
    )


def test_zcu102_twin_identifies_its_fpga_manager(tmp_path: Path) -> None:
    board = find_board("fpga-zcu102", [REPO / "boards"])
    with TwinProcess.start(board, tmp_path / "twin") as twin:
        from pytest_think.families import open_board

        conn = open_board(twin.board(board), True)
        try:
            assert conn.identity["fpga_manager"] == "Xilinx ZynqMP FPGA Manager"
            assert conn.identity["fpga_state"] == "unknown"
            assert conn.identity["uname"].split()[2] == "5.15.36-xilinx-v2022.2"
            usage = conn.transport.run(["fpgautil"])
            assert usage.out == "Usage:  fpgautil -b <bin file path> -o <dtbo file path>\n"
        finally:
            conn.close()


def test_generic_board_loads_a_design_by_copying_and_remembers_it(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    model = tmp_path / "design" / "weights.bin"
    model.parent.mkdir()
    model.write_bytes(b"w" * 1000)
    design = write_design(tmp_path / "design", "digits-cpu", "generic", weights=model)
    pytester.makepyfile(
        f"""
        def test_twice(dut):
            first = dut.flash({str(design)!r})
            second = dut.flash({str(design)!r})
            assert first.flashed and first.log == [
                "uploaded /home/think/.think/designs/" + first.sha256[:16] + "/weights.bin"
            ]
            assert not second.flashed
            record = dut.board.transport.run(["cat", "/home/think/.think/designs/loaded"])
            assert record.out.strip() == first.sha256
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
