"""Twins plug in: the twin section is the twins' to validate, parts come from entry points,
meter drivers validate their own options and declare what they can do."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import REPO, sim_board_data

from pytest_think.boards import load_board
from pytest_think.checks import check_board
from pytest_think.emulator.config import validate_twin
from pytest_think.emulator.families.xilinx_fpga import TwinFpga, XilinxFpgaTwin
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.emulator.parts import twin_parts
from pytest_think.errors import BoardConfigError, TwinError


def _board_file(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_bad_twin_field_stops_the_twin_before_it_spawns(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "boards" / "fpga-zcu102.yaml").read_text())
    data["twin"]["fpga"]["bitstream_byte"] = 3
    path = _board_file(tmp_path, data)
    board = load_board(path)  # the product does not read the twin's fields
    state = tmp_path / "state"
    with pytest.raises(BoardConfigError) as bad:
        TwinProcess.start(board, state)
    assert str(bad.value) == (
        f"board file {path}: field 'twin.fpga.bitstream_byte': unknown field "
        "(check its spelling and docs/boards.md) (did you mean 'bitstream_bytes'?)"
    )
    assert not state.exists()


def test_a_section_no_part_of_the_board_reads_is_unknown(tmp_path: Path) -> None:
    path = _board_file(tmp_path, sim_board_data(twin={"jetson": {"soc": "tegra234"}}))
    with pytest.raises(BoardConfigError, match=r"field 'twin.jetson': unknown field"):
        validate_twin(load_board(path))


def test_parts_read_their_validated_sections(tmp_path: Path) -> None:
    board = load_board(REPO / "boards" / "fpga-zcu102.yaml")
    parts, missing = twin_parts(board)
    assert missing == []
    assert [type(p).__name__ for p in parts] == ["XilinxFpgaTwin", "KeysightN6705Twin"]
    fpga = XilinxFpgaTwin().config(validate_twin(board, parts))
    assert fpga == TwinFpga(device="xczu9eg", bitstream_bytes=26_510_780, load_mb_per_s=170)


def test_firmware_models_start_at_the_board_files_directory() -> None:
    from pytest_think.emulator.families.mcu_uart import McuUartTwin

    board = load_board(REPO / "boards" / "mcu-uart.yaml")
    models = McuUartTwin().config(validate_twin(board)).models
    assert models[0] == REPO / "boards" / "../fixtures/models/digits_mlp.onnx"


def test_a_family_without_a_twin_is_one_line(tmp_path: Path) -> None:
    path = _board_file(tmp_path, sim_board_data(name="acme", family="acme-board"))
    with pytest.raises(TwinError) as none:
        TwinProcess.start(load_board(path), tmp_path / "state")
    assert str(none.value).startswith(
        "board 'acme': no twin for family 'acme-board' (twins: coral-edgetpu, generic,"
    )


def test_meter_options_belong_to_the_driver(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "boards" / "fpga-zcu102.yaml").read_text())
    data["meter"]["rails"] = ["VCCINT"]
    path = _board_file(tmp_path, data)
    with pytest.raises(BoardConfigError) as bad:
        check_board(load_board(path))
    assert str(bad.value) == (
        f"board file {path}: field 'meter.rails': not an option of driver 'keysight-n6705'"
    )


def test_meter_capabilities_are_declared() -> None:
    from pytest_think.power.meters import EnergyIntegrator, SupplyOutput
    from pytest_think.power.meters.generic_scpi import GenericScpiMeter
    from pytest_think.power.meters.keithley_2280s import Keithley2280S
    from pytest_think.power.meters.keysight_n6705 import KeysightN6705
    from pytest_think.power.meters.rs_hmc8015 import RsHMC8015
    from pytest_think.power.meters.yokogawa_wt310e import YokogawaWT310E

    meters = (YokogawaWT310E, RsHMC8015, GenericScpiMeter, KeysightN6705)
    assert [m for m in meters if issubclass(m, EnergyIntegrator)] == [YokogawaWT310E, RsHMC8015]
    supplies = (KeysightN6705, Keithley2280S, YokogawaWT310E, GenericScpiMeter)
    assert [m for m in supplies if issubclass(m, SupplyOutput)] == [KeysightN6705, Keithley2280S]
