"""The twin's device: runs the uploaded agent as a real process and plays the hardware's part.

Bytes flow channel -> agent stdin and agent stdout -> channel untouched, unless the board
file's twin section asks for extra device latency or faults; then frames are decoded on the
way back and RESULT frames are rewritten as a slower or faulty device would produce them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from pytest_think.agent import think_frames as tf
from pytest_think.emulator.activity import DeviceActivity
from pytest_think.emulator.parts import TwinModel
from pytest_think.emulator.stalls import AgentGate

if TYPE_CHECKING:
    from pytest_think.emulator.config import TwinConfig

CHUNK = 256 * 1024


class TwinLatency(TwinModel):
    """Device time the twin adds per inference (on top of what its model execution takes)."""

    fixed_us: float = Field(0.0, ge=0)
    jitter_us: float = Field(0.0, ge=0)


class TwinFaults(TwinModel):
    """Faults a twin injects so that failure paths can be tested without broken hardware."""

    output_offset: float = 0.0
    output_noise: float = Field(0.0, ge=0)
    perturb_every: int = Field(1, ge=1, description="perturb one vector in N")
    crash_after_vectors: int | None = Field(None, ge=0)
    # The network drops the board's SSH connections (the board stays up) each time the
    # vectors its agents were sent, counted over the twin's life, first pass one of these.
    drop_after_vectors: list[int] = Field(default_factory=list)
    drop_down_s: float = Field(
        0.0, ge=0, description="after a drop, seconds SSH refuses connections (link still down)"
    )
    drop_forgets_workdir: bool = Field(
        False, description="a drop removes the agent's work directory, as a reboot does tmpfs"
    )
    new_host_key: bool = Field(
        False, description="SSH comes back from a drop or a power cycle with a new host key"
    )
    # Stalls (pytest_think.emulator.stalls): an agent or the whole board stops answering.
    hang_after_vectors: int | None = Field(None, ge=0)
    freeze_after_vectors: int | None = Field(None, ge=0)
    freeze_in_loop: int | None = Field(None, ge=1)
    freeze_on_command: str | None = Field(None, min_length=1)
    seed: int = 0

    @property
    def perturbs_outputs(self) -> bool:
        return self.output_offset != 0.0 or self.output_noise != 0.0


class DeviceModel:
    """What the twin's device does to results: added device time and output faults."""

    def __init__(self, twin: TwinConfig) -> None:
        self.latency = twin.latency
        self.faults = twin.faults
        self.rng = np.random.default_rng(twin.faults.seed)
        self.vectors_out = 0

    @property
    def rewrites_results(self) -> bool:
        return (
            self.faults.perturbs_outputs or self.latency.fixed_us > 0 or self.latency.jitter_us > 0
        )

    def rewrite(self, frame: tf.Frame) -> tuple[bytes, float]:
        """A RESULT frame as this device would send it, and the extra seconds it took."""
        # the agent's stage times, kept as they are
        device_ns, tensors, stage_ns = tf.decode_result_and_stages(frame.payload)
        n = len(device_ns)
        extra = np.full(n, self.latency.fixed_us * 1e3)
        if self.latency.jitter_us:
            extra += self.rng.uniform(0.0, self.latency.jitter_us * 1e3, n)
        device_ns = [int(d + e) for d, e in zip(device_ns, extra)]
        if self.faults.perturbs_outputs:
            index = np.arange(self.vectors_out, self.vectors_out + n)
            hit = index % self.faults.perturb_every == 0
            tensors = [self._perturb(t, hit) for t in tensors]
        self.vectors_out += n
        payload = tf.encode_result(device_ns, tensors, stage_ns)
        return tf.encode_frame(tf.RESULT, frame.seq, payload), float(extra.sum()) / 1e9

    def _perturb(self, t: tf.Tensor, hit: np.ndarray) -> tf.Tensor:
        arr = np.frombuffer(t.data, dtype=t.dtype).reshape(t.shape).copy()
        if arr.dtype.kind != "f" or not hit.any():
            return t
        rows = arr[hit]
        rows += self.faults.output_offset
        if self.faults.output_noise:
            rows += self.rng.normal(0.0, self.faults.output_noise, rows.shape).astype(arr.dtype)
        arr[hit] = rows
        return tf.Tensor(t.name, t.dtype, t.shape, arr.tobytes())


