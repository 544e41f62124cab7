"""The board file's ``twin:`` section as the twins read it, validated here rather than by the
product's schema (which reads only ``twin.only``).

What every board twin reads is `TwinConfig`; each family's or meter's twin part adds the
section it reads (``fpga``, ``jetson`` …, see `pytest_think.emulator.parts`), validated with
its own model. A bad field is one line naming the board file and the field, as for the rest
of the board file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pytest_think.boards import BoardConfig
from pytest_think.emulator.activity import TwinPowerModel
from pytest_think.emulator.device import TwinFaults, TwinLatency
from pytest_think.emulator.meters.base import TwinMeter
from pytest_think.emulator.parts import TwinPart, twin_parts
from pytest_think.emulator.power.onboard import TwinPower
from pytest_think.emulator.servers.console import TwinConsole
from pytest_think.errors import BoardConfigError
from pytest_think.user_files import UNKNOWN_FIELD, did_you_mean, field_problems

__all__ = ["TwinConfig", "validate_twin"]


class TwinConfig(BaseModel):
    """What every board twin reads; the parts' own sections are kept beside, validated."""

    model_config = ConfigDict(extra="allow", frozen=True)

    only: bool = Field(False, description="the board exists only as a twin (--emulate implied)")
    hostname: str | None = None
    kernel: str | None = None
    machine: str | None = None
    os_release: str | None = None
    execution: Literal["onnxruntime"] = "onnxruntime"
    latency: TwinLatency = TwinLatency()
    faults: TwinFaults = TwinFaults()
    console: TwinConsole = TwinConsole()
    power: TwinPower | None = None
    power_model: TwinPowerModel | None = None
    boot_s: float = Field(2.0, ge=0, description="after power-on, seconds until SSH answers")
    meter: TwinMeter = TwinMeter()

    def section(self, name: str) -> BaseModel | None:
        """A twin part's section, as its model validated it; None when the board has none."""
        value = (self.model_extra or {}).get(name)
        return value if isinstance(value, BaseModel) else None


def validate_twin(config: BoardConfig, parts: Sequence[TwinPart[Any]] | None = None) -> TwinConfig:
    """The board's twin section, validated by the twin and by the parts of its family and
    meter (`parts`: those, when already found). BoardConfigError naming the file and field."""
    if parts is None:
        parts = twin_parts(config)[0]
    models = {p.section: p.Section for p in parts if p.section}
    data = config.twin.model_dump() if config.twin is not None else {}
    # The parts' relative paths start at the board file's directory, as the product's do.
    context = {"board_dir": config.source.parent if config.source is not None else None}
    problems: list[str] = []
    sections: dict[str, BaseModel] = {}
    for name in [k for k in data if k not in TwinConfig.model_fields]:
        value = data.pop(name)
        if name not in models:
            known = [*TwinConfig.model_fields, *models]
            problems.append(f"field 'twin.{name}': {UNKNOWN_FIELD}{did_you_mean(name, known)}")
        elif value is not None:
            try:
                sections[name] = models[name].model_validate(value, context=context)
            except ValidationError as exc:
                problems.append(field_problems(exc, ("twin", name), model=models[name]))
    try:
        twin = TwinConfig.model_validate(data)
    except ValidationError as exc:
        problems.insert(0, field_problems(exc, ("twin",), model=TwinConfig))
    if problems:
        raise BoardConfigError(f"board file {config.source or config.name}: " + "; ".join(problems))
    return twin.model_copy(update=sections)
