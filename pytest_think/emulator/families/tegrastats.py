"""The Jetson twin's ``tegrastats``: the real tool's line, with power read where the real one
reads it, from the INA3221 files in sysfs (which the twin keeps following its device).

    tegrastats [--interval <ms>]

Installed as an executable in the twin's sandbox, so the agent runs it like on a module.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def rails(root: Path) -> list[tuple[str, Path, Path | None, float]]:
    """(label, power or current file, None or voltage file, scale to mW) for every rail."""
    found: list[tuple[str, Path, Path | None, float]] = []
    for hwmon in sorted(root.glob("sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*")):
        for label in sorted(hwmon.glob("in*_label")):
            n = label.name[2:-6]
            found.append(
                (label.read_text().strip(), hwmon / f"curr{n}_input", hwmon / f"in{n}_input", 1e-3)
            )
    for iio in sorted(root.glob("sys/bus/i2c/drivers/ina3221x/*/iio:device*")):
        for name in sorted(iio.glob("rail_name_*")):
            n = name.name.rsplit("_", 1)[1]
            found.append((name.read_text().strip(), iio / f"in_power{n}_input", None, 1.0))
    return found


def read_mw(power: Path, volts: Path | None, scale: float) -> int:
    value = float(power.read_text().split()[0])
    if volts is not None:  # mA x mV
        value *= float(volts.read_text().split()[0])
    return round(value * scale)


def main(argv: list[str], root: str) -> int:
    parser = argparse.ArgumentParser(prog="tegrastats")
    parser.add_argument("--interval", type=int, default=1000, help="sample period in ms")
    args = parser.parse_args(argv)
    found = rails(Path(root))
    totals = [0] * len(found)
    count = 0
    try:
        while True:
            now = [read_mw(p, v, s) for _, p, v, s in found]
            count += 1
            totals = [t + n for t, n in zip(totals, now)]
            power = " ".join(
                f"{label} {n}mW/{t // count}mW"
                for (label, _, _, _), n, t in zip(found, now, totals)
            )
            stamp = time.strftime("%m-%d-%Y %H:%M:%S")
            print(
                f"{stamp} RAM 2115/7620MB (lfb 1x4MB) SWAP 0/3810MB (cached 0MB) "
                f"CPU [2%@729,1%@729,0%@729,0%@729,0%@729,0%@729] EMC_FREQ 0% GR3D_FREQ 0% "
                f"cpu@47.5C soc2@46.1C tj@47.5C {power}",
                flush=True,
            )
            time.sleep(args.interval / 1000)
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
