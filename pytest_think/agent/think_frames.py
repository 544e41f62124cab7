"""THINK frame codec: the one implementation of the host <-> agent wire protocol.

Stdlib only on purpose: the host imports this module and the same file is uploaded beside the
board-side agent, so the two ends can never drift apart. The layout is documented in
docs/protocol.md and is simple enough to re-implement in C on a microcontroller.

    offset  size  field
    0       2     magic b"TK"
    2       1     protocol version (1)
    3       1     frame type
    4       4     sequence number, u32 little-endian
    8       4     payload length N, u32 little-endian
    12      N     payload
    12+N    4     CRC32 (IEEE 802.3, as zlib.crc32) of bytes 0 .. 12+N, u32 little-endian
"""

import json
import struct
import zlib
from typing import Any, BinaryIO, Dict, List, NamedTuple, Optional, Tuple, Union

try:  # The same CRC32 at tens of GB/s where zlib-ng is installed (the host requires it);
    # the standard library's (about 1 GB/s: a microsecond per 1 KB) elsewhere.
    from zlib_ng.zlib_ng import crc32
except ImportError:  # pragma: no cover - a board without zlib-ng
    crc32 = zlib.crc32

# No `from __future__ import annotations` and no `X | Y` here: boards such as the Jetson TX1
# (JetPack 4) still run Python 3.6, and this file must import there unchanged.
Buffer = Union[bytes, bytearray, memoryview]
BytesView = Union[bytes, memoryview]

MAGIC = b"TK"
PROTOCOL_VERSION = 1
HEADER = struct.Struct("<2sBBII")
CRC = struct.Struct("<I")
HEADER_SIZE = HEADER.size  # 12
MAX_PAYLOAD = 256 * 1024 * 1024

# Frame types (docs/protocol.md, "Frame types").
HELLO = 0x01  # agent -> host: JSON identity
LOAD = 0x02  # host -> agent: JSON {"path", "backend", "options"}
READY = 0x03  # agent -> host: JSON model signature
INFER = 0x04  # host -> agent: tensor block, a batch of vectors
RESULT = 0x05  # agent -> host: device timings + tensor block
ERROR = 0x06  # either way: JSON {"code", "message"}; seq names the frame at fault
BYE = 0x07  # either way: close; the agent answers BYE and exits 0
NAK = 0x08  # either way: frame `seq` arrived corrupted, send it again (serial links)
LOOP = 0x09  # host -> agent: JSON options + tensor block; run the model on-device in a loop
LOOP_DONE = 0x0A  # agent -> host: JSON loop report
SAMPLE = 0x0B  # host -> agent: JSON {"files", "period_s", "max_seconds"}; start sampling sensors
SAMPLING = 0x0C  # agent -> host: JSON {"received_unix_ns", "done_unix_ns"}, answers SAMPLE
SAMPLE_END = 0x0D  # host -> agent: empty; stop sampling
SAMPLES = 0x0E  # agent -> host: JSON {"t_unix_ns", "values"}, answers SAMPLE_END

FRAME_NAMES = {
    HELLO: "HELLO",
    LOAD: "LOAD",
    READY: "READY",
    INFER: "INFER",
    RESULT: "RESULT",
    ERROR: "ERROR",
    BYE: "BYE",
    NAK: "NAK",
    LOOP: "LOOP",
    LOOP_DONE: "LOOP_DONE",
    SAMPLE: "SAMPLE",
    SAMPLING: "SAMPLING",
    SAMPLE_END: "SAMPLE_END",
    SAMPLES: "SAMPLES",
}

# Tensor element types use the ONNX TensorProto codes, so no second table is needed on boards
# that already speak ONNX.
DTYPE_CODES = {
    "float32": 1,
    "uint8": 2,
    "int8": 3,
    "uint16": 4,
    "int16": 5,
    "int32": 6,
    "int64": 7,
    "bool": 9,
    "float16": 10,
    "float64": 11,
    "uint32": 12,
    "uint64": 13,
}
DTYPE_NAMES = {code: name for name, code in DTYPE_CODES.items()}

# onnxruntime's type strings -> the dtype names above.
ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(uint16)": "uint16",
    "tensor(int32)": "int32",
    "tensor(uint32)": "uint32",
    "tensor(int64)": "int64",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}


def ort_signature(session: Any) -> Dict[str, List[Dict[str, Any]]]:
    """The READY signature of an onnxruntime session: names, dtypes, shapes (None: symbolic).

    Host and agent describe models with this one function, so their signatures compare equal.
    """

    def describe(args: Any) -> List[Dict[str, Any]]:
        return [
            {
                "name": a.name,
                "dtype": ORT_TYPES.get(a.type, a.type),
                "shape": [d if isinstance(d, int) else None for d in a.shape],
            }
            for a in args
        ]

    return {"inputs": describe(session.get_inputs()), "outputs": describe(session.get_outputs())}


