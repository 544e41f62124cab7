"""The device under test: a connected board's agent, and runs of models on it.

`Device` deploys the agent on first use, uploads models (skipping unchanged ones), and
streams vectors, returning a `Run` with the board's outputs and timings.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pytest_think.agent_client import AgentClient, ModelLoad
from pytest_think.boards import BoardConfig
from pytest_think.checking import accuracy
from pytest_think.connection import Board
from pytest_think.designs import Design, load_design
from pytest_think.errors import AgentTimeout, InputFileError, LinkError
from pytest_think.flashing import FlashReport, ensure_design
from pytest_think.hashing import sha256_file
from pytest_think.model_check import ModelFacts, check_runtime, inspect_model
from pytest_think.model_signature import class_scores, show_shape
from pytest_think.power.meters import PowerMeter, open_meter
from pytest_think.reference import reference_model
from pytest_think.resume import ResumingStream
from pytest_think.stats import latency_stats
from pytest_think.stream import DEFAULT_WINDOW, StreamResult
from pytest_think.trtexec import TrtexecSummary
from pytest_think.vectors import VectorSet, load_vectors
from pytest_think.watchdog import Watchdog


@dataclass
class Run:
    """One model run over one vector set on one board."""

    board: str
    model: Path
    model_sha256: str
    vectors: VectorSet
    result: StreamResult
    signature: dict[str, Any]
    # The LOAD this run's model took (None: not known, as for a pool's merged run).
    load: ModelLoad | None = field(default=None, kw_only=True)

    @property
    def outputs(self) -> dict[str, np.ndarray]:
        return self.result.outputs

    @property
    def count(self) -> int:
        return self.vectors.count

    @property
    def throughput_per_s(self) -> float:
        return self.count / self.result.wall_s if self.result.wall_s > 0 else 0.0

    def scores(self, output: str | None = None) -> np.ndarray:
        """The class-score output: `output`, or the first output whose vectors are class
        scores (model_signature.class_scores)."""
        if output is not None:
            return self.outputs[output]
        for name in self.result.output_names:
            rows = class_scores(self.outputs[name])
            if rows is not None:
                return rows
        shapes = ", ".join(
            f"'{n}' {show_shape(self.outputs[n].shape[1:])}" for n in self.result.output_names
        )
        raise ValueError(
            f"{self.model.name} has no class-score output (one row of scores per vector); "
            f"its outputs' vectors: {shapes}"
        )

    def accuracy(self, output: str | None = None) -> float:
        if self.vectors.labels is None:
            raise InputFileError(f"vector file {self.vectors.path} has no 'labels' array")
        return accuracy(self.scores(output), self.vectors.labels)

    def latency(self) -> dict[str, dict[str, float]]:
        return {
            "device_ns": latency_stats(self.result.device_ns),
            "host_ns": latency_stats(self.result.host_ns),
        }

    def stage_latency(self) -> list[dict[str, float]]:
        """Device time statistics of each stage (segment) of the model, in pipeline order; one
        entry, the device time, for a whole model. A vector's device time is their sum."""
        table = self.result.stage_device_ns
        if table is None:
            return [latency_stats(self.result.device_ns)]
        return [latency_stats(table[:, k]) for k in range(table.shape[1])]


