"""Unit tests for the THINK wire codec (pytest_think/agent/think_frames.py)."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib

import numpy as np
import pytest

from pytest_think.agent import think_frames as tf
from pytest_think.agent.think_frames import FrameError, Tensor

ALL_TYPES = sorted(tf.FRAME_NAMES)


def _sample(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    kind = np.dtype(dtype).kind
    if kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def _tensor(name: str, arr: np.ndarray) -> Tensor:
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return Tensor(name, arr.dtype.name, tuple(arr.shape), np.ascontiguousarray(le).tobytes())


def _array(t: Tensor) -> np.ndarray:
    return np.frombuffer(t.data, dtype=np.dtype(t.dtype).newbyteorder("<")).reshape(t.shape)


def _stream() -> tuple[list[tuple[int, int, bytes]], bytes]:
    """A few frames of every type, with varied payload sizes, and their concatenated bytes."""
    rng = random.Random(1234)
    frames = []
    for i, ftype in enumerate(ALL_TYPES * 2):
        payload = rng.randbytes(rng.choice([0, 1, 3, 11, 12, 13, 100, 4097]))
        frames.append((ftype, 1000 + i, payload))
    return frames, b"".join(tf.encode_frame(t, s, p) for t, s, p in frames)


# -- frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ftype", ALL_TYPES)
def test_frame_round_trip_every_type(ftype: int) -> None:
    payload = bytes(range(256)) * 3
    blob = tf.encode_frame(ftype, 42, payload)
    assert len(blob) == tf.HEADER_SIZE + len(payload) + tf.CRC.size
    frame = tf.read_frame(io.BytesIO(blob))
    assert frame == tf.Frame(ftype, 42, payload)
    assert frame is not None and frame.name == tf.FRAME_NAMES[ftype]
    assert tf.FrameDecoder().feed(blob) == [frame]


def test_frame_layout_matches_the_documented_header() -> None:
    blob = tf.encode_frame(tf.INFER, 0x01020304, b"xyz")
    assert blob[:2] == b"TK"
    assert blob[2] == tf.PROTOCOL_VERSION
    assert blob[3] == tf.INFER
    assert struct.unpack("<I", blob[4:8]) == (0x01020304,)
    assert struct.unpack("<I", blob[8:12]) == (3,)
    assert blob[12:15] == b"xyz"
    assert struct.unpack("<I", blob[15:]) == (zlib.crc32(blob[:15]),)


def test_zero_length_payload() -> None:
    blob = tf.encode_frame(tf.BYE, 7)
    assert len(blob) == tf.HEADER_SIZE + tf.CRC.size
    assert tf.read_frame(io.BytesIO(blob)) == tf.Frame(tf.BYE, 7, b"")
    assert tf.FrameDecoder().feed(blob) == [tf.Frame(tf.BYE, 7, b"")]


def test_payload_may_be_bytearray_or_memoryview() -> None:
    data = bytearray(b"hello world")
    assert tf.encode_frame(tf.LOAD, 1, data) == tf.encode_frame(tf.LOAD, 1, b"hello world")
    world = tf.encode_frame(tf.LOAD, 1, b"world")
    assert tf.encode_frame(tf.LOAD, 1, memoryview(data)[6:]) == world


def test_unknown_frame_type_name() -> None:
    assert tf.Frame(0x7F, 0, b"").name == "0x7f"


def test_json_frames() -> None:
    obj = {"path": "/tmp/m.onnx", "backend": "ort", "options": {"threads": 2, "µ": [1.5, None]}}
    frame = tf.read_frame(io.BytesIO(tf.encode_json(tf.LOAD, 3, obj)))
    assert frame is not None
    assert frame.type == tf.LOAD and frame.seq == 3
    assert frame.json() == obj


@pytest.mark.parametrize(
    ("seq", "wire"),
    [(0, 0), (2**32 - 1, 2**32 - 1), (2**32, 0), (2**32 + 5, 5), (3 * 2**32 + 17, 17)],
)
def test_seq_wraps_at_2_32(seq: int, wire: int) -> None:
    blob = tf.encode_frame(tf.INFER, seq, b"p")
    assert struct.unpack_from("<I", blob, 4) == (wire,)
    frame = tf.read_frame(io.BytesIO(blob))
    assert frame is not None and frame.seq == wire


def test_read_frame_many_then_clean_eof() -> None:
    frames, blob = _stream()
    stream = io.BytesIO(blob)
    got = []
    while (frame := tf.read_frame(stream)) is not None:
        got.append(tuple(frame))
    assert got == frames
    assert tf.read_frame(stream) is None


def test_read_frame_empty_stream_is_clean_eof() -> None:
    assert tf.read_frame(io.BytesIO(b"")) is None


class _Trickle(io.RawIOBase):
    """A stream that returns at most one byte per read, like a slow serial line."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._data.read(min(n, 1) if n >= 0 else 1)


