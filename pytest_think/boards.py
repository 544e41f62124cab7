"""Board files: schema, loading with one-line errors, lookup by name, and --emulate rewiring.

A board file (boards/NAME.yaml) is the *resource* description of a bench board: how to reach
it, where its agent lives, and how its digital twin behaves. Secrets never live in it: a
password is named by the environment variable that holds it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pytest_think.errors import BoardConfigError
from pytest_think.user_files import did_you_mean, field_problems, read_yaml_mapping

PACKAGED_BOARDS = Path(__file__).resolve().parent / "board_files"
SECRET_KEYS = {"password", "passphrase", "secret", "token"}
# The frame sizes a serial link adapts between unless its board file says otherwise.
FRAME_BYTES_MIN = 128
FRAME_BYTES_MAX = 4096


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SshConfig(_Strict):
    host: str | None = Field(None, description="required unless a labgrid place gives it")
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
    reconnects: int = Field(
        3,
        ge=0,
        description="tries to reconnect after the connection drops, and the resumes one "
        "stream may make (0: never)",
    )

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

    url: str | None = Field(None, description="required unless a labgrid place gives it")
    baud: int = Field(115200, gt=0)
    frame_bytes: int = Field(
        512, ge=64, description="frame size on the line to start at (noise vs overhead)"
    )
    frame_bytes_min: int | None = Field(
        None,
        ge=64,
        description=f"smallest frame size errors may shrink it to (default {FRAME_BYTES_MIN} "
        "or frame_bytes if smaller)",
    )
    frame_bytes_max: int | None = Field(
        None,
        ge=64,
        description=f"largest frame size a clean line may grow it to (default {FRAME_BYTES_MAX} "
        "or frame_bytes if larger); frame_bytes_max = frame_bytes_min = frame_bytes: fixed",
    )

    @model_validator(mode="after")
    def _check(self) -> SerialConfig:
        low, high = self.frame_bytes_range
        if not low <= self.frame_bytes <= high:
            raise ValueError(
                f"frame_bytes {self.frame_bytes} must lie within frame_bytes_min {low} and "
                f"frame_bytes_max {high}: change one of them, or leave the bounds out (their "
                "defaults take in frame_bytes)"
            )
        return self

    @property
    def frame_bytes_range(self) -> tuple[int, int]:
        """The sizes the frame size adapts between (transport/frame_size.py)."""
        low = self.frame_bytes_min
        high = self.frame_bytes_max
        return (
            min(FRAME_BYTES_MIN, self.frame_bytes) if low is None else low,
            max(FRAME_BYTES_MAX, self.frame_bytes) if high is None else high,
        )


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

    url: str | None = Field(None, description="required unless a labgrid place gives it")
    baud: int = Field(115200, gt=0)
    login: ConsoleLogin = ConsoleLogin()
    timeout: float = Field(30.0, gt=0, description="seconds to wait for a prompt")
    watch: bool = Field(
        True,
        description="fail a test whose console shows kernel trouble (panic, oops, BUG, call "
        "trace, the family's own lines); the console is opened with the board",
    )


class MeterConfig(BaseModel):
    """The power meter that supplies or measures the board: its driver, and the driver's own
    options (flat in the section, validated by the driver: power/meters)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    driver: str = Field(description="keysight-n6705, yokogawa-wt310e, onboard …")

    @property
    def options(self) -> dict[str, Any]:
        """Everything but `driver`: what the driver's options model reads."""
        return dict(self.model_extra or {})


# labgrid's own rule for tag keys (labgrid.remote.common.TAG_KEY, matched at the start).
LABGRID_TAG_KEY = r"[a-z][a-z0-9_]+"


class LabgridConfig(_Strict):
    """The labgrid place the board lives in: named, or reserved by tags. Its resources give
    the endpoints (NetworkService: ssh; NetworkSerialPort: serial, console; NetworkPowerPort:
    power); the place is held for the session (pytest_think.farm)."""

    place: str | None = Field(None, min_length=1, description="the place's name")
    tags: dict[str, str] | None = Field(
        None, description="reserve any place with these tags (labgrid reservations)"
    )
    coordinator: str | None = Field(
        None,
        min_length=1,
        description="HOST[:PORT] (else --lg-coordinator, else env LG_COORDINATOR)",
    )
    acquire_timeout: float | None = Field(
        None, gt=0, description="seconds to wait while others hold the place (default 600)"
    )

    @model_validator(mode="after")
    def _check(self) -> LabgridConfig:
        if (self.place is None) == (self.tags is None):
            raise ValueError("name either a 'place' or the 'tags' to reserve one by, not both")
        for key in self.tags or {}:
            if not re.match(LABGRID_TAG_KEY, key):
                raise ValueError(
                    f"tag key '{key}' is not a labgrid tag key (lower-case letters, digits "
                    "and _, starting with a letter)"
                )
        if self.tags == {}:
            raise ValueError("'tags' is empty: name at least one tag")
        return self


