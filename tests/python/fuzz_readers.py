"""File-level fuzz harness for geomkit.readers and ``geomkit report`` (hypothesis).

Small valid files of every format the readers take (safetensors with F32/BF16/F8/I32
tensors and metadata; GGUF with F32, F16 and Q8_0 tensors and llama metadata, written by
the ``gguf`` package; ``.npy``; ``.npz`` stored and compressed) are mutated, then opened
and every tensor loaded:

  * byte level: truncation (including to an empty file), bytes overwritten, ranges deleted
    or duplicated, 4- and 8-byte integers overwritten with edge values (0, 1, 2**31,
    2**32 - 1, 2**63 - 1, 2**64 - 1, the file size, ...);
  * safetensors: a lying header length, corrupt JSON text (cut, bytes replaced, invalid
    UTF-8), a header that is not an object, entries that are not objects, unsupported or
    mistyped dtypes, huge / negative / non-integer / nested shapes, data_offsets out of
    range, reversed, overlapping or of the wrong arity, a non-object ``__metadata__``;
  * GGUF: bad magic, versions, tensor and key-value counts, name lengths, dimension counts,
    dimensions (huge, zero), tensor types (unknown ids, types without a dequantizer) and
    data offsets (out of range, unaligned, overlapping), key-value types and lengths;
  * .npy / .npz: header dicts with huge / negative / non-tuple shapes, unsupported dtypes
    (object, complex, big-endian, structured, strings), Fortran order, bad versions and
    header lengths.

Oracle, per file: ``open_checkpoint`` followed by ``load()`` of each tensor either
succeeds (each array has the tensor's shape and is float32/float64) or raises
``geomkit.readers.ReadError`` whose message names the file; any other exception (also
MemoryError: a size must be refused before it is allocated), a crash (the case is the last
line of --log) or a run past 10 s is a finding. When ``open_checkpoint`` refuses a file,
``geomkit report FILE`` (in-process, ``geomkit.cli.main``) must return exit status 2 with
exactly one line on stderr, ``geomkit report: error: ...`` naming the file. The process
runs under an address-space limit (4 GiB), so a reader that believes a lying size fails
with MemoryError here instead of exhausting the machine.

Usage:
    python tests/python/fuzz_readers.py --examples 300 --seed 1        # the CI smoke
    python tests/python/fuzz_readers.py --examples 20000 --seed 7 --log /tmp/rd.log
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import io
import json
import pathlib
import signal
import struct
import sys
import tempfile
import time

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed as hyp_seed, settings
from hypothesis import strategies as st

from geomkit.readers import ReadError, open_checkpoint

LOG = None
FINDINGS = None  # directory for the files of findings (--findings)
TMP = pathlib.Path(tempfile.mkdtemp(prefix="geomkit-fuzz-readers-"))
COUNTS = {"files": 0, "read": 0, "refused": 0, "tensors": 0, "cli": 0}
BUDGET_S = 10
EDGE_INTS = [0, 1, 2, 7, 8, 31, 32, 255, 256, 4095, 1 << 16, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32,
             1 << 40, (1 << 62), (1 << 63) - 1, 1 << 63, (1 << 64) - 1]


class Finding(AssertionError):
    pass


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so a reader's ``except Exception`` cannot hide it."""