def test_read_frame_handles_short_reads() -> None:
    frames, blob = _stream()
    stream = _Trickle(blob)
    got = []
    while (frame := tf.read_frame(stream)) is not None:  # type: ignore[arg-type]
        got.append(tuple(frame))
    assert got == frames


@pytest.mark.parametrize("cut", [1, 5, tf.HEADER_SIZE - 1])
def test_read_frame_truncated_header_is_an_error(cut: int) -> None:
    blob = tf.encode_frame(tf.INFER, 9, b"payload")
    with pytest.raises(FrameError):
        tf.read_frame(io.BytesIO(blob[:cut]))


def test_read_frame_truncated_stream_is_an_error_at_every_cut() -> None:
    blob = tf.encode_frame(tf.RESULT, 77, b"abcdefghij")
    for cut in range(tf.HEADER_SIZE, len(blob)):
        with pytest.raises(FrameError, match="ended inside") as info:
            tf.read_frame(io.BytesIO(blob[:cut]))
        assert info.value.seq == 77, cut


def test_read_frame_truncated_after_a_good_frame() -> None:
    good = tf.encode_frame(tf.HELLO, 1, b"hi")
    stream = io.BytesIO(good + tf.encode_frame(tf.READY, 2, b"there")[:-2])
    assert tf.read_frame(stream) == tf.Frame(tf.HELLO, 1, b"hi")
    with pytest.raises(FrameError) as info:
        tf.read_frame(stream)
    assert info.value.seq == 2


def test_bad_magic() -> None:
    blob = b"XK" + tf.encode_frame(tf.HELLO, 5, b"x")[2:]
    with pytest.raises(FrameError, match="magic") as info:
        tf.read_frame(io.BytesIO(blob))
    assert info.value.seq is None
    with pytest.raises(FrameError, match="magic"):
        tf.FrameDecoder().feed(blob)


def test_wrong_protocol_version() -> None:
    blob = bytearray(tf.encode_frame(tf.HELLO, 5, b"x"))
    blob[2] = tf.PROTOCOL_VERSION + 1
    with pytest.raises(FrameError, match="protocol version 2") as info:
        tf.read_frame(io.BytesIO(bytes(blob)))
    assert info.value.seq == 5
    with pytest.raises(FrameError, match="protocol version"):
        tf.FrameDecoder().feed(bytes(blob))


def test_oversized_length_rejected_before_reading_payload() -> None:
    head = tf.HEADER.pack(tf.MAGIC, tf.PROTOCOL_VERSION, tf.INFER, 3, tf.MAX_PAYLOAD + 1)
    with pytest.raises(FrameError, match="exceeds") as info:
        tf.read_frame(io.BytesIO(head))
    assert info.value.seq == 3
    with pytest.raises(FrameError, match="exceeds"):
        tf.FrameDecoder().feed(head)


def test_encode_rejects_oversized_payload() -> None:
    class Huge:
        def __len__(self) -> int:
            return tf.MAX_PAYLOAD + 1

    with pytest.raises(FrameError, match="exceeds") as info:
        tf.encode_frame(tf.INFER, 11, Huge())  # type: ignore[arg-type]
    assert info.value.seq == 11


