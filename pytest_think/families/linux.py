"""Parts every Linux board reached over SSH has: the agent and its models uploaded and started
over SSH, designs copied into place, a design's model files or runner command, and the
onboard power monitors the kernel exposes in sysfs."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_think.agent import AGENT_DIR, AGENT_FILES
from pytest_think.boards import BoardConfig
from pytest_think.capabilities import DesignRuntime, NotCapable
from pytest_think.designs import Design
from pytest_think.errors import InputFileError
from pytest_think.power.onboard import PowerSensor, discover
from pytest_think.transport.console_watch import ConsoleAlarm, alarm
from pytest_think.transport.ssh import SshTransport

if TYPE_CHECKING:
    from pytest_think.transport.link import Link

# What the Linux kernel prints when it goes wrong, as its console shows it: a panic
# ("Kernel panic - not syncing: …"), an oops ("Internal error: Oops: 96000005 [#1] SMP" on
# arm64, "Oops: 0002 [#1] PREEMPT SMP" on x86), a BUG ("BUG: unable to handle page fault",
# "BUG: soft lockup - CPU#1 stuck"), and the call trace of any of them or of a WARN.
KERNEL_ALARMS: tuple[ConsoleAlarm, ...] = (
    alarm("kernel panic", r"Kernel panic\b"),
    alarm("oops", r"\bOops\b"),
    alarm("BUG", r"\bBUG: "),
    alarm("call trace", r"\bCall [Tt]race:"),
)

# The backend that runs a design's `model` file, by suffix.
MODEL_BACKENDS = {".onnx": "onnxruntime", ".tflite": "tflite"}
# What the agent fills in itself in a runner's argv (see the `exec` backend, docs/protocol.md).
AGENT_FIELDS = {"input", "output", "iodir", "batch", "model"}


class SshAgent:
    """Uploads the agent and its codec (skipped when unchanged) and starts it over SSH."""

    def __init__(self, config: BoardConfig, ssh: SshTransport) -> None:
        self.config = config
        self.ssh = ssh

    def agent_command(self, agent_path: str) -> list[str]:
        # --home: the agent names its files as the board file does, not as its OS resolves them.
        home = posixpath.dirname(agent_path)
        return [self.config.agent.interpreter, agent_path, "--home", home]

    def start_agent(self) -> Link:
        workdir = self.config.agent.workdir
        self.ssh.upload([(AGENT_DIR / f, posixpath.join(workdir, f)) for f in AGENT_FILES])
        argv = self.agent_command(posixpath.join(workdir, AGENT_FILES[0]))
        return self.ssh.start(argv, timeout=self.config.agent.start_timeout)

    def deploy_model(self, model: Path, sha256: str, data: Sequence[str] = ()) -> str:
        """Upload the model under its hash; its path relative to the agent's directory. A model
        with external data goes into a directory of its own, its data files beside it."""
        workdir = self.config.agent.workdir
        if not data:
            relative = posixpath.join("models", f"{sha256[:16]}-{model.name}")
            self.ssh.upload([(model, posixpath.join(workdir, relative))])
            return relative
        home = posixpath.join("models", sha256[:16])
        files = [(model, posixpath.join(workdir, home, model.name))]
        files += [(model.parent / f, posixpath.join(workdir, home, f)) for f in data]
        self.ssh.upload(files)
        return posixpath.join(home, model.name)


class OnnxDevices:
    """The board's accelerators by onnxruntime device_id (`agent.devices`): an agent session
    is bound to one with the LOAD option `device_id`, which the agent gives the execution
    providers that take one (CUDA, TensorRT, ROCm)."""

    def __init__(self, config: BoardConfig) -> None:
        self.config = config

    def devices(self) -> list[str]:
        return [str(i) for i in self.config.agent.devices]

    def bind(self, device: str, backend: str, options: dict[str, Any]) -> dict[str, Any]:
        if backend != "onnxruntime":
            raise NotCapable(
                f"board '{self.config.name}' binds onnxruntime sessions to its devices "
                f"(agent.devices); a {backend} design cannot be bound to device {device}"
            )
        return {**options, "device_id": int(device)}


def design_subdir(design: Design) -> str:
    """A design's directory relative to the agent's work directory (as LOAD names it)."""
    return posixpath.join("designs", design.sha256[:16])


def design_dir(config: BoardConfig, design: Design) -> str:
    return posixpath.join(config.agent.workdir, design_subdir(design))


def upload_design_files(
    ssh: SshTransport, config: BoardConfig, design: Design, skip: tuple[str, ...] = ()
) -> list[str]:
    """Copy the design's files (but the `skip` roles) to its directory; the names uploaded."""
    target = design_dir(config, design)
    files = [
        (path, posixpath.join(target, path.name))
        for role, path in sorted(design.files.items())
        if role not in skip
    ]
    return ssh.upload(files).uploaded