def _model_sha256(model: Path, data: Sequence[str] = ()) -> str:
    """The model file's sha256; for a model with external data, that of its file's and its
    data files' (so a changed data file is a changed model)."""
    if not model.is_file():
        raise InputFileError(f"model file {model} not found")
    if not data:
        return sha256_file(model)
    parts = [sha256_file(model), *(f"{f} {sha256_file(model.parent / f)}" for f in data)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class Device:
    """Runs models on one connected board through its agent (deployed on first use)."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.agent: AgentClient | None = None
        # The last agent's HELLO, kept for reports after that agent is gone.
        self.agent_identity: dict[str, Any] | None = None
        self._meter: PowerMeter | None = None

    @property
    def config(self) -> BoardConfig:
        return self.board.config

    @property
    def watchdog(self) -> Watchdog:
        return self.board.watchdog

    @property
    def meter_identity(self) -> str | None:
        """The meter's identity, once it was opened."""
        return self._meter.idn if self._meter is not None else None

    @property
    def meter(self) -> PowerMeter:
        """The board's power meter, connected and identified on first use."""
        if self.config.meter is None:
            raise LinkError(
                f"board '{self.config.name}' has no 'meter' section in {self.config.source}"
            )
        if self._meter is None:
            self._meter = open_meter(self.config, self)
        return self._meter

    def ensure_agent(self) -> AgentClient:
        if self.agent is not None:
            return self.agent
        self.ensure_link()
        link = self.board.agent.start_agent()
        agent = AgentClient(link, watchdog=self.watchdog)
        try:
            agent.hello(self.config.agent.start_timeout)
        except Exception:
            link.close()
            raise
        self.agent = agent
        self.agent_identity = agent.identity
        return agent

    def ensure_link(self) -> None:
        """Connect again if the board's SSH connection dropped since it was last used
        (between runs, or at the end of a stream that could not be resumed)."""
        ssh = self.board.ssh
        if ssh is not None and not ssh.connected:
            self.close_agent()
            ssh.reconnect()

    def inspect_model(self, model: Path) -> ModelFacts | None:
        """The model file as the host reads it, before anything is sent: one line when it is
        not a model the board's backend could load (pytest_think.model_check); None for a
        backend whose files the host does not parse."""
        if self.config.agent.backend != "onnxruntime":
            if not model.is_file():
                raise InputFileError(f"model file {model} not found")
            return None
        return inspect_model(model)

    def load_model(
        self,
        model: Path,
        options: dict[str, Any] | None = None,
        facts: ModelFacts | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Check `model` (`facts`, if the caller inspected it already), deploy it (skipped when
        the board has it) and have the agent load it with the board's backend and providers;
        its sha256 and the loaded signature. Nothing is uploaded for a model the board's
        runtime, as its agent's HELLO names it, cannot run."""
        facts = facts or self.inspect_model(model)
        data = facts.external if facts is not None else ()
        sha = _model_sha256(model, data)
        self.ensure_link()
        agent = self.ensure_agent()
        if facts is not None:
            check_runtime(facts, self.config.agent.backend, agent.identity, self.config.name)
        if data:
            remote = self.board.agent.deploy_model(model, sha, data)
        else:  # as every launcher takes it
            remote = self.board.agent.deploy_model(model, sha)
        loaded: dict[str, Any] = {}
        if self.config.agent.providers:
            loaded["providers"] = self.config.agent.providers
        loaded.update(options or {})
        return sha, self._load(remote, sha, self.config.agent.backend, loaded)

    def _load(self, path: str, sha: str, backend: str, options: dict[str, Any]) -> dict[str, Any]:
        agent = self.ensure_agent()
        return agent.load(path, sha, backend, options, self.config.agent.start_timeout)

    @property
    def last_load(self) -> ModelLoad | None:
        """The agent's last LOAD (or the model it already held), for the run it is for."""
        return self.agent.last_load if self.agent is not None else None

    def _stream(
        self, vectors: VectorSet, reload: Callable[[], object], **options: Any
    ) -> StreamResult:
        """Stream `vectors` through the loaded model; when the SSH connection drops on the
        way, reconnect, `reload()` the model into a new agent and resume (pytest_think.resume)."""
        assert self.agent is not None

        def restart() -> AgentClient:
            reload()
            assert self.agent is not None
            return self.agent

        stream = self.agent.vector_stream(vectors, **options)
        try:
            return ResumingStream(
                stream, self.board.ssh, self.config.name, restart, self.close_agent
            ).run()
        except Exception:
            # A failed stream leaves the agent in an unknown state: start a fresh one next time.
            self.close_agent()
            raise

    def run(
        self,
        model: str | Path,
        vectors: str | Path | VectorSet,
        *,
        device_batch: int = 1,
        window: int = DEFAULT_WINDOW,
        vectors_per_frame: int | None = None,
        backend_options: dict[str, Any] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Run:
        model = Path(model)
        options = {"device_batch": device_batch, **(backend_options or {})}
        # The model and the vectors are checked against each other before anything is sent.
        facts = self.inspect_model(model)
        vset = vector_set_for(vectors, facts.signature) if facts is not None else None
        sha, signature = self.load_model(model, options, facts)
        load = self.last_load
        if vset is None or facts is None or signature["inputs"] != facts.signature["inputs"]:
            vset = vector_set_for(vectors, signature)  # the board describes the model otherwise
        result = self._stream(
            vset,
            lambda: self.load_model(model, options, facts),
            window=window,
            vectors_per_frame=vectors_per_frame,
            progress=progress,
        )
        return Run(self.config.name, model, sha, vset, result, signature, load=load)

    def run_design(
        self,
        design: str | Path | Design,
        vectors: str | Path | VectorSet,
        *,
        force_flash: bool = False,
        window: int = DEFAULT_WINDOW,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[Run, FlashReport]:
        """Bring the board to `design`, then stream `vectors` through it.

        The board's design runner says how the loaded design is run (its runtime); the run
        is checked against the design's `reference` model, so `Run.model` is that reference."""
        design, loaded, flash = self.load_design(design, force_flash=force_flash)
        assert design.reference is not None
        vset = vector_set_for(vectors, loaded)
        # After a drop the board is still up: the design is loaded again only if its record
        # says it is gone.
        load = self.last_load
        result = self._stream(
            vset, lambda: self.load_design(design), window=window, progress=progress
        )
        run = Run(
            self.config.name, design.reference, design.sha256, vset, result, loaded, load=load
        )
        return run, flash

    def load_design(
        self,
        design: str | Path | Design,
        *,
        force_flash: bool = False,
        bind: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
    ) -> tuple[Design, dict[str, Any], FlashReport]:
        """Bring the board to `design` and have the agent load it as the board's design runner
        says; `bind(backend, options)` may change the LOAD options (the device to run on).
        The design, the loaded signature and the flash report."""
        design = _design(design)
        if design.reference is None:
            raise InputFileError(
                f"design file {design.source}: field 'reference' is missing; a design is run "
                "to be checked against the model it implements"
            )
        self.ensure_link()
        flash = ensure_design(self.board, design, force=force_flash)
        signature = reference_model(design.reference).signature
        runtime = self.board.design_runner.design_runtime(design, signature)
        options = bind(runtime.backend, runtime.options) if bind else runtime.options
        loaded = self._load(runtime.path, design.sha256, runtime.backend, options)
        return design, loaded, flash

    def device_loop(
        self,
        model: str | Path,
        vectors: str | Path,
        *,
        count: int = 64,
        min_seconds: float = 1.0,
        warmup: int = 10,
        device_batch: int = 1,
    ) -> dict[str, Any]:
        """Run `model` in a loop on the device, no link involved; returns the agent's report."""
        return self.prepare_loop(model, vectors, count=count, device_batch=device_batch)(
            min_seconds, warmup
        )

    def prepare_loop(
        self, model: str | Path, vectors: str | Path, *, count: int = 64, device_batch: int = 1
    ) -> Callable[..., dict[str, Any]]:
        """Deploy and load `model` and its vectors now; the callable returned,
        `(min_seconds, warmup, count=None)`, then only sends the LOOP and waits for its report.

        Energy trials prepare first, so that the meter's acquisition holds the loop and not the
        agent's start or the model's deployment (as long as the machine's load makes them)."""
        model, vectors = Path(model), Path(vectors)
        _, signature = self.load_model(model, {"device_batch": device_batch})
        vset = load_vectors(vectors, signature)
        loaded = [self.agent]
        default = count

        def loop(min_seconds: float, warmup: int, count: int | None = None) -> dict[str, Any]:
            if self.agent is None or self.agent is not loaded[0]:  # restarted since: load again
                self.load_model(model, {"device_batch": device_batch})
                loaded[0] = self.agent
            assert self.agent is not None
            options = {"min_seconds": min_seconds, "warmup": warmup}
            n = min(default if count is None else count, vset.count)
            bound = self.watchdog.loop_bound(min_seconds)
            since = time.monotonic()
            try:
                return self.agent.loop(vset, n, options, timeout=bound)
            except AgentTimeout:
                self.stop_agent()
                raise self.watchdog.hung("in the device loop", bound, since=since) from None

        return loop

    def flash(self, design: str | Path | Design, *, force: bool = False) -> FlashReport:
        """Bring the board to `design` (a design file or Design); skipped when already loaded."""
        self.ensure_link()
        return ensure_design(self.board, _design(design), force=force)

    def trtexec(
        self, design: str | Path | Design, *, iterations: int = 200, warmup_ms: int = 200
    ) -> TrtexecSummary:
        """Bring the board to `design`, then benchmark its TensorRT engine with trtexec."""
        design = _design(design)
        benchmarker = self.board.benchmarker
        self.ensure_link()
        ensure_design(self.board, design)
        return benchmarker.trtexec(design, iterations, warmup_ms)

    def stop_agent(self) -> None:
        """Let the agent go without asking it (a hung agent answers nothing, BYE included)."""
        if self.agent is not None:
            agent, self.agent = self.agent, None
            agent.link.close()

    def close_agent(self) -> None:
        if self.watchdog.tripped is not None:
            self.stop_agent()  # hung: BYE would go unanswered too
        if self.agent is not None:
            self.agent.bye()
            self.agent = None

    def close_meter(self) -> None:
        """Close the meter (one that was lost, say): the next `meter` opens it again."""
        if self._meter is not None:
            self._meter.close()
            self._meter = None

    def close(self) -> None:
        self.close_meter()
        self.close_agent()


def _design(design: str | Path | Design) -> Design:
    return design if isinstance(design, Design) else load_design(Path(design))


def vector_set_for(vectors: str | Path | VectorSet, signature: dict[str, Any]) -> VectorSet:
    return vectors if isinstance(vectors, VectorSet) else load_vectors(Path(vectors), signature)