def test_every_single_bit_flip_is_detected() -> None:
    seq = 0x00ABCDEF
    blob = tf.encode_frame(tf.RESULT, seq, b"\x00\x01payload\xff")
    for i in range(len(tf.MAGIC), len(blob)):
        for bit in range(8):
            bad = bytearray(blob)
            bad[i] ^= 1 << bit
            with pytest.raises(FrameError) as info:
                tf.read_frame(io.BytesIO(bytes(bad)))
            # Whatever field was hit, the error names the (possibly corrupted) seq on the wire.
            assert info.value.seq == struct.unpack_from("<I", bad, 4)[0], (i, bit)


def test_bit_flip_in_magic_is_detected() -> None:
    blob = tf.encode_frame(tf.HELLO, 1, b"x")
    for i in range(2):
        for bit in range(8):
            bad = bytearray(blob)
            bad[i] ^= 1 << bit
            with pytest.raises(FrameError, match="magic"):
                tf.read_frame(io.BytesIO(bytes(bad)))


@pytest.mark.parametrize("where", ["payload", "crc", "type", "seq"])
def test_crc_mismatch_reported_by_decoder_with_seq(where: str) -> None:
    blob = bytearray(tf.encode_frame(tf.INFER, 1234, b"some payload"))
    index = {"payload": tf.HEADER_SIZE + 3, "crc": len(blob) - 1, "type": 3, "seq": 7}[where]
    blob[index] ^= 0x10
    expected_seq = struct.unpack_from("<I", blob, 4)[0]
    with pytest.raises(FrameError, match="CRC") as info:
        tf.FrameDecoder().feed(bytes(blob))
    assert info.value.seq == expected_seq
    with pytest.raises(FrameError, match="CRC") as info:
        tf.read_frame(io.BytesIO(bytes(blob)))
    assert info.value.seq == expected_seq


def test_corrupt_frame_after_good_ones_in_decoder() -> None:
    good = tf.encode_frame(tf.HELLO, 1, b"a") + tf.encode_frame(tf.READY, 2, b"b")
    bad = bytearray(tf.encode_frame(tf.RESULT, 3, b"c"))
    bad[tf.HEADER_SIZE] ^= 1
    decoder = tf.FrameDecoder()
    assert decoder.feed(good) == [tf.Frame(tf.HELLO, 1, b"a"), tf.Frame(tf.READY, 2, b"b")]
    with pytest.raises(FrameError) as info:
        decoder.feed(bytes(bad))
    assert info.value.seq == 3


# -- FrameDecoder -----------------------------------------------------------------------------


def test_decoder_byte_by_byte() -> None:
    frames, blob = _stream()
    decoder = tf.FrameDecoder()
    got: list[tf.Frame] = []
    for i in range(len(blob)):
        got += decoder.feed(blob[i : i + 1])
    assert [tuple(f) for f in got] == frames
    assert decoder.pending == 0


@pytest.mark.parametrize("seed", range(20))
def test_decoder_random_splits(seed: int) -> None:
    frames, blob = _stream()
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(blob)), rng.randint(1, 60)))
    decoder = tf.FrameDecoder()
    got: list[tf.Frame] = []
    for a, b in zip([0, *cuts], [*cuts, len(blob)]):
        chunk = blob[a:b]
        got += decoder.feed(rng.choice([bytes, bytearray, memoryview])(chunk))
    assert [tuple(f) for f in got] == frames
    assert decoder.pending == 0


def test_decoder_pending_counts_partial_frame() -> None:
    blob = tf.encode_frame(tf.INFER, 1, b"0123456789")
    decoder = tf.FrameDecoder()
    assert decoder.feed(blob[:5]) == []
    assert decoder.pending == 5
    assert decoder.feed(blob[5:-1]) == []
    assert decoder.pending == len(blob) - 1
    assert decoder.feed(blob[-1:] + blob[:3]) == [tf.Frame(tf.INFER, 1, b"0123456789")]
    assert decoder.pending == 3


def test_decoder_whole_stream_at_once() -> None:
    frames, blob = _stream()
    assert [tuple(f) for f in tf.FrameDecoder().feed(blob)] == frames


