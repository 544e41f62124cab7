"""Allure: steps, attachments, labels, environment and categories for lab review.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import allure
import numpy as np

if TYPE_CHECKING:
    from pytest_think.boards import BoardConfig
    from pytest_think.checking import CompareReport

# How Allure sorts failures: hardware and flashing, numbers, the link, energy validity.
CATEGORIES = [
    {
        "name": "Flash / hardware faults",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": r".*(FlashError|RemoteCommandError|fpgautil|xmutil|nvpmodel).*",
    },
    {
        "name": "Invalid energy measurements",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": r".*(EnergyInvalid|MeterError).*",
    },
    {
        "name": "Link / infrastructure failures",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": (
            r".*(LinkError|AgentError|AgentTimeout|HostKeyError|ConsoleTimeout|TwinError).*"
        ),
    },
    {
        "name": "Numerical mismatches",
        "matchedStatuses": ["failed"],
        "messageRegex": r".*disagrees with the reference.*",
    },
]


@contextmanager
def step(title: str) -> Iterator[None]:
    with allure.step(title):
        yield


def board_labels(board: BoardConfig) -> None:
    """Group a multi-board history by board and family."""
    dynamic: Any = allure.dynamic  # untyped in allure-pytest
    dynamic.parent_suite(board.name)
    dynamic.label("board", board.name)
    dynamic.label("family", board.family)
    dynamic.tag(board.family)


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
    axes.legend()
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


def environment(
    board: dict[str, Any],
    design_sha256s: list[str],
    meters: list[str],
    reached: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """environment.properties: what ran where. `board` is the session's board as the results
    JSON has it; the last design flashed and the first meter opened stand for the session;
    `reached` is what the provider that reached the board says of it (a farm's place …)."""
    identity = board.get("identity") or {}
    agent = board.get("agent") or {}
    return {
        "board": board.get("name"),
        "family": board.get("family"),
        "target": "digital twin" if board.get("twin") else "hardware",
        "design.sha256": design_sha256s[-1] if design_sha256s else None,
        "agent.version": agent.get("version"),
        "meter": meters[0] if meters else None,
        "board.os": identity.get("os"),
        "board.kernel": identity.get("uname"),
        **(reached or {}),
    }


def write_environment(alluredir: Path, facts: dict[str, Any]) -> None:
    """environment.properties and categories.json beside the results."""
    alluredir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{key}={str(value).replace(chr(10), ' ')}"
        for key, value in facts.items()
        if value is not None
    ]
    (alluredir / "environment.properties").write_text("\n".join(lines) + "\n")
    (alluredir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n")