class CopiedDesigns:
    """A CPU board has nothing to configure: loading a design is copying its files."""

    def __init__(self, config: BoardConfig, ssh: SshTransport) -> None:
        self.config = config
        self.ssh = ssh

    @property
    def design_record(self) -> str:
        # Copied files survive a reboot, so the record lives beside them.
        return posixpath.join(self.config.agent.workdir, "designs", "loaded")

    def flash(self, design: Design) -> list[str]:
        return [f"uploaded {name}" for name in upload_design_files(self.ssh, self.config, design)]

    def design_active(self) -> bool:
        return True


class ModelFiles:
    """Runs a design's `runner` command if it names one, else its `model` file (or its
    `segment_<i>` files, one after another) with the backend the suffix calls for."""

    def __init__(self, config: BoardConfig) -> None:
        self.config = config

    def design_runtime(self, design: Design, signature: dict[str, Any]) -> DesignRuntime:
        if "runner" in design.runtime:
            return runner_runtime(design, signature)
        roles = design.model_roles()
        models = [design.files[role] for role in roles]
        backend = MODEL_BACKENDS.get(models[0].suffix)
        if backend is None or any(m.suffix != models[0].suffix for m in models):
            known = ", ".join(sorted(MODEL_BACKENDS))
            raise InputFileError(
                f"design file {design.source}: files.{roles[0]}: no backend runs "
                f"'{models[0].suffix}' files on family '{self.config.family}' (known: {known}; "
                "segments all of one kind)"
            )
        options = dict(design.runtime)
        if backend == "onnxruntime" and self.config.agent.providers:
            options.setdefault("providers", self.config.agent.providers)
        paths = [posixpath.join(design_subdir(design), m.name) for m in models]
        if len(paths) > 1:
            options["segments"] = paths[1:]
        return DesignRuntime(paths[0], backend, options)


def runner_runtime(design: Design, signature: dict[str, Any]) -> DesignRuntime:
    """A design run by its own command (a FINN ``driver.py``, a vendor runner …).

    ``runtime.runner`` is the argv, run in the design's directory; ``{<role>}`` names a design
    file (``{bitstream}``), and ``{input}``, ``{output}``, ``{iodir}``, ``{batch}`` are the
    agent's (see the `exec` backend in docs/protocol.md). Other runtime keys (``io``,
    ``device_time``, ``device_batch``, ``timeout_s``) go to the agent as they are."""
    runtime = dict(design.runtime)
    runner = runtime.pop("runner")
    if not isinstance(runner, list) or not runner or not all(isinstance(a, str) for a in runner):
        raise InputFileError(
            f"design file {design.source}: field 'runtime.runner': expected a command as a "
            "list of strings"
        )
    roles = {role: path.name for role, path in design.files.items()}
    argv = []
    for arg in runner:
        for name in re.findall(r"{(\w+)}", arg):
            if name not in roles and name not in AGENT_FIELDS:
                raise InputFileError(
                    f"design file {design.source}: field 'runtime.runner': '{{{name}}}' is "
                    f"neither a file role ({', '.join(sorted(roles)) or 'none'}) nor one of "
                    f"{', '.join(sorted(AGENT_FIELDS))}"
                )
            if name in roles:
                arg = arg.replace(f"{{{name}}}", roles[name])
        argv.append(arg)
    first = design.files.get("model") or next(iter(design.files.values()), None)
    if first is None:
        raise InputFileError(f"design file {design.source}: a runner design needs its files")
    options = {**runtime, "argv": argv, **{k: signature[k] for k in ("inputs", "outputs")}}
    return DesignRuntime(posixpath.join(design_subdir(design), first.name), "exec", options)


class SysfsPowerSensors:
    """The monitors the board's kernel exposes (INA226, INA3221), found once."""

    def __init__(self, ssh: SshTransport, names: dict[str, str]) -> None:
        self.ssh = ssh
        self.names = names
        self._found: list[PowerSensor] | None = None

    def sensors(self) -> list[PowerSensor]:
        if self._found is None:
            self._found = discover(self.ssh, self.names)
        return self._found
