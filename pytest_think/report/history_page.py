"""`think history`'s output: one PNG per board × (test, model) — latency p50 (its 95 %
interval as error bars) and p99, throughput, energy per inference, accuracy, each over the
runs — and ``index.html``, self-contained (plots inlined, no network), with each series'
figures as a table under its plot."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from pytest_think.report.deltas import FIGURES, Measure, plain_number
from pytest_think.report.history import History, Series, collect, read_history

__all__ = ["write_history"]

PANELS = ["latency", "p99", "throughput", "energy", "accuracy"]
MAX_TICKS = 12


def _plot(series: Series, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # The runs in date order, evenly spaced, each labelled with its date and commit.
    panels = [n for n in PANELS if any(n in m for _, m in series.points)]
    figure, axes_list = plt.subplots(
        len(panels), 1, figsize=(7.5, 1.6 * len(panels) + 0.9), sharex=True, squeeze=False
    )
    for axes, name in zip((a[0] for a in axes_list), panels):
        points = [(i, m[name]) for i, (_, m) in enumerate(series.points) if name in m]
        low = [m.value - m.lo if m.lo is not None and m.has_interval else 0 for _, m in points]
        high = [m.hi - m.value if m.hi is not None and m.has_interval else 0 for _, m in points]
        axes.errorbar(
            [i for i, _ in points],
            [m.value for _, m in points],
            yerr=[low, high],
            fmt="o-",
            capsize=3,
            markersize=4,
        )
        figure_ = FIGURES[name]
        axes.set_ylabel(figure_.unit)
        axes.set_title(figure_.title, fontsize=9, loc="left")
        axes.grid(alpha=0.3)
    runs = [run for run, _ in series.points]
    step = max(1, -(-len(runs) // MAX_TICKS))
    bottom = axes_list[-1][0]
    bottom.set_xticks(range(0, len(runs), step))
    bottom.set_xticklabels([r.label.replace(" ", "\n") for r in runs[::step]], fontsize=7)
    bottom.set_xlim(-0.5, len(runs) - 0.5)
    figure.suptitle(f"{series.name} on {series.board}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60]


def _cell(m: Measure | None) -> str:
    if m is None:
        return "—"
    if m.has_interval and m.lo is not None and m.hi is not None and m.lo != m.hi:
        return f"{plain_number(m.value)} ({plain_number(m.lo)}–{plain_number(m.hi)})"
    return plain_number(m.value)


def _table(series: Series) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(f.title)} ({esc(f.unit)})</th>" for f in FIGURES.values())
    rows = []
    for i, (run, found) in enumerate(series.points):
        cells = "".join(f"<td>{esc(_cell(found.get(n)))}</td>" for n in FIGURES)
        design = series.designs.get(i, "")
        rows.append(f"<tr><td class='run'>{esc(run.label)}</td><td>{esc(design)}</td>{cells}</tr>")
    return (
        f"<table><tr><th>run (date, commit)</th><th>design commit</th>{head}</tr>"
        f"{''.join(rows)}</table>"
    )


def _page(history: History, images: dict[tuple[str, str], Path]) -> str:
    esc = html.escape
    runs = "".join(
        f"<tr><td class='run'>{esc(r.label)}</td><td class='board'>{esc(r.board)}</td>"
        f"<td>{esc(r.commit or '—')}</td><td>{esc(r.source.name)}</td></tr>"
        for r in history.runs
    )
    sections = []
    for board in history.boards():
        parts = [f"<section><h2>{esc(board)}</h2>"]
        for key, series in history.series.items():
            if series.board != board:
                continue
            data = base64.b64encode(images[key].read_bytes()).decode()
            parts.append(
                f"<h3>{esc(series.name)}</h3><figure><img alt='{esc(series.name)} on "
                f"{esc(board)}' src='data:image/png;base64,{data}'></figure>{_table(series)}"
            )
        parts.append("</section>")
        sections.append("".join(parts))
    notes = "".join(f"<li>{esc(line)}</li>" for line in history.skipped)
    if history.left_out:
        notes += (
            f"<li>{history.left_out} series of single-vector cases (conformance) left out: "
            "one vector's time is no figure to follow</li>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>THINK history</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 75em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 2em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; font-size: 0.9em; }}
th {{ background: #f3f3f3; }} td.run, td.board {{ text-align: left; white-space: nowrap; }}
img {{ max-width: 100%; }} figure {{ margin: 0; }}
</style></head>
<body>
<h1>THINK history: {len(history.runs)} runs</h1>
<table><tr><th>run (date, commit)</th><th>board</th><th>tests' commit</th><th>file</th></tr>
{runs}</table>
<ul>{notes}</ul>
{"".join(sections)}
</body></html>
"""


def write_history(inputs: list[Path], out: Path) -> tuple[Path, History]:
    """Read the results files of `inputs`, write the plots and index.html into `out`."""
    docs, skipped = read_history(inputs)
    history = collect(docs, skipped)
    out.mkdir(parents=True, exist_ok=True)
    images: dict[tuple[str, str], Path] = {}
    for n, (key, series) in enumerate(history.series.items()):
        path = images[key] = out / f"{n:03d}-{_slug(series.board)}-{_slug(series.name)}.png"
        _plot(series, path)
    index = out / "index.html"
    index.write_text(_page(history, images), encoding="utf-8")
    return index, history
