"""The results JSON's types: what `--think-json` writes (docs/results.md), entry by entry.

The records (pytest_think.pytest.records) are typed with these while a test runs; they are
plain dicts at run time, so recording costs nothing more than before. `results_schema()`
derives the JSON Schema from them (committed as docs/results.schema.json, ``think schema``).
Fields added after the first release of schema version 1 are NotRequired, so every file of
the version validates; measured numbers may be null (non-finite values are written as null);
objects may carry fields they do not list (fields are added within a version).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter
from typing_extensions import NotRequired, TypedDict  # pydantic needs these before 3.12

Outcome = Literal["unknown", "passed", "failed", "error", "skipped", "xfailed", "xpassed"]
Number = float | None  # a measured figure; null when it was not finite


class BoardJson(TypedDict):
    name: str
    family: str
    twin: Annotated[bool, Field(description="reached through its digital twin")]
    identity: Annotated[
        dict[str, Any] | None,
        Field(description="what the board's family reported (uname, os-release); null: unmet"),
    ]
    agent: Annotated[
        dict[str, Any] | None, Field(description="the agent's HELLO; null: no test started it")
    ]
    facts: NotRequired[
        Annotated[
            dict[str, Any],
            Field(description="how the board was reached: its provider's facts (a farm's place)"),
        ]
    ]


class LatencyStats(TypedDict):
    n: int
    mean: Number
    p50: Number
    p99: Number
    min: Number
    max: Number
    p50_lo: NotRequired[
        Annotated[Number, Field(description="95 % interval of the median, low end (its noise)")]
    ]
    p50_hi: NotRequired[
        Annotated[Number, Field(description="95 % interval of the median, high end")]
    ]


class LatencyJson(TypedDict):
    device_ns: Annotated[LatencyStats, Field(description="per-vector time on the device")]
    host_ns: Annotated[LatencyStats, Field(description="per-vector round trip on the host")]


class ResumeJson(TypedDict):
    """A dropped SSH connection the stream was resumed after."""

    after_vectors: Annotated[int, Field(description="vectors with a result when it dropped")]
    resent: Annotated[
        int, Field(description="vectors in flight when it dropped, sent again after it")
    ]
    tries: Annotated[int, Field(description="reconnection tries it took")]
    uploaded: Annotated[
        int, Field(description="files uploaded again (the agent's work directory was gone)")
    ]
    seconds: Annotated[float, Field(description="from the failure to the model loaded again")]
    cause: Annotated[str, Field(description="what the stream saw fail")]


class StreamJson(TypedDict):
    frames: int
    vectors_per_frame: int
    window: int
    wall_s: float
    link: NotRequired[
        Annotated[
            dict[str, int],
            Field(
                description="corruption and recovery on serial links: bad_frames, naks_sent, "
                "naks_received, retransmits, duplicates; where the frame size adapts, "
                "frame_bytes (at the end), frame_bytes_smallest, frame_bytes_largest, "
                "frame_grows, frame_shrinks (docs/reliability.md)"
            ),
        ]
    ]
    reconnects: NotRequired[
        Annotated[
            int, Field(description="SSH reconnections the stream resumed after (dropped links)")
        ]
    ]
    resumes: NotRequired[list[ResumeJson]]


class OutputCompareJson(TypedDict):
    dtype: str
    elements: int
    mismatches: int
    max_abs_err: Number
    max_rel_err: Number
    cosine_min: Number
    top1_agreement: Number


class CompareJson(TypedDict):
    passed: bool
    max_abs_err: Number
    max_rel_err: Number
    mismatches: int
    cosine_min: Number
    top1_agreement: Number
    rtol: float
    atol: float
    max_mismatch_fraction: NotRequired[float]
    problems: list[str]
    outputs: dict[str, OutputCompareJson]


class ExpectedJson(TypedDict):
    """A run checked against outputs given with the model (a conformance case's expected
    outputs) instead of onnxruntime on the host."""

    against: Annotated[str, Field(description="what the expected outputs are")]
    passed: bool
    outputs: Annotated[int, Field(description="outputs the expected set has")]
    rtol: float
    atol: float
    problems: list[str]


class PoolMemberJson(TypedDict):
    """One member of a pool run (`dut_pool`): a board, or one device of a board."""

    name: str
    board: str
    device: Annotated[str | None, Field(description="the board's device it was bound to")]
    vectors: Annotated[int, Field(description="vectors whose result is this member's")]
    frames: int
    seconds: Annotated[float, Field(description="from the pool's start to its end or drop")]
    throughput_per_s: Number
    dropped: bool


class PoolDropJson(TypedDict):
    """A member that dropped out mid-run; its unanswered vectors went to the others."""

    member: str
    at_s: Annotated[float, Field(description="seconds after the pool started")]
    reason: str
    vectors_done: int
    vectors_moved: Annotated[int, Field(description="held unanswered, given to the others")]


class PoolJson(TypedDict):
    """How a pool run was shared out: per member, the aggregate, the drop-outs."""

    members: list[PoolMemberJson]
    vectors_per_frame: int
    wall_s: float
    throughput_per_s: Annotated[Number, Field(description="aggregate: vectors / wall_s")]
    dropped: list[PoolDropJson]
    refused_vectors: Annotated[
        int, Field(description="answered by a member after it dropped: discarded")
    ]


class ModelLoadJson(TypedDict):
    """Having the run's model loaded: a LOAD sent (a model switch), or the model held already."""

    loaded: Annotated[
        bool, Field(description="a LOAD was sent for this run; false: the agent held the model")
    ]
    device_ns: Annotated[
        int | None, Field(description="LOAD -> READY on the board, as its agent measured it")
    ]
    host_ns: Annotated[int | None, Field(description="the LOAD's round trip on the host")]


