"""Allure: steps, attachments, labels and the board parameter for lab review (the
environment and categories: `allure_environment`).

allure-pytest writes the results when ``--alluredir`` is given; without it its steps and
attachments are no-ops, so these helpers are always safe to call. Plots are drawn with
matplotlib's Agg backend (no display).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import allure
import numpy as np

from pytest_think.report import steps

if TYPE_CHECKING:
    from pytest_think.boards import BoardConfig
    from pytest_think.checking import CompareReport


@contextmanager
def step(title: str) -> Iterator[None]:
    """An Allure step; also the test's current step, which a timeout names (`steps`)."""
    with allure.step(title), steps.opened(title):
        yield


def labels(pairs: list[tuple[str, str]]) -> None:
    """Labels of the test: (name, value) pairs (``board``, ``parentSuite``, ``tag`` …)."""
    dynamic: Any = allure.dynamic  # untyped in allure-pytest
    for name, value in pairs:
        dynamic.label(name, value)


def title(name: str) -> None:
    """The test's name in Allure."""
    dynamic: Any = allure.dynamic
    dynamic.title(name)


def board_parameter(board: str, instead_of: dict[str, Any]) -> None:
    """The board as the test's parameter ``board``: one result per board, never a retry of
    the same test on another board (Allure 3 tells results apart by test case, parameters
    and environment; a session of one board has no board among pytest's parameters). The
    pytest parameters in `instead_of` (a campaign's ``board_spec``) say the same: hidden, and
    left out of the history id, so a board's history is the same in every kind of session."""
    dynamic: Any = allure.dynamic
    for name, value in instead_of.items():
        dynamic.parameter(name, value, excluded=True, mode=allure.parameter_mode.HIDDEN)
    dynamic.parameter("board", board)


def attach_text(name: str, text: str, kind: str = "text") -> None:
    types = {
        "text": allure.attachment_type.TEXT,
        "csv": allure.attachment_type.CSV,
        "json": allure.attachment_type.JSON,
        "yaml": allure.attachment_type.YAML,
    }
    allure.attach(text, name=name, attachment_type=types[kind])


def redacted_board(board: BoardConfig) -> str:
    """The board as configured, for reports: anything secret-looking is masked."""
    from pytest_think.boards import SECRET_KEYS

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: "***"
                if any(s in k.lower() for s in SECRET_KEYS) and not k.endswith("_env")
                else scrub(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return json.dumps(scrub(board.model_dump(mode="json")), indent=2)


def worst_csv(report: CompareReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["vector", "output", "position", "got", "expected", "error"])
    for m in report.worst:
        writer.writerow([m.vector, m.output, list(m.position), m.got, m.expected, m.error])
    return out.getvalue()


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return buffer.getvalue()


def latency_png(device_ns: np.ndarray, host_ns: np.ndarray, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.5))
    top = float(np.percentile(host_ns, 99.5)) / 1e3 if len(host_ns) else 1.0
    bins = [float(b) for b in np.linspace(0, max(top, 1e-3), 60)]
    axes.hist(np.clip(host_ns / 1e3, 0, top), bins=bins, alpha=0.6, label="host round trip")
    axes.hist(np.clip(device_ns / 1e3, 0, top), bins=bins, alpha=0.8, label="device")
    axes.set_xlabel("µs per vector")
    axes.set_ylabel("vectors")
    axes.set_title(title)
    # A fixed corner: the long right tail is low. "best" searches every bar, and matplotlib
    # warns (into the lab's test summary) when that search is slow on a busy host.
    axes.legend(loc="upper right")
    return _png(figure)


def power_png(
    times_s: np.ndarray, watts: np.ndarray, window: tuple[float, float], idle_w: float, title: str
) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.5))
    axes.plot(times_s, watts, linewidth=0.6, label="power")
    axes.axvspan(window[0], window[1], color="tab:green", alpha=0.15, label="measurement window")
    axes.axhline(idle_w, color="tab:gray", linestyle="--", label=f"idle {idle_w:.3g} W")
    axes.set_xlabel("s since the acquisition started")
    axes.set_ylabel("W")
    axes.set_title(title)
    axes.legend(loc="lower right")
    return _png(figure)


def table_png(
    title: str, columns: list[str], rows: list[list[Any]], x: str, ys: list[str]
) -> bytes:
    """A trade-off plot of a recorded table: each `ys` column against `x`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.5, 4))
    xi = columns.index(x)
    for y in ys:
        yi = columns.index(y)
        points = [(r[xi], r[yi]) for r in rows if r[xi] is not None and r[yi] is not None]
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=y)
    axes.set_xlabel(x)
    axes.set_title(title)
    if len(ys) == 1:
        axes.set_ylabel(ys[0])
    else:
        axes.legend(loc="best")
    return _png(figure)


def attach_png(name: str, png: bytes) -> None:
    allure.attach(png, name=name, attachment_type=allure.attachment_type.PNG)