# ------------------------------------------------------------------ valid base files
def safetensors_header():
    """(header dict, data bytes) of a small valid safetensors file."""
    rng = np.random.default_rng(0)
    blobs = {
        "a": ("F32", (3, 4), rng.standard_normal((3, 4)).astype("<f4").tobytes()),
        "b": ("BF16", (2, 2), (rng.standard_normal(4).astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()),
        "c.weight": ("F8_E4M3", (2, 4), bytes(range(40, 48))),
        "c.weight_scale": ("F32", (), struct.pack("<f", 0.5)),
        "d": ("I32", (2,), struct.pack("<ii", 3, -4)),
        "e": ("F16", (0, 5), b""),
    }
    header, data = {}, b""
    for name, (dtype, shape, raw) in blobs.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt"}
    return header, data


def safetensors_bytes(header, data, length=None, text=None) -> bytes:
    if text is None:
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
    n = len(text) if length is None else length
    return struct.pack("<Q", n % (1 << 64)) + text + data


def gguf_base() -> tuple[bytes, list, list]:
    """(bytes of a small valid GGUF file, [(tensor info offset, part sizes)], [(key-value offset, part sizes)])."""
    import gguf
    path = TMP / "base.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_embedding_length(4)
    w.add_context_length(16)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_array("tokenizer.ggml.scores", [0.5, 0.25, 0.125])
    w.add_tensor("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4))
    w.add_tensor("blk.0.attn_q.weight", np.linspace(-1, 1, 64).astype(np.float16).reshape(2, 32))
    q = gguf.quants.quantize(np.linspace(-2, 2, 64, dtype=np.float32).reshape(2, 32), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_k.weight", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    reader = gguf.GGUFReader(path)
    infos = [(int(t.field.offset), [int(p.nbytes) for p in t.field.parts]) for t in reader.tensors]
    kvs = [(int(f.offset), [int(p.nbytes) for p in f.parts]) for k, f in reader.fields.items()
           if not k.startswith("GGUF.")]
    data = path.read_bytes()
    del reader
    return data, infos, kvs


def npy_bytes(array, header_dict=None, version=(1, 0)) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    raw = buf.getvalue()
    if header_dict is None:
        return raw
    hlen = struct.unpack("<H", raw[8:10])[0]
    data = raw[10 + hlen:]
    text = header_dict.encode("latin1") if isinstance(header_dict, str) else header_dict
    pad = (-(len(text) + 11 + (2 if version != (1, 0) else 0)) % 64)
    text = text + b" " * pad + b"\n"
    if version == (1, 0):
        head = b"\x93NUMPY" + bytes(version) + struct.pack("<H", len(text) % (1 << 16))
    else:
        head = b"\x93NUMPY" + bytes([v % 256 for v in version]) + struct.pack("<I", len(text))
    return head + text + data


def npz_bytes(compressed: bool) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(1)
    arrays = {"w": rng.standard_normal((3, 5)).astype(np.float32), "v": np.arange(4, dtype=np.int16),
              "f": np.asfortranarray(rng.standard_normal((2, 3)))}
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


BASE = {}


def base_files():
    if not BASE:
        header, data = safetensors_header()
        BASE["safetensors"] = safetensors_bytes(header, data)
        BASE["gguf"], BASE["gguf_infos"], BASE["gguf_kvs"] = gguf_base()
        BASE["npy"] = npy_bytes(np.arange(12, dtype=np.float32).reshape(3, 4))
        BASE["npz"] = npz_bytes(False)
        BASE["npz_compressed"] = npz_bytes(True)
    return BASE


# ------------------------------------------------------------------ mutations
def put_int(buf: bytearray, pos: int, value: int, width: int) -> None:
    if 0 <= pos and pos + width <= len(buf):
        buf[pos:pos + width] = (value % (1 << (8 * width))).to_bytes(width, "little")


@st.composite
def byte_mutation(draw, data: bytes) -> tuple[str, bytes]:
    buf = bytearray(data)
    n = len(buf)
    kind = draw(st.sampled_from(["truncate", "overwrite", "int", "delete", "duplicate", "empty", "append"]))
    if kind == "truncate":
        cut = draw(st.integers(0, max(n - 1, 0)))
        return f"truncate to {cut}", bytes(buf[:cut])
    if kind == "empty":
        return "empty", b""
    if kind == "append":
        extra = draw(st.binary(min_size=1, max_size=64))
        return f"append {len(extra)}", bytes(buf) + extra
    pos = draw(st.integers(0, max(n - 1, 0)))
    if kind == "overwrite":
        junk = draw(st.binary(min_size=1, max_size=16))
        buf[pos:pos + len(junk)] = junk
        return f"overwrite {len(junk)} at {pos}", bytes(buf[:n])
    if kind == "int":
        width = draw(st.sampled_from([1, 2, 4, 8]))
        value = draw(st.one_of(st.sampled_from(EDGE_INTS + [n, n - 1, n + 1]), st.integers(-(1 << 63), (1 << 64) - 1)))
        put_int(buf, pos, value, width)
        return f"int{8 * width} {value} at {pos}", bytes(buf)
    length = draw(st.integers(1, 64))
    if kind == "delete":
        del buf[pos:pos + length]
        return f"delete {length} at {pos}", bytes(buf)
    chunk = buf[pos:pos + length]
    buf[pos:pos] = chunk
    return f"duplicate {len(chunk)} at {pos}", bytes(buf)


ST_SHAPES = st.one_of(
    st.lists(st.integers(0, 6), max_size=4),
    st.lists(st.sampled_from([0, 1, -1, 1 << 31, 1 << 32, 1 << 40, 1 << 62, (1 << 63) - 1, 1 << 64, 10 ** 30]),
             min_size=1, max_size=6),
    st.sampled_from([None, 3, "3", [3.0, 4.0], [True, 4], [[3], [4]], ["3", "4"], {}, [1e308]]),
)
ST_OFFSETS = st.one_of(
    st.lists(st.integers(-8, 200), min_size=2, max_size=2),
    st.lists(st.sampled_from([0, 1, 48, 1 << 32, 1 << 63, (1 << 64) - 1, 1 << 70, -1]), min_size=2, max_size=2),
    st.sampled_from([None, [0], [0, 4, 8], "0,4", [0.0, 48.0], [False, True], {}]),
)
ST_DTYPES = st.one_of(st.sampled_from(["F32", "BF16", "F8_E4M3", "F8_E5M2", "I64", "BOOL", "U8", "F4", "C64",
                                       "F8_E8M0", "Q4_0", "f32", "", "STRING"]),
                      st.sampled_from([None, 4, 1.5, ["F32"], {"dtype": "F32"}]))


@st.composite
def safetensors_case(draw):
    header, data = safetensors_header()
    kind = draw(st.sampled_from(["entry", "entry", "entry", "length", "text", "toplevel", "metadata", "bytes",
                                 "overlap", "extra"]))
    if kind == "bytes":
        what, out = draw(byte_mutation(BASE["safetensors"]))
        return "safetensors " + what, out
    names = [k for k in header if k != "__metadata__"]
    if kind == "entry":
        name = draw(st.sampled_from(names))
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "drop", "replace"]))
        if field == "dtype":
            header[name]["dtype"] = draw(ST_DTYPES)
        elif field == "shape":
            header[name]["shape"] = draw(ST_SHAPES)
        elif field == "data_offsets":
            header[name]["data_offsets"] = draw(ST_OFFSETS)
        elif field == "drop":
            del header[name][draw(st.sampled_from(["dtype", "shape", "data_offsets"]))]
        else:
            header[name] = draw(st.sampled_from([None, 3, "F32", [], [1, 2], {"dtype": "F32"}]))
        what = f"{name}.{field} = {header.get(name)!r}"[:200]
        cut = draw(st.booleans())
        d = data[: draw(st.integers(0, len(data)))] if cut else data
        return f"safetensors entry {what}{' data cut' if cut else ''}", safetensors_bytes(header, d)
    if kind == "overlap":
        a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        header[b]["data_offsets"] = list(header[a]["data_offsets"])
        header[b]["dtype"], header[b]["shape"] = header[a]["dtype"], header[a]["shape"]
        return f"safetensors {b} overlaps {a}", safetensors_bytes(header, data)
    if kind == "extra":
        header[draw(st.sampled_from(["", "x" * 300, "\u00e9\u0000", "__metadata__x", "a.weight_scale_inv"]))] = {
            "dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
        return "safetensors extra entry", safetensors_bytes(header, data)
    if kind == "length":
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        n = draw(st.one_of(st.sampled_from(EDGE_INTS), st.integers(0, len(text) + len(data) + 16),
                           st.integers(len(text) - 8, len(text) + 8)))
        return f"safetensors header length {n} (true {len(text)})", safetensors_bytes(header, data, length=n)
    if kind == "toplevel":
        value = draw(st.sampled_from([[], [1, 2], "x", 3, None, True, {"__metadata__": {}}, {}]))
        return f"safetensors header {value!r}", safetensors_bytes(None, data, text=json.dumps(value).encode())
    if kind == "metadata":
        header["__metadata__"] = draw(st.sampled_from([[], "x", 3, {"a": [1, 2]}, {"a": {"b": None}}, None]))
        return f"safetensors __metadata__ {header['__metadata__']!r}", safetensors_bytes(header, data)
    text = json.dumps(header).encode()
    op = draw(st.sampled_from(["cut", "replace", "utf8", "nest"]))
    if op == "cut":
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif op == "replace":
        pos = draw(st.integers(0, len(text) - 1))
        text = text[:pos] + draw(st.sampled_from([b"{", b"}", b'"', b",", b":", b"\\", b"\x00", b"NaN", b"1e999"])) \
            + text[pos + 1:]
    elif op == "utf8":
        pos = draw(st.integers(0, len(text) - 1))
        text = text[:pos] + b"\xff\xfe" + text[pos:]
    else:
        text = b"[" * 100000 + b"]" * 100000   # deep nesting: RecursionError inside json
    return f"safetensors header text {op}", safetensors_bytes(None, data, text=text)


@st.composite
def gguf_case(draw):
    data = bytearray(BASE["gguf"])
    infos, kvs = BASE["gguf_infos"], BASE["gguf_kvs"]
    kind = draw(st.sampled_from(["magic", "version", "counts", "tensor", "tensor", "tensor", "kv", "bytes",
                                 "bytes"]))
    if kind == "bytes":
        what, out = draw(byte_mutation(bytes(data)))
        return "gguf " + what, out
    if kind == "magic":
        data[0:4] = draw(st.sampled_from([b"GGUX", b"FUGG", b"\0\0\0\0", b"ggjt", b"GGML"]))
        return f"gguf magic {bytes(data[0:4])!r}", bytes(data)
    if kind == "version":
        v = draw(st.sampled_from([0, 1, 2, 4, 255, 1 << 24, (1 << 32) - 1]))
        put_int(data, 4, v, 4)
        return f"gguf version {v}", bytes(data)
    if kind == "counts":
        which = draw(st.sampled_from([8, 16]))
        v = draw(st.one_of(st.sampled_from(EDGE_INTS), st.integers(0, 12)))
        put_int(data, which, v, 8)
        return f"gguf {'tensor' if which == 8 else 'kv'} count {v}", bytes(data)
    if kind == "kv":
        offset, parts = draw(st.sampled_from(kvs))
        # parts: key length (8), key, value type (4), then the value (a string: length + bytes,
        # an array: item type (4), count (8), items)
        which = draw(st.sampled_from(["key_len", "type", "value_len"]))
        if which == "key_len":
            pos, width = offset, 8
        elif which == "type":
            pos, width = offset + parts[0] + parts[1], 4
        else:
            pos, width = offset + parts[0] + parts[1] + parts[2], draw(st.sampled_from([4, 8]))
        v = draw(st.one_of(st.sampled_from(EDGE_INTS), st.integers(0, 16)))
        put_int(data, pos, v, width)
        return f"gguf kv at {offset} {which} = {v}", bytes(data)
    offset, parts = draw(st.sampled_from(infos))
    # parts: name length (8), name, n_dims (4), dims (8 each), type (4), data offset (8)
    pos_ndims = offset + parts[0] + parts[1]
    pos_dims = pos_ndims + 4
    pos_type = pos_dims + parts[3]
    pos_off = pos_type + 4
    which = draw(st.sampled_from(["name_len", "n_dims", "dim", "type", "offset", "offset"]))
    if which == "name_len":
        v = draw(st.one_of(st.sampled_from(EDGE_INTS), st.integers(0, 40)))
        put_int(data, offset, v, 8)
    elif which == "n_dims":
        v = draw(st.sampled_from([0, 1, 3, 4, 5, 64, 1 << 16, (1 << 32) - 1]))
        put_int(data, pos_ndims, v, 4)
    elif which == "dim":
        k = draw(st.integers(0, parts[3] // 8 - 1))
        v = draw(st.one_of(st.sampled_from(EDGE_INTS), st.integers(0, 64)))
        put_int(data, pos_dims + 8 * k, v, 8)
    elif which == "type":
        v = draw(st.one_of(st.integers(0, 45), st.sampled_from([255, 1 << 16, (1 << 32) - 1])))
        put_int(data, pos_type, v, 4)
    else:
        v = draw(st.one_of(st.sampled_from(EDGE_INTS), st.integers(0, 400), st.sampled_from([1, 3, 33, 64, 96, 128])))
        put_int(data, pos_off, v, 8)
    return f"gguf tensor at {offset} {which} = {v}", bytes(data)


NPY_DESCR = ["'<f4'", "'<f8'", "'<f2'", "'|b1'", "'<i8'", "'|O'", "'<c16'", "'>f4'", "'<U3'", "'|S4'", "'V8'",
             "[('a', '<f4')]", "'<M8[s]'", "'float32'", "3", "'<f16'", "'|u1'"]
NPY_SHAPES = ["(3, 4)", "(12,)", "()", "(0,)", "(3, 5)", "(2, 3, 2)", "(-1, 12)", "(1 << 40, 1 << 40)",
              "(4611686018427387904, 4)", "(99999999999999999999,)", "[3, 4]", "(3.0, 4)", "'3'", "None",
              "(True, 12)", "(1,) * 64"]


@st.composite
def numpy_case(draw):
    kind = draw(st.sampled_from(["header", "header", "npy_bytes", "npz", "npz_compressed"]))
    if kind == "npz" or kind == "npz_compressed":
        what, out = draw(byte_mutation(BASE[kind]))
        return f"{kind} {what}", out, ".npz"
    if kind == "npy_bytes":
        what, out = draw(byte_mutation(BASE["npy"]))
        return f"npy {what}", out, ".npy"
    descr = draw(st.sampled_from(NPY_DESCR))
    shape = draw(st.sampled_from(NPY_SHAPES))
    fortran = draw(st.sampled_from(["False", "True", "0", "'no'"]))
    text = "{" + f"'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, " + "}"
    if draw(st.integers(0, 9)) == 0:
        text = draw(st.sampled_from(["{}", "[1, 2]", "{'descr': '<f4'}", "{'descr': '<f4', 'fortran_order': False}",
                                     "{'descr': '<f4', 'fortran_order': False, 'shape': (12,), 'x': 1}",
                                     "__import__('os')", "{" * 2000 + "}" * 2000, "\xff\xfe"]))
    version = draw(st.sampled_from([(1, 0), (1, 0), (2, 0), (3, 0), (4, 0), (0, 0)]))
    out = npy_bytes(np.arange(12, dtype=np.float32).reshape(3, 4), text, version)
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return f"npy header {text[:120]!r} v{version}", out, ".npy"


class Case:
    """One mutated file; its repr is short (hypothesis prints a failing case)."""

    def __init__(self, what: str, data: bytes, suffix: str):
        self.what, self.data, self.suffix = what, data, suffix

    def __repr__(self):
        import hashlib
        return f"Case({self.what[:160]!r}, {len(self.data)} bytes sha1 " \
               f"{hashlib.sha1(self.data).hexdigest()[:12]}, {self.suffix!r})"


@st.composite
def cases(draw):
    fmt = draw(st.sampled_from(["safetensors", "safetensors", "gguf", "gguf", "numpy", "numpy"]))
    if fmt == "safetensors":
        what, data = draw(safetensors_case())
        suffix = ".safetensors"
    elif fmt == "gguf":
        what, data = draw(gguf_case())
        suffix = ".gguf"
    else:
        what, data, suffix = draw(numpy_case())
    if draw(st.integers(0, 19)) == 0:
        suffix = draw(st.sampled_from([".bin", ".dat", ""]))  # format sniffed from the bytes
    return Case(what, data, suffix)


# ------------------------------------------------------------------ oracle
@contextlib.contextmanager
def deadline(seconds, what):
    def on_alarm(signum, frame):
        raise Hang(f"{what}: still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_cli(path: pathlib.Path, what: str) -> None:
    from geomkit import cli
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            status = cli.main(["report", str(path)])
        except SystemExit as exc:  # argparse
            status = exc.code
        except BaseException as exc:
            raise Finding(f"{what}: geomkit report raised {type(exc).__name__}: {str(exc)[:300]}") from exc
    COUNTS["cli"] += 1
    lines = err.getvalue().splitlines()
    if status != 2 or len(lines) != 1 or not lines[0].startswith("geomkit report: error: ") \
            or str(path) not in lines[0]:
        raise Finding(f"{what}: geomkit report exited {status} with stderr {err.getvalue()[:500]!r}")


def check_file(what: str, data: bytes, suffix: str, cli: bool = True) -> None:
    COUNTS["files"] += 1
    path = TMP / f"case{suffix}"
    path.write_bytes(data)
    if LOG:
        LOG.write(f"{what} ({len(data)} bytes, {suffix})\n")
    refused = False
    try:
        with deadline(BUDGET_S, what):
            try:
                ck = open_checkpoint(path)
            except ReadError as exc:
                refused = True
                raise
            for t in ck.tensors:
                arr = t.load()
                COUNTS["tensors"] += 1
                if not isinstance(arr, np.ndarray) or arr.shape != tuple(t.shape) \
                        or arr.dtype not in (np.float32, np.float64):
                    raise Finding(f"{what}: tensor {t.name!r} loaded as {type(arr).__name__} "
                                  f"{getattr(arr, 'dtype', '?')}{getattr(arr, 'shape', '')}, declared {t.shape}")
                del arr
        COUNTS["read"] += 1
    except ReadError as exc:
        msg = str(exc)
        if str(path) not in msg:
            raise Finding(f"{what}: ReadError does not name the file: {msg[:300]!r}") from exc
        if "\n" in msg or len(msg) > 2000:
            raise Finding(f"{what}: ReadError message is not one short line: {msg[:300]!r}") from exc
        COUNTS["refused"] += 1
    except Finding:
        raise
    except Hang as exc:
        raise Finding(str(exc)) from None
    except BaseException as exc:  # noqa: BLE001 - everything else is a finding
        raise Finding(f"{what}: {type(exc).__name__} instead of ReadError: {str(exc)[:300]}") from exc
    if refused and cli:
        check_cli(path, what)


def run(examples: int, seed_value: int, cli_every: int = 1) -> None:
    base_files()
    counter = {"n": 0}

    # No shrinking: a case is already described by its mutation, and shrinking a hang would
    # rerun it (BUDGET_S each) many times.
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False, print_blob=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @hyp_seed(seed_value)
    @given(cases())
    def fuzz(case):
        counter["n"] += 1
        try:
            check_file(case.what, case.data, case.suffix, cli=counter["n"] % cli_every == 0)
        except Finding:
            if FINDINGS:  # the reproducer: python -c "from geomkit.readers import *; open_checkpoint(FILE)"
                import hashlib
                FINDINGS.mkdir(parents=True, exist_ok=True)
                (FINDINGS / f"finding-{hashlib.sha1(case.data).hexdigest()[:12]}{case.suffix or '.none'}") \
                    .write_bytes(case.data)
            raise

    fuzz()


def limit_address_space(gib: int = 4) -> None:
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = gib << 30
        if hard == resource.RLIM_INFINITY or hard > want:
            resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (ImportError, ValueError, OSError):
        pass


def main():
    global LOG, FINDINGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cli-every", type=int, default=1, help="run geomkit report on every n-th refused file")
    p.add_argument("--log", default=None, help="file that gets each case before it runs (the last line "
                                               "names the case of a crash)")
    p.add_argument("--findings", default=None, help="directory that gets the file of each finding "
                                                    "(default with --log: LOG.findings/)")
    a = p.parse_args()
    faulthandler.enable()
    limit_address_space()
    if a.findings:
        FINDINGS = pathlib.Path(a.findings)
    elif a.log:  # beside the log: <log>.findings/
        FINDINGS = pathlib.Path(a.log + ".findings")
    if a.log:
        LOG = open(a.log, "w", buffering=1)
    t0 = time.time()
    try:
        run(a.examples, a.seed, a.cli_every)
    finally:
        print(f"fuzz_readers: {COUNTS['files']} files, {COUNTS['read']} read, {COUNTS['refused']} refused with "
              f"ReadError, {COUNTS['tensors']} tensors loaded, {COUNTS['cli']} geomkit report runs checked, "
              f"{time.time() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