def test_decoder_payload_is_independent_of_buffer() -> None:
    decoder = tf.FrameDecoder()
    (frame,) = decoder.feed(tf.encode_frame(tf.INFER, 1, b"abc"))
    decoder.feed(tf.encode_frame(tf.INFER, 2, b"XYZ")[:8])
    assert frame.payload == b"abc"
    assert isinstance(frame.payload, bytes)


# -- tensor blocks ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", sorted(tf.DTYPE_CODES))
def test_tensor_round_trip_every_dtype(dtype: str) -> None:
    arr = _sample(dtype, (3, 4, 5))
    (back,) = tf.decode_tensors(tf.encode_tensors([_tensor("x", arr)]))
    assert back.name == "x"
    assert back.dtype == dtype
    assert back.shape == (3, 4, 5)
    out = _array(back)
    assert out.dtype == arr.dtype
    np.testing.assert_array_equal(out, arr)


def test_dtype_codes_are_onnx_tensorproto_codes() -> None:
    onnx = pytest.importorskip("onnx")
    for name, code in tf.DTYPE_CODES.items():
        assert onnx.helper.tensor_dtype_to_np_dtype(code) == np.dtype(name), name
    assert len(tf.DTYPE_NAMES) == len(tf.DTYPE_CODES)
    assert all(tf.DTYPE_NAMES[code] == name for name, code in tf.DTYPE_CODES.items())


@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (2, 0, 3), (1, 1, 1, 1), (2, 3, 4, 5, 6)])
def test_tensor_shapes(shape: tuple[int, ...]) -> None:
    arr = _sample("float32", shape, seed=3)
    (back,) = tf.decode_tensors(tf.encode_tensors([_tensor("t", arr)]))
    assert back.shape == shape
    assert len(back.data) == arr.nbytes
    np.testing.assert_array_equal(_array(back), arr)


def test_large_dimension_survives() -> None:
    t = Tensor("big", "uint8", (2**32 - 1, 0), b"")
    (back,) = tf.decode_tensors(tf.encode_tensors([t]))
    assert back.shape == (2**32 - 1, 0)


def test_several_tensors_and_unicode_names() -> None:
    tensors = [
        _tensor("input", _sample("float32", (2, 8))),
        _tensor("maske_ü_名", _sample("bool", (2, 8), seed=1)),
        _tensor("", _sample("int64", (), seed=2)),
        _tensor("empty", np.zeros((0, 4), dtype=np.int16)),
    ]
    back = tf.decode_tensors(tf.encode_tensors(tensors))
    assert [(t.name, t.dtype, t.shape) for t in back] == [
        (t.name, t.dtype, t.shape) for t in tensors
    ]
    assert [bytes(t.data) for t in back] == [bytes(t.data) for t in tensors]


def test_empty_tensor_list() -> None:
    blob = tf.encode_tensors([])
    assert blob == b"\x00\x00"
    assert tf.decode_tensors(blob) == []


def test_decode_tensors_is_zero_copy() -> None:
    payload = tf.encode_tensors([_tensor("x", np.arange(6, dtype=np.int32))])
    (t,) = tf.decode_tensors(payload)
    assert isinstance(t.data, memoryview)
    assert t.data.obj is payload


def test_decode_tensors_at_offset() -> None:
    block = tf.encode_tensors([_tensor("x", np.arange(4, dtype=np.uint16))])
    (t,) = tf.decode_tensors(b"junk" + block, offset=4)
    np.testing.assert_array_equal(_array(t), np.arange(4, dtype=np.uint16))


def test_encode_tensors_rejects_unknown_dtype() -> None:
    with pytest.raises(FrameError, match="complex64"):
        tf.encode_tensors([Tensor("z", "complex64", (1,), b"\x00" * 8)])


def test_decode_tensors_rejects_unknown_dtype_code() -> None:
    blob = bytearray(tf.encode_tensors([_tensor("x", np.zeros(2, dtype=np.float32))]))
    code_at = 2 + 2 + 1  # count, name length, name
    assert blob[code_at] == tf.DTYPE_CODES["float32"]
    blob[code_at] = 8  # TensorProto.STRING: no wire code
    with pytest.raises(FrameError, match="unknown dtype code 8"):
        tf.decode_tensors(bytes(blob))


