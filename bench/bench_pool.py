"""Pool benchmark (F2): one vector set sharded over four device-bound twin boards.

    python bench/bench_pool.py [--quick] [--json PATH]

Starts four twins of the `sim` board (named pool-0 … pool-3) on 127.0.0.1, each adding
2 ms of device time per inference (twin section `latency: {fixed_us: 2000}`), so that the
device, not this machine's two cores, is what limits a board. Measured in this run:

  F2   pool vectors/s (DevicePool over the four)  /  (4 x one board alone, Device.run)
       as pairs (one board alone, then the pool), the median of the per-pair ratios;
  F2d  the pool again with one board's twin killed halfway through: every vector once,
       outputs equal to the board alone's exactly, the drop-out recorded.

It reports; it never asserts: the exit status is 0 whether a line reads PASS or MISS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from bench_link import MODEL, TWIN_NOTE, tiled_vectors

from pytest_think.boards import PACKAGED_BOARDS, BoardConfig, load_board
from pytest_think.connection import Board
from pytest_think.device import Device, Run
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.families import open_board
from pytest_think.pool import DevicePool, PoolMember, PoolRun

BOARDS = 4
DEVICE_US = 2000
PER_FRAME = 16
TARGET = 0.90


@dataclass(frozen=True)
class Sizes:
    vectors: int
    pairs: int


FULL = Sizes(4000, 3)
QUICK = Sizes(1200, 1)


def pool_board(name: str, dest: Path) -> BoardConfig:
    """The sim board under another name, its twin adding DEVICE_US per inference."""
    data: dict[str, Any] = yaml.safe_load((PACKAGED_BOARDS / "sim.yaml").read_text())
    data["name"] = name
    data["twin"]["latency"] = {"fixed_us": DEVICE_US}
    path = dest / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_board(path)


def alone(device: Device, vectors: Path) -> Run:
    return device.run(MODEL, vectors, vectors_per_frame=PER_FRAME)


def pooled(pool: DevicePool, vectors: Path, progress: Any = None) -> PoolRun:
    return pool.run(MODEL, vectors, vectors_per_frame=PER_FRAME, progress=progress)


def exact(run: Run, reference: Run) -> bool:
    return all(np.array_equal(run.outputs[n], reference.outputs[n]) for n in reference.outputs)


def measure(
    twins: list[TwinProcess], devices: list[Device], vectors: Path, sizes: Sizes
) -> dict[str, Any]:
    names = [d.config.name for d in devices]
    pool = DevicePool([PoolMember(n, d) for n, d in zip(names, devices)])
    alone(devices[0], vectors)  # warm: agents started, model uploaded and loaded
    pooled(pool, vectors)
    pairs, one_rates, pool_rates = [], [], []
    reference = None
    for _ in range(sizes.pairs):
        reference = alone(devices[0], vectors)
        run = pooled(pool, vectors)
        one_rates.append(reference.throughput_per_s)
        pool_rates.append(run.throughput_per_s)
        pairs.append(run.throughput_per_s / (BOARDS * reference.throughput_per_s))
    assert reference is not None
    last = run.pool.as_json()

    # One board's twin killed once half of the vectors are back.
    victim = BOARDS - 1
    killed: list[float] = []
    started = time.perf_counter()

    def kill_halfway(done: int, total: int) -> None:
        if not killed and done >= total // 2:
            killed.append(time.perf_counter() - started)
            twins[victim].proc.kill()

    dropped = pooled(pool, vectors, kill_halfway)
    report = dropped.pool.as_json()
    once = (
        bool((dropped.member_of >= 0).all())
        and sum(m["vectors"] for m in report["members"]) == dropped.count
    )
    return {
        "f2": statistics.median(pairs),
        "pair_ratios": pairs,
        "one_board_vectors_per_s": one_rates,
        "pool_vectors_per_s": pool_rates,
        "members": last["members"],
        "vectors": reference.count,
        "drop": {
            "killed": names[victim],
            "killed_at_s": killed[0] if killed else None,
            "every_vector_once": once,
            "exact": exact(dropped, reference),
            "dropped": report["dropped"],
            "pool_vectors_per_s": report["throughput_per_s"],
            "members": report["members"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="think-bench-pool-") as tmp:
        scratch = Path(tmp)
        vectors = tiled_vectors(sizes.vectors, scratch / "digits_tiled.npz")
        boards = [pool_board(f"pool-{k}", scratch) for k in range(BOARDS)]
        twins: list[TwinProcess] = []
        conns: list[Board] = []
        devices: list[Device] = []
        try:
            for k, board in enumerate(boards):
                twins.append(TwinProcess.start(board, scratch / f"twin-{k}"))
                conns.append(open_board(twins[-1].board(board), True))
                devices.append(Device(conns[-1]))
            figures = measure(twins, devices, vectors, sizes)
        finally:
            for device, conn in zip(devices, conns):
                device.close()
                conn.close()
            for twin in twins:
                twin.stop()
    f2, drop = figures["f2"], figures["drop"]
    print(f"pool benchmark ({TWIN_NOTE}; {BOARDS} twins, {DEVICE_US} us device time a vector)")
    print(
        f"F2   pool / (4 x one board): {f2:.3f} (target >= {TARGET:.2f}) "
        f"{'PASS' if f2 >= TARGET else 'MISS'}"
    )
    print(
        f"     {figures['vectors']} vectors, {PER_FRAME}/frame; one board "
        f"{statistics.median(figures['one_board_vectors_per_s']):,.0f} vec/s, pool "
        f"{statistics.median(figures['pool_vectors_per_s']):,.0f} vec/s; pair ratios "
        + ", ".join(f"{r:.3f}" for r in figures["pair_ratios"])
    )
    print(
        "     members: "
        + ", ".join(
            f"{m['name']} {m['vectors']} vec {m['throughput_per_s']:,.0f}/s"
            for m in figures["members"]
        )
    )
    ok = (
        drop["every_vector_once"]
        and drop["exact"]
        and [d["member"] for d in drop["dropped"]] == [drop["killed"]]
    )
    print(
        f"F2d  {drop['killed']} killed at {drop['killed_at_s'] or 0:.2f} s: every vector once "
        f"{drop['every_vector_once']}, exact {drop['exact']}, dropped "
        f"{[(d['member'], d['vectors_done'], d['vectors_moved']) for d in drop['dropped']]} "
        f"(member, done, moved); {drop['pool_vectors_per_s']:,.0f} vec/s "
        f"{'PASS' if ok else 'MISS'}"
    )
    print(f"({time.perf_counter() - began:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
