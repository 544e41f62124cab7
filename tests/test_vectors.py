"""Unit tests for test-vector loading (pytest_think/vectors.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_think.errors import InputFileError
from pytest_think.vectors import VectorSet, load_arrays, load_vectors


def _spec(name: str, dtype: str, shape: list[int | None]) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape}


def _signature(*inputs: dict[str, Any]) -> dict[str, Any]:
    return {"inputs": list(inputs), "outputs": [_spec("out", "float32", [None, 10])]}


ONE_INPUT = _signature(_spec("input", "float32", [None, 64]))
TWO_INPUTS = _signature(_spec("image", "float32", [None, 3, 4]), _spec("mask", "int64", [None, 4]))


def _floats(n: int, *shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def _two_input_arrays(n: int = 5) -> dict[str, np.ndarray]:
    return {
        "image": _floats(n, 3, 4),
        "mask": np.arange(n * 4, dtype=np.int64).reshape(n, 4),
    }


# -- load_arrays ------------------------------------------------------------------------------


def test_uncompressed_npz_members_are_memory_mapped(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    arrays = {
        "a": _floats(6, 64),
        "b": np.arange(24, dtype=np.int16).reshape(2, 3, 4),
        "c": np.array([True, False, True]),
        "d": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    }
    np.savez(path, **arrays)
    loaded = load_arrays(path)
    assert sorted(loaded) == sorted(arrays)
    for name, arr in arrays.items():
        assert isinstance(loaded[name], np.memmap), name
        assert loaded[name].dtype == arr.dtype
        np.testing.assert_array_equal(loaded[name], arr)


def test_memory_mapped_npz_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, a=np.zeros(4, dtype=np.float32))
    arr = load_arrays(path)["a"]
    with pytest.raises(ValueError):
        arr[0] = 1.0


def test_compressed_npz_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    arrays = {"a": _floats(6, 8), "labels": np.arange(6)}
    np.savez_compressed(path, **arrays)
    loaded = load_arrays(path)
    assert sorted(loaded) == ["a", "labels"]
    for name, arr in arrays.items():
        assert not isinstance(loaded[name], np.memmap), name
        np.testing.assert_array_equal(loaded[name], arr)


def test_npy_is_memory_mapped_under_empty_name(tmp_path: Path) -> None:
    path = tmp_path / "v.npy"
    arr = _floats(3, 64)
    np.save(path, arr)
    loaded = load_arrays(path)
    assert list(loaded) == [""]
    assert isinstance(loaded[""], np.memmap)
    np.testing.assert_array_equal(loaded[""], arr)


def test_load_arrays_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.npz"
    with pytest.raises(InputFileError, match="not found") as info:
        load_arrays(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", ["v.txt", "v.npzx", "v", "v.NPZ.bak"])
def test_load_arrays_wrong_suffix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"whatever")
    with pytest.raises(InputFileError, match=r"expected a \.npy or \.npz file") as info:
        load_arrays(path)
    assert str(path) in str(info.value)


def test_load_arrays_directory_is_not_a_file(tmp_path: Path) -> None:
    path = tmp_path / "dir.npz"
    path.mkdir()
    with pytest.raises(InputFileError, match="not found"):
        load_arrays(path)


@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_load_arrays_corrupt_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(b"this is not numpy data at all")
    with pytest.raises(InputFileError, match=rf"not a NumPy \{suffix} file") as info:
        load_arrays(path)
    assert str(path) in str(info.value)


def test_load_arrays_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputFileError, match=r"holds Python objects .*, which are never unpickled"):
        load_arrays(path)


# -- load_vectors: good files -----------------------------------------------------------------


def test_load_vectors_npz_one_input_with_labels(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    x, labels = _floats(7, 64), np.arange(7) % 3
    np.savez(path, input=x, labels=labels)
    vs = load_vectors(path, ONE_INPUT)
    assert vs.path == path
    assert list(vs.inputs) == ["input"]
    assert isinstance(vs.inputs["input"], np.memmap)
    np.testing.assert_array_equal(vs.inputs["input"], x)
    assert vs.labels is not None
    np.testing.assert_array_equal(vs.labels, labels)
    assert vs.count == 7
    assert vs.bytes_per_vector == 64 * 4


def test_load_vectors_without_labels(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, input=_floats(2, 64))
    vs = load_vectors(path, ONE_INPUT)
    assert vs.labels is None
    assert vs.count == 2


def test_load_vectors_npy_single_input(tmp_path: Path) -> None:
    path = tmp_path / "v.npy"
    x = _floats(4, 64)
    np.save(path, x)
    vs = load_vectors(path, ONE_INPUT)
    assert list(vs.inputs) == ["input"]
    assert vs.labels is None
    np.testing.assert_array_equal(vs.inputs["input"], x)


def test_load_vectors_compressed_npz(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    x = _floats(4, 64)
    np.savez_compressed(path, input=x, labels=np.arange(4))
    vs = load_vectors(path, ONE_INPUT)
    np.testing.assert_array_equal(vs.inputs["input"], x)
    assert vs.labels is not None and vs.labels.tolist() == [0, 1, 2, 3]


def test_load_vectors_two_inputs(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    arrays = _two_input_arrays()
    np.savez(path, **arrays)
    vs = load_vectors(path, TWO_INPUTS)
    assert sorted(vs.inputs) == ["image", "mask"]
    for name, arr in arrays.items():
        np.testing.assert_array_equal(vs.inputs[name], arr)
    assert vs.bytes_per_vector == 3 * 4 * 4 + 4 * 8


@pytest.mark.parametrize(
    "model_shape",
    [
        [64],  # no batch axis: the model takes one vector
        [1, 64],  # a fixed batch of one
        [None, 64],  # symbolic batch
        [None, None],  # everything symbolic
    ],
)
def test_model_shape_with_or_without_batch_axis(tmp_path: Path, model_shape: list[Any]) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, input=_floats(3, 64))
    vs = load_vectors(path, _signature(_spec("input", "float32", model_shape)))
    assert vs.count == 3


def test_scalar_per_vector_input(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, x=np.arange(5, dtype=np.float32))
    for shape in ([], [None], [1]):
        vs = load_vectors(path, _signature(_spec("x", "float32", shape)))
        assert vs.count == 5


def test_multi_dim_vectors(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, img=np.zeros((2, 3, 8, 8), dtype=np.uint8))
    for shape in ([None, 3, 8, 8], [3, 8, 8], [None, 3, None, None], [1, 3, 8, 8]):
        vs = load_vectors(path, _signature(_spec("img", "uint8", shape)))
        assert vs.inputs["img"].shape == (2, 3, 8, 8)


# -- load_vectors: every error names the file and the offending array --------------------------


def _load_error(path: Path, signature: dict[str, Any]) -> str:
    with pytest.raises(InputFileError) as info:
        load_vectors(path, signature)
    message = str(info.value)
    assert str(path) in message
    return message


def test_error_missing_file(tmp_path: Path) -> None:
    message = _load_error(tmp_path / "missing.npz", ONE_INPUT)
    assert "not found" in message


def test_error_wrong_suffix(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("1,2,3\n")
    assert ".npz" in _load_error(path, ONE_INPUT)


def test_error_unknown_extra_array(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, input=_floats(3, 64), extra=np.zeros(3))
    message = _load_error(path, ONE_INPUT)
    assert "'extra'" in message
    assert "unexpected" in message


def test_error_misspelled_input(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, inputs=_floats(3, 64))
    message = _load_error(path, ONE_INPUT)
    assert "missing ['input']" in message
    assert "unexpected ['inputs']" in message


def test_error_missing_input(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, image=_floats(5, 3, 4))
    message = _load_error(path, TWO_INPUTS)
    assert "missing ['mask']" in message
    assert "unexpected" not in message


def test_error_only_labels(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, labels=np.arange(3))
    assert "missing ['input']" in _load_error(path, ONE_INPUT)


def test_error_count_disagreement_between_inputs(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    arrays = _two_input_arrays(5)
    arrays["mask"] = arrays["mask"][:4]
    np.savez(path, **arrays)
    message = _load_error(path, TWO_INPUTS)
    assert "vector count" in message
    assert "'image': 5" in message and "'mask': 4" in message


def test_error_count_disagreement_with_labels(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, input=_floats(5, 64), labels=np.arange(6))
    message = _load_error(path, ONE_INPUT)
    assert "'labels': 6" in message and "'input': 5" in message


def test_error_zero_vectors(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, input=np.zeros((0, 64), dtype=np.float32))
    assert "'input': 0" in _load_error(path, ONE_INPUT)


def test_error_zero_dim_input(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, input=np.float32(1.0))
    assert "'input': 0" in _load_error(path, ONE_INPUT)


def test_error_dtype_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, input=_floats(3, 64).astype(np.float64))
    message = _load_error(path, ONE_INPUT)
    assert "'input'" in message
    assert "float64" in message and "float32" in message


def test_error_dtype_mismatch_second_input(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    arrays = _two_input_arrays()
    arrays["mask"] = arrays["mask"].astype(np.int32)
    np.savez(path, **arrays)
    message = _load_error(path, TWO_INPUTS)
    assert "'mask'" in message and "int32" in message and "int64" in message


@pytest.mark.parametrize(
    ("vector_shape", "model_shape", "wanted"),
    [
        ((63,), [None, 64], "(?, 64)"),
        ((64, 1), [None, 64], "(?, 64)"),
        ((8, 8), [64], "(64,)"),
        ((3, 4, 5), [None, 3, 4, 6], "(?, 3, 4, 6)"),
        ((64,), [2, 64, 1], "(2, 64, 1)"),
    ],
)
def test_error_shape_mismatch(
    tmp_path: Path, vector_shape: tuple[int, ...], model_shape: list[int | None], wanted: str
) -> None:
    path = tmp_path / "v.npz"
    np.savez(path, input=np.zeros((2, *vector_shape), dtype=np.float32))
    message = _load_error(path, _signature(_spec("input", "float32", model_shape)))
    assert "'input'" in message
    assert str(vector_shape) in message
    assert wanted in message


def test_error_npy_for_two_input_model(tmp_path: Path) -> None:
    path = tmp_path / "v.npy"
    np.save(path, _floats(3, 3, 4))
    message = _load_error(path, TWO_INPUTS)
    assert "'image'" in message and "'mask'" in message
    assert ".npz" in message


def test_error_corrupt_npz(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    path.write_bytes(b"PK\x03\x04 truncated zip")
    assert "cannot read" in _load_error(path, ONE_INPUT)


# -- VectorSet.batches ------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "size"), [(10, 3), (10, 5), (10, 10), (10, 64), (1, 1), (7, 1)])
def test_batches_cover_every_vector_once_in_order(count: int, size: int) -> None:
    x = np.arange(count * 2, dtype=np.float32).reshape(count, 2)
    y = np.arange(count, dtype=np.int64)
    vs = VectorSet(Path("v.npz"), {"x": x, "y": y}, None)
    batches = list(vs.batches(size))
    assert [(a, b) for a, b, _ in batches] == [
        (s, min(s + size, count)) for s in range(0, count, size)
    ]
    assert all(0 < b - a <= size for a, b, _ in batches)
    np.testing.assert_array_equal(np.concatenate([arrs["x"] for _, _, arrs in batches]), x)
    np.testing.assert_array_equal(np.concatenate([arrs["y"] for _, _, arrs in batches]), y)
    for a, b, arrs in batches:
        assert arrs["x"].shape == (b - a, 2)
        assert arrs["x"].flags.c_contiguous


def test_batches_short_last_batch() -> None:
    vs = VectorSet(Path("v.npz"), {"x": np.arange(10)}, None)
    sizes = [b - a for a, b, _ in vs.batches(4)]
    assert sizes == [4, 4, 2]


def test_batches_from_memmap_are_contiguous_copies(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    x = np.asfortranarray(_floats(9, 5))
    np.savez(path, input=x)
    vs = load_vectors(path, _signature(_spec("input", "float32", [None, 5])))
    got = []
    for start, stop, arrays in vs.batches(4):
        assert arrays["input"].flags.c_contiguous
        np.testing.assert_array_equal(arrays["input"], x[start:stop])
        got.append(arrays["input"])
    np.testing.assert_array_equal(np.concatenate(got), x)
