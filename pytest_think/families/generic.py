"""The generic family: a Linux board with Python, numpy and onnxruntime, reached over SSH."""

from __future__ import annotations

from typing import Any

from pytest_think.boards import Board
from pytest_think.transport.ssh import SshTransport


def parse_os_release(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields


class GenericLinuxFamily:
    name = "generic"

    def identify(self, board: Board, transport: SshTransport) -> dict[str, Any]:
        uname = transport.run(["uname", "-a"]).check(transport.where).out.strip()
        release = transport.run(["cat", "/etc/os-release"])
        os_name = (
            parse_os_release(release.out).get("PRETTY_NAME") if release.exit_status == 0 else None
        )
        return {"uname": uname, "os": os_name}

    def agent_command(self, board: Board, agent_path: str) -> list[str]:
        return [board.agent.interpreter, agent_path]