class PowerConfig(_Strict):
    """A switchable power port, as labgrid's NetworkPowerPort describes one: the model names
    the backend (labgrid.driver.power.<model>: apc, gude, netio, simplerest, shelly_gen2 …)."""

    model: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    host: str = Field(min_length=1, description="the switch's host, or a URL for REST models")
    index: str = Field("0", description="the port on the switch")

    @field_validator("index", mode="before")
    @classmethod
    def _index(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class AgentConfig(_Strict):
    interpreter: str = "python3"
    workdir: str = "/tmp/think-agent"
    backend: Literal["onnxruntime"] = "onnxruntime"
    providers: list[str] = Field(
        default_factory=list,
        description="onnxruntime execution providers, in order (default: CPU)",
    )
    devices: list[int] = Field(
        default_factory=list,
        description="accelerators by onnxruntime device_id (CUDA, TensorRT, ROCm providers): "
        "dut_pool binds one agent session to each",
    )
    start_timeout: float = Field(60.0, gt=0)


class WatchdogConfig(_Strict):
    """How long the board may stay silent before it counts as hung (pytest_think.watchdog):
    the larger of `floor_s` and `p99_multiple` times the 99th percentile of the waits for an
    answer measured so far in the same stream."""

    floor_s: float = Field(
        30.0, gt=0, description="the shortest bound, before and whatever the measured waits"
    )
    p99_multiple: float = Field(
        20.0, ge=1, description="the bound's multiple of the measured waits' p99"
    )


class RecoveryConfig(_Strict):
    """How a hung board is brought back (pytest_think.recovery): which switch power-cycles
    it, and how long it may take to boot."""

    power: Literal["port", "meter", "command"] | None = Field(
        None,
        description="the power switch: 'port' (the 'power' section, a labgrid place's), "
        "'meter' (the meter's supply output powers the board), 'command' (power_off/power_on); "
        "default: the 'power' section when there is one, else the commands when given",
    )
    power_off: list[str] | None = Field(
        None, min_length=1, description="argv that switches the board off (run without a shell)"
    )
    power_on: list[str] | None = Field(
        None, min_length=1, description="argv that switches the board on (run without a shell)"
    )
    command_timeout: float = Field(30.0, gt=0, description="seconds a power command may take")
    off_s: float = Field(2.0, ge=0, description="seconds the board stays off")
    boot_timeout: float = Field(
        180.0, gt=0, description="seconds from power-on until SSH must answer again"
    )
    probe_timeout: float = Field(
        5.0, gt=0, description="seconds an SSH probe of a hung board may take"
    )

    @model_validator(mode="after")
    def _check(self) -> RecoveryConfig:
        commands = (self.power_off is None, self.power_on is None)
        if commands[0] != commands[1]:
            raise ValueError("give both 'power_off' and 'power_on' (argv lists), or neither")
        if self.power == "command" and self.power_off is None:
            raise ValueError("power: command needs 'power_off' and 'power_on' (argv lists)")
        return self

    @property
    def switch(self) -> str | None:
        """The switch chosen: the field, else the commands when given (the board file's
        'power' section is looked at by the caller)."""
        return self.power or ("command" if self.power_on is not None else None)


class TwinSection(BaseModel):
    """The board's digital twin. The product reads only `only`; the rest of the section is
    kept as data and validated by the twin side, which owns its models."""

    model_config = ConfigDict(extra="allow", frozen=True)

    only: bool = Field(False, description="the board exists only as a twin (--emulate implied)")


class BoardConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
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
    twin: TwinSection | None = None
    labgrid: LabgridConfig | None = None
    power: PowerConfig | None = None
    watchdog: WatchdogConfig = WatchdogConfig()
    recovery: RecoveryConfig = RecoveryConfig()
    source: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _reachable(self) -> BoardConfig:
        if self.ssh is None and self.serial is None:
            raise ValueError("a board needs an 'ssh' or a 'serial' section to be reached")
        if self.recovery.power == "meter" and self.meter is None:
            raise ValueError("recovery.power is 'meter' but the board file has no 'meter' section")
        if self.recovery.power == "port" and self.power is None and self.labgrid is None:
            raise ValueError(
                "recovery.power is 'port' but the board file has no 'power' section "
                "(nor a 'labgrid' place that gives one)"
            )
        if self.labgrid is None:
            for section, field in (("ssh", "host"), ("serial", "url"), ("console", "url")):
                if (
                    getattr(self, section) is not None
                    and getattr(getattr(self, section), field) is None
                ):
                    raise ValueError(
                        f"'{section}.{field}' is missing (required unless a 'labgrid' "
                        "section names the place that gives it)"
                    )
        return self

    def with_serial_port(self, url: str) -> BoardConfig:
        """The same board on another serial port (a twin's pty)."""
        assert self.serial is not None
        return self.model_copy(update={"serial": self.serial.model_copy(update={"url": url})})

    def with_console_port(self, url: str) -> BoardConfig:
        """The same board with its console on another port (a twin's pty)."""
        assert self.console is not None
        return self.model_copy(update={"console": self.console.model_copy(update={"url": url})})

    def with_power_port(self, power: PowerConfig) -> BoardConfig:
        """The same board switched by another power port (a place's)."""
        return self.model_copy(update={"power": power})

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
    data = read_yaml_mapping(path, f"board file {path}", BoardConfigError)
    secret = _find_secrets(data)
    if secret:
        raise BoardConfigError(
            f"board file {path}: field '{secret}': secrets never live in board files; "
            "put the password in an environment variable and name it in ssh.password_env"
        )
    _resolve_paths(data, path.parent)
    try:
        board = BoardConfig.model_validate({**data, "source": path})
    except ValidationError as exc:
        raise BoardConfigError(
            f"board file {path}: {field_problems(exc, model=BoardConfig)}"
        ) from None
    return board


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
        raise BoardConfigError(
            f"unknown board '{spec}'{did_you_mean(spec, boards)}; known boards: {names} "
            f"(looked in {where})"
        )
    return load_board(boards[spec])