_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_TENSOR_HEAD = struct.Struct("<BB")


class FrameError(Exception):
    """The byte stream is not a valid THINK frame (bad magic, version, length or CRC)."""

    def __init__(self, message: str, seq: Optional[int] = None) -> None:
        super().__init__(message)
        self.seq = seq


class Frame(NamedTuple):
    type: int
    seq: int
    payload: bytes

    @property
    def name(self) -> str:
        return FRAME_NAMES.get(self.type, f"0x{self.type:02x}")

    def json(self) -> Any:
        return json.loads(self.payload.decode("utf-8"))


class Tensor(NamedTuple):
    """A tensor on the wire: C-ordered little-endian bytes plus dtype name and shape."""

    name: str
    dtype: str
    shape: Tuple[int, ...]
    data: BytesView


def encode_frame(ftype: int, seq: int, payload: Buffer = b"") -> bytes:
    return encode_frame_parts(ftype, seq, [payload])


def encode_frame_parts(ftype: int, seq: int, parts: List[Buffer]) -> bytes:
    """A frame whose payload is `parts` joined: the bytes are copied once, into the frame."""
    length = sum(len(p) for p in parts)
    if length > MAX_PAYLOAD:
        raise FrameError(f"payload of {length} bytes exceeds {MAX_PAYLOAD}", seq)
    head = HEADER.pack(MAGIC, PROTOCOL_VERSION, ftype, seq & 0xFFFFFFFF, length)
    crc = crc32(head)
    for part in parts:
        crc = crc32(part, crc)
    return b"".join([head, *parts, CRC.pack(crc)])


def json_payload(obj: Any) -> bytes:
    """A JSON payload as every frame carries one: compact, UTF-8."""
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def encode_json(ftype: int, seq: int, obj: Any) -> bytes:
    return encode_frame(ftype, seq, json_payload(obj))


def _parse_header(head: BytesView) -> Tuple[int, int, int]:
    magic, version, ftype, seq, length = HEADER.unpack(head)
    if magic != MAGIC:
        raise FrameError(f"bad frame magic {bytes(magic)!r} (expected {MAGIC!r})")
    if version != PROTOCOL_VERSION:
        raise FrameError(f"protocol version {version} (this side speaks {PROTOCOL_VERSION})", seq)
    if length > MAX_PAYLOAD:
        raise FrameError(f"frame length {length} exceeds {MAX_PAYLOAD}", seq)
    return ftype, seq, length


def _check_crc(head: BytesView, payload: BytesView, crc_bytes: bytes) -> None:
    (expected,) = CRC.unpack(crc_bytes)
    got = crc32(payload, crc32(head))
    if got != expected:
        _, _, _, seq, _ = HEADER.unpack(head)
        raise FrameError(f"CRC mismatch on frame seq {seq}: {got:08x} != {expected:08x}", seq)


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_frame(stream: BinaryIO) -> Optional[Frame]:
    """Read one frame from a blocking binary stream; None on a clean end of stream."""
    head = stream.read(HEADER_SIZE)
    if not head:
        return None
    try:
        if len(head) < HEADER_SIZE:
            head += _read_exact(stream, HEADER_SIZE - len(head))
    except EOFError:
        raise FrameError(f"stream ended inside a frame header ({len(head)} bytes)") from None
    ftype, seq, length = _parse_header(head)
    try:
        payload = _read_exact(stream, length)
        crc_bytes = _read_exact(stream, CRC.size)
    except EOFError:
        raise FrameError(f"stream ended inside frame seq {seq}", seq) from None
    _check_crc(head, payload, crc_bytes)
    return Frame(ftype, seq, payload)