class RunJson(TypedDict):
    """One stream of vectors through a model or design."""

    label: NotRequired[str]
    board: str
    model: str
    model_sha256: str
    vectors: int
    vectors_file: str
    providers: NotRequired[list[str] | None]
    compare: Annotated[CompareJson | None, Field(description="reference.check; null: unchecked")]
    accuracy: Annotated[dict[str, float] | None, Field(description="top-1 accuracy on the labels")]
    latency: LatencyJson
    throughput_per_s: Number
    stream: StreamJson
    load: NotRequired[Annotated[ModelLoadJson, Field(description="the model's load (its switch)")]]
    pool: NotRequired[Annotated[PoolJson, Field(description="a run over a pool (dut_pool)")]]
    expected: NotRequired[
        Annotated[ExpectedJson, Field(description="dut.expect: checked against given outputs")]
    ]


class RevisionJson(TypedDict):
    """A git repository's state: its commit, and whether tracked files differ from it."""

    commit: Annotated[str, Field(description="the commit checked out (HEAD)")]
    dirty: Annotated[bool, Field(description="tracked files differ from the commit")]


class FlashJson(TypedDict):
    design: str
    sha256: str
    flashed: Annotated[bool, Field(description="false: the board already ran this design")]
    seconds: float
    log: list[str]
    revision: NotRequired[
        Annotated[
            RevisionJson,
            Field(description="the design directory's git repository; absent: not in one"),
        ]
    ]


class ConsoleLineJson(TypedDict):
    time: Annotated[float, Field(description="unix seconds")]
    text: str


class ConsoleAlarmLineJson(TypedDict):
    time: Annotated[float, Field(description="unix seconds")]
    text: str
    alarm: Annotated[str, Field(description="what it matched: oops, BUG, FPGA manager error …")]


class ConsoleTroubleJson(TypedDict):
    """Kernel trouble a board's console printed during the test (which fails it)."""

    board: str
    console: Annotated[str, Field(description="the console, as messages name it")]
    lines: Annotated[list[ConsoleAlarmLineJson], Field(description="the alarming lines")]
    excerpt: Annotated[
        list[ConsoleLineJson], Field(description="the console around them (the oops's trace)")
    ]


class EnergyJson(TypedDict):
    """One `energy.measure` (docs/energy.md), with what plug-ins added to it."""

    board: NotRequired[str]
    model: NotRequired[str]
    model_sha256: NotRequired[str]
    label: NotRequired[str]
    valid: bool
    reason: str | None
    mj_per_inference: Number
    dynamic_mj_per_inference: NotRequired[Number]
    avg_power_w: Number
    idle_power_w: Number
    samples: Number
    sample_rate_hz: Number
    window_s: Number
    us_per_inference: NotRequired[Number]
    spread: Number
    trials: list[dict[str, Any]]
    meter: str
    meter_lost: NotRequired[
        Annotated[
            bool,
            Field(
                description="the meter stopped answering or closed its connection: the "
                "measurement is void (reason says when), the meter is opened again next time"
            ),
        ]
    ]
    settings: dict[str, Any]
    twin_truth_mj_per_inference: NotRequired[
        Annotated[float, Field(description="a twin's true energy per inference")]
    ]


class TablePlotJson(TypedDict):
    x: str
    y: list[str]


class TableJson(TypedDict):
    name: str
    columns: list[str]
    rows: list[list[Any]]
    plot: NotRequired[TablePlotJson]


class HangJson(TypedDict):
    """The board stopped answering within its watchdog bound (pytest_think.watchdog)."""

    during: Annotated[
        str, Field(description="what the board was doing: stream, in the device loop, flashing")
    ]
    bound_s: Annotated[Number, Field(description="the watchdog bound it outstayed")]
    vectors: NotRequired[Annotated[list[int], Field(description="first and last vector in flight")]]
    waited_s: NotRequired[
        Annotated[Number, Field(description="how long the answer was waited for")]
    ]
    board_answered: NotRequired[
        Annotated[bool, Field(description="whether SSH still answered a probe after the hang")]
    ]


