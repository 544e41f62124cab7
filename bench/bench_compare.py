"""`think compare` at workshop size: C1 (seconds for 10 results files × 130 tests) and C2 (the
page's size).

    python bench/bench_compare.py [--files 10] [--tests 130] [--json PATH]

Writes `--files` results files of `--tests` tests each, made up the way the suites make them
(seeded, so every run compares the same files): a conformance suite of one test function with
many cases (passed, or expected to fail with a message), model tests with a stream run (device
times with the median's interval, accuracy, throughput), some with several models and energy
per model, some recording sweeps (record_table, with an energy column on metered boards only).
The files are runs of three boards (a board's runs on different days are columns of their
own). Then runs `think compare` on all of them, as a user does (a fresh process: imports,
plots and page included), and reports:

  C1  wall seconds of `think compare` on the files, target < 10 (its CPU seconds beside it)
  C2  size of index.html (everything inlined), target < 5 MB

It only reports: the exit status is 0 for PASS or MISS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SECONDS, MEGABYTES = 10.0, 5.0
BOARDS = [
    ("sim", "generic", 1.0, False),
    ("fpga-zcu102", "xilinx-fpga", 2.5, True),
    ("jetson-orin-nano", "nvidia-jetson", 6.0, True),
]


def _run(rng: random.Random, model: str, scale: float, label: str | None) -> dict[str, Any]:
    p50 = 20_000 * scale * rng.uniform(0.95, 1.05)
    accuracy = rng.choice([0.9778, 0.9733, 0.9511])
    run: dict[str, Any] = {
        "model": f"/fixtures/models/{model}.onnx",
        "model_sha256": hashlib.sha256(model.encode()).hexdigest(),
        "vectors": 450,
        "accuracy": {"device": accuracy, "reference": 0.9778},
        "compare": {"passed": True, "top1_agreement": rng.uniform(0.99, 1.0)},
        "latency": {
            "device_ns": {
                "n": 450,
                "mean": p50 * 1.3,
                "p50": p50,
                "p99": p50 * rng.uniform(3, 20),
                "min": p50 * 0.7,
                "max": p50 * 40,
                "p50_lo": p50 * 0.97,
                "p50_hi": p50 * 1.03,
            }
        },
        "throughput_per_s": 1e9 / p50 * rng.uniform(0.05, 0.07),
    }
    if label:
        run["label"] = label
    return run


def _energy(rng: random.Random, run: dict[str, Any], scale: float) -> dict[str, Any]:
    mj = 0.3 * scale * rng.uniform(0.9, 1.1)
    trials = [{"mj_per_inference": mj * rng.uniform(0.95, 1.05), "invalid": None} for _ in "ab"]
    return {
        "model": run["model"], "model_sha256": run["model_sha256"], "label": run.get("label"),
        "valid": True, "reason": None, "mj_per_inference": mj,
        "us_per_inference": run["latency"]["device_ns"]["p50"] / 1e3, "trials": trials,
    }  # fmt: skip


def results(n: int, tests: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    name, family, scale, metered = BOARDS[n % len(BOARDS)]
    board = {"name": name, "family": family, "twin": True, "identity": {}, "agent": {}}
    doc: dict[str, Any] = {
        "schema": "pytest-think/results", "schema_version": 1,
        "created": f"2026-12-{1 + n // len(BOARDS):02d}T09:{n:02d}:00+00:00",
        "pytest_think": "0.1.0", "board": board, "boards": [board], "tests": [],
    }  # fmt: skip
    cases = tests - tests // 4
    for case in range(cases):
        expected_failure = case % 4 == 0
        test: dict[str, Any] = {
            "nodeid": f"test_suites/test_conformance.py::test_case[{name}-op_{case}]",
            "outcome": "xfailed" if expected_failure else "passed",
            "board": name,
        }
        if expected_failure:
            test["message"] = f"the board's backend cannot run op_{case}: NOT_IMPLEMENTED"
        else:
            test.update(_run(rng, f"op_{case}", scale, None))
        doc["tests"].append(test)
    for model_test in range(tests - cases):
        nodeid = f"test_suites/test_models_{model_test % 5}.py::test_model_{model_test}[{name}]"
        test = {"nodeid": nodeid, "outcome": "passed", "board": name}
        if model_test % 6 == 0:  # several models, a sweep, energy with a meter
            runs = [
                _run(rng, f"net_{model_test}_{v}", scale, f"{25 * v}% pruned") for v in range(4)
            ]
            test["runs"] = runs
            energies = [_energy(rng, r, scale) for r in runs] if metered else []
            columns = ["pruned %", "accuracy", "device us/inference"]
            rows = [
                [25 * v, r["accuracy"]["device"], r["latency"]["device_ns"]["p50"] / 1e3]
                for v, r in enumerate(runs)
            ]
            tables = [{"name": "pruning", "columns": columns, "rows": rows,
                       "plot": {"x": "pruned %", "y": ["accuracy"]}}]  # fmt: skip
            if energies:
                test["energies"] = energies
                tables[0]["columns"] = [*columns, "mJ/inference"]
                for row, e in zip(rows, energies):
                    row.append(e["mj_per_inference"])
                tables.append({"name": "pruning: accuracy against mJ/inference",
                               "columns": ["mJ/inference", "accuracy"],
                               "rows": [[r[3], r[1]] for r in rows],
                               "plot": {"x": "mJ/inference", "y": ["accuracy"]}})  # fmt: skip
            test["tables"] = tables
        else:
            test.update(_run(rng, f"net_{model_test % 12}", scale, None))
        doc["tests"].append(test)
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--tests", type=int, default=130)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        here = Path(tmp)
        files = []
        for n in range(args.files):
            path = here / f"run-{n:02d}.json"
            path.write_text(json.dumps(results(n, args.tests, seed=n)))
            files.append(str(path))
        out = here / "compare"
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest_think.cli", "compare", *files, "--baseline",
             files[0], "-o", str(out)],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_seconds = cpu.ru_utime + cpu.ru_stime
        if proc.returncode != 0:
            sys.exit(f"think compare failed: {proc.stderr.strip()}")
        megabytes = (out / "index.html").stat().st_size / 1e6
    figures = {
        "files": args.files, "tests_per_file": args.tests,
        "C1_seconds": round(seconds, 2), "C1_cpu_seconds": round(cpu_seconds, 2),
        "C1_target": SECONDS,
        "C2_megabytes": round(megabytes, 2), "C2_target": MEGABYTES,
    }  # fmt: skip
    print(f"think compare, {args.files} files x {args.tests} tests (a baseline and columns)")
    verdict = "PASS" if seconds < SECONDS else "MISS"
    print(
        f"  C1  {seconds:6.2f} s    target < {SECONDS:g} s    {verdict}"
        f"   ({cpu_seconds:.2f} s of CPU: a loaded machine's wall time is longer)"
    )
    verdict = "PASS" if megabytes < MEGABYTES else "MISS"
    print(f"  C2  {megabytes:6.2f} MB   target < {MEGABYTES:g} MB   {verdict}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
