"""A board file checked against the plug-ins it names, before anything is connected.

`load_board` checks the file's own fields; the sections that plug-ins own are checked by
them: the family's `options`, the meter driver's options (and, for boards that are emulated
or named in ``think check``, the twins' section: pytest_think.emulation.check_twin). Each
problem is one line naming the file and the field.
"""

from __future__ import annotations

from pytest_think.boards import BoardConfig
from pytest_think.families import Family, load_family
from pytest_think.power.meters import meter_options


def check_board(config: BoardConfig) -> Family:
    """The board's family, with the family's options and the meter's options validated."""
    family = load_family(config)
    if config.meter is not None:
        meter_options(config)
    return family