def test_truncated_tensor_block_every_cut() -> None:
    blob = tf.encode_tensors(
        [_tensor("a", _sample("float32", (2, 3))), _tensor("bb", _sample("int8", (4,)))]
    )
    for cut in range(len(blob)):
        with pytest.raises(FrameError):
            tf.decode_tensors(blob[:cut])


def test_truncated_tensor_block_inside_a_unicode_name() -> None:
    blob = tf.encode_tensors([_tensor("größe_名前", np.zeros(2, dtype=np.int8))])
    for cut in range(len(blob)):
        with pytest.raises(FrameError):
            tf.decode_tensors(blob[:cut])


def test_tensor_name_not_utf8() -> None:
    blob = bytearray(tf.encode_tensors([_tensor("ab", np.zeros(2, dtype=np.int8))]))
    blob[4] = 0xFF  # first byte of the name
    with pytest.raises(FrameError):
        tf.decode_tensors(bytes(blob))


def test_tensor_data_running_past_frame() -> None:
    blob = tf.encode_tensors([_tensor("x", np.zeros(4, dtype=np.float32))])
    with pytest.raises(FrameError, match="runs past the end"):
        tf.decode_tensors(blob[:-1])


# -- RESULT and LOOP payloads ----------------------------------------------------------------


def test_result_round_trip() -> None:
    device_ns = [0, 1, 2**64 - 1, 123_456_789]
    arr = _sample("float16", (4, 10))
    payload = tf.encode_result(device_ns, [_tensor("logits", arr)])
    frame = tf.read_frame(io.BytesIO(tf.encode_frame(tf.RESULT, 9, payload)))
    assert frame is not None
    got_ns, tensors = tf.decode_result(frame.payload)
    assert got_ns == device_ns
    assert [t.name for t in tensors] == ["logits"]
    np.testing.assert_array_equal(_array(tensors[0]), arr)


def test_result_with_no_vectors() -> None:
    assert tf.decode_result(tf.encode_result([], [])) == ([], [])


def test_truncated_result_every_cut() -> None:
    payload = tf.encode_result([5, 6], [_tensor("y", np.arange(3, dtype=np.int32))])
    for cut in range(len(payload)):
        with pytest.raises(FrameError):
            tf.decode_result(payload[:cut])


def test_loop_round_trip() -> None:
    options = {"warmup": 3, "min_seconds": 0.5, "min_iterations": 100, "note": "ü"}
    arrays = {"a": _sample("uint8", (5, 2, 2)), "b": _sample("float64", (5,))}
    payload = tf.encode_loop(options, [_tensor(k, v) for k, v in arrays.items()])
    got_options, tensors = tf.decode_loop(payload)
    assert got_options == options
    assert {t.name: _array(t).tolist() for t in tensors} == {
        k: v.tolist() for k, v in arrays.items()
    }


def test_loop_options_are_length_prefixed_json() -> None:
    payload = tf.encode_loop({"x": 1}, [])
    (n,) = struct.unpack_from("<I", payload)
    assert json.loads(payload[4 : 4 + n]) == {"x": 1}
    assert payload[4 + n :] == tf.encode_tensors([])


def test_truncated_loop_every_cut() -> None:
    payload = tf.encode_loop({"warmup": 1}, [_tensor("x", np.arange(3, dtype=np.int64))])
    for cut in range(len(payload)):
        with pytest.raises(FrameError):
            tf.decode_loop(payload[:cut])


# -- ResyncDecoder: links that corrupt and drop bytes -------------------------------------------


def _frames(n: int, size: int = 200) -> list[bytes]:
    return [tf.encode_frame(tf.INFER, seq, bytes([seq % 251]) * size) for seq in range(1, n + 1)]


