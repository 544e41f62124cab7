"""The generic family: a Linux board with Python, numpy and onnxruntime, reached over SSH."""

from __future__ import annotations

import posixpath
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pytest_think.boards import Board
from pytest_think.designs import Design
from pytest_think.errors import BoardConfigError
from pytest_think.transport.ssh import SshTransport


def parse_os_release(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenericLinuxFamily:
    name = "generic"
    Options: type[BaseModel] = NoOptions

    def options(self, board: Board) -> Any:
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

    def check_options(self, board: Board) -> None:
        self.options(board)

    def prepare(self, board: Board, transport: SshTransport) -> None:
        """A generic board needs nothing set up."""

    def identify(self, board: Board, transport: SshTransport) -> dict[str, Any]:
        uname = transport.run(["uname", "-a"]).check(transport.where).out.strip()
        release = transport.run(["cat", "/etc/os-release"])
        os_name = (
            parse_os_release(release.out).get("PRETTY_NAME") if release.exit_status == 0 else None
        )
        return {"uname": uname, "os": os_name}

    def agent_command(self, board: Board, agent_path: str) -> list[str]:
        return [board.agent.interpreter, agent_path]

    def design_dir(self, board: Board, design: Design) -> str:
        return posixpath.join(board.agent.workdir, "designs", design.sha256[:16])

    def flash(self, board: Board, transport: SshTransport, design: Design) -> list[str]:
        """A CPU board has nothing to configure: loading a design is copying its files."""
        target = self.design_dir(board, design)
        files = [(path, posixpath.join(target, path.name)) for path in design.files.values()]
        report = transport.upload(files)
        return [f"uploaded {name}" for name in report.uploaded]

    def design_active(self, board: Board, transport: SshTransport) -> bool:
        return True

    def design_record(self, board: Board) -> str:
        # Copied files survive a reboot, so the record lives beside them.
        return posixpath.join(board.agent.workdir, "designs", "loaded")
