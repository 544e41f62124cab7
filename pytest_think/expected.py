"""A run checked against expected outputs given with the model (a conformance suite's
``output_N.pb``), rather than against onnxruntime on the host (`checking`).

The judgement is a backend test's: the number of outputs, each output's dtype and shape, then
values within rtol/atol (floats) or equal (integers, booleans). What the run was checked
against is said in the report, the results JSON (`expected` of the run) and the summary row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ExpectedReport", "compare_expected"]


@dataclass
class ExpectedReport:
    against: str  # what the expected outputs are, in the words of the reports
    rtol: float
    atol: float
    outputs: int
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        verdict = "agree" if self.passed else "disagree"
        what = f"{self.outputs} output{'s' if self.outputs != 1 else ''}"
        head = f"{what} {verdict} with {self.against} (rtol {self.rtol:g}, atol {self.atol:g})"
        return head + (f": {'; '.join(self.problems)}" if self.problems else "")

    def as_json(self) -> dict[str, Any]:
        return {
            "against": self.against,
            "passed": self.passed,
            "outputs": self.outputs,
            "rtol": self.rtol,
            "atol": self.atol,
            "problems": list(self.problems),
        }


def compare_expected(
    got: Sequence[np.ndarray],
    expected: Sequence[np.ndarray],
    against: str,
    rtol: float = 1e-3,
    atol: float = 1e-7,
) -> ExpectedReport:
    """Outputs `got` (in the model's output order) against `expected`, as a backend test
    judges them."""
    report = ExpectedReport(against, rtol, atol, len(expected))
    if len(got) != len(expected):
        report.problems.append(f"{len(got)} outputs, {against} have {len(expected)}")
        return report
    for i, (g, e) in enumerate(zip(got, expected)):
        g, e = np.asarray(g), np.asarray(e)
        if g.dtype != e.dtype:
            report.problems.append(f"output {i}: dtype {g.dtype}, expected {e.dtype}")
        elif g.shape != e.shape:
            report.problems.append(f"output {i}: shape {g.shape}, expected {e.shape}")
        elif np.issubdtype(e.dtype, np.floating) or np.issubdtype(e.dtype, np.complexfloating):
            close = np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
            if not close.all():
                bad = int(close.size - np.count_nonzero(close))
                err = float(np.max(np.abs(g - e)[~close]))
                report.problems.append(
                    f"output {i}: {bad} of {close.size} elements differ (max abs err {err:.3g})"
                )
        elif not np.array_equal(g, e):
            bad = int(np.count_nonzero(g != e))
            report.problems.append(f"output {i}: {bad} of {e.size} elements differ")
    return report
