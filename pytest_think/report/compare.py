"""`think compare`: boards side by side, from results JSON files.

Writes into one directory:

* ``index.html`` — self-contained (plots inlined, no network), the page a lab shows;
* ``compare.md`` — the same tables in Markdown, for a merge request or a wiki;
* ``latency_energy.png``, ``agreement.png``, ``throughput.png``.

One row per (test, model) and one column group per board; a board without a meter, or a test
that did not run on a board, is a gap ("—"), never an error.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_think.errors import InputFileError
from pytest_think.results import SCHEMA, SCHEMA_VERSION

GAP = "—"


@dataclass
class Cell:
    """One test on one board: its headline figures (None: not measured there)."""

    outcome: str
    vectors: int | None = None
    top1_agreement: float | None = None
    accuracy: float | None = None
    device_p50_us: float | None = None
    device_p99_us: float | None = None
    throughput: float | None = None
    mj_per_inference: float | None = None
    energy_note: str | None = None


@dataclass
class Comparison:
    boards: list[dict[str, Any]] = field(default_factory=list)  # name, family, twin, source
    rows: dict[str, dict[str, Cell]] = field(default_factory=dict)  # test -> board -> cell


def load_results(path: Path) -> dict[str, Any]:
    """A results file, checked: one line naming the file for anything else."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"results file {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"results file {path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputFileError(
            f"results file {path}: not a pytest-think results file (no schema '{SCHEMA}'); "
            "write one with pytest --think-json"
        )
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputFileError(
            f"results file {path}: schema_version {version}, this pytest-think reads "
            f"{SCHEMA_VERSION}; compare it with the pytest-think version that wrote it"
        )
    return doc


def _cell(test: dict[str, Any]) -> Cell:
    cell = Cell(outcome=test.get("outcome", "unknown"))
    if "model" in test:
        device = (test.get("latency") or {}).get("device_ns") or {}
        compare = test.get("compare") or {}
        accuracy = test.get("accuracy") or {}
        cell.vectors = test.get("vectors")
        cell.top1_agreement = compare.get("top1_agreement")
        cell.accuracy = accuracy.get("device")
        cell.device_p50_us = device["p50"] / 1e3 if device.get("p50") is not None else None
        cell.device_p99_us = device["p99"] / 1e3 if device.get("p99") is not None else None
        cell.throughput = test.get("throughput_per_s")
    energy = test.get("energy")
    if energy:
        cell.mj_per_inference = energy.get("mj_per_inference")
        cell.energy_note = None if energy.get("valid") else f"invalid: {energy.get('reason')}"
    return cell


def build(paths: list[Path]) -> Comparison:
    result = Comparison()
    for path in paths:
        doc = load_results(path)
        board = doc["board"]
        name = board["name"]
        if any(b["name"] == name for b in result.boards):
            raise InputFileError(
                f"results file {path}: board '{name}' is already in another file; compare "
                "one run per board"
            )
        result.boards.append(
            {
                "name": name,
                "family": board.get("family"),
                "twin": board.get("twin"),
                "source": str(path),
            }
        )
        for test in doc.get("tests", []):
            key = test["nodeid"].rsplit("::", 1)[-1]
            result.rows.setdefault(key, {})[name] = _cell(test)
    return result


def _fmt(value: float | int | None, spec: str) -> str:
    return GAP if value is None else format(value, spec)


COLUMNS = [
    ("outcome", "outcome", None),
    ("top-1 agreement", "top1_agreement", ".4f"),
    ("accuracy", "accuracy", ".4f"),
    ("device p50 µs", "device_p50_us", ".1f"),
    ("device p99 µs", "device_p99_us", ".1f"),
    ("vectors/s", "throughput", ".0f"),
    ("mJ/inference", "mj_per_inference", ".4g"),
]


def table_rows(comparison: Comparison) -> list[list[str]]:
    """Header, then one row per test and figure, one column per board."""
    names = [b["name"] for b in comparison.boards]
    rows = [["test", "figure", *names]]
    for test, cells in comparison.rows.items():
        for title, attr, spec in COLUMNS:
            values = []
            for name in names:
                cell = cells.get(name)
                if cell is None:
                    values.append(GAP)
                elif spec is None:
                    values.append(str(getattr(cell, attr)))
                elif attr == "mj_per_inference" and cell.energy_note:
                    values.append(cell.energy_note)
                else:
                    values.append(_fmt(getattr(cell, attr), spec))
            if any(v != GAP for v in values):
                rows.append([test, title, *values])
    return rows