def test_resync_decoder_passes_clean_streams_in_any_split() -> None:
    import random

    blobs = _frames(20)
    stream = b"".join(blobs)
    rng = random.Random(1)
    decoder = tf.ResyncDecoder()
    got: list[tf.Frame] = []
    i = 0
    while i < len(stream):
        step = rng.randint(1, 300)
        frames, errors = decoder.feed(stream[i : i + step])
        assert errors == []
        got += frames
        i += step
    assert [f.seq for f in got] == list(range(1, 21))
    assert decoder.bad_frames == 0 and decoder.skipped_bytes == 0


def test_resync_decoder_reports_the_corrupt_frame_and_keeps_the_rest() -> None:
    blobs = _frames(5)
    bad = bytearray(blobs[2])
    bad[40] ^= 0x10  # payload bit flip: CRC fails, the header (and seq) is still readable
    frames, errors = tf.ResyncDecoder().feed(b"".join([blobs[0], blobs[1], bytes(bad), *blobs[3:]]))
    assert [f.seq for f in frames] == [1, 2, 4, 5]
    assert len(errors) == 1 and errors[0].seq == 3


def test_resync_decoder_survives_garbage_and_dropped_bytes() -> None:
    blobs = _frames(6)
    damaged = blobs[1][:50] + blobs[1][51:]  # one byte lost on the wire
    noise = b"\x00TK\xff" + b"garbage" * 3
    decoder = tf.ResyncDecoder(max_payload=4096)
    frames, errors = decoder.feed(noise + blobs[0] + damaged + b"".join(blobs[2:]))
    assert [f.seq for f in frames] == [1, 3, 4, 5, 6]
    assert errors, "the damaged frame must be reported"
    assert decoder.skipped_bytes > 0


def test_resync_decoder_recovers_frames_swallowed_by_a_corrupt_length() -> None:
    blobs = _frames(4, size=64)
    bad = bytearray(blobs[0])
    bad[8:12] = (300).to_bytes(4, "little")  # length now spans the next frames
    frames, errors = tf.ResyncDecoder().feed(bytes(bad) + b"".join(blobs[1:]) + bytes(400))
    assert [f.seq for f in frames] == [2, 3, 4]
    assert len(errors) >= 1


def test_resync_decoder_flush_gives_up_a_frame_cut_short() -> None:
    blobs = _frames(3, size=64)
    decoder = tf.ResyncDecoder()
    frames, errors = decoder.feed(blobs[0] + blobs[1][:40])  # the link went quiet mid-frame
    assert [f.seq for f in frames] == [1] and errors == []
    assert decoder.pending == 40
    frames, errors = decoder.flush()
    assert frames == [] and len(errors) == 1 and errors[0].seq == 2
    assert decoder.pending == 0
    frames, errors = decoder.feed(blobs[2])
    assert [f.seq for f in frames] == [3]


def test_a_frame_built_from_parts_is_the_frame_of_the_joined_payload() -> None:
    parts = [b"ab", memoryview(b"cdef"), bytearray(b""), b"g" * 70_000]
    assert tf.encode_frame_parts(tf.INFER, 5, parts) == tf.encode_frame(
        tf.INFER, 5, b"".join(parts)
    )
    tensors = [_tensor("x", _sample("int8", (3, 9))), _tensor("m", _sample("float32", (3,)))]
    assert b"".join(tf.tensor_parts(tensors)) == tf.encode_tensors(tensors)


def test_result_block_gives_the_offset_where_stage_timings_start() -> None:
    t = _tensor("y", np.arange(6, dtype=np.int16))
    plain = tf.encode_result([7, 8], [t])
    n, tensors, end = tf.decode_result_block(tf.encode_result([7, 8], [t], [[1, 2], [3, 4]]))
    assert (n, [x.name for x in tensors], end) == (2, ["y"], len(plain))
    with pytest.raises(FrameError, match="truncated RESULT timings"):
        tf.decode_result_block(plain[:12])


def test_decoder_many_frames_in_one_chunk_then_a_tail() -> None:
    frames, blob = _stream()
    decoder = tf.FrameDecoder()
    assert [tuple(f) for f in decoder.feed(blob + blob[:5])] == frames
    assert decoder.pending == 5
    assert [tuple(f) for f in decoder.feed(blob[5:])] == frames
    assert decoder.pending == 0
