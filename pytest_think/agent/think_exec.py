"""The `exec` backend of the THINK agent, uploaded beside think_agent.py: a design's own
runner, a command that reads inputs from files and writes outputs to files (KaNN's
``kann_opencl_cnn``, a FINN ``driver.py`` …), its device time taken from a line it prints
(``Total: <cycles>`` at the clock the board reports). Python >= 3.6 with numpy only.
"""

import os
import re
import shutil
import subprocess
import tempfile
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import numpy as np

if TYPE_CHECKING:  # on the board these files sit side by side, not in a package
    from pytest_think.agent.think_backends import AGENT_HOME, AgentError
else:
    from think_backends import AGENT_HOME, AgentError


class ExecBackend:
    """The design's runner: a command that reads inputs from files and writes outputs.

    LOAD path: the file the runner executes (a KaNN serialized network, a bitstream …).
    LOAD options:

    * ``argv``: the command, with ``{model}`` (the loaded file), ``{iodir}``, ``{batch}``,
      ``{input}`` and ``{output}`` (the first input and output file) replaced;
    * ``io``: ``raw`` (default): it reads ``{iodir}/input_<i>.bin`` and writes
      ``{iodir}/output_<j>.bin``, raw little-endian tensors in the order of ``inputs`` /
      ``outputs``; ``npy``: the same as ``.npy`` files (``input_0.npy`` …), the shape FINN's
      ``driver.py --exec_mode=execute --inputfile {input} --outputfile {output}`` takes;
    * ``inputs`` / ``outputs``: the model's signature (name, dtype, shape), from the host;
    * ``device_time``: ``{"pattern": regex with one group, "unit": "cycles" | "ms" | "us" |
      "ns", "clock_khz": the device clock}``; cycles are converted with that clock;
    * ``timeout_s``; ``path`` (directories searched first for the runner, e.g. the SDK's
      ``bin``); ``env`` (extra environment); ``cwd`` (default: the model's directory).
    """

    name = "exec"

    def __init__(self) -> None:
        self.argv: List[str] = []
        self.options: Dict[str, Any] = {}
        self.model = ""
        self.clock_khz: Optional[float] = None
        self.pattern: Optional[Any] = None
        self.device_ns: Optional[int] = None

    @staticmethod
    def version() -> Optional[str]:
        return "1"

    def load(self, path: str, options: Dict[str, Any]) -> Dict[str, Any]:
        self.argv = [str(a) for a in options.get("argv") or []]
        if not self.argv:
            raise AgentError("load_failed", "exec backend needs the runner's argv")
        for key in ("inputs", "outputs"):
            if not options.get(key):
                raise AgentError("load_failed", "exec backend needs the model's {}".format(key))
        self.options = options
        self.model = path
        self.io = options.get("io", "raw")
        if self.io not in ("raw", "npy"):
            raise AgentError("load_failed", "exec io must be raw or npy, not {!r}".format(self.io))
        timing = options.get("device_time") or {}
        self.unit = timing.get("unit", "ns")
        self.pattern = re.compile(timing["pattern"]) if timing.get("pattern") else None
        if self.unit == "cycles":
            self.clock_khz = float(timing.get("clock_khz") or 0) or None
            if self.clock_khz is None:
                raise AgentError("load_failed", "device time in cycles needs the clock in kHz")
        # A runner takes its batch along the first axis ({batch}): a leading 1 in the model's
        # signature is that axis, of any size here.
        return {key: [_any_batch(t) for t in options[key]] for key in ("inputs", "outputs")}

    def _device_ns(self, text: str) -> Optional[int]:
        if self.pattern is None:
            return None
        found = self.pattern.findall(text)
        if not found:
            raise AgentError(
                "infer_failed",
                "runner {} printed no line matching {!r}".format(
                    self.argv[0], self.pattern.pattern
                ),
            )
        value = sum(float(v) for v in found)
        if self.unit == "cycles":
            assert self.clock_khz
            return int(value / self.clock_khz * 1e6)  # cycles / kHz = ms
        scale = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}[self.unit]
        return int(value * scale)

    def run(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        n = next(iter(feeds.values())).shape[0]
        iodir = tempfile.mkdtemp(prefix="think-io-", dir=AGENT_HOME)
        try:
            suffix = "." + ("npy" if self.io == "npy" else "bin")
            for i, spec in enumerate(self.options["inputs"]):
                arr = np.ascontiguousarray(feeds[spec["name"]], dtype=np.dtype(spec["dtype"]))
                target = os.path.join(iodir, "input_{}{}".format(i, suffix))
                if self.io == "npy":
                    np.save(target, arr)
                else:
                    arr.astype(arr.dtype.newbyteorder("<")).tofile(target)
            fields = {
                "model": self.model,
                "iodir": iodir,
                "batch": str(n),
                "input": os.path.join(iodir, "input_0" + suffix),
                "output": os.path.join(iodir, "output_0" + suffix),
            }
            argv = [a.format(**fields) for a in self.argv]
            env = dict(os.environ, **(self.options.get("env") or {}))
            path = [*list(self.options.get("path") or []), env.get("PATH", "/usr/bin:/bin")]
            env["PATH"] = os.pathsep.join(path)
            try:
                proc = subprocess.run(
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=self.options.get("cwd") or os.path.dirname(self.model),
                    env=env,
                    timeout=float(self.options.get("timeout_s", 600)),
                )
            except FileNotFoundError:
                raise AgentError(
                    "infer_failed", "runner {} not found on the board".format(argv[0])
                ) from None
            except subprocess.TimeoutExpired as exc:
                raise AgentError(
                    "infer_failed",
                    "runner {} did not finish in {:.0f} s".format(argv[0], exc.timeout),
                ) from None
            text = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
            if proc.returncode != 0:
                last = [line for line in text.splitlines() if line.strip()][-1:] or ["(no output)"]
                raise AgentError(
                    "runner_failed",
                    "runner {} exited with status {}: {}".format(
                        argv[0], proc.returncode, last[0].strip()
                    ),
                )
            outputs = [
                self._read_output(iodir, j, spec, n)
                for j, spec in enumerate(self.options["outputs"])
            ]
            self.device_ns = self._device_ns(text)
            return outputs
        finally:
            shutil.rmtree(iodir, ignore_errors=True)

    def _read_output(self, iodir: str, j: int, spec: Dict[str, Any], n: int) -> np.ndarray:
        shape = [n] + [int(d) for d in spec["shape"][1:]]
        if self.io == "npy":
            path = os.path.join(iodir, "output_{}.npy".format(j))
            try:
                arr = np.load(path)
            except (OSError, ValueError) as exc:
                raise AgentError(
                    "runner_failed",
                    "runner {} wrote no readable {}: {}".format(
                        self.argv[0], os.path.basename(path), exc
                    ),
                ) from None
            if list(arr.shape) != shape:
                raise AgentError(
                    "runner_failed",
                    "runner {} wrote {} of shape {} for output {!r}, expected {}".format(
                        self.argv[0], os.path.basename(path), list(arr.shape), spec["name"], shape
                    ),
                )
            return np.asarray(arr, dtype=np.dtype(spec["dtype"]))
        path = os.path.join(iodir, "output_{}.bin".format(j))
        dtype = np.dtype(spec["dtype"]).newbyteorder("<")
        want = int(np.prod(shape)) * dtype.itemsize
        size = os.path.getsize(path) if os.path.isfile(path) else None
        if size != want:
            got = "no file" if size is None else "{} bytes".format(size)
            raise AgentError(
                "runner_failed",
                "runner {} wrote {} for output {!r} ({}), expected {} bytes".format(
                    self.argv[0], got, spec["name"], os.path.basename(path), want
                ),
            )
        return np.fromfile(path, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _any_batch(tensor: Dict[str, Any]) -> Dict[str, Any]:
    shape = list(tensor["shape"])
    return dict(tensor, shape=[None, *shape[1:]]) if shape[:1] == [1] else tensor
