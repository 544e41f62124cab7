"""Board outputs checked against the onnxruntime reference on the host.

Comparison follows the ONNX backend tests: output count, names, shapes and dtypes first, then
``|got - expected| <= atol + rtol * |expected|`` element-wise (rtol 1e-3, atol 1e-7 by
default). Integer outputs compare exactly or within `lsb` units of least precision. Float
classifier outputs (one row of class scores per vector, model_signature.class_scores) also get
top-1 / top-k agreement. Board and reference outputs both hold vectors along their first axis,
each of the per-vector shape the model's batch axes give (agent/think_layout.py); a board whose
shapes differ is a structural disagreement, reported without comparing values.
Work is done in chunks of vectors so memory stays bounded on large sets.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_think.errors import InputFileError
from pytest_think.model_signature import VectorSignature, class_scores, show_shape
from pytest_think.reference import ReferenceModel
from pytest_think.vectors import VectorSet, release_rows


@dataclass(order=True)
class Mismatch:
    error: float
    vector: int = field(compare=False)
    output: str = field(compare=False)
    position: tuple[int, ...] = field(compare=False)
    got: float = field(compare=False)
    expected: float = field(compare=False)


@dataclass
class OutputStats:
    name: str
    dtype: str
    elements: int = 0
    mismatches: int = 0
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    cosine_min: float | None = None
    top1_agreement: float | None = None
    topk_agreement: float | None = None
    k: int | None = None
    device_accuracy: float | None = None
    reference_accuracy: float | None = None
    _top1_hits: int = 0
    _topk_hits: int = 0
    _rows: int = 0
    _device_label_hits: int = 0
    _reference_label_hits: int = 0


@dataclass
class Tolerance:
    rtol: float = 1e-3
    atol: float = 1e-7
    lsb: int = 0
    topk: int = 5
    min_top1_agreement: float | None = None
    min_cosine: float | None = None
    # Share of elements allowed outside rtol/atol: quantized hardware is judged on the whole
    # (top-1 agreement, cosine) with a bounded number of elements off by more than a step.
    max_mismatch_fraction: float = 0.0


@dataclass
class CompareReport:
    model: str
    vectors: int
    tolerance: Tolerance
    outputs: dict[str, OutputStats]
    worst: list[Mismatch]
    problems: list[str]
    # The output whose class scores give the accuracy; None: the first classifier output.
    scores: str | None = None
    # False: the outputs' names, dtypes or shapes differ from the reference's, so no value
    # was compared (and no mismatch count means anything).
    compared: bool = True

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def mismatches(self) -> int:
        return sum(o.mismatches for o in self.outputs.values())

    @property
    def max_abs_err(self) -> float:
        return max((o.max_abs_err for o in self.outputs.values()), default=0.0)

    @property
    def max_rel_err(self) -> float:
        return max((o.max_rel_err for o in self.outputs.values()), default=0.0)

    @property
    def cosine_min(self) -> float | None:
        values = [o.cosine_min for o in self.outputs.values() if o.cosine_min is not None]
        return min(values) if values else None

    @property
    def top1_agreement(self) -> float | None:
        values = [o.top1_agreement for o in self.outputs.values() if o.top1_agreement is not None]
        return min(values) if values else None

    @property
    def accuracy(self) -> dict[str, float]:
        """Top-1 accuracy against the labels (device, reference) of the `scores` output, or of
        the first classifier output."""
        chosen = [self.outputs[self.scores]] if self.scores in self.outputs else []
        for o in chosen or self.outputs.values():
            if o.device_accuracy is not None and o.reference_accuracy is not None:
                return {"device": o.device_accuracy, "reference": o.reference_accuracy}
        return {}

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "max_abs_err": self.max_abs_err,
            "max_rel_err": self.max_rel_err,
            "mismatches": self.mismatches,
            "cosine_min": self.cosine_min,
            "top1_agreement": self.top1_agreement,
            "rtol": self.tolerance.rtol,
            "atol": self.tolerance.atol,
            "max_mismatch_fraction": self.tolerance.max_mismatch_fraction,
            "problems": self.problems,
            "outputs": {
                name: {
                    "dtype": o.dtype,
                    "elements": o.elements,
                    "mismatches": o.mismatches,
                    "max_abs_err": o.max_abs_err,
                    "max_rel_err": o.max_rel_err,
                    "cosine_min": o.cosine_min,
                    "top1_agreement": o.top1_agreement,
                    "topk_agreement": o.topk_agreement,
                    "k": o.k,
                    "device_accuracy": o.device_accuracy,
                    "reference_accuracy": o.reference_accuracy,
                }
                for name, o in self.outputs.items()
            },
        }

    def table(self) -> str:
        """The worst mismatches, short enough to read in a terminal."""
        if not self.worst:
            return ""
        rows = [("vector", "output", "position", "got", "expected", "error")]
        rows += [
            (
                str(m.vector),
                m.output,
                str(list(m.position)),
                f"{m.got:.6g}",
                f"{m.expected:.6g}",
                f"{m.error:.3g}",
            )
            for m in self.worst
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
        return "\n".join(lines)

    def summary(self) -> str:
        t = self.tolerance
        if not self.compared:
            return "\n".join(
                [
                    f"{self.model}: the board's outputs are not shaped as the reference's "
                    f"over {self.vectors} vectors; no value was compared",
                    *[f"- {p}" for p in self.problems],
                ]
            )
        head = (
            f"{self.model}: {self.mismatches} mismatching elements over {self.vectors} vectors "
            f"(rtol={t.rtol:g}, atol={t.atol:g}); max abs err {self.max_abs_err:.3g}, "
            f"max rel err {self.max_rel_err:.3g}"
        )
        if self.top1_agreement is not None:
            head += f", top-1 agreement {self.top1_agreement:.4f}"
        if self.cosine_min is not None:
            head += f", min cosine {self.cosine_min:.6f}"
        parts = [head, *[f"- {p}" for p in self.problems]]
        if self.worst:
            parts += [f"worst {len(self.worst)} mismatches:", self.table()]
        return "\n".join(parts)


def compare(
    model: ReferenceModel,
    vectors: VectorSet,
    outputs: dict[str, np.ndarray],
    tolerance: Tolerance,
    worst_n: int = 10,
    scores: str | None = None,
) -> CompareReport:
    """Compare board outputs (all vectors) with the reference, chunk by chunk. `scores` names
    the output whose class scores give the accuracy (a model with several classifier outputs,
    such as the exits of an early-exit network); by default the first one."""
    sig_outputs = model.signature["outputs"]
    ref_names = [o["name"] for o in sig_outputs]
    if scores is not None and scores not in ref_names:
        raise InputFileError(
            f"model {model.path}: no output '{scores}' to take the accuracy from "
            f"(scores=); its outputs are {', '.join(ref_names)}"
        )
    VectorSignature.of(model.signature).take(model.path, vectors.path, vectors.inputs)
    problems: list[str] = []

    def unshaped(stats: dict[str, OutputStats]) -> CompareReport:  # no value compared
        name = model.path.name
        return CompareReport(name, vectors.count, tolerance, stats, [], problems, scores, False)

    if sorted(outputs) != sorted(ref_names):
        problems.append(
            f"board returned outputs {sorted(outputs)}, reference has {sorted(ref_names)}"
        )
        return unshaped({})
    stats = {n: OutputStats(n, outputs[n].dtype.name) for n in ref_names}
    heap: list[Mismatch] = []
    checked_structure = False
    for start, stop, ref in model.run_chunks(vectors):
        if not checked_structure:
            checked_structure = True
            for name in ref_names:
                got, exp = outputs[name], ref[name]
                if got.dtype != exp.dtype:
                    problems.append(f"output '{name}' is {got.dtype}, reference is {exp.dtype}")
                if got.shape[1:] != exp.shape[1:]:
                    problems.append(
                        f"output '{name}': the board's vectors have shape "
                        f"{show_shape(got.shape[1:])}, the reference's {show_shape(exp.shape[1:])}"
                    )
                if (len(got) if got.ndim else 0) != vectors.count:  # would broadcast silently
                    problems.append(
                        f"output '{name}' has {len(got) if got.ndim else 0} vectors, "
                        f"expected {vectors.count}"
                    )
            if problems:
                return unshaped(stats)
        for name in ref_names:
            labels = None if vectors.labels is None else vectors.labels[start:stop]
            _accumulate(
                stats[name],
                outputs[name][start:stop],
                ref[name],
                labels,
                start,
                tolerance,
                heap,
                worst_n,
            )
            release_rows(outputs[name], start, stop)  # memory-mapped outputs: read once
    for s in stats.values():
        if s._rows:
            s.top1_agreement = s._top1_hits / s._rows
            s.topk_agreement = s._topk_hits / s._rows
            if vectors.labels is not None:
                s.device_accuracy = s._device_label_hits / s._rows
                s.reference_accuracy = s._reference_label_hits / s._rows
        allowed = int(tolerance.max_mismatch_fraction * s.elements)
        if s.mismatches > allowed:
            limit = f" (allowed {allowed})" if allowed else ""
            problems.append(
                f"output '{s.name}': {s.mismatches} of {s.elements} elements outside "
                f"tolerance{limit}"
                if s.dtype.startswith("float")
                else f"output '{s.name}': {s.mismatches} of {s.elements} elements differ by "
                f"more than {tolerance.lsb} LSB{limit}"
            )
        if (
            tolerance.min_top1_agreement is not None
            and s.top1_agreement is not None
            and s.top1_agreement < tolerance.min_top1_agreement
        ):
            problems.append(
                f"output '{s.name}': top-1 agreement {s.top1_agreement:.4f} "
                f"< {tolerance.min_top1_agreement}"
            )
        # `not >=` so that a NaN cosine (a NaN output) fails the threshold too.
        if (
            tolerance.min_cosine is not None
            and s.cosine_min is not None
            and not s.cosine_min >= tolerance.min_cosine
        ):
            problems.append(
                f"output '{s.name}': min cosine similarity {s.cosine_min:.6f} "
                f"< {tolerance.min_cosine}"
            )
    if scores is not None and vectors.count and stats[scores].k is None:
        raise InputFileError(
            f"model {model.path}: output '{scores}' (per-vector shape "
            f"{tuple(outputs[scores].shape[1:])}, {stats[scores].dtype}) is not class scores, "
            "one float row per vector (scores=)"
        )
    worst = sorted(heap, reverse=True)
    return CompareReport(model.path.name, vectors.count, tolerance, stats, worst, problems, scores)


def _accumulate(
    s: OutputStats,
    got: np.ndarray,
    exp: np.ndarray,
    labels: np.ndarray | None,
    first_vector: int,
    tol: Tolerance,
    heap: list[Mismatch],
    worst_n: int,
) -> None:
    g = np.asarray(got, dtype=np.float64)
    e = np.asarray(exp, dtype=np.float64)
    diff = np.abs(g - e)
    s.elements += diff.size
    if diff.size == 0:
        return
    s.max_abs_err = _max_nan(s.max_abs_err, float(diff.max()))
    # Relative error only where the reference is not within atol of zero, so zeros do not
    # turn a tiny absolute error into an infinite relative one.
    significant = np.abs(e) > tol.atol
    if significant.any():
        s.max_rel_err = _max_nan(
            s.max_rel_err, float((diff[significant] / np.abs(e[significant])).max())
        )
    is_float = np.dtype(s.dtype).kind == "f"
    allowed = tol.atol + tol.rtol * np.abs(e) if is_float else np.full(e.shape, float(tol.lsb))
    bad = ~(diff <= allowed)  # NaN in either side counts as bad
    s.mismatches += int(bad.sum())
    if bad.any():
        flat = np.flatnonzero(bad.reshape(-1))
        # A NaN error (NaN on either side) ranks as the worst; NaN itself does not sort.
        errs = np.nan_to_num(diff.reshape(-1)[flat], nan=np.inf)
        if len(flat) > worst_n:
            keep = np.argpartition(errs, -worst_n)[-worst_n:]
            flat, errs = flat[keep], errs[keep]
        for idx, err in zip(flat, errs):
            pos = np.unravel_index(idx, diff.shape)
            m = Mismatch(
                float(err),
                first_vector + int(pos[0]),
                s.name,
                tuple(int(p) for p in pos[1:]),
                float(g[pos]),
                float(e[pos]),
            )
            if len(heap) < worst_n:
                heapq.heappush(heap, m)
            else:
                heapq.heappushpop(heap, m)
    if is_float:
        gf = g.reshape(len(g), -1)
        ef = e.reshape(len(e), -1)
        gn, en = np.linalg.norm(gf, axis=1), np.linalg.norm(ef, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = (gf * ef).sum(axis=1) / (gn * en)
        # Two all-zero vectors agree perfectly; one zero vector against another does not.
        cos = np.where((gn == 0) & (en == 0), 1.0, np.where((gn == 0) | (en == 0), 0.0, cos))
        cmin = float(np.min(cos))  # NaN (a NaN output) propagates and fails min_cosine
        s.cosine_min = cmin if s.cosine_min is None else _min_nan(s.cosine_min, cmin)
        rows = class_scores(g)
        if rows is not None:
            g, e = rows, e.reshape(rows.shape)
            k = min(tol.topk, g.shape[1])
            s.k = k
            ref_top1 = e.argmax(axis=1)
            dev_top1 = g.argmax(axis=1)
            s._top1_hits += int((dev_top1 == ref_top1).sum())
            if labels is not None:
                s._device_label_hits += int((dev_top1 == labels).sum())
                s._reference_label_hits += int((ref_top1 == labels).sum())
            topk = np.argpartition(-g, k - 1, axis=1)[:, :k]
            s._topk_hits += int((topk == ref_top1[:, None]).any(axis=1).sum())
            s._rows += len(g)


def _max_nan(a: float, b: float) -> float:
    """max() where NaN wins from either side (the builtin drops a NaN in second place)."""
    return b if math.isnan(b) else max(a, b)


def _min_nan(a: float, b: float) -> float:
    """min() where NaN wins from either side."""
    return b if math.isnan(b) else min(a, b)


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of per-vector class scores against integer labels."""
    rows = class_scores(np.asarray(scores))
    if rows is None:
        raise ValueError(
            f"accuracy needs one row of class scores per vector, got shape {scores.shape}"
        )
    return float((rows.argmax(axis=1) == np.asarray(labels)).mean())
