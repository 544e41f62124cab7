"""How a family or a meter driver brings its twin: the ``pytest_think.twins`` entry points.

An entry is named after the family or the meter driver it imitates and points at a
`TwinPart` class::

    [project.entry-points."pytest_think.twins"]
    my-family = "my_lab.twin:MyFamilyTwin"

The part says which section under ``twin:`` it reads (its pydantic model, validated with the
rest of the twin section) and how it adds itself to a board twin: tools in the board's shell,
files in its sandbox, its processes' environment, what a power cycle forgets, servers beside
the SSH server (a meter's SCPI instrument), or a process of its own (a microcontroller on a
pty). A board twin is the parts of its family and of its meter, composed in one loop.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from pytest_think.boards import BoardConfig

if TYPE_CHECKING:
    from pytest_think.emulator.activity import TwinPowerModel
    from pytest_think.emulator.board import BoardTwin
    from pytest_think.emulator.config import TwinConfig

__all__ = ["GROUP", "GenericLinuxTwin", "NoSection", "TwinModel", "TwinPart", "twin_parts"]

GROUP = "pytest_think.twins"


class TwinModel(BaseModel):
    """A section of the twin's board file: strict, like the product's sections."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoSection(TwinModel):
    """The section of a part that reads none."""


SectionT = TypeVar("SectionT", bound=BaseModel)


class TwinPart(Generic[SectionT]):
    """The twin of one family or meter driver; one instance per board twin."""

    imitates: ClassVar[Literal["family", "meter"]] = "family"
    section: ClassVar[str] = ""  # its key under `twin:`; "" for a part that reads none
    Section: type[SectionT]

    def config(self, twin: TwinConfig) -> SectionT:
        """This part's section of the board's twin, as validated (its defaults when absent)."""
        value = twin.section(self.section) if self.section else None
        return value if isinstance(value, self.Section) else self.Section()

    def process(self, board: BoardConfig, twin: TwinConfig, state_dir: Path) -> list[str] | None:
        """The argv of a twin that is a process of its own (it prints one JSON line with its
        endpoint), or None: the part joins the SSH board twin."""
        return None

    def attach(self, board: BoardTwin) -> None:
        """Add the part to the board twin: its shell's tools, sandbox files, process
        environment, and what a power cycle makes it forget (`board.forget`)."""

    def measured_power(
        self, board: BoardConfig, twin: TwinConfig, model: TwinPowerModel | None
    ) -> TwinPowerModel | None:
        """What the board's meter sees of its power (`model`: the whole board's)."""
        return model

    async def serve(self, board: BoardTwin) -> dict[str, str]:
        """Start the part's servers beside the SSH server; what the endpoint gains."""
        return {}


class GenericLinuxTwin(TwinPart[NoSection]):
    """A generic Linux board: the board twin itself (shell, sandbox, agent), nothing added."""

    Section = NoSection


def twin_parts(board: BoardConfig) -> tuple[list[TwinPart[Any]], list[str]]:
    """The installed twins of the board's family and meter, and one line for each of the two
    that has none ("no twin for family 'x' (twins: …)")."""
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    wanted: list[tuple[Literal["family", "meter"], str, str]] = [("family", board.family, "family")]
    if board.meter is not None:
        wanted.append(("meter", board.meter.driver, "meter driver"))
    parts: list[TwinPart[Any]] = []
    missing: list[str] = []
    for kind, name, what in wanted:
        entry = found.get(name)
        part: type[TwinPart[Any]] | None = entry.load() if entry is not None else None
        if part is None or part.imitates != kind:
            twins = ", ".join(installed_twins(kind)) or "none"
            missing.append(f"no twin for {what} '{name}' (twins: {twins})")
        else:
            parts.append(part())
    return parts, missing


def installed_twins(kind: Literal["family", "meter"]) -> list[str]:
    """Names of the installed twins of families or of meters, for messages."""
    names = []
    for entry in entry_points(group=GROUP):
        part: type[TwinPart[Any]] = entry.load()
        if part.imitates == kind:
            names.append(entry.name)
    return sorted(names)
