"""Many boards at once: F1 (four boards driven in one session ÷ four times one board alone).

    python bench/bench_boards.py [--boards 4] [--vectors 2000] [--pairs 3] [--device-us 2000]
        [--json PATH]

Four twin boards (generic, onnxruntime, a device time of 2 ms per inference: device-bound,
so that the host's cores are not the limit) run one pytest session with pytest-xdist
(``-n 4 --board=… ×4``, campaign mode: each worker holds one board). Each board streams the
same vectors through the digits MLP once its model is loaded and every board is ready (a file
barrier), so that the streams overlap; the aggregate is all vectors ÷ (last end − first start).
The same test on one board alone, without xdist, gives the baseline.

  F1  aggregate vectors/s ÷ (boards × one board alone), target >= 0.90

Each pair (one board alone, then all at once) is one measurement; the figure is the median of
the pairs' ratios, as this machine's speed drifts. It only reports: the exit status is 0 for
PASS or MISS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from bench_link import tiled_vectors

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "fixtures/models/digits_mlp.onnx"
SIM = ROOT / "pytest_think/board_files/sim.yaml"
TARGET = 0.90

TEST = """
import json, os, time
from pathlib import Path

def test_stream(dut, board_spec):
    here = Path(os.environ["BENCH_DIR"])
    dut.run(os.environ["BENCH_MODEL"], os.environ["BENCH_WARMUP"])  # deploy and load
    (here / f"ready-{board_spec}").touch()
    deadline = time.monotonic() + 300
    while len(list(here.glob("ready-*"))) < int(os.environ["BENCH_BOARDS"]):
        assert time.monotonic() < deadline, "the other boards never got ready"
        time.sleep(0.005)
    start = time.time()
    run = dut.run(os.environ["BENCH_MODEL"], os.environ["BENCH_VECTORS"])
    end = time.time()
    with open(here / f"stream-{board_spec}.json", "w") as f:
        json.dump({"board": board_spec, "start": start, "end": end, "vectors": run.count,
                   "throughput_per_s": run.throughput_per_s}, f)
"""


def setup(base: Path, boards: int, vectors: int, device_us: int) -> list[str]:
    """Board files, vector files and the test in `base`; the board names."""
    (base / "pytest.ini").write_text("[pytest]\n")
    (base / "test_bench_boards.py").write_text(TEST)
    board_dir = base / "boards"
    board_dir.mkdir()
    sim = yaml.safe_load(SIM.read_text())
    names = [f"board-{i + 1}" for i in range(boards)]
    for name in names:
        twin = {**sim["twin"], "hostname": name, "latency": {"fixed_us": device_us}}
        data = {**sim, "name": name, "twin": twin}
        (board_dir / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    tiled_vectors(vectors, base / "vectors.npz")
    tiled_vectors(16, base / "warmup.npz")
    return names


def session(base: Path, names: list[str], workers: int) -> list[dict[str, Any]]:
    """One pytest session on `names` (with `workers` xdist workers, or none); each board's
    stream as its test wrote it."""
    run_dir = base / f"run-{len(list(base.glob('run-*')))}"
    run_dir.mkdir()
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(base)]
    argv += [f"--board={n}" for n in names]
    if workers:
        argv += ["-n", str(workers)]
    env = {
        "BENCH_DIR": str(run_dir),
        "BENCH_BOARDS": str(len(names)),
        "BENCH_MODEL": str(MODEL),
        "BENCH_VECTORS": str(base / "vectors.npz"),
        "BENCH_WARMUP": str(base / "warmup.npz"),
    }
    proc = subprocess.run(
        argv, cwd=base, env={**os.environ, **env}, capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        raise SystemExit(f"pytest failed:\n{proc.stdout}\n{proc.stderr}")
    return [json.loads(p.read_text()) for p in sorted(run_dir.glob("stream-*.json"))]


def aggregate(streams: list[dict[str, Any]]) -> float:
    """All vectors ÷ the time from the first stream's start to the last one's end."""
    span = max(s["end"] for s in streams) - min(s["start"] for s in streams)
    return sum(s["vectors"] for s in streams) / span


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=4)
    parser.add_argument("--vectors", type=int, default=2000, help="per board and stream")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument(
        "--device-us", type=int, default=2000, help="twin device time per inference (us)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    pairs = []
    with tempfile.TemporaryDirectory(prefix="think-bench-boards-") as tmp:
        base = Path(tmp)
        names = setup(base, args.boards, args.vectors, args.device_us)
        for _ in range(args.pairs):
            alone = aggregate(session(base, names[:1], 0))
            streams = session(base, names, len(names))
            together = aggregate(streams)
            pairs.append(
                {
                    "alone_vectors_per_s": alone,
                    "together_vectors_per_s": together,
                    "per_board_vectors_per_s": {s["board"]: s["throughput_per_s"] for s in streams},
                    "ratio": together / (len(names) * alone),
                }
            )
            print(
                f"  one board {alone:7.1f} vec/s   {len(names)} boards {together:7.1f} vec/s"
                f"   ratio {pairs[-1]['ratio']:.3f}"
            )
    ratio = statistics.median(p["ratio"] for p in pairs)
    verdict = "PASS" if ratio >= TARGET else "MISS"
    print(
        f"F1 {args.boards} boards at once / ({args.boards} x one alone): {ratio:.3f} "
        f"(target >= {TARGET:.2f}) {verdict}; twin device time {args.device_us} us per inference, "
        f"{args.vectors} vectors per stream, median of {len(pairs)} pairs"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        f1 = dict(ratio=ratio, target=TARGET, verdict=verdict, boards=args.boards, pairs=pairs)
        f1.update(vectors_per_stream=args.vectors, device_us_per_inference=args.device_us)
        args.json.write_text(json.dumps({"F1": f1}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
