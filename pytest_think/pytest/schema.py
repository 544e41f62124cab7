"""The results JSON's schema as types: the document `--think-json` writes (docs/results.md).

The records (pytest_think.pytest.records) write plain dicts, cheaply; these models say what
those dicts hold, and `results_schema()` is the JSON Schema committed as
docs/results.schema.json (``think schema``). Every field added after the first release of
schema version 1 is optional, so every file of the version validates. Measured numbers may be
null: non-finite values are written as null. More fields may be added within a version, so
objects accept fields they do not list.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pytest_think.pytest.records import Outcome


class _Open(BaseModel):
    """An object of the results file: the listed fields, and room for ones added later."""

    model_config = ConfigDict(extra="allow")


class BoardEntry(_Open):
    name: str
    family: str
    twin: bool = Field(description="reached through its digital twin")
    identity: dict[str, Any] | None = Field(
        description="what the board's family reported (uname, os-release); null if not met"
    )
    agent: dict[str, Any] | None = Field(
        description="the agent's HELLO; null when no test started the agent"
    )


class LatencyStats(_Open):
    n: int
    mean: float | None
    p50: float | None
    p99: float | None
    min: float | None
    max: float | None


class Latency(_Open):
    device_ns: LatencyStats = Field(description="per-vector time on the device")
    host_ns: LatencyStats = Field(description="per-vector round trip seen by the host")


class Stream(_Open):
    frames: int
    vectors_per_frame: int
    window: int
    wall_s: float
    link: dict[str, int] | None = Field(
        None, description="corrupted frames, NAKs and retransmissions on serial links"
    )


class OutputComparison(_Open):
    dtype: str
    elements: int
    mismatches: int
    max_abs_err: float | None
    max_rel_err: float | None
    cosine_min: float | None
    top1_agreement: float | None


class Comparison(_Open):
    passed: bool
    max_abs_err: float | None
    max_rel_err: float | None
    mismatches: int
    cosine_min: float | None
    top1_agreement: float | None
    rtol: float
    atol: float
    max_mismatch_fraction: float | None = None
    problems: list[str]
    outputs: dict[str, OutputComparison]


class RunEntry(_Open):
    """One stream of vectors through a model or design."""

    label: str | None = None
    board: str
    model: str
    model_sha256: str
    vectors: int
    vectors_file: str
    providers: list[str] | None = None
    compare: Comparison | None = Field(description="reference.check's result; null: unchecked")
    accuracy: dict[str, float | None] | None = Field(
        description="top-1 accuracy against the labels: device and reference"
    )
    latency: Latency
    throughput_per_s: float | None
    stream: Stream


class Flash(_Open):
    design: str
    sha256: str
    flashed: bool = Field(description="false: the board already ran this design")
    seconds: float
    log: list[str]


class ConsoleLine(_Open):
    time: float = Field(description="unix seconds")
    text: str


class EnergyEntry(_Open):
    """One `energy.measure` (docs/energy.md)."""

    board: str | None = None
    model: str | None = None
    model_sha256: str | None = None
    label: str | None = None
    valid: bool
    reason: str | None
    mj_per_inference: float | None
    dynamic_mj_per_inference: float | None = None
    avg_power_w: float | None
    idle_power_w: float | None
    samples: float | None
    sample_rate_hz: float | None
    window_s: float | None
    us_per_inference: float | None = None
    spread: float | None
    trials: list[dict[str, Any]]
    meter: str
    settings: dict[str, Any]


class Table(_Open):
    name: str
    columns: list[str]
    rows: list[list[Any]]
    plot: dict[str, Any] | None = None


class TestEntry(_Open):
    """One test; the fields of its last run are its own (`runs` lists all when several)."""

    __test__ = False  # not a test class, despite the name

    nodeid: str
    outcome: Outcome
    duration_s: float
    message: str | None = None
    flash: list[Flash] | None = None
    trtexec: list[dict[str, Any]] | None = None
    console: list[ConsoleLine] | None = None
    energy: EnergyEntry | None = None
    energies: list[EnergyEntry] | None = None
    tables: list[Table] | None = None
    runs: list[RunEntry] | None = None
    # The last run's fields (absent when the test streamed nothing).
    label: str | None = None
    board: str | None = None
    model: str | None = None
    model_sha256: str | None = None
    vectors: int | None = None
    vectors_file: str | None = None
    providers: list[str] | None = None
    compare: Comparison | None = None
    accuracy: dict[str, float | None] | None = None
    latency: Latency | None = None
    throughput_per_s: float | None = None
    stream: Stream | None = None


class ResultsDocument(_Open):
    """A pytest session's results (``pytest --think-json PATH``)."""

    schema_: Literal["pytest-think/results"] = Field(alias="schema")
    schema_version: Literal[1]
    created: str = Field(description="ISO 8601, UTC")
    pytest_think: str = Field(description="the version that wrote the file")
    board: BoardEntry = Field(description="the session's board (--board)")
    boards: list[BoardEntry] = Field(description="every board a test used")
    tests: list[TestEntry]


def results_schema() -> dict[str, Any]:
    """The JSON Schema of the results file (docs/results.schema.json)."""
    schema = ResultsDocument.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
