"""The generic family: a Linux board with Python, numpy and onnxruntime, reached over SSH."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pytest_think.agent import AGENT_DIR, AGENT_FILES
from pytest_think.boards import BoardConfig
from pytest_think.designs import Design
from pytest_think.errors import BoardConfigError, InputFileError, LinkError
from pytest_think.families import DesignRuntime
from pytest_think.power.onboard import PowerSensor, discover

if TYPE_CHECKING:
    from pytest_think.transport.link import Link


from pytest_think.transport.ssh import SshTransport


def parse_os_release(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields


# The backend that runs a design's `model` file, by suffix.
MODEL_BACKENDS = {".onnx": "onnxruntime", ".tflite": "tflite"}


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenericLinuxFamily:
    name = "generic"
    Options: type[BaseModel] = NoOptions

    def options(self, board: BoardConfig) -> Any:
        """The board's `options`, validated by this family's Options model."""
        try:
            return self.Options.model_validate(board.options)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in ("options", *err["loc"]))
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = f"not an option of family '{self.name}'"
            raise BoardConfigError(
                f"board file {board.source or board.name}: field '{field}': {message}"
            ) from None

    def check_options(self, board: BoardConfig) -> None:
        self.options(board)

    def prepare(self, board: BoardConfig, transport: SshTransport | None) -> None:
        """A generic board needs nothing set up."""

    def identify(self, board: BoardConfig, transport: SshTransport | None) -> dict[str, Any]:
        transport = self._ssh(board, transport)
        uname = transport.run(["uname", "-a"]).check(transport.where).out.strip()
        release = transport.run(["cat", "/etc/os-release"])
        os_name = (
            parse_os_release(release.out).get("PRETTY_NAME") if release.exit_status == 0 else None
        )
        rails = [s.rail for s in self.power_sensors(board, transport)]
        return {"uname": uname, "os": os_name, "power_rails": rails}

    def agent_command(self, board: BoardConfig, agent_path: str) -> list[str]:
        return [board.agent.interpreter, agent_path]

    @staticmethod
    def _ssh(board: BoardConfig, ssh: SshTransport | None) -> SshTransport:
        if ssh is None:
            raise LinkError(f"board '{board.name}' (family generic) needs an 'ssh' section")
        return ssh

    def start_agent(self, board: BoardConfig, ssh: SshTransport | None) -> Link:
        """Upload the agent and its codec (skipped when unchanged) and start it over SSH."""
        ssh = self._ssh(board, ssh)
        workdir = board.agent.workdir
        ssh.upload([(AGENT_DIR / f, posixpath.join(workdir, f)) for f in AGENT_FILES])
        argv = self.agent_command(board, posixpath.join(workdir, AGENT_FILES[0]))
        return ssh.start(argv, timeout=board.agent.start_timeout)

    def deploy_model(
        self, board: BoardConfig, ssh: SshTransport | None, model: Path, sha: str
    ) -> str:
        """Upload the model under its hash; returns its path relative to the agent's directory."""
        relative = posixpath.join("models", f"{sha[:16]}-{model.name}")
        self._ssh(board, ssh).upload([(model, posixpath.join(board.agent.workdir, relative))])
        return relative

    def power_rail_names(self, board: BoardConfig) -> dict[str, str]:
        """Names for monitors that carry no label, by I2C device ("3-0040": "VCCINT")."""
        return {}

    def power_sensors(
        self, board: BoardConfig, transport: SshTransport | None
    ) -> list[PowerSensor]:
        if transport is None:
            return []
        return discover(transport, self.power_rail_names(board))

    def design_dir(self, board: BoardConfig, design: Design) -> str:
        return posixpath.join(board.agent.workdir, self.design_subdir(design))

    @staticmethod
    def design_subdir(design: Design) -> str:
        """The design's directory relative to the agent's work directory (as LOAD names it)."""
        return posixpath.join("designs", design.sha256[:16])

    def upload_design_files(
        self,
        transport: SshTransport,
        board: BoardConfig,
        design: Design,
        skip: tuple[str, ...] = (),
    ) -> list[str]:
        """Copy the design's files (but the `skip` roles) to its directory; names uploaded."""
        target = self.design_dir(board, design)
        files = [
            (path, posixpath.join(target, path.name))
            for role, path in sorted(design.files.items())
            if role not in skip
        ]
        return transport.upload(files).uploaded

    def design_runtime(
        self,
        board: BoardConfig,
        transport: SshTransport | None,
        design: Design,
        signature: dict[str, Any],
    ) -> DesignRuntime:
        """Run the design's `runner` command if it names one, else its `model` file (or its
        `segment_<i>` files, one after another) with the backend the suffix calls for."""
        if "runner" in design.runtime:
            return self.runner_runtime(board, design, signature)
        roles = design.model_roles()
        models = [design.files[role] for role in roles]
        backend = MODEL_BACKENDS.get(models[0].suffix)
        if backend is None or any(m.suffix != models[0].suffix for m in models):
            known = ", ".join(sorted(MODEL_BACKENDS))
            raise InputFileError(
                f"design file {design.source}: files.{roles[0]}: no backend runs "
                f"'{models[0].suffix}' files on family '{self.name}' (known: {known}; "
                "segments all of one kind)"
            )
        options = dict(design.runtime)
        if backend == "onnxruntime" and board.agent.providers:
            options.setdefault("providers", board.agent.providers)
        paths = [posixpath.join(self.design_subdir(design), m.name) for m in models]
        if len(paths) > 1:
            options["segments"] = paths[1:]
        return DesignRuntime(paths[0], backend, options)

    def flash(self, board: BoardConfig, transport: SshTransport, design: Design) -> list[str]:
        """A CPU board has nothing to configure: loading a design is copying its files."""
        return [f"uploaded {name}" for name in self.upload_design_files(transport, board, design)]

    def design_active(self, board: BoardConfig, transport: SshTransport) -> bool:
        return True

    def runner_runtime(
        self, board: BoardConfig, design: Design, signature: dict[str, Any]
    ) -> DesignRuntime:
        """A design run by its own command (a FINN ``driver.py``, a vendor runner …).

        ``runtime.runner`` is the argv, run in the design's directory; ``{<role>}`` names a
        design file (``{bitstream}``), and ``{input}``, ``{output}``, ``{iodir}``, ``{batch}``
        are the agent's (see the `exec` backend in docs/protocol.md). Other runtime keys
        (``io``, ``device_time``, ``device_batch``, ``timeout_s``) go to the agent as they are."""
        runtime = dict(design.runtime)
        runner = runtime.pop("runner")
        if (
            not isinstance(runner, list)
            or not runner
            or not all(isinstance(a, str) for a in runner)
        ):
            raise InputFileError(
                f"design file {design.source}: field 'runtime.runner': expected a command as a "
                "list of strings"
            )
        roles = {role: path.name for role, path in design.files.items()}
        agent_fields = {"input", "output", "iodir", "batch", "model"}
        argv = []
        for arg in runner:
            for name in re.findall(r"{(\w+)}", arg):
                if name not in roles and name not in agent_fields:
                    raise InputFileError(
                        f"design file {design.source}: field 'runtime.runner': '{{{name}}}' is "
                        f"neither a file role ({', '.join(sorted(roles)) or 'none'}) nor one of "
                        f"{', '.join(sorted(agent_fields))}"
                    )
                if name in roles:
                    arg = arg.replace(f"{{{name}}}", roles[name])
            argv.append(arg)
        first = design.files.get("model") or next(iter(design.files.values()), None)
        if first is None:
            raise InputFileError(f"design file {design.source}: a runner design needs its files")
        options = {**runtime, "argv": argv, **{k: signature[k] for k in ("inputs", "outputs")}}
        return DesignRuntime(
            posixpath.join(self.design_subdir(design), first.name), "exec", options
        )

    def design_record(self, board: BoardConfig) -> str:
        # Copied files survive a reboot, so the record lives beside them.
        return posixpath.join(board.agent.workdir, "designs", "loaded")