def _plots(comparison: Comparison, out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [b["name"] for b in comparison.boards]
    files: dict[str, Path] = {}

    def best(attr: str) -> dict[str, float]:
        found: dict[str, float] = {}
        for cells in comparison.rows.values():
            for name, cell in cells.items():
                value = getattr(cell, attr)
                if value is not None and name not in found:
                    found[name] = value
        return found

    latency, energy = best("device_p50_us"), best("mj_per_inference")
    figure, axes = plt.subplots(figsize=(6.5, 4))
    for name in names:
        if name in latency and name in energy:
            axes.scatter(latency[name], energy[name], s=60)
            axes.annotate(
                name, (latency[name], energy[name]), textcoords="offset points", xytext=(6, 4)
            )
    axes.set_xlabel("device latency p50 (µs)")
    axes.set_ylabel("energy per inference (mJ)")
    axes.set_title("latency vs energy (boards with a meter)")
    files["latency_energy"] = out / "latency_energy.png"
    figure.savefig(files["latency_energy"], dpi=100, bbox_inches="tight")
    plt.close(figure)

    for key, attr, label in (
        ("agreement", "top1_agreement", "top-1 agreement with the reference"),
        ("throughput", "throughput", "vectors/s"),
    ):
        values = best(attr)
        figure, axes = plt.subplots(figsize=(6.5, 3.5))
        shown = [n for n in names if n in values]
        axes.bar(shown, [values[n] for n in shown], color="tab:blue")
        axes.set_ylabel(label)
        axes.set_title(label)
        axes.tick_params(axis="x", rotation=20)
        files[key] = out / f"{key}.png"
        figure.savefig(files[key], dpi=100, bbox_inches="tight")
        plt.close(figure)
    return files


def _markdown(comparison: Comparison, rows: list[list[str]]) -> str:
    lines = ["# THINK board comparison", ""]
    lines.append("| board | family | target | results |")
    lines.append("|---|---|---|---|")
    for b in comparison.boards:
        target = "twin" if b["twin"] else "hardware"
        lines.append(f"| {b['name']} | {b['family']} | {target} | {b['source']} |")
    lines += ["", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    lines += [
        "",
        "![latency vs energy](latency_energy.png)",
        "![agreement](agreement.png)",
        "![throughput](throughput.png)",
        "",
    ]
    return "\n".join(lines)


def _html(comparison: Comparison, rows: list[list[str]], plots: dict[str, Path]) -> str:
    def esc(text: str) -> str:
        return html.escape(text)

    boards = "".join(
        f"<tr><td class='board'>{esc(b['name'])}</td><td>{esc(str(b['family']))}</td>"
        f"<td>{'twin' if b['twin'] else 'hardware'}</td></tr>"
        for b in comparison.boards
    )
    head = "".join(f"<th>{esc(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows[1:]
    )
    images = "".join(
        f"<figure><img alt='{esc(key)}' src='data:image/png;base64,"
        f"{base64.b64encode(path.read_bytes()).decode()}'><figcaption>{esc(key)}</figcaption>"
        "</figure>"
        for key, path in plots.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>THINK board comparison</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, td:nth-child(2) {{ text-align: left; }}
figure {{ display: inline-block; margin: 1em; }} img {{ max-width: 640px; }}
</style></head>
<body>
<h1>THINK board comparison</h1>
<table id="boards"><tr><th>board</th><th>family</th><th>target</th></tr>{boards}</table>
<table id="figures"><tr>{head}</tr>{body}</table>
<div id="plots">{images}</div>
</body></html>
"""


def write_comparison(paths: list[Path], out: Path) -> Path:
    """Build the comparison of `paths` into `out`; returns the index.html path."""
    comparison = build(paths)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".think-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputFileError(
            f"output directory {out}: cannot write there ({exc.strerror})"
        ) from None
    rows = table_rows(comparison)
    plots = _plots(comparison, out)
    (out / "compare.md").write_text(_markdown(comparison, rows), encoding="utf-8")
    index = out / "index.html"
    index.write_text(_html(comparison, rows, plots), encoding="utf-8")
    return index
