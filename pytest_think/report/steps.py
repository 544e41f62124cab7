"""The step a test is in: what a time limit names when it runs out ("while flash design Z").

`allure_report.step` opens the steps (the same titles Allure shows); progress notes what the
innermost one has got to (``1200/10000 vectors``, ``trial 3/5``). Steps are opened by the test's
own thread; notes may come from any (a pool's members stream in threads of their own).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["current", "note", "opened"]

# The open steps, outermost first: [title, what it has got to].
_open: list[list[str]] = []


@contextmanager
def opened(title: str) -> Iterator[None]:
    """`title` is the innermost step until the block ends."""
    entry = [title, ""]
    _open.append(entry)
    try:
        yield
    finally:
        if entry in _open:
            _open.remove(entry)


def note(detail: str) -> None:
    """What the innermost step has got to (replaces the last note)."""
    if _open:
        _open[-1][1] = detail


def current() -> str | None:
    """The innermost open step with its note, or None outside every step."""
    if not _open:
        return None
    title, detail = _open[-1]
    return f"{title} ({detail})" if detail else title
