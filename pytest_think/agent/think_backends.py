"""Inference backends of the THINK agent, uploaded beside think_agent.py.

A backend loads one model file and runs batches of inputs. Three kinds of board are covered
(the third in think_exec.py; think_agent.py keeps the registry):

* ``onnxruntime``: ONNX on the CPU or on the execution providers the board has (TensorRT and
  CUDA on a Jetson, Vitis AI on a DPU design …);
* ``tflite``: TensorFlow Lite models, optionally through a delegate such as the Edge TPU's
  ``libedgetpu.so.1``, one delegate per TPU;
* ``exec``: the design's own runner, a command that reads inputs from files and writes
  outputs to files (KaNN's ``kann_opencl_cnn``, a FINN ``driver.py`` …), its device time taken
  from a line it prints (``Total: <cycles>`` at the clock the board reports).

A backend may set ``device_ns`` after ``run``: the device's own account of the time taken,
used instead of the agent's clock around the call. A backend of a model in segments gives
``stages()``, one per segment (each with ``run(state) -> state``): the agent runs them as a
pipeline, one worker per segment's device (think_pipeline.py); ``run`` is the same stages
one after another. Runs on Python >= 3.6 with numpy only
(plus the backend's own runtime).
"""

import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import numpy as np

if TYPE_CHECKING:  # on the board the codec sits beside this file, not in a package
    from pytest_think.agent import think_frames as tf
else:
    import think_frames as tf

AGENT_HOME = os.path.dirname(os.path.abspath(__file__))


class AgentError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def log(message: str) -> None:
    sys.stderr.write("think-agent: {}\n".format(message))
    sys.stderr.flush()


