"""Reading the files a user gives (board and design files): text that is not UTF-8, a binary
file saved under the wrong name, a truncated or empty file, YAML of the wrong shape — each is
one line naming the file (in the caller's error class), never a traceback.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pytest_think.errors import ThinkError

__all__ = ["UNKNOWN_FIELD", "did_you_mean", "field_problems", "read_text", "read_yaml_mapping"]

UNKNOWN_FIELD = "unknown field (check its spelling and docs/boards.md)"


def read_text(path: Path, what: str, error: type[ThinkError]) -> str:
    """The file's text; `what` names it in the one-line error ("board file PATH")."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found") from None
    except IsADirectoryError:
        raise error(f"{what} is a directory, not a file") from None
    except OSError as exc:
        raise error(f"{what}: cannot read: {exc.strerror or exc}") from None
    if b"\0" in data:
        raise error(f"{what}: a binary file, not text (is it the right file?)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(
            f"{what} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "save it as UTF-8 (is it the right file?)"
        ) from None


def read_yaml_mapping(path: Path, what: str, error: type[ThinkError]) -> dict[str, Any]:
    """The file's YAML, which must be a mapping of fields (one line for anything else)."""
    text = read_text(path, what, error)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{what}{where}: not valid YAML: {problem}") from None
    if data is None:
        raise error(f"{what}: empty; expected a mapping of fields")
    if not isinstance(data, dict):
        raise error(f"{what}: expected a mapping of fields, got {_kind(data)} {_short(data)}")
    return data


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" for the closest of `choices` to a mistyped `name`, or ""."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def field_problems(
    exc: ValidationError,
    section: tuple[str, ...] = (),
    unknown: str = UNKNOWN_FIELD,
    limit: int | None = None,
    model: type[BaseModel] | None = None,
) -> str:
    """A pydantic error as one line: "field 'a.b': what is wrong; field …", with the fields
    named from the top of the file (`section`: where the validated part sits); the first
    `limit` problems only, when given, and how many more. An unknown field is said to be
    `unknown`, with the closest field `model` (the validated model) has there."""
    problems = []
    errors = exc.errors()
    for err in errors[:limit]:
        field = ".".join(str(p) for p in (*section, *err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            names = _fields_at(model, err["loc"][:-1]) if model is not None else []
            message = unknown + did_you_mean(str(err["loc"][-1]), names)
        problems.append(f"field '{field or '(top level)'}': {message}")
    more = len(errors) - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more else "")


def _fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names of the model found at `loc` inside `model` ([] when not a model)."""
    current: type[BaseModel] | None = model
    for part in loc:
        fields = current.model_fields if current is not None else {}
        if not isinstance(part, str) or part not in fields:
            return []
        current = _model_in(fields[part].annotation)
    return list(current.model_fields) if current is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation is, or holds (`X | None`)."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _kind(data: object) -> str:
    return {list: "a list", str: "a string", bool: "a boolean"}.get(type(data), "a number")


def _short(data: object) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."
