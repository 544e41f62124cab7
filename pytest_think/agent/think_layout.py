"""Where a model's vectors are: the one rule, host and board, for a model's batch axis.

A model is exported with a symbolic batch axis (``[N, 16]``), a fixed one of 1 (``[1, 16]``,
most model-zoo networks) or none (``[16]``). A *vector* is one sample, the model's input
without its batch axis; vector files, frames and outputs always hold vectors along a first
axis of their own, whatever the model's export. The rule, decided once from the signature:

* an input whose first dimension is symbolic or 1 has a batch axis; the rest is the vector.
  When no input has one, the model has no batch axis and every tensor is one vector whole;
* an output has a batch axis when the model does and its first dimension is symbolic or 1;
  an output without one (a scalar, a reduction over the batch) is one vector's output whole;
* several vectors go in one call only when every input and output has a symbolic batch axis;
  otherwise each call is one vector (a fixed batch of 1 holds one, a reduction would mix them).

Host (the reference, the vector files) and agent (device calls, RESULT frames) both apply
it, so a board's outputs and the reference's have the same per-vector shapes.

Stdlib only and Python 3.6, like the rest of the agent.
"""

from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

Shape = Sequence[Optional[int]]


class Layout(NamedTuple):
    """Which inputs and outputs (in signature order) have a batch axis, and whether a device
    call may hold several vectors (`free`)."""

    inputs: List[bool]
    outputs: List[bool]
    free: bool

    def input_batched(self, signature: Dict[str, Any]) -> Dict[str, bool]:
        return {i["name"]: b for i, b in zip(signature["inputs"], self.inputs)}


def _has_batch_axis(shape: Shape) -> bool:
    return len(shape) > 0 and (shape[0] is None or shape[0] == 1)


def layout(signature: Dict[str, Any]) -> Layout:
    """The batch axes of a model's {"inputs": [...], "outputs": [...]} signature (shapes with
    None for symbolic dimensions, as ort_signature gives them)."""
    ins = [list(i["shape"]) for i in signature["inputs"]]
    outs = [list(o["shape"]) for o in signature["outputs"]]
    in_batched = [_has_batch_axis(s) for s in ins]
    if not any(in_batched):
        return Layout([False] * len(ins), [False] * len(outs), False)
    out_batched = [_has_batch_axis(s) for s in outs]
    free = all(b and s[0] is None for b, s in zip(in_batched, ins)) and all(
        b and s[0] is None for b, s in zip(out_batched, outs)
    )
    return Layout(in_batched, out_batched, free)


def vector_shape(shape: Shape, batched: bool) -> List[Optional[int]]:
    """One vector's shape of a tensor of the model's `shape`."""
    return list(shape[1:]) if batched else list(shape)


def with_vector_axis(outputs: Sequence[Any], batched: Sequence[bool]) -> List[Any]:
    """One device call's outputs as arrays of vectors: an output without a batch axis is the
    call's one vector whole and gains the vector axis."""
    return [o if b else o[None, ...] for o, b in zip(outputs, batched)]


def device_calls(
    feeds: Dict[str, Any], n: int, step: int, batched: Dict[str, bool], free: bool
) -> List[Tuple[Dict[str, Any], int]]:
    """A request's n vectors cut into device calls, with the number of vectors in each: `step`
    a call when the model takes several (`free`), else one; an input with a batch axis gets
    its vectors as a batch, one without gets the vector alone (an array, a 0-d one for a
    scalar input: `[i, ...]`, not `[i]`, which gives a numpy scalar)."""
    if free:
        return [
            ({k: v[start : start + step] for k, v in feeds.items()}, min(step, n - start))
            for start in range(0, n, max(1, step))
        ]
    return [
        ({k: v[i : i + 1] if batched[k] else v[i, ...] for k, v in feeds.items()}, 1)
        for i in range(n)
    ]