class OnnxRuntimeBackend:
    """onnxruntime on the board's CPU (or the providers named in the LOAD options).

    LOAD option ``device_id``: the device of the providers that have several (a GPU).
    LOAD option ``segments``: further model files run after the first, in order; each stage
    takes its inputs by name from the inputs and the earlier stages' outputs, and the last
    stage's outputs are the model's (a model cut in segments, as a pipeline is)."""

    name = "onnxruntime"

    def __init__(self) -> None:
        import onnxruntime as ort

        self._ort = ort
        self.sessions: List[Any] = []
        self.device_ns: Optional[int] = None

    @staticmethod
    def version() -> Optional[str]:
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        return str(ort.__version__)

    def load(self, path: str, options: Dict[str, Any]) -> Dict[str, Any]:
        so = self._ort.SessionOptions()
        if "intra_op_threads" in options:
            so.intra_op_num_threads = int(options["intra_op_threads"])
        wanted = options.get("providers") or ["CPUExecutionProvider"]
        available = set(self._ort.get_available_providers())
        providers = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
        missing = [p for p in wanted if p not in available]
        if missing:
            log("providers {} are not on this board; using {}".format(missing, providers))
        bound = _bind_device(providers, options.get("device_id"))
        paths = [path] + [os.path.join(AGENT_HOME, p) for p in options.get("segments") or []]
        self.sessions = []
        for p in paths:
            if not os.path.isfile(p):
                raise AgentError("no_model", "model file {} not found on the board".format(p))
            try:
                self.sessions.append(self._ort.InferenceSession(p, so, providers=bound))
            except Exception as exc:
                raise AgentError("load_failed", "{}: {}".format(p, exc)) from None
        first = tf.ort_signature(self.sessions[0])
        last = tf.ort_signature(self.sessions[-1])
        signature: Dict[str, Any] = {"inputs": first["inputs"], "outputs": last["outputs"]}
        if len(self.sessions) > 1:
            signature["segments"] = len(self.sessions)
        if options.get("device_id") is not None:
            signature["device_id"] = int(options["device_id"])
        return dict(signature, providers=self.sessions[0].get_providers())

    def stages(self) -> List["OrtStage"]:
        """One stage per segment, for the agent's pipeline (think_pipeline.py)."""
        last = len(self.sessions) - 1
        return [OrtStage(k, s, k == last) for k, s in enumerate(self.sessions)]

    def run(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        return run_stages(self.stages(), feeds)


def run_stages(stages: List[Any], feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
    """A backend's stages one after another (what its pipeline does, on one thread)."""
    state: Any = dict(feeds)
    for stage in stages:
        state = stage.run(state)
    return list(state)


class OrtStage:
    """Segment k of an onnxruntime model: tensors by name in; the tensors with its outputs
    added out, or the model's outputs (a list) from the last segment."""

    device_ns = None  # the agent's clock around the call is the stage's device time

    def __init__(self, k: int, session: Any, last: bool) -> None:
        self.k = k
        self.session = session
        self.last = last
        self.inputs = [i.name for i in session.get_inputs()]
        self.outputs = [o.name for o in session.get_outputs()]

    def run(self, tensors: Dict[str, np.ndarray]) -> Any:
        try:
            stage_feeds = {name: tensors[name] for name in self.inputs}
        except KeyError as exc:
            raise AgentError(
                "infer_failed", "segment {} wants input {}".format(self.k, exc)
            ) from None
        try:
            outputs = list(self.session.run(None, stage_feeds))
        except Exception as exc:
            raise AgentError("infer_failed", "onnxruntime: {}".format(exc)) from None
        if self.last:
            return outputs
        tensors.update(zip(self.outputs, outputs))
        return tensors


# Providers that run on one of several devices, chosen by their `device_id` option.
DEVICE_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider", "ROCMExecutionProvider")


def _bind_device(providers: List[str], device_id: Any) -> List[Any]:
    """LOAD option ``device_id``: the session runs on that device of the providers that have
    several (the others, the CPU's, are left as they are)."""
    if device_id is None:
        return list(providers)
    options = {"device_id": str(int(device_id))}
    return [(p, options) if p in DEVICE_PROVIDERS else p for p in providers]


def _tflite_module() -> Any:
    """The TensorFlow Lite interpreter module: tflite_runtime (Coral's) or ai_edge_litert."""
    try:
        from tflite_runtime import interpreter  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from ai_edge_litert import interpreter  # type: ignore[import-untyped,import-not-found,no-redef,unused-ignore]
        except ImportError:
            return None
    return interpreter


class TfliteBackend:
    """TensorFlow Lite, optionally through a delegate; segments run as a pipeline.

    LOAD options: ``segments`` (further model files, run after the first in order, outputs
    feeding inputs by tensor name), ``delegate`` (a shared library, e.g. ``libedgetpu.so.1``)
    and ``devices`` (one per segment, e.g. ``usb:0``, ``usb:1``: the delegate's ``device``).
    Float inputs are quantized and integer outputs dequantized with each tensor's scale and
    zero point, so the host always sees float tensors; the pipeline between segments stays
    integer, so a segmented model gives exactly the unsegmented model's results.
    """

    name = "tflite"

    def __init__(self) -> None:
        self.module = _tflite_module()
        if self.module is None:
            raise AgentError("no_backend", "neither tflite_runtime nor ai_edge_litert is installed")
        self.interpreters: List[Any] = []  # one interpreter per segment
        self.device_ns: Optional[int] = None

    @staticmethod
    def version() -> Optional[str]:
        module = _tflite_module()
        if module is None:
            return None
        return str(getattr(module, "__version__", "") or "present")

    def _interpreter(self, path: str, delegate: Optional[str], device: Optional[str]) -> Any:
        delegates = []
        if delegate:
            opts = {"device": device} if device else {}
            try:
                delegates.append(self.module.load_delegate(delegate, opts))
            except (ValueError, OSError) as exc:
                where = " on device {}".format(device) if device else ""
                why = ": ".join(line for line in str(exc).splitlines() if line.strip())
                raise AgentError(
                    "load_failed", "delegate {}{} failed to load: {}".format(delegate, where, why)
                ) from None
        try:
            interp = self.module.Interpreter(model_path=path, experimental_delegates=delegates)
            interp.allocate_tensors()
        except Exception as exc:
            raise AgentError("load_failed", "{}: {}".format(path, exc)) from None
        return interp

    def load(self, path: str, options: Dict[str, Any]) -> Dict[str, Any]:
        paths = [path] + [os.path.join(AGENT_HOME, p) for p in options.get("segments") or []]
        devices = list(options.get("devices") or [])
        if devices and len(devices) < len(paths):
            raise AgentError(
                "load_failed",
                "{} segments need {} devices, the board has {}: {}".format(
                    len(paths), len(paths), len(devices), devices
                ),
            )
        self.interpreters = []
        for i, p in enumerate(paths):
            if not os.path.isfile(p):
                raise AgentError("no_model", "model file {} not found on the board".format(p))
            device = devices[i] if devices else None
            self.interpreters.append(self._interpreter(p, options.get("delegate"), device))
        first, last = self.interpreters[0], self.interpreters[-1]

        def describe(details: List[Dict[str, Any]], dtype_as_float: bool) -> List[Dict[str, Any]]:
            out = []
            for d in details:
                dtype = np.dtype(d["dtype"]).name
                scale = d.get("quantization", (0.0, 0))[0]
                if dtype_as_float and scale:
                    dtype = "float32"
                out.append(
                    {
                        "name": d["name"],
                        "dtype": dtype,
                        "shape": [None, *[int(x) for x in d["shape"][1:]]],
                    }
                )
            return out

        return {
            "inputs": describe(first.get_input_details(), True),
            "outputs": describe(last.get_output_details(), True),
            "segments": len(self.interpreters),
        }

    @staticmethod
    def _quantize(arr: np.ndarray, detail: Dict[str, Any]) -> np.ndarray:
        scale, zero = detail["quantization"]
        dtype = np.dtype(detail["dtype"])
        if not scale or arr.dtype == dtype:
            return np.asarray(arr, dtype=dtype)
        info = np.iinfo(dtype)
        q = np.round(arr / scale) + zero
        return np.asarray(np.clip(q, info.min, info.max), dtype=dtype)

    @staticmethod
    def _dequantize(arr: np.ndarray, detail: Dict[str, Any]) -> np.ndarray:
        scale, zero = detail["quantization"]
        if not scale:
            return arr
        return np.asarray(scale * (arr.astype(np.float32) - zero), dtype=np.float32)

    def stages(self) -> List["TfliteStage"]:
        """One stage per segment (each on its TPU), for the agent's pipeline."""
        last = len(self.interpreters) - 1
        return [TfliteStage(k, interp, k == last) for k, interp in enumerate(self.interpreters)]

    def run(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        return run_stages(self.stages(), feeds)


class TfliteStage:
    """Segment k of a TFLite model on its interpreter (its delegate, its TPU). Edge TPU models
    are compiled for batch 1: the vectors of a call go through one at a time. The first
    segment quantizes its inputs, the last dequantizes the model's outputs; in between the
    integer tensors pass untouched."""

    device_ns = None

    def __init__(self, k: int, interp: Any, last: bool) -> None:
        self.k = k
        self.interp = interp
        self.last = last
        self.inputs = interp.get_input_details()
        self.outputs = interp.get_output_details()

    def run(self, tensors: Dict[str, np.ndarray]) -> Any:
        interp = self.interp
        for d in self.inputs:
            if d["name"] not in tensors:
                raise AgentError(
                    "infer_failed", "segment {} wants input {!r}".format(self.k, d["name"])
                )
        n = tensors[self.inputs[0]["name"]].shape[0]
        rows: List[List[np.ndarray]] = [[] for _ in self.outputs]
        for i in range(n):
            for d in self.inputs:
                value = tensors[d["name"]][i : i + 1]
                if self.k == 0:
                    value = TfliteBackend._quantize(value, d)
                interp.set_tensor(d["index"], value.reshape(d["shape"]))
            interp.invoke()
            for j, d in enumerate(self.outputs):
                rows[j].append(interp.get_tensor(d["index"]).copy())
        stacked = [np.concatenate(r) for r in rows]
        if self.last:
            return [TfliteBackend._dequantize(a, d) for a, d in zip(stacked, self.outputs)]
        tensors.update((d["name"], a) for d, a in zip(self.outputs, stacked))
        return tensors