class FrameDecoder:
    """Incremental decoder for non-blocking links: feed() bytes, get whole frames back."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: Buffer) -> List[Frame]:
        # Frames are cut from one view at a moving offset and the bytes they took dropped
        # once at the end: a chunk of many frames costs one pass, not one shift per frame.
        if self._buf:
            self._buf += data
            buf: Buffer = self._buf
        else:
            buf = data  # nothing pending: read the chunk where it is, keep only its tail
        frames = []
        view = memoryview(buf)
        offset = 0
        try:
            while len(view) - offset >= HEADER_SIZE:
                head = bytes(view[offset : offset + HEADER_SIZE])
                ftype, seq, length = _parse_header(head)
                end = offset + HEADER_SIZE + length + CRC.size
                if len(view) < end:
                    break
                payload = bytes(view[offset + HEADER_SIZE : end - CRC.size])
                _check_crc(head, payload, bytes(view[end - CRC.size : end]))
                frames.append(Frame(ftype, seq, payload))
                offset = end
            tail = bytes(view[offset:]) if buf is not self._buf else b""
        finally:
            view.release()
        if buf is self._buf:
            del self._buf[:offset]
        else:
            self._buf += tail
        return frames

    @property
    def pending(self) -> int:
        return len(self._buf)


class ResyncDecoder:
    """Decoder for links that corrupt or drop bytes (UARTs): never raises on bad input.

    A frame that fails its checks is reported as a FrameError (with its seq when the header
    was readable, so the receiver can NAK it), then the decoder drops one byte and hunts for
    the next magic. Frames that a corrupted length field had swallowed are found again, since
    the hunt restarts right after the bad frame's first byte. `max_payload` bounds how long
    it waits on a length field it cannot trust yet.
    """

    def __init__(self, max_payload: int = 1 << 20) -> None:
        self._buf = bytearray()
        self.max_payload = max_payload
        self.bad_frames = 0
        self.skipped_bytes = 0

    def feed(self, data: Buffer) -> Tuple[List[Frame], List[FrameError]]:
        self._buf += data
        frames: List[Frame] = []
        errors: List[FrameError] = []
        while True:
            start = self._buf.find(MAGIC)
            if start < 0:
                keep = 1 if self._buf.endswith(MAGIC[:1]) else 0
                self.skipped_bytes += len(self._buf) - keep
                del self._buf[: len(self._buf) - keep]
                return frames, errors
            if start:
                self.skipped_bytes += start
                del self._buf[:start]
            if len(self._buf) < HEADER_SIZE:
                return frames, errors
            _, version, ftype, seq, length = HEADER.unpack_from(self._buf)
            if version != PROTOCOL_VERSION or length > self.max_payload:
                self._reject(errors, FrameError(f"bad header (version {version}, length {length})"))
                continue
            end = HEADER_SIZE + length + CRC.size
            if len(self._buf) < end:
                return frames, errors
            head = bytes(self._buf[:HEADER_SIZE])
            payload = bytes(self._buf[HEADER_SIZE : end - CRC.size])
            try:
                _check_crc(head, payload, bytes(self._buf[end - CRC.size : end]))
            except FrameError as exc:
                self._reject(errors, exc)
                continue
            del self._buf[:end]
            frames.append(Frame(ftype, seq, payload))

    def flush(self) -> Tuple[List[Frame], List[FrameError]]:
        """The link went quiet inside a frame: give that frame up and look again behind it.

        A corrupted length field can make a frame look longer than it is; without this the
        decoder would wait for bytes that never come, holding the real frames behind it."""
        if not self._buf:
            return [], []
        errors: List[FrameError] = []
        seq = None
        if len(self._buf) >= HEADER_SIZE and self._buf.startswith(MAGIC):
            seq = HEADER.unpack_from(self._buf)[3]
        self._reject(errors, FrameError(f"frame cut short ({len(self._buf)} bytes)", seq))
        frames, more = self.feed(b"")
        return frames, errors + more

    @property
    def pending(self) -> int:
        return len(self._buf)

    def _reject(self, errors: List[FrameError], error: FrameError) -> None:
        self.bad_frames += 1
        errors.append(error)
        self.skipped_bytes += 1
        del self._buf[:1]  # hunt for the next magic from the next byte on


def encode_tensors(tensors: List[Tensor]) -> bytes:
    return b"".join(tensor_parts(tensors))


def tensor_parts(tensors: List[Tensor]) -> List[Buffer]:
    """A tensor block as the pieces it is joined from (the tensors' data not copied)."""
    parts: List[Buffer] = [_U16.pack(len(tensors))]
    for t in tensors:
        name = t.name.encode("utf-8")
        try:
            code = DTYPE_CODES[t.dtype]
        except KeyError:
            raise FrameError(f"tensor {t.name!r}: dtype {t.dtype!r} has no wire code") from None
        parts += [
            _U16.pack(len(name)),
            name,
            _TENSOR_HEAD.pack(code, len(t.shape)),
            struct.pack(f"<{len(t.shape)}I", *t.shape),
            _U64.pack(len(t.data)),
            t.data,
        ]
    return parts


def decode_tensors(payload: BytesView, offset: int = 0) -> List[Tensor]:
    """Decode a tensor block; tensor data are zero-copy views into `payload`."""
    return _tensor_block(payload, offset)[0]


def _tensor_block(payload: BytesView, offset: int) -> Tuple[List[Tensor], int]:
    """A tensor block's tensors and the offset just past it."""
    view = memoryview(payload)
    try:
        (count,) = _U16.unpack_from(view, offset)
        offset += _U16.size
        tensors = []
        for _ in range(count):
            (name_len,) = _U16.unpack_from(view, offset)
            offset += _U16.size
            if offset + name_len > len(view):
                raise FrameError("truncated tensor block: a tensor name runs past its end")
            name = bytes(view[offset : offset + name_len]).decode("utf-8")
            offset += name_len
            code, ndim = _TENSOR_HEAD.unpack_from(view, offset)
            offset += _TENSOR_HEAD.size
            shape = struct.unpack_from(f"<{ndim}I", view, offset)
            offset += 4 * ndim
            (nbytes,) = _U64.unpack_from(view, offset)
            offset += _U64.size
            if offset + nbytes > len(view):
                raise FrameError(f"tensor {name!r} runs past the end of its frame")
            if code not in DTYPE_NAMES:
                raise FrameError(f"tensor {name!r}: unknown dtype code {code}")
            tensors.append(Tensor(name, DTYPE_NAMES[code], shape, view[offset : offset + nbytes]))
            offset += nbytes
    except struct.error as exc:
        raise FrameError(f"truncated tensor block: {exc}") from None
    except UnicodeDecodeError as exc:
        raise FrameError(f"tensor name is not UTF-8: {exc}") from None
    return tensors, offset


def encode_result(
    device_ns: List[int], tensors: List[Tensor], stage_ns: Optional[List[List[int]]] = None
) -> bytes:
    """RESULT payload: u32 n, n x u64 device nanoseconds (one per vector), tensor block; for
    a model run in S > 1 stages, then u32 S and n x S u64: each vector's time in each stage."""
    parts = [
        _U32.pack(len(device_ns)),
        struct.pack(f"<{len(device_ns)}Q", *device_ns),
        encode_tensors(tensors),
    ]
    if stage_ns:
        stages = len(stage_ns[0])
        flat = [ns for row in stage_ns for ns in row]
        parts += [_U32.pack(stages), struct.pack(f"<{len(flat)}Q", *flat)]
    return b"".join(parts)


def decode_result(payload: BytesView) -> Tuple[List[int], List[Tensor]]:
    n, device_ns = _result_timings(payload)
    return device_ns, decode_tensors(payload, _U32.size + 8 * n)


def _result_timings(payload: BytesView) -> Tuple[int, List[int]]:
    try:
        (n,) = _U32.unpack_from(payload, 0)
        return n, list(struct.unpack_from(f"<{n}Q", payload, _U32.size))
    except struct.error as exc:
        raise FrameError(f"truncated RESULT timings: {exc}") from None


def decode_result_and_stages(
    payload: BytesView,
) -> Tuple[List[int], List[Tensor], Optional[List[List[int]]]]:
    """A RESULT read once: device times, tensors, and each vector's time in each stage when
    the RESULT has them (a model in stages; None otherwise)."""
    n, device_ns = _result_timings(payload)
    try:
        tensors, end = _tensor_block(payload, _U32.size + 8 * n)
        if end == len(payload):
            return device_ns, tensors, None
        (stages,) = _U32.unpack_from(payload, end)
        flat = struct.unpack_from(f"<{n * stages}Q", payload, end + _U32.size)
    except struct.error as exc:
        raise FrameError(f"truncated RESULT stage timings: {exc}") from None
    return device_ns, tensors, [list(flat[i * stages : (i + 1) * stages]) for i in range(n)]


def decode_result_block(payload: BytesView) -> Tuple[int, List[Tensor], int]:
    """A RESULT's vector count n, its tensors, and the offset just past them (where stage
    timings start, if the payload goes on). The timings themselves are left in the payload,
    n u64 from offset 4, for a reader that takes them as one array (the host, with numpy)."""
    try:
        (n,) = _U32.unpack_from(payload, 0)
    except struct.error as exc:
        raise FrameError(f"truncated RESULT timings: {exc}") from None
    if _U32.size + 8 * n > len(payload):
        raise FrameError(f"truncated RESULT timings: {n} vectors, {len(payload)} bytes")
    tensors, end = _tensor_block(payload, _U32.size + 8 * n)
    return n, tensors, end


def decode_result_stages(payload: BytesView) -> Optional[List[List[int]]]:
    """Each vector's time in each stage, when the RESULT has them (a model in stages)."""
    return decode_result_and_stages(payload)[2]


def encode_loop(options: Dict[str, Any], tensors: List[Tensor]) -> bytes:
    """LOOP payload: u32 JSON length, JSON options, tensor block of vectors to cycle through."""
    blob = json_payload(options)
    return b"".join((_U32.pack(len(blob)), blob, encode_tensors(tensors)))


def decode_loop(payload: BytesView) -> Tuple[Dict[str, Any], List[Tensor]]:
    try:
        (n,) = _U32.unpack_from(payload, 0)
        options = json.loads(bytes(memoryview(payload)[_U32.size : _U32.size + n]).decode("utf-8"))
    except (struct.error, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise FrameError(f"truncated or corrupt LOOP options: {exc}") from None
    return options, decode_tensors(payload, _U32.size + n)
