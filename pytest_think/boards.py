"""Board files: schema, loading with one-line errors, lookup by name, and --emulate rewiring.

A board file (boards/NAME.yaml) is the *resource* description of a bench board: how to reach
it, where its agent lives, and how its digital twin behaves. Secrets never live in it: a
password is named by the environment variable that holds it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pytest_think.errors import BoardConfigError

PACKAGED_BOARDS = Path(__file__).resolve().parent / "board_files"
SECRET_KEYS = {"password", "passphrase", "secret", "token"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SshConfig(_Strict):
    host: str
    port: int = Field(22, ge=1, le=65535)
    user: str
    key_file: Path | None = None
    password_env: str | None = Field(
        None, description="name of the environment variable that holds the password"
    )
    host_key: str | None = Field(
        None, description='pinned host key fingerprint as OpenSSH prints it: "SHA256:..."'
    )
    known_hosts: Path | None = None
    connect_timeout: float = Field(10.0, gt=0)
    command_timeout: float = Field(60.0, gt=0)
    keepalive: float = Field(15.0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> SshConfig:
        if self.host_key is not None and not self.host_key.startswith("SHA256:"):
            raise ValueError(
                f"host_key {self.host_key!r} must be a SHA256 fingerprint "
                "(ssh-keygen -lf KEY prints 'SHA256:...')"
            )
        return self


class SerialConfig(_Strict):
    """A board reached over a serial line: any pyserial URL (/dev/ttyUSB0, rfc2217://…)."""

    url: str
    baud: int = Field(115200, gt=0)
    frame_bytes: int = Field(512, ge=64, description="frame size on the line (noise vs overhead)")


class ConsoleLogin(_Strict):
    """How to log in on the console: the user, and the variable holding the password."""

    user: str = "root"
    password_env: str | None = Field(
        None, description="environment variable with the password, if the board asks for one"
    )
    login_prompt: str = Field(r"login: $", description="regex the getty prints")
    prompt: str = Field(r"[#$] $", description="regex ending the shell's prompt")


class ConsoleConfig(_Strict):
    """The board's serial console (kernel log, getty): captured per test, usable as a shell."""

    url: str
    baud: int = Field(115200, gt=0)
    login: ConsoleLogin = ConsoleLogin()
    timeout: float = Field(30.0, gt=0, description="seconds to wait for a prompt")


class MeterConfig(_Strict):
    """The power meter that supplies or measures the board, over VISA."""

    driver: str = Field(description="keysight-n6705, yokogawa-wt310e, onboard")
    resource: str = Field("", description="VISA resource, e.g. TCPIP::10.0.0.7::5025::SOCKET")
    channel: int = Field(1, ge=1, le=4, description="the output or element the board is on")
    rails: list[str] = Field(
        default_factory=list, description="onboard: the rails whose sum is the board's power"
    )
    period_s: float = Field(0.01, gt=0, description="onboard: the agent's sampling period")
    source: Literal["sysfs", "tegrastats"] = Field(
        "sysfs", description="onboard: read the monitors' sysfs files, or Jetson's tegrastats"
    )
    datalog_above_s: float = Field(
        60.0,
        gt=0,
        description="keysight-n6705: longer acquisitions use the data logger (period averages) "
        "instead of the digitizer (point samples)",
    )
    # generic-scpi: the instrument described here rather than in a driver.
    idn: str = Field("", description="generic-scpi: what *IDN? must contain")
    setup: list[str] = Field(default_factory=list, description="generic-scpi: commands sent first")
    power_query: str = Field("MEAS:POW?", description="generic-scpi: query answering watts")
    update_s: float = Field(0.1, gt=0, description="generic-scpi: how often readings update")
    timeout_s: float = Field(10.0, gt=0)
    visa_library: str = Field(
        "@py", description="pyvisa's VISA library: @py (pyvisa-py), '' for NI-VISA, file@sim"
    )


class AgentConfig(_Strict):
    interpreter: str = "python3"
    workdir: str = "/tmp/think-agent"
    backend: Literal["onnxruntime"] = "onnxruntime"
    providers: list[str] = Field(
        default_factory=list,
        description="onnxruntime execution providers, in order (default: CPU)",
    )
    start_timeout: float = Field(60.0, gt=0)


class TwinLatency(_Strict):
    """Device time the twin adds per inference (on top of what its model execution takes)."""

    fixed_us: float = Field(0.0, ge=0)
    jitter_us: float = Field(0.0, ge=0)


class TwinFaults(_Strict):
    """Faults a twin injects so that failure paths can be tested without broken hardware."""

    output_offset: float = 0.0
    output_noise: float = Field(0.0, ge=0)
    perturb_every: int = Field(1, ge=1, description="perturb one vector in N")
    crash_after_vectors: int | None = Field(None, ge=0)
    seed: int = 0

    @property
    def perturbs_outputs(self) -> bool:
        return self.output_offset != 0.0 or self.output_noise != 0.0


class TwinFpga(_Strict):
    """The programmable logic a Xilinx board's twin emulates (fpga_manager, fpgautil)."""

    device: str = "xczu9eg"
    bitstream_bytes: int = Field(
        26_510_780, gt=0, description="size of a full .bit.bin for this part; others are refused"
    )
    load_mb_per_s: float = Field(170.0, gt=0, description="PCAP configuration speed")
    loader: Literal["fpgautil", "xmutil"] = Field(
        "fpgautil", description="the board's tool: fpgautil (PetaLinux) or xmutil (Kria)"
    )


class TwinJetson(_Strict):
    """What a Jetson twin's L4T answers: module, release, power modes."""

    model: str = "NVIDIA Jetson Orin Nano Developer Kit"
    soc: str = "tegra234"
    l4t: str = "# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64"
    power_modes: dict[int, str] | None = Field(
        default_factory=lambda: {0: "15W", 1: "7W"},
        description="nvpmodel modes by id; null: the module has no nvpmodel (TX1)",
    )
    default_mode: int = 0
    tensorrt: str = Field("8602", description="TensorRT version as trtexec prints it (v8602)")


class TwinMppa(_Strict):
    """A Kalray board twin: what /mppa/board0 shows and how many cycles KaNN reports."""

    board_type: str = "k200"
    freq_khz: int = Field(1_100_000, gt=0, description="cluster clock, /mppa/board0/mppa0/freq")
    fixed_cycles: int = Field(30_000, ge=0, description="per-inference overhead (DMA, sync)")
    macs_per_cycle: float = Field(256.0, gt=0, description="sustained MACs per cycle on 5 clusters")


class TwinCoral(_Strict):
    """An Edge TPU twin: the TPUs the host sees (``pci:0`` on a Dev Board, ``usb:N`` sticks)."""

    devices: list[str] = Field(default_factory=lambda: ["pci:0"], min_length=1)


class TwinRail(_Strict):
    """One onboard power rail of a twin: where its monitor sits and what it reads at idle."""

    label: str
    device: str = Field("1-0040", pattern=r"^\d+-[0-9a-f]{4}$", description="I2C bus-address")
    channel: int = Field(1, ge=0, le=3, description="monitor channel (INA3221: 1-3 / 0-2)")
    volts: float = Field(5.0, gt=0)
    idle_w: float = Field(1.0, ge=0)
    active_w: float | None = Field(None, ge=0, description="while the device computes")


class TwinPower(_Strict):
    """A twin's onboard power monitors, in the sysfs layout of its kernel."""

    layout: Literal["ina2xx", "ina3221", "ina3221x"]
    rails: list[TwinRail] = Field(min_length=1)


class TwinPowerModel(_Strict):
    """What the twin board draws from its supply: idle, and while its device computes."""

    idle_w: float = Field(ge=0)
    active_w: float = Field(ge=0)
    noise_w: float = Field(0.0, ge=0, description="std-dev of the meter's reading noise")
    seed: int = 0


class TwinMeter(_Strict):
    """The twin of the board's meter: the supply it imitates."""

    volts: float = Field(12.0, gt=0, description="the supply voltage the board runs from")
    current_range_a: float = Field(
        3.06, gt=0, description="readings above it overflow (9.91E37), as on the instrument"
    )


class TwinConsole(_Strict):
    """A twin's serial console: its getty, and a fault (a console that stays silent)."""

    tty: str = "ttyPS0"
    silent: bool = Field(False, description="never prints a login prompt (a hung or dead board)")


class TwinUart(_Strict):
    """A microcontroller twin's serial line and firmware."""

    ber: float = Field(0.0, ge=0, lt=0.01, description="bit-error rate injected on the line")
    drop: float = Field(0.0, ge=0, lt=0.01, description="share of bytes lost on the line")
    seed: int = 0
    models: list[Path] = Field(
        default_factory=list, description="models built into the firmware (relative paths)"
    )


class TwinConfig(_Strict):
    only: bool = Field(False, description="the board exists only as a twin (--emulate implied)")
    hostname: str | None = None
    kernel: str | None = None
    machine: str | None = None
    os_release: str | None = None
    execution: Literal["onnxruntime"] = "onnxruntime"
    latency: TwinLatency = TwinLatency()
    faults: TwinFaults = TwinFaults()
    fpga: TwinFpga | None = None
    jetson: TwinJetson | None = None
    mppa: TwinMppa | None = None
    coral: TwinCoral | None = None
    uart: TwinUart | None = None
    console: TwinConsole = TwinConsole()
    power: TwinPower | None = None
    power_model: TwinPowerModel | None = None
    boot_s: float = Field(2.0, ge=0, description="after power-on, seconds until SSH answers")
    meter: TwinMeter = TwinMeter()


class BoardConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    family: str = "generic"
    description: str = ""
    ssh: SshConfig | None = None
    serial: SerialConfig | None = None
    console: ConsoleConfig | None = None
    meter: MeterConfig | None = None
    agent: AgentConfig = AgentConfig()
    options: dict[str, Any] = Field(
        default_factory=dict, description="family settings, checked by the board's family"
    )
    twin: TwinConfig | None = None
    source: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _reachable(self) -> BoardConfig:
        if self.ssh is None and self.serial is None:
            raise ValueError("a board needs an 'ssh' or a 'serial' section to be reached")
        return self

    def with_serial_port(self, url: str) -> BoardConfig:
        """The same board on another serial port (a twin's pty)."""
        assert self.serial is not None
        return self.model_copy(update={"serial": self.serial.model_copy(update={"url": url})})

    def with_console_port(self, url: str) -> BoardConfig:
        """The same board with its console on another port (a twin's pty)."""
        assert self.console is not None
        return self.model_copy(update={"console": self.console.model_copy(update={"url": url})})

    def with_meter_resource(self, resource: str) -> BoardConfig:
        """The same board measured by another instrument (a twin's SCPI server)."""
        assert self.meter is not None
        return self.model_copy(
            update={"meter": self.meter.model_copy(update={"resource": resource})}
        )

    def with_endpoint(
        self, *, host: str, port: int, user: str, key_file: Path, host_key: str
    ) -> BoardConfig:
        """The same board reached elsewhere: what --emulate does, and nothing more."""
        assert self.ssh is not None
        ssh = self.ssh.model_copy(
            update={
                "host": host,
                "port": port,
                "user": user,
                "key_file": key_file,
                "host_key": host_key,
                "known_hosts": None,
                "password_env": None,
            }
        )
        return self.model_copy(update={"ssh": ssh})


def _find_secrets(data: Any, path: str = "") -> str | None:
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if str(key).lower() in SECRET_KEYS:
                return where
            found = _find_secrets(value, where)
            if found:
                return found
    return None


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    twin = data.get("twin")
    uart = twin.get("uart") if isinstance(twin, dict) else None
    if isinstance(uart, dict) and isinstance(uart.get("models"), list):
        uart["models"] = [
            base / m if isinstance(m, str) and not Path(m).is_absolute() else m
            for m in uart["models"]
        ]
    ssh = data.get("ssh")
    if not isinstance(ssh, dict):
        return
    for key in ("key_file", "known_hosts"):
        value = ssh.get(key)
        if isinstance(value, str):
            path = Path(os.path.expandvars(value)).expanduser()
            ssh[key] = path if path.is_absolute() else base / path


def load_board(path: Path) -> BoardConfig:
    """Load and validate one board file; any problem is a BoardConfigError naming file and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BoardConfigError(f"board file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BoardConfigError(f"board file {path}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise BoardConfigError(f"board file {path}: expected a mapping of fields, got {data!r}")
    secret = _find_secrets(data)
    if secret:
        raise BoardConfigError(
            f"board file {path}: field '{secret}': secrets never live in board files; "
            "put the password in an environment variable and name it in ssh.password_env"
        )
    _resolve_paths(data, path.parent)
    try:
        return BoardConfig.model_validate({**data, "source": path})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(top level)"
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown field (check its spelling and docs/boards.md)"
            problems.append(f"field '{field}': {message}")
        raise BoardConfigError(f"board file {path}: " + "; ".join(problems)) from None


def board_dirs(rootdir: Path, board_dir: str | None) -> list[Path]:
    first = Path(board_dir) if board_dir else Path("boards")
    if not first.is_absolute():
        first = rootdir / first
    return [first, PACKAGED_BOARDS]


def known_boards(dirs: list[Path]) -> dict[str, Path]:
    """Board name -> file, earlier directories winning (a lab's boards/ overrides the package's)."""
    found: dict[str, Path] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for f in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
            found.setdefault(f.stem, f)
    return found


def find_board(spec: str, dirs: list[Path]) -> BoardConfig:
    """A board by name (looked up in `dirs`, in order) or by path to its YAML file."""
    as_path = Path(spec).expanduser()
    if as_path.suffix in (".yaml", ".yml") or os.sep in spec:
        if not as_path.is_file():
            raise BoardConfigError(f"board file {as_path} not found")
        return load_board(as_path)
    boards = known_boards(dirs)
    if spec not in boards:
        names = ", ".join(sorted(boards)) or "none"
        where = ", ".join(str(d) for d in dirs)
        raise BoardConfigError(f"unknown board '{spec}'; known boards: {names} (looked in {where})")
    return load_board(boards[spec])
