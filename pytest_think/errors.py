"""Errors that reach a lab engineer as one clear line (no traceback from pytest-think)."""

from __future__ import annotations


class ThinkError(Exception):
    """Base class: the message alone says what is wrong and what to do."""


class BoardConfigError(ThinkError):
    """A board file is missing, unknown, or invalid (names the file and field)."""


class InputFileError(ThinkError):
    """A model or vector file is missing, unreadable, or does not fit the model."""


class UnsupportedModel(InputFileError):
    """A model newer than the board's runtime runs (its IR version or an opset), found on the
    host before the model was sent (pytest_think.model_check)."""


class LinkError(ThinkError):
    """The board cannot be reached or the connection failed (names host:port and cause)."""


class HostKeyError(LinkError):
    """The board's SSH host key does not match the pinned or known one."""


class LoginRefused(LinkError):
    """The board answered SSH but refused the login (user, key or password)."""


class RemoteCommandError(ThinkError):
    """A command on the board failed or timed out."""


class AgentError(ThinkError):
    """The board-side agent refused a request, broke the protocol or died."""


class AgentRefused(AgentError):
    """The agent answered a request with an ERROR frame: `code` says which kind
    (``load_failed``: the board's backend cannot run the model; ``infer_failed`` …)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class AgentTimeout(AgentError):
    """The agent did not answer in time."""


class TwinError(ThinkError):
    """A digital twin could not be started."""


class FlashError(ThinkError):
    """A design could not be loaded onto the board, or the board did not confirm it."""


class FarmError(ThinkError):
    """A board's labgrid place cannot be had: the coordinator, the place, who holds it."""


class CommandTimeout(RemoteCommandError):
    """A command on the board did not finish within its timeout."""


class BoardHung(AgentTimeout):
    """The board stopped answering within its watchdog bound (pytest_think.watchdog)."""


class BoardDown(ThinkError):
    """A hung board could not be brought back: its remaining tests stop with this line."""