class RecoveryJson(TypedDict):
    """Bringing the hung board back (pytest_think.recovery)."""

    recovered: bool
    power_cycled: bool
    seconds: Annotated[Number, Field(description="from the start of recovery until it was back")]
    probe_s: Annotated[Number, Field(description="the SSH probe of the hung board")]
    reflashed: Annotated[bool, Field(description="the design was flashed again")]
    switch: NotRequired[Annotated[str, Field(description="the power switch used")]]
    boot_s: NotRequired[Annotated[Number, Field(description="from power-on until SSH answered")]]
    design: NotRequired[str]
    error: NotRequired[Annotated[str, Field(description="why the board could not be brought back")]]


class TestJson(TypedDict):
    """One test; the fields of its last run are its own (`runs` lists all when several)."""

    nodeid: str
    outcome: Outcome
    duration_s: float
    message: NotRequired[str]
    time_limit_s: NotRequired[
        Annotated[
            float,
            Field(
                description="the test's time limit (pytest-timeout's), with what its long "
                "steps' methods added (energy measurements); absent without pytest-timeout"
            ),
        ]
    ]
    flash: NotRequired[list[FlashJson]]
    trtexec: NotRequired[list[dict[str, Any]]]
    console: NotRequired[list[ConsoleLineJson]]
    console_trouble: NotRequired[list[ConsoleTroubleJson]]
    energy: NotRequired[EnergyJson]
    energies: NotRequired[list[EnergyJson]]
    tables: NotRequired[list[TableJson]]
    hang: NotRequired[HangJson]
    recovery: NotRequired[RecoveryJson]
    runs: NotRequired[list[RunJson]]
    board: NotRequired[
        Annotated[str, Field(description="the board the test ran on; absent: it used none")]
    ]
    # The last run's fields (absent when the test streamed nothing), as in RunJson.
    label: NotRequired[str]
    model: NotRequired[str]
    model_sha256: NotRequired[str]
    vectors: NotRequired[int]
    vectors_file: NotRequired[str]
    providers: NotRequired[list[str] | None]
    compare: NotRequired[CompareJson | None]
    accuracy: NotRequired[dict[str, float] | None]
    latency: NotRequired[LatencyJson]
    throughput_per_s: NotRequired[Number]
    stream: NotRequired[StreamJson]
    load: NotRequired[ModelLoadJson]
    pool: NotRequired[PoolJson]


class DeltaJson(TypedDict):
    """One figure of one test and model against the baseline (report/deltas.py)."""

    board: str
    test: Annotated[str, Field(description="the node id without the board")]
    model: Annotated[str, Field(description="the model's label")]
    figure: Literal["latency", "p99", "throughput", "energy", "accuracy"]
    before: float
    after: float
    change: Annotated[
        Number, Field(description="after − before: a fraction of before, points for accuracy")
    ]
    limit: Annotated[float | None, Field(description="its --think-fail-on threshold")]
    beyond_noise: Annotated[bool | None, Field(description="null: a run has no interval")]
    verdict: Literal["regression", "improvement", "unchanged"]
    line: Annotated[str, Field(description="before, after, change, noise in one line")]


class BaselineJson(TypedDict):
    """The session against --think-baseline: every figure judged."""

    file: str
    created: Annotated[str | None, Field(description="when the baseline was written")]
    revision: Annotated[RevisionJson | None, Field(description="the baseline's tests' revision")]
    fail_on: Annotated[
        dict[str, float], Field(description="thresholds: % (latency, …), points (accuracy)")
    ]
    regressions: int
    improvements: int
    deltas: list[DeltaJson]
    notes: Annotated[list[str], Field(description="what could not be compared, and why")]


class ResultsJson(TypedDict):
    schema: Literal["pytest-think/results"]
    schema_version: Literal[1]
    created: Annotated[str, Field(description="ISO 8601, UTC")]
    pytest_think: Annotated[str, Field(description="the version that wrote the file")]
    board: Annotated[BoardJson, Field(description="the session's (first) board (--board)")]
    boards: Annotated[
        list[BoardJson],
        Field(description="every board of the session (each --board) and every board a test used"),
    ]
    tests: list[TestJson]
    revision: NotRequired[
        Annotated[
            RevisionJson,
            Field(description="the tests' (rootdir's) git repository; absent: not in one"),
        ]
    ]
    baseline: NotRequired[
        Annotated[BaselineJson, Field(description="the session against --think-baseline")]
    ]


"""A pytest session's results (``pytest --think-json PATH``)."""


@functools.cache
def results_adapter() -> TypeAdapter[ResultsJson]:
    """pydantic's validator of results documents (built on first use: it takes a while)."""
    return TypeAdapter(ResultsJson)


def results_schema() -> dict[str, Any]:
    """The JSON Schema of the results file (docs/results.schema.json)."""
    schema = results_adapter().json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
