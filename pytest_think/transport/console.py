"""A board's serial console (pyserial): timestamped capture, expect-style waits, a login shell.

Any `serial_for_url` URL works (/dev/ttyUSB0, rfc2217://host:port from ser2net, socket://),
opened by `ports.open_port`.
A reader thread keeps everything the board prints, line by line with the time each line
arrived, so each test can attach the console output of its own time window to its report.
`expect` waits for a regex in what arrived since the last match. `login` and `run` drive the
board's getty and shell for boards with no network.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import serial

from pytest_think.boards import ConsoleConfig
from pytest_think.errors import BoardConfigError, LinkError, ThinkError
from pytest_think.transport.ports import open_port
from pytest_think.transport.shell import CommandResult

STATUS_MARK = "__think_status="
READ_BYTES = 4096


class ConsoleTimeout(ThinkError):
    """The console did not print what was expected in time."""


@dataclass(frozen=True)
class ConsoleLine:
    time: float  # time.time() when the line ended
    text: str


class SerialConsole:
    def __init__(self, config: ConsoleConfig, board: str) -> None:
        self.config = config
        self.where = f"console of board '{board}' ({config.url})"
        self._cond = threading.Condition()
        self._text = ""  # everything received, CR LF folded to LF
        self._pos = 0  # where the next expect starts
        self._lines: list[ConsoleLine] = []
        self._partial = ""
        self._closed = False
        self._reads = 0  # reads the reader finished (each one's text is captured by then)
        self.logged_in = False
        if config.url is None:  # a board file's labgrid place gives it (pytest_think.farm)
            raise LinkError(
                f"{self.where}: no console port to open (the board file's 'console.url')"
            )
        try:
            # exclusive: a port another program (a minicom left open) holds is refused
            self.port = open_port(config.url, config.baud, timeout=0.05, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"{self.where}: cannot open: {exc}") from None
        self._reader = threading.Thread(target=self._read, name="think-console", daemon=True)
        self._reader.start()

    def __repr__(self) -> str:
        return f"<{self.where}>"

    # -- capture --------------------------------------------------------------------------

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self.port.read(READ_BYTES)
            except (serial.SerialException, OSError, TypeError):
                with self._cond:
                    self._closed = True  # port closed under us
                    self._cond.notify_all()
                return
            if not data:
                with self._cond:
                    self._reads += 1
                    self._cond.notify_all()
                continue
            text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "")
            now = time.time()
            with self._cond:
                self._reads += 1
                self._text += text
                self._partial += text
                *done, self._partial = self._partial.split("\n")
                self._lines.extend(ConsoleLine(now, line) for line in done)
                self._cond.notify_all()

    def mark(self) -> int:
        """A position in the captured lines, for `lines_since`."""
        with self._cond:
            return len(self._lines)

    def lines_since(self, mark: int) -> list[ConsoleLine]:
        with self._cond:
            lines = list(self._lines[mark:])
            if self._partial:
                lines.append(ConsoleLine(time.time(), self._partial))
            return lines

    def lines_between(self, start: int, end: int) -> list[ConsoleLine]:
        """The whole lines captured between two marks."""
        with self._cond:
            return list(self._lines[start:end])

    def _waiting(self) -> int:
        try:
            return int(self.port.in_waiting)
        except (serial.SerialException, OSError, TypeError, ValueError):
            return 0

    def settle(self, timeout: float | None = None) -> None:
        """Wait until what the port holds now has been captured (at most `timeout`, the
        console's by default): the read under way may hold bytes taken before, and what is
        still waiting takes one read per 4 KiB after it. What arrives later is not waited for."""
        deadline = time.monotonic() + (self.config.timeout if timeout is None else timeout)
        with self._cond:
            target = self._reads + 1 + -(-self._waiting() // READ_BYTES)
            while self._reads < target and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def last_line(self) -> str:
        with self._cond:
            lines = [ln for ln in self._text.splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    # -- interaction ----------------------------------------------------------------------

    def send(self, text: str) -> None:
        try:
            self.port.write(text.encode())
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.where}: write failed: {exc}") from None

    def sendline(self, text: str = "") -> None:
        self.send(text + "\r")  # what Enter sends on a serial terminal

    def expect(
        self,
        pattern: str | re.Pattern[str],
        timeout: float | None = None,
        what: str | None = None,
    ) -> re.Match[str]:
        """Wait for `pattern` (multiline regex) in the output since the last match.

        `what` names the awaited output in the timeout message (default: the pattern)."""
        regex = re.compile(pattern, re.MULTILINE) if isinstance(pattern, str) else pattern
        timeout = self.config.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = regex.search(self._text, self._pos)
                if found:
                    self._pos = found.end()
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        last = self.last_line()
        said = f"last output: {last!r}" if last else "nothing was printed"
        awaited = what or repr(regex.pattern)
        raise ConsoleTimeout(f"{self.where}: no {awaited} within {timeout:.1f} s; {said}")

    def login(self) -> None:
        """Reach the shell prompt: log in at the getty (or find a shell already there)."""
        login = self.config.login
        prompt = f"(?P<login>{login.login_prompt})|(?P<shell>{login.prompt})"
        self.sendline()
        found = self.expect(prompt, what="login or shell prompt")
        if found.group("login"):
            self.sendline(login.user)
            asked = self.expect(
                rf"(?P<password>[Pp]assword: ?$)|{prompt}", what="password or shell prompt"
            )
            if asked.group("password"):
                self.sendline(self._password())
                asked = self.expect(
                    rf"(?P<incorrect>Login incorrect)|{prompt}", what="shell prompt after login"
                )
                if asked.group("incorrect"):
                    raise LinkError(
                        f"{self.where}: login as '{login.user}' refused: Login incorrect "
                        f"(password from ${login.password_env})"
                    )
            if asked.group("login"):
                raise LinkError(f"{self.where}: login as '{login.user}' refused")
        self.logged_in = True

    def logout(self) -> None:
        """Leave the shell, back to the getty's login prompt."""
        self.sendline("exit")
        self.expect(self.config.login.login_prompt, what="login prompt after exit")
        self.logged_in = False

    def _password(self) -> str:
        name = self.config.login.password_env
        value = os.environ.get(name) if name else None
        if value is None:
            hint = f"set ${name}" if name else "name its variable in console.login.password_env"
            raise BoardConfigError(f"{self.where}: the board asks for a password: {hint}")
        return value

    def run(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        """Run a command in the console's shell; its output and exit status."""
        if not self.logged_in:
            self.login()
        command = shlex.join(argv)
        prompt = self.config.login.prompt
        self.sendline(command)
        # The shell echoes what was typed; the output runs from there to the next prompt.
        self.expect(re.escape(command) + r"\n", timeout, what=f"echo of {command!r}")
        start = self._pos
        found = self.expect(prompt, timeout, what=f"shell prompt after {command!r}")
        with self._cond:
            output = self._text[start : found.start()]
        output = output.rsplit("\n", 1)[0] + "\n" if "\n" in output else ""
        self.sendline(f"echo {STATUS_MARK}$?")
        status = self.expect(rf"^{STATUS_MARK}(\d+)$", timeout)
        self.expect(prompt, timeout)
        return CommandResult(command, int(status.group(1)), output.encode(), b"")

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(serial.SerialException, OSError):
            self.port.close()
        self._reader.join(1.0)
