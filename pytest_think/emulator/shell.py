"""The small command set a board twin answers, with the outputs and exit codes of coreutils.

The twin never hands a command line to a host shell: each command is parsed here and served
from the sandbox. Anything else is answered as ``sh`` would answer an unknown command.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import shlex
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pytest_think.emulator.sandbox import Sandbox


@dataclass
class ShellIO:
    """Where a command reads and writes: bytes in, bytes out, collected or streamed."""

    read_stdin: Callable[[], Awaitable[bytes]]
    out: Callable[[bytes], None]
    err: Callable[[bytes], None]


@dataclass
class Uname:
    system: str
    hostname: str
    kernel: str
    version: str
    machine: str


Command = Callable[[list[str], ShellIO], Awaitable[int]]


@dataclass
class BoardShell:
    sandbox: Sandbox
    uname: Uname
    interpreters: set[str] = field(default_factory=lambda: {"python3", "python"})
    # The tools of a board family's twin (fpgautil, xmutil, nvpmodel …), by command name.
    tools: dict[str, Command] = field(default_factory=dict)
    # Character devices by board path (/dev/kmsg): what a write to them does.
    devices: dict[str, Callable[[bytes], None]] = field(default_factory=dict)

    def split(self, command: str) -> list[list[str]] | str:
        """Split a command line into `&&`-joined simple commands, or return the sh error."""
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError as exc:
            return f"sh: 1: Syntax error: {exc}\n"
        commands: list[list[str]] = [[]]
        for tok in tokens:
            if tok == "&&":
                commands.append([])
            elif tok and set(tok) <= set(";&|<>"):
                return f"sh: 1: '{tok}' is not supported by this board's command set\n"
            else:
                commands[-1].append(tok)
        if any(not c for c in commands):
            return "sh: 1: Syntax error: '&&' unexpected\n"
        return commands

    async def run(self, argv: list[str], io: ShellIO) -> int:
        name, args = argv[0], argv[1:]
        if name in self.tools:
            return await self.tools[name](args, io)
        handler = _COMMANDS.get(name)
        if handler is None:
            io.err(f"sh: 1: {name}: not found\n".encode())
            return 127
        return await handler(self, args, io)

    # -- commands -------------------------------------------------------------------------

    async def _true(self, args: list[str], io: ShellIO) -> int:
        return 0

    async def _false(self, args: list[str], io: ShellIO) -> int:
        return 1

    async def _echo(self, args: list[str], io: ShellIO) -> int:
        newline = True
        if args[:1] == ["-n"]:
            newline, args = False, args[1:]
        io.out((" ".join(args) + ("\n" if newline else "")).encode())
        return 0

    async def _uname(self, args: list[str], io: ShellIO) -> int:
        u = self.uname
        fields = {
            "s": u.system,
            "n": u.hostname,
            "r": u.kernel,
            "v": u.version,
            "m": u.machine,
            "o": "GNU/Linux",
        }
        flags = "".join(a.lstrip("-") for a in args) or "s"
        if "a" in flags:
            flags = "snrvmo"
        unknown = set(flags) - set(fields)
        if unknown:
            io.err(f"uname: invalid option -- '{sorted(unknown)[0]}'\n".encode())
            return 1
        io.out((" ".join(fields[f] for f in "snrvmo" if f in flags) + "\n").encode())
        return 0

    async def _hostname(self, args: list[str], io: ShellIO) -> int:
        io.out(f"{self.uname.hostname}\n".encode())
        return 0

    async def _cat(self, args: list[str], io: ShellIO) -> int:
        status = 0
        for name in [a for a in args if a != "--"]:
            path = self.sandbox.host_path(name)
            if path is None or not path.exists():
                io.err(f"cat: {name}: No such file or directory\n".encode())
                status = 1
            elif path.is_dir():
                io.err(f"cat: {name}: Is a directory\n".encode())
                status = 1
            else:
                io.out(path.read_bytes())
        return status

    async def _sha256sum(self, args: list[str], io: ShellIO) -> int:
        names = [a for a in args if a != "--"]
        if not names:
            digest = hashlib.sha256()
            while chunk := await io.read_stdin():
                digest.update(chunk)
            io.out(f"{digest.hexdigest()}  -\n".encode())
            return 0
        status = 0
        for name in names:
            path = self.sandbox.host_path(name)
            if path is None or not path.is_file():
                what = "Is a directory" if path and path.is_dir() else "No such file or directory"
                io.err(f"sha256sum: {name}: {what}\n".encode())
                status = 1
                continue
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
            io.out(f"{digest.hexdigest()}  {name}\n".encode())
        return status

    async def _mkdir(self, args: list[str], io: ShellIO) -> int:
        parents = "-p" in args
        status = 0
        for name in [a for a in args if not a.startswith("-")]:
            path = self.sandbox.host_path(name)
            if path is None:
                io.err(f"mkdir: cannot create directory '{name}': Permission denied\n".encode())
                status = 1
                continue
            try:
                path.mkdir(parents=parents, exist_ok=parents)
            except FileExistsError:
                io.err(f"mkdir: cannot create directory '{name}': File exists\n".encode())
                status = 1
            except FileNotFoundError:
                io.err(
                    f"mkdir: cannot create directory '{name}': No such file or directory\n".encode()
                )
                status = 1
        return status

    async def _rm(self, args: list[str], io: ShellIO) -> int:
        flags = "".join(a.lstrip("-") for a in args if a.startswith("-"))
        status = 0
        for name in [a for a in args if not a.startswith("-")]:
            path = self.sandbox.host_path(name)
            if path is None or path == self.sandbox.root:
                io.err(f"rm: cannot remove '{name}': Permission denied\n".encode())
                status = 1
            elif not path.exists():
                if "f" not in flags:
                    io.err(f"rm: cannot remove '{name}': No such file or directory\n".encode())
                    status = 1
            elif path.is_dir():
                if "r" not in flags:
                    io.err(f"rm: cannot remove '{name}': Is a directory\n".encode())
                    status = 1
                else:
                    shutil.rmtree(path)
            else:
                path.unlink()
        return status

    async def _ls(self, args: list[str], io: ShellIO) -> int:
        names = [a for a in args if not a.startswith("-")] or ["."]
        status = 0
        for name in names:
            path = self.sandbox.host_path(name)
            if path is None or not path.exists():
                io.err(f"ls: cannot access '{name}': No such file or directory\n".encode())
                status = 2
            elif path.is_dir():
                io.out("".join(f"{p.name}\n" for p in sorted(path.iterdir())).encode())
            else:
                io.out(f"{name}\n".encode())
        return status

    async def _test(self, args: list[str], io: ShellIO) -> int:
        if len(args) != 2 or args[0] not in ("-e", "-f", "-d"):
            io.err(b"sh: 1: test: only -e, -f and -d are supported by this board's command set\n")
            return 2
        path = self.sandbox.host_path(args[1])
        if path is None:
            return 1
        check = {"-e": path.exists, "-f": path.is_file, "-d": path.is_dir}[args[0]]
        return 0 if check() else 1

    async def _nproc(self, args: list[str], io: ShellIO) -> int:
        io.out(f"{os.cpu_count() or 1}\n".encode())
        return 0

    async def _tee(self, args: list[str], io: ShellIO) -> int:
        """Copy stdin to stdout and to each file (a device takes each chunk as one write)."""
        append = any(a in ("-a", "--append") for a in args)
        names = [a for a in args if not a.startswith("-")]
        status = 0
        targets: list[Callable[[bytes], None]] = []
        for name in names:
            device = self.devices.get(self.sandbox.board_path(name))
            path = self.sandbox.host_path(name)
            if device is not None:
                targets.append(device)
            elif path is None or path.is_dir() or not path.parent.is_dir():
                io.err(f"tee: {name}: No such file or directory\n".encode())
                status = 1
            else:
                with open(path, "ab" if append else "wb"):
                    pass  # created, or emptied
                targets.append(functools.partial(_append, path))
        while chunk := await io.read_stdin():
            io.out(chunk)
            for target in targets:
                target(chunk)
        return status

    async def _sleep(self, args: list[str], io: ShellIO) -> int:
        try:
            seconds = sum(float(a) for a in args) if args else None
        except ValueError:
            seconds = None
        if seconds is None:
            io.err(b"sleep: missing or invalid operand\n")
            return 1
        await asyncio.sleep(seconds)
        return 0


def _append(path: os.PathLike[str], data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


_COMMANDS: dict[str, Callable[[BoardShell, list[str], ShellIO], Awaitable[int]]] = {
    "true": BoardShell._true,
    "false": BoardShell._false,
    "echo": BoardShell._echo,
    "uname": BoardShell._uname,
    "hostname": BoardShell._hostname,
    "cat": BoardShell._cat,
    "sha256sum": BoardShell._sha256sum,
    "mkdir": BoardShell._mkdir,
    "rm": BoardShell._rm,
    "ls": BoardShell._ls,
    "test": BoardShell._test,
    "nproc": BoardShell._nproc,
    "sleep": BoardShell._sleep,
    "tee": BoardShell._tee,
}
