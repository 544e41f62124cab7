"""Twins in a real labgrid farm: a coordinator and an exporter on 127.0.0.1, ser2net serving
the twins' ptys, labgrid-client switching a twin's supply through the power relay."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support import DIGITS_MODEL, REPO

from pytest_think.boards import BoardConfig, load_board
from pytest_think.emulator.farm import TwinFarm
from pytest_think.emulator.labgrid_procs import acquired_resources, labgrid_client
from pytest_think.emulator.power_relay import Outlet, PowerRelay

pytestmark = pytest.mark.skipif(
    shutil.which("ser2net") is None and not Path("/usr/sbin/ser2net").is_file(),
    reason="Debian's ser2net is not installed (make test installs it)",
)

ZCU = "fpga-zcu102"
MCU = "mcu-uart"


def _boards(base: Path) -> list[BoardConfig]:
    """The ZCU102 (SSH, console, N6705 supply; quick to boot) and the UART microcontroller
    (its firmware: the digits model)."""
    base.mkdir(parents=True, exist_ok=True)
    zcu = yaml.safe_load((REPO / "boards" / f"{ZCU}.yaml").read_text())
    zcu["twin"]["boot_s"] = 0.5
    mcu = yaml.safe_load((REPO / "boards" / f"{MCU}.yaml").read_text())
    mcu["twin"]["uart"]["models"] = [str(DIGITS_MODEL)]
    for data in (zcu, mcu):
        (base / f"{data['name']}.yaml").write_text(yaml.safe_dump(data))
    return [load_board(base / f"{ZCU}.yaml"), load_board(base / f"{MCU}.yaml")]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinFarm]:
    base = tmp_path_factory.mktemp("farm")
    with TwinFarm.start(_boards(base / "src"), base / "farm") as running:
        yield running


def _lg(farm: TwinFarm, place: str, *args: str) -> str:
    done = labgrid_client(farm.coordinator, *args, place=place)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_places_have_tags_and_board_files_name_them(farm: TwinFarm) -> None:
    places = labgrid_client(farm.coordinator, "places").stdout.split()
    assert sorted(places) == [ZCU, MCU]
    assert "tags: board=fpga-zcu102, family=xilinx-fpga" in _lg(farm, ZCU, "show")
    data = yaml.safe_load(farm.boards[ZCU].board_file.read_text())
    assert data["labgrid"] == {"place": ZCU, "coordinator": farm.coordinator}
    assert "host" not in data["ssh"] and data["ssh"]["host_key"].startswith("SHA256:")
    assert "url" not in data["console"] and "twin" not in data
    assert "resource" not in data["meter"]  # the place's NetworkService 'meter' gives it
    assert "meter" in _lg(farm, ZCU, "show")
    assert yaml.safe_load(farm.boards[MCU].board_file.read_text())["serial"] == {
        "baud": 921600,
        "frame_bytes": 512,
        "frame_bytes_min": 128,
        "frame_bytes_max": 4096,
    }


def test_labgrid_client_power_cycle_powers_the_twin_down_and_up(farm: TwinFarm) -> None:
    from pytest_think.errors import LinkError
    from pytest_think.transport.ssh import SshTransport

    served = farm.boards[ZCU]
    reached = served.twin.board(served.board)
    assert reached.ssh is not None
    marker = served.twin.sandbox_root / "run" / "before-the-cycle"
    marker.parent.mkdir(exist_ok=True)
    marker.write_text("x")
    before = SshTransport(reached.ssh, ZCU).connect()
    assert before.run(["uname", "-n"]).out.strip() == "xilinx-zcu102-2022_2"
    _lg(farm, ZCU, "acquire")
    try:
        assert "power for place fpga-zcu102 is on" in _lg(farm, ZCU, "power", "get")
        _lg(farm, ZCU, "power", "cycle", "-t", "0.5")
        assert "is on" in _lg(farm, ZCU, "power", "get")
    finally:
        _lg(farm, ZCU, "release")
    assert not marker.exists()  # the reboot forgot /run
    with pytest.raises(LinkError):
        before.run(["uname", "-n"])  # the connection died with the board
    before.close()
    deadline = time.monotonic() + 60  # bounds the boot; the board answers once it is up
    while True:
        try:
            after = SshTransport(reached.ssh, ZCU).connect()
            break
        except LinkError:
            assert time.monotonic() < deadline, "the twin did not come back up"
            time.sleep(0.2)
    assert after.run(["uname", "-n"]).out.strip() == "xilinx-zcu102-2022_2"
    after.close()


def test_mcu_digits_suite_over_ser2net_rfc2217(farm: TwinFarm, pytester: pytest.Pytester) -> None:
    _lg(farm, MCU, "acquire")
    try:
        serial = acquired_resources(farm.coordinator, MCU)["serial"]
        assert serial["cls"] == "NetworkSerialPort"
        url = f"rfc2217://{serial['params']['host']}:{serial['params']['port']}"  # as it is
        data = yaml.safe_load(farm.boards[MCU].board_file.read_text())
        data.pop("labgrid")
        data["serial"]["url"] = url
        (pytester.path / "boards").mkdir()
        (pytester.path / "boards" / "mcu-ser2net.yaml").write_text(yaml.safe_dump(data))
        (pytester.path / "fixtures").symlink_to(REPO / "fixtures")
        pytester.makepyfile(test_digits=(REPO / "test_suites" / "test_digits.py").read_text())
        for _ in range(2):  # the firmware serves one session after another, as on a bench
            result = pytester.runpytest("--board=mcu-ser2net", "--think-json=out.json")
            result.assert_outcomes(passed=2)
            doc = json.loads((pytester.path / "out.json").read_text())
            assert doc["board"]["identity"]["serial"] == url
            # a clean line: a byte lost or changed on the way (telnet's doubled 0xFF, say)
            # would have been repaired, and counted here
            assert all(t["stream"]["link"]["bad_frames"] == 0 for t in doc["tests"])
    finally:
        _lg(farm, MCU, "release")


def test_relay_unknown_outlet_is_one_line() -> None:
    switched: list[bool] = []
    with PowerRelay([Outlet("zcu102", switched.append)]) as relay:
        base = relay.url.split("/outlet/")[0]
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/outlet/3/0", timeout=10)
        assert err.value.code == 404
        assert err.value.read().decode() == "unknown outlet '3': this relay has outlets 0\n"
        with urllib.request.urlopen(f"{base}/outlet/0/0", timeout=10) as off:
            assert off.read() == b"0"
        with urllib.request.urlopen(f"{base}/outlet/0", timeout=10) as state:
            assert state.read() == b"0"
    assert switched == [False]  # the bad request switched nothing


def test_think_farm_twins_serves_until_stopped_and_leaves_nothing(tmp_path: Path) -> None:
    _boards(tmp_path / "src")
    out = tmp_path / "farm"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest_think.cli",
            "farm-twins",
            MCU,
            f"--board-dir={tmp_path / 'src'}",
            f"--dir={out}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C"):
            break
    text = "".join(lines)
    assert f"place {MCU} (tags board={MCU}), no power port: {out / 'mcu-uart.yaml'}" in text
    coordinator = text.split()[2]
    assert yaml.safe_load((out / "mcu-uart.yaml").read_text())["labgrid"]["coordinator"] == (
        coordinator
    )
    assert labgrid_client(coordinator, "acquire", place=MCU).returncode == 0  # ser2net runs
    exporter_group = _exporter_pgid(out)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    assert list(out.iterdir()) == []  # board files and the farm's state gone
    with pytest.raises(ProcessLookupError):
        os.killpg(exporter_group, 0)  # the exporter and its ser2net ended
    assert labgrid_client(coordinator, "places", timeout=30).returncode != 0  # coordinator too


def _exporter_pgid(out: Path) -> int:
    """The process group of the exporter serving `out`'s farm (its ser2net children in it)."""
    exports = str(out / ".farm" / "exports.yaml")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if exports.encode() in argv:
                return os.getpgid(int(entry.name))
    raise AssertionError("no exporter found")


def test_a_farm_joining_a_coordinator_deletes_its_places_at_stop(tmp_path: Path) -> None:
    from pytest_think.emulator.labgrid_procs import LabgridProcess, free_port, labgrid_command

    port = free_port()
    (tmp_path / "coordinator").mkdir()
    coordinator = LabgridProcess(
        "labgrid-coordinator",
        [labgrid_command("labgrid-coordinator"), "-l", f"127.0.0.1:{port}"],
        tmp_path / "coordinator.log",
        tmp_path / "coordinator",
    )
    try:
        coordinator.wait_for_port(port, 60)
        address = f"127.0.0.1:{port}"
        mcu = _boards(tmp_path / "src")[1]
        with TwinFarm.start([mcu], tmp_path / "farm", coordinator=address) as farm:
            assert farm.coordinator == address
            assert labgrid_client(address, "places").stdout.split() == [MCU]
        assert labgrid_client(address, "places").stdout.split() == []  # the bench is as it was
        coordinator.check_alive()  # and its coordinator still runs
    finally:
        coordinator.stop()