class VectorCounter:
    """Counts vectors the host sends in INFER frames (for crash_after_vectors)."""

    def __init__(self) -> None:
        self.decoder = tf.FrameDecoder()
        self.vectors_in = 0

    def feed(self, data: bytes) -> None:
        for frame in self.decoder.feed(data):
            if frame.type == tf.INFER:
                tensors = tf.decode_tensors(frame.payload)
                if tensors and tensors[0].shape:
                    self.vectors_in += tensors[0].shape[0]


class LinkDrops:
    """The `drop_after_vectors` fault: counts the vectors every agent of the twin is sent and
    calls `drop` (which aborts the board's SSH connections) as each count is passed."""

    def __init__(self, after_vectors: list[int], drop: Callable[[], None]) -> None:
        self.pending = sorted(after_vectors)
        self.drop = drop
        self.vectors = 0

    def passed(self, vectors: int) -> bool:
        """Count `vectors` more; True when that passed a drop (the connection is gone)."""
        self.vectors += vectors
        if not self.pending or self.vectors <= self.pending[0]:
            return False
        self.pending = [n for n in self.pending if n >= self.vectors]
        self.drop()
        return True


async def run_agent(
    script: Path,
    args: list[str],
    twin: TwinConfig,
    stdin_read: Callable[[int], Any],
    stdout_write: Callable[[bytes], Any],
    stderr_write: Callable[[bytes], Any],
    board_env: dict[str, str] | None = None,
    activity: DeviceActivity | None = None,
    drops: LinkDrops | None = None,
    gate: AgentGate | None = None,
) -> int:
    """Run the uploaded agent; return its exit status (negative: killed by that signal).

    `board_env` is what the twin's board adds to a process's environment (the PATH to its
    SDK's tools, the loader path to its libraries …); `gate`, what of the host's bytes reach
    the agent and whether it is heard (the board's stall faults)."""
    board_env = dict(board_env or {})
    path = [p for p in board_env.pop("PATH", "").split(os.pathsep) if p]
    path.append(os.environ.get("PATH", "/usr/bin:/bin"))
    env = {**board_env, "PATH": os.pathsep.join(path), "LANG": "C.UTF-8"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        *args,
        cwd=str(script.parent),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    model = DeviceModel(twin)
    crash_after = twin.faults.crash_after_vectors
    counter = VectorCounter() if crash_after is not None or drops is not None else None
    host_frames = tf.FrameDecoder() if activity is not None else None

    async def host_to_agent() -> None:
        assert proc.stdin
        try:
            while data := await stdin_read(CHUNK):
                if host_frames is not None and activity is not None:
                    for frame in host_frames.feed(data):
                        activity.host_frame(frame)
                if counter is not None:
                    before = counter.vectors_in
                    counter.feed(data)
                    if crash_after is not None and counter.vectors_in > crash_after:
                        # The device dies with work in flight, as a board with a bad driver does.
                        proc.send_signal(signal.SIGSEGV)
                        return
                    if drops is not None and drops.passed(counter.vectors_in - before):
                        # The session died with the connection: sshd hangs up on the agent,
                        # which ends at the end of its input.
                        proc.stdin.close()
                        return
                if gate is not None and not gate.passes(data):
                    continue
                proc.stdin.write(data)
                await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass

    async def agent_to_host() -> None:
        assert proc.stdout
        decoder = tf.FrameDecoder() if model.rewrites_results or activity else None
        while data := await proc.stdout.read(CHUNK):
            if gate is not None and gate.silent:
                continue
            if decoder is None:
                await stdout_write(data)
                continue
            for frame in decoder.feed(data):
                if frame.type == tf.RESULT and model.rewrites_results:
                    blob, extra_s = model.rewrite(frame)
                    if extra_s:
                        await asyncio.sleep(extra_s)
                else:
                    blob = tf.encode_frame(frame.type, frame.seq, frame.payload)
                if activity is not None:
                    activity.agent_frame(frame)
                await stdout_write(blob)

    async def agent_stderr() -> None:
        assert proc.stderr
        while data := await proc.stderr.read(CHUNK):
            await stderr_write(data)

    feeder = asyncio.ensure_future(host_to_agent())
    try:
        await asyncio.gather(agent_to_host(), agent_stderr())
        return await proc.wait()
    finally:
        feeder.cancel()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
