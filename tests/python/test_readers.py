"""geomkit.readers: every container, every dtype, fp8 scales, shard order and error paths."""

import json
import math
import pickle
import struct

import numpy as np
import pytest

import checkpoints as C
from geomkit.readers import ReadError, TensorRef, open_checkpoint
from geomkit.readers.dtypes import FP8_E4M3_TABLE, FP8_E5M2_TABLE

gguf = pytest.importorskip("gguf")


# ------------------------------------------------------------------------------ helpers
def fp8_reference(code: int, exp_bits: int, man_bits: int, bias: int, fn: bool) -> float:
    """Bit-field decode written from the format definitions, one byte at a time."""
    sign = -1.0 if code & 0x80 else 1.0
    e = (code >> man_bits) & ((1 << exp_bits) - 1)
    m = code & ((1 << man_bits) - 1)
    if fn and e == (1 << exp_bits) - 1 and m == (1 << man_bits) - 1:
        return math.nan
    if not fn and e == (1 << exp_bits) - 1:
        return sign * math.inf if m == 0 else math.nan
    if e == 0:
        return sign * m * 2.0 ** (1 - bias - man_bits)
    return sign * (1 + m / 2 ** man_bits) * 2.0 ** (e - bias)


def loaded(path):
    with open_checkpoint(path) as ck:
        return {t.name: t.load() for t in ck.tensors}


def error(path, *fragments, open_path=None):
    """Opens (and loads every tensor of) open_path or path; the ReadError must name path."""
    with pytest.raises(ReadError) as exc:
        ck = open_checkpoint(open_path or path)
        for t in ck.tensors:
            t.load()
    msg = str(exc.value)
    assert str(path) in msg or path.name in msg, msg
    for f in fragments:
        assert f in msg, msg
    return msg


# ------------------------------------------------------------------------------ safetensors
@pytest.mark.parametrize("dtype,np_type", [("F32", np.float32), ("F64", np.float64), ("F16", np.float16)])
def test_safetensors_plain_dtypes(tmp_path, rng, dtype, np_type):
    x = rng.standard_normal((7, 5))
    C.write_safetensors(tmp_path / "m.safetensors", {"w": x}, dtype)
    out = loaded(tmp_path / "m.safetensors")["w"]
    assert out.dtype == (np.float64 if dtype == "F64" else np.float32)
    assert out.flags.c_contiguous and out.flags.writeable and not isinstance(out, np.memmap)
    base = out
    while base is not None:                   # a fresh array, not a view of the mapped file
        assert not isinstance(base, (np.memmap, memoryview)) and type(base).__name__ != "mmap"
        base = getattr(base, "base", None)
    np.testing.assert_array_equal(out, x.astype(np_type).astype(out.dtype))


def test_bf16_round_to_nearest_and_truncation(tmp_path, rng):
    x = (rng.standard_normal((9, 33)) * np.logspace(-3, 3, 33)).astype(np.float32)
    C.write_safetensors(tmp_path / "r.safetensors", {"w": x}, "BF16")
    np.testing.assert_array_equal(loaded(tmp_path / "r.safetensors")["w"], C.bf16_round(x))
    # bits written by truncating float32: the value is float32 with its low 16 bits cleared
    bits = (x.view(np.uint32) >> 16).astype("<u2")
    C.write_safetensors(tmp_path / "t.safetensors", {"w": C.Raw("BF16", x.shape, bits.tobytes())})
    truncated = (x.view(np.uint32) & 0xFFFF0000).view(np.float32)
    np.testing.assert_array_equal(loaded(tmp_path / "t.safetensors")["w"], truncated)


@pytest.mark.parametrize("dtype,bits,fn,table", [("F8_E4M3", (4, 3, 7), True, FP8_E4M3_TABLE),
                                                 ("F8_E5M2", (5, 2, 15), False, FP8_E5M2_TABLE)])
def test_fp8_every_code(tmp_path, dtype, bits, fn, table):
    codes = np.arange(256, dtype=np.uint8).reshape(16, 16)
    C.write_safetensors(tmp_path / "f.safetensors", {"w": C.Raw(dtype, (16, 16), codes.tobytes())})
    out = loaded(tmp_path / "f.safetensors")["w"].ravel()
    ref = np.array([fp8_reference(c, *bits, fn) for c in range(256)], dtype=np.float32)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_array_equal(out[ok], ref[ok])
    np.testing.assert_array_equal(np.signbit(out[ok]), np.signbit(ref[ok]))   # -0.0 kept


def test_fp8_known_values():
    assert FP8_E4M3_TABLE[0x7E] == 448 and FP8_E4M3_TABLE[0xFE] == -448
    assert FP8_E4M3_TABLE[0x08] == 2.0 ** -6 and FP8_E4M3_TABLE[0x01] == 2.0 ** -9
    assert np.isnan(FP8_E4M3_TABLE[0x7F]) and np.isnan(FP8_E4M3_TABLE[0xFF])
    assert np.isfinite(FP8_E4M3_TABLE[0x78])               # E4M3FN: no infinities
    assert FP8_E5M2_TABLE[0x7B] == 57344 and FP8_E5M2_TABLE[0x3C] == 1.0
    assert FP8_E5M2_TABLE[0x7C] == np.inf and FP8_E5M2_TABLE[0xFC] == -np.inf
    assert FP8_E5M2_TABLE[0x01] == 2.0 ** -16 and np.isnan(FP8_E5M2_TABLE[0x7D])


def _fp8_codes(rng, shape):
    codes = rng.integers(0, 256, size=shape, dtype=np.uint8)
    codes[(codes & 0x7F) == 0x7F] = 0x10        # no NaN codes
    return codes


def test_fp8_per_tensor_and_per_channel_scale(tmp_path, rng):
    codes = _fp8_codes(rng, (6, 40))
    per_channel = rng.uniform(0.5, 2, size=(6, 1)).astype(np.float32)
    C.write_safetensors(tmp_path / "m.safetensors", {
        "a.weight": C.Raw("F8_E4M3", codes.shape, codes.tobytes()),
        "a.weight_scale": C.Raw("F32", (), np.float32(0.25).tobytes()),
        "a.input_scale": C.Raw("F32", (), np.float32(3).tobytes()),
        "b.weight": C.Raw("F8_E4M3", codes.shape, codes.tobytes()),
        "b.weight_scale": C.Raw("F32", (6, 1), per_channel.tobytes()),
    })
    ck = open_checkpoint(tmp_path / "m.safetensors")
    names = [t.name for t in ck.tensors]
    assert "a.weight_scale" not in names and "b.weight_scale" not in names and "a.input_scale" in names
    assert ck.tensor("a.weight_scale").shape == ()          # still reachable by name
    decoded = np.array([fp8_reference(int(c), 4, 3, 7, True) for c in codes.ravel()], np.float32).reshape(6, 40)
    np.testing.assert_array_equal(ck.tensor("a.weight").load(), decoded * np.float32(0.25))
    np.testing.assert_array_equal(ck.tensor("b.weight").load(), decoded * per_channel)
    assert any("fp8" in n for n in ck.notes)


def test_fp8_block_scale_inv_deepseek(tmp_path, rng):
    rows, cols = 200, 300                                   # partial blocks at both edges
    codes = _fp8_codes(rng, (rows, cols))
    s = rng.uniform(0.1, 4, size=(2, 3)).astype(np.float32)
    C.write_safetensors(tmp_path / "m.safetensors", {
        "l.weight": C.Raw("F8_E4M3", (rows, cols), codes.tobytes()),
        "l.weight_scale_inv": C.Raw("F32", (2, 3), s.tobytes())})
    out = loaded(tmp_path / "m.safetensors")["l.weight"]
    base = FP8_E4M3_TABLE[codes]
    for i in range(rows):
        for j in range(0, cols, 50):
            assert out[i, j] == base[i, j] * s[i // 128, j // 128]
    assert list(loaded(tmp_path / "m.safetensors")) == ["l.weight"]


def test_fp8_block_scale_of_wrong_shape(tmp_path, rng):
    codes = _fp8_codes(rng, (200, 300))
    C.write_safetensors(tmp_path / "m.safetensors", {
        "l.weight": C.Raw("F8_E4M3", (200, 300), codes.tobytes()),
        "l.weight_scale_inv": C.Raw("F32", (3, 3), np.ones(9, np.float32).tobytes())})
    error(tmp_path / "m.safetensors", "l.weight_scale_inv", "block scale", "(2, 3)")


def test_integer_tensors_listed_as_non_float(tmp_path):
    C.write_safetensors(tmp_path / "m.safetensors", {
        "i8": C.Raw("I8", (3,), np.array([-3, 0, 7], np.int8).tobytes()),
        "i64": C.Raw("I64", (2,), np.array([2 ** 40, -1], "<i8").tobytes()),
        "u8": C.Raw("U8", (2,), bytes([0, 255])),
        "mask": C.Raw("BOOL", (2,), bytes([1, 0])),
        "w": np.ones((2, 2))})
    ck = open_checkpoint(tmp_path / "m.safetensors")
    flags = {t.name: t.is_float for t in ck.tensors}
    assert flags == {"i8": False, "i64": False, "u8": False, "mask": False, "w": True}
    np.testing.assert_array_equal(ck.tensor("i8").load(), [-3, 0, 7])
    assert ck.tensor("i64").load().dtype == np.float64 and ck.tensor("i64").load()[0] == 2 ** 40
    np.testing.assert_array_equal(ck.tensor("mask").load(), [1, 0])


def test_tensor_order_config_metadata_and_pickle(tmp_path, rng):
    m = C.llama_like(rng)
    path = m.save(tmp_path)
    ck = open_checkpoint(tmp_path)
    assert ck.format == "safetensors" and ck.files == [path]
    assert [t.name for t in ck.tensors] == list(m.tensors)       # data order as written
    assert ck.config == m.config
    ref = ck.tensor("model.layers.1.self_attn.k_proj.weight")
    clone = pickle.loads(pickle.dumps(ref))
    np.testing.assert_array_equal(clone.load(), m.tensors[ref.name])
    assert ref.nbytes == m.tensors[ref.name].nbytes
    with pytest.raises(ReadError, match="no tensor named 'nope'"):
        ck.tensor("nope")


def test_sharded_follows_index_order(tmp_path, rng):
    m = C.llama_like(rng)
    names = list(m.tensors)
    shards = [("model-b.safetensors", names[:5]), ("model-a.safetensors", names[5:])]
    C.write_sharded(tmp_path, m.tensors, shards)
    C.write_safetensors(tmp_path / "consolidated.safetensors", {"x": np.ones(2)})
    ck = open_checkpoint(tmp_path)
    assert [p.name for p in ck.files] == ["model-b.safetensors", "model-a.safetensors"]
    assert [t.name for t in ck.tensors] == names
    assert any("consolidated.safetensors" in n for n in ck.notes)
    for t in ck.tensors:
        np.testing.assert_array_equal(t.load(), m.tensors[t.name])


def test_sharded_without_index_is_sorted(tmp_path, rng):
    m = C.llama_like(rng)
    names = list(m.tensors)
    C.write_sharded(tmp_path, m.tensors, [("b.safetensors", names[:5]), ("a.safetensors", names[5:])],
                    index=False)
    ck = open_checkpoint(tmp_path)
    assert [p.name for p in ck.files] == ["a.safetensors", "b.safetensors"]
    assert [t.name for t in ck.tensors] == names[5:] + names[:5]


def test_sharded_errors(tmp_path, rng):
    m = C.llama_like(rng)
    names = list(m.tensors)
    C.write_sharded(tmp_path, m.tensors, [("s1.safetensors", names[:5]), ("s2.safetensors", names[5:])])
    index = tmp_path / "model.safetensors.index.json"
    (tmp_path / "s2.safetensors").unlink()
    msg = error(tmp_path, "missing shard", "s2.safetensors")
    assert "index.json" in msg
    C.write_safetensors(tmp_path / "s2.safetensors", {n: m.tensors[n] for n in names[6:]})
    error(tmp_path, "no shard holds", names[5])
    wm = json.loads(index.read_text())
    wm["weight_map"][names[0]] = "s2.safetensors"
    index.write_text(json.dumps(wm))
    error(tmp_path, "s1.safetensors", names[0], "listed in the index under s2.safetensors")
    index.write_text("{not json")
    error(index, "not valid JSON", open_path=tmp_path)
    error(index, "not valid JSON")                      # the index itself opens its directory
    index.write_text(json.dumps({"weight_map": {}}))
    error(index, "weight_map", open_path=tmp_path)


# ------------------------------------------------------------------------------ error paths
def _good(tmp_path, rng):
    return C.write_safetensors(tmp_path / "m.safetensors", {"a": rng.standard_normal((4, 4)),
                                                            "b": rng.standard_normal((3,))})


def _with_header(path, header: dict, data: bytes = b""):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def test_error_missing_empty_unknown(tmp_path):
    error(tmp_path / "nope.safetensors", "no such file")
    (tmp_path / "e.safetensors").write_bytes(b"")
    error(tmp_path / "e.safetensors", "empty file")
    (tmp_path / "short.safetensors").write_bytes(b"\x01\x02")
    error(tmp_path / "short.safetensors", "too short")
    (tmp_path / "w.bin").write_bytes(b"hello world")
    error(tmp_path / "w.bin", "unknown format")
    (tmp_path / "d").mkdir()
    error(tmp_path / "d", "no .safetensors, .gguf")
    (tmp_path / "d" / "pytorch_model.bin").write_bytes(b"x")
    error(tmp_path / "d", "pytorch_model.bin are PyTorch pickles")


def test_error_truncated(tmp_path, rng):
    path = _good(tmp_path, rng)
    raw = path.read_bytes()
    path.write_bytes(raw[:-5])
    error(path, "past the end", "truncated")


def test_error_truncated_after_open(tmp_path, rng):
    path = _good(tmp_path, rng)
    ck = open_checkpoint(path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ReadError, match="past the end of the file"):
        ck.tensor("a").load()


def test_error_lying_header_length(tmp_path, rng):
    path = _good(tmp_path, rng)
    raw = bytearray(path.read_bytes())
    raw[:8] = struct.pack("<Q", len(raw) * 10)
    path.write_bytes(bytes(raw))
    error(path, "header length", "does not fit")


def test_error_corrupt_json(tmp_path):
    path = tmp_path / "c.safetensors"
    path.write_bytes(struct.pack("<Q", 10) + b"{\"a\": [1,2" + b"\0" * 16)
    error(path, "not valid JSON")
    _with_header(path, [1, 2])
    error(path, "not a JSON object")


def test_error_unknown_dtype(tmp_path):
    path = _with_header(tmp_path / "u.safetensors", {"w": {"dtype": "F12", "shape": [2], "data_offsets": [0, 4]}},
                        b"\0" * 4)
    error(path, "'w'", "unknown dtype 'F12'")


def test_error_huge_shape(tmp_path):
    path = _with_header(tmp_path / "h.safetensors",
                        {"w": {"dtype": "F32", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 16]}}, b"\0" * 16)
    error(path, "'w'", "needs 4835703278458516698824704 bytes", "span 16")
    path = _with_header(tmp_path / "h2.safetensors",
                        {"w": {"dtype": "F32", "shape": [2 ** 20, 2 ** 10], "data_offsets": [0, 2 ** 32]}})
    error(path, "'w'", "past the end")


def test_error_bad_shape_offsets_overlap(tmp_path):
    path = _with_header(tmp_path / "s.safetensors", {"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
                        b"\0" * 4)
    error(path, "not a list of non-negative integers")
    path = _with_header(tmp_path / "o.safetensors", {"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}},
                        b"\0" * 4)
    error(path, "data_offsets")
    path = _with_header(tmp_path / "v.safetensors", {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12)
    error(path, "'a'", "'b'", "overlap")
    path = _with_header(tmp_path / "m.safetensors", {"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8)
    error(path, "needs dtype, shape and data_offsets")


def test_error_corrupt_config(tmp_path, rng):
    _good(tmp_path, rng)
    (tmp_path / "config.json").write_text("{oops")
    error(tmp_path / "config.json", "not valid JSON", open_path=tmp_path)


# ------------------------------------------------------------------------------ numpy
def test_numpy_containers(tmp_path, rng):
    a = rng.standard_normal((5, 6)).astype(np.float32)
    b = rng.standard_normal((3, 4, 2)).astype(np.float16)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "f.npy", np.asfortranarray(a))
    np.savez(tmp_path / "s.npz", a=a, b=b)
    np.savez_compressed(tmp_path / "c.npz", a=a, b=b)
    for name in ("s.npz", "c.npz"):
        ck = open_checkpoint(tmp_path / name)
        assert ck.format == "numpy" and [t.name for t in ck.tensors] == ["a", "b"]
        np.testing.assert_array_equal(ck.tensor("a").load(), a)
        np.testing.assert_array_equal(ck.tensor("b").load(), b.astype(np.float32))
    assert open_checkpoint(tmp_path / "s.npz").tensor("a").encoding == "raw"       # memory-mapped
    assert open_checkpoint(tmp_path / "c.npz").tensor("a").encoding == "npz-member"
    f = open_checkpoint(tmp_path / "f.npy").tensor("f").load()
    np.testing.assert_array_equal(f, a)
    assert f.flags.c_contiguous
    (tmp_path / "s.npz").unlink()
    (tmp_path / "c.npz").unlink()
    ck = open_checkpoint(tmp_path)
    assert sorted(t.name for t in ck.tensors) == ["a", "f"]


def test_numpy_errors(tmp_path, rng):
    np.save(tmp_path / "z.npy", np.ones(3, np.complex64))
    error(tmp_path / "z.npy", "unsupported array dtype")
    np.save(tmp_path / "t.npy", rng.standard_normal((100,)))
    raw = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[:-8])
    error(tmp_path / "t.npy", "truncated")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    error(tmp_path / "bad.npz", "not a valid .npz")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPYxx")
    error(tmp_path / "bad.npy", "not a valid .npy header")


# ------------------------------------------------------------------------------ GGUF
def _gguf_model(tmp_path, rng, types=None, name="m.gguf"):
    m = C.gguf_llama(rng, d=64, ffn=128)
    path = C.write_gguf(tmp_path / name, "llama", m.tensors, types, m.config, rng)
    return m, path


def test_gguf_f32_f16_bf16_equal_safetensors(tmp_path, rng):
    m = C.gguf_llama(rng)
    C.write_safetensors(tmp_path / "m.safetensors", m.tensors)
    st = loaded(tmp_path / "m.safetensors")
    f32 = loaded(C.write_gguf(tmp_path / "f32.gguf", "llama", m.tensors, None, m.config))
    f16 = loaded(C.write_gguf(tmp_path / "f16.gguf", "llama", m.tensors, {n: "F16" for n in m.tensors},
                              m.config))
    bf16 = loaded(C.write_gguf(tmp_path / "bf16.gguf", "llama", m.tensors, {n: "BF16" for n in m.tensors},
                               m.config))
    assert list(f32) == list(st)
    for n, x in st.items():
        assert f32[n].shape == x.shape == m.tensors[n].shape
        np.testing.assert_array_equal(f32[n], x)
        np.testing.assert_array_equal(f16[n], x.astype(np.float16).astype(np.float32))
        np.testing.assert_array_equal(bf16[n], C.bf16_round(x))


def test_gguf_metadata_to_config(tmp_path, rng):
    m, path = _gguf_model(tmp_path, rng)
    ck = open_checkpoint(path)
    assert ck.format == "gguf"
    cfg = ck.config
    assert cfg["model_type"] == "llama" and cfg["num_attention_heads"] == 8 and cfg["num_key_value_heads"] == 2
    assert cfg["hidden_size"] == 64 and cfg["intermediate_size"] == 128 and cfg["num_hidden_layers"] == 2
    assert cfg["rope_theta"] == 10000.0 and cfg["head_dim"] == 8 and cfg["max_position_embeddings"] == 2048
    assert cfg["tie_word_embeddings"] is False
    assert abs(cfg["rms_norm_eps"] - 1e-5) < 1e-9
    assert any("rotary" in n for n in ck.notes)
    tied = {k: v for k, v in m.tensors.items() if k != "output.weight"}
    cfg = open_checkpoint(C.write_gguf(tmp_path / "t.gguf", "llama", tied, None, m.config)).config
    assert cfg["tie_word_embeddings"] is True


def test_gguf_shapes_reversed_from_ne(tmp_path, rng):
    x = rng.standard_normal((3, 4, 64)).astype(np.float32)
    path = C.write_gguf(tmp_path / "s.gguf", "llama", {"t": x}, {"t": "Q8_0"})
    ref = open_checkpoint(path).tensor("t")
    assert ref.shape == (3, 4, 64) and ref.dtype == "Q8_0"
    reader = gguf.GGUFReader(path)
    assert tuple(reader.tensors[0].shape.tolist()) == (64, 4, 3)                 # ne order in the file


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"])
def test_gguf_quantized_equals_gguf_dequantize(tmp_path, rng, qtype):
    x = rng.standard_normal((6, 512)).astype(np.float32)
    path = C.write_gguf(tmp_path / "q.gguf", "llama", {"w": x}, {"w": qtype}, rng=rng)
    ref = open_checkpoint(path).tensor("w")
    assert ref.dtype == qtype and ref.shape == (6, 512)
    out = ref.load()
    raw = gguf.GGUFReader(path).tensors[0]
    expect = gguf.quants.dequantize(np.array(raw.data), raw.tensor_type)
    np.testing.assert_array_equal(out, expect)
    assert np.isfinite(out).all() and out.std() > 0


def test_gguf_q8_0_closed_form(tmp_path, rng):
    """Q8_0: blocks of 32 int8 with one float16 scale: value = d * q."""
    x = rng.standard_normal((2, 64)).astype(np.float32)
    path = C.write_gguf(tmp_path / "q.gguf", "llama", {"w": x}, {"w": "Q8_0"})
    ref = open_checkpoint(path).tensor("w")
    raw = np.fromfile(path, np.uint8, count=ref.nbytes, offset=ref.offset).reshape(-1, 34)
    d = raw[:, :2].copy().view("<f2").astype(np.float32)
    q = raw[:, 2:].view(np.int8).astype(np.float32)
    np.testing.assert_array_equal(ref.load(), (d * q).reshape(2, 64))
    np.testing.assert_allclose(ref.load(), x, atol=np.abs(x).max() / 127)


def test_gguf_banded_dequantize_matches_whole(tmp_path, rng, monkeypatch):
    import geomkit.readers.gguf as G
    x = rng.standard_normal((50, 256)).astype(np.float32)
    path = C.write_gguf(tmp_path / "q.gguf", "llama", {"w": x}, {"w": "Q4_K"}, rng=rng)
    whole = open_checkpoint(path).tensor("w").load()
    monkeypatch.setattr(G, "ROWS_PER_BAND_ELEMENTS", 256 * 7)
    np.testing.assert_array_equal(open_checkpoint(path).tensor("w").load(), whole)


def test_gguf_unsupported_type(tmp_path):
    w = gguf.GGUFWriter(str(tmp_path / "u.gguf"), "llama")
    qt = gguf.GGMLQuantizationType.Q8_1
    w.add_tensor("w", np.zeros((2, 40), np.uint8), raw_dtype=qt)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()  # noqa: E702
    ck = open_checkpoint(tmp_path / "u.gguf")
    assert ck.tensor("w").shape == (2, 32)
    error(tmp_path / "u.gguf", "'w'", "GGUF type Q8_1 cannot be dequantized")


def test_gguf_errors(tmp_path, rng):
    (tmp_path / "bad.gguf").write_bytes(b"GGUX" + b"\0" * 64)
    error(tmp_path / "bad.gguf", "not a readable GGUF file", "magic")
    (tmp_path / "e.gguf").write_bytes(b"")
    error(tmp_path / "e.gguf", "empty file")
    _, path = _gguf_model(tmp_path, rng)
    raw = path.read_bytes()
    for cut in (100, len(raw) // 2, len(raw) - 100):
        path.write_bytes(raw[:cut])
        error(path, "not a readable GGUF file", "truncated or corrupt")
    # an unknown tensor type id in the tensor table (the type follows name, n_dims, dims)
    field = gguf.GGUFReader(_gguf_model(tmp_path, rng, name="g.gguf")[1]).tensors[0].field
    raw2 = bytearray((tmp_path / "g.gguf").read_bytes())
    type_offset = field.offset + sum(p.nbytes for p in field.parts[:4])
    raw2[type_offset:type_offset + 4] = struct.pack("<I", 4)   # 4: Q4_2, removed from ggml
    (tmp_path / "g.gguf").write_bytes(bytes(raw2))
    error(tmp_path / "g.gguf", "unsupported GGML tensor type")


def test_gguf_unpermute_inverts_the_converter_permutation(rng):
    from geomkit.readers.gguf import gguf_permute_qk, gguf_unpermute_qk
    n_head, hd, d = 4, 8, 6
    W = rng.standard_normal((n_head * hd, d))
    P = gguf_permute_qk(W, n_head)
    for h in range(n_head):          # within a head, GGUF rows interleave the two rotary halves
        for i in range(hd // 2):
            np.testing.assert_array_equal(P[h * hd + 2 * i], W[h * hd + i])
            np.testing.assert_array_equal(P[h * hd + 2 * i + 1], W[h * hd + hd // 2 + i])
    np.testing.assert_array_equal(gguf_unpermute_qk(P, n_head), W)
    with pytest.raises(ValueError, match="cannot unpermute"):
        gguf_unpermute_qk(W[:-1], n_head)


# ------------------------------------------------------------------------------ misc
def test_digest_and_raw(tmp_path, rng):
    x = rng.standard_normal((8, 8)).astype(np.float32)
    C.write_safetensors(tmp_path / "m.safetensors", {"a": x, "b": x, "c": x + 1})
    ck = open_checkpoint(tmp_path / "m.safetensors")
    assert ck.tensor("a").digest() == ck.tensor("b").digest() != ck.tensor("c").digest()
    assert bytes(ck.tensor("a").raw()) == x.tobytes()


def test_tensorref_holds_no_data(tmp_path, rng):
    _good(tmp_path, rng)
    ref = open_checkpoint(tmp_path / "m.safetensors").tensor("a")
    assert isinstance(ref, TensorRef) and len(pickle.dumps(ref)) < 1000


def test_packaged_minilm_reads():
    from geomkit.architectures import attention_blocks, attention_heads, classify
    report = pytest.importorskip("geomkit.report")
    try:
        path = report.demo_model_path()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"demo model not installed: {exc}")
    ck = open_checkpoint(path)
    assert ck.format == "safetensors" and len(ck.tensors) > 50
    roles = [classify(t.name, t.shape, ck.config) for t in ck.tensors]
    assert sum(r.role == "embedding" for r in roles) == 1
    blocks = attention_blocks(ck.config, ck.tensors)
    assert len(blocks) == 6 and all({"q", "k", "v", "o"} <= b.keys() for b in blocks)
    heads = attention_heads(ck.config, ck.tensors, blocks[0]["group"])
    assert heads.n_heads * heads.head_dim == 384
    emb = next(t for t, r in zip(ck.tensors, roles) if r.role == "embedding")
    assert emb.load().shape == (30522, 384)


def test_make_checkpoint_generator(tmp_path):
    """benchmarks/make_checkpoint.py at toy sizes: shards + index, config, spread spectrum."""
    import importlib.util
    import pathlib
    script = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "make_checkpoint.py"
    spec = importlib.util.spec_from_file_location("make_checkpoint", script)
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    preset = dict(mk.PRESETS["tinyllama-1.1b"], layers=2, hidden=128, ffn=192, heads=8, kv_heads=2, vocab=300)
    mk.make(preset, tmp_path, "BF16", quiet=True)
    ck = open_checkpoint(tmp_path)
    assert [p.name for p in ck.files] == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert len(ck.tensors) == 2 + 9 * 2 + 1 and all(t.dtype == "BF16" for t in ck.tensors)
    assert ck.tensor("model.layers.1.self_attn.k_proj.weight").shape == (32, 128)
    assert (ck.config["num_attention_heads"], ck.config["num_key_value_heads"]) == (8, 2)
    s = np.linalg.svd(ck.tensor("model.layers.0.mlp.up_proj.weight").load(), compute_uv=False)
    assert s[0] / s[-1] > 30                     # two decades of column scales, not a flat bulk
    stats = mk.read_all(tmp_path)
    assert stats["tensors"] == len(ck.tensors) and stats["bytes_read"] == ck.nbytes


def test_gguf_token_list_summarised_and_gives_vocab(tmp_path, rng):
    w = gguf.GGUFWriter(str(tmp_path / "t.gguf"), "qwen2")
    w.add_head_count(4)
    w.add_head_count_kv([2, 2, 2])                    # per-layer array, all equal
    w.add_embedding_length(32)
    w.add_token_list([f"tok{i}" for i in range(5000)])
    w.add_tensor("token_embd.weight", rng.standard_normal((5000, 32)).astype(np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()  # noqa: E702
    ck = open_checkpoint(tmp_path / "t.gguf")
    assert ck.config["vocab_size"] == 5000 and ck.config["num_key_value_heads"] == 2
    assert ck.config["model_type"] == "qwen2" and "gguf_rope_permuted" not in ck.config
    assert ck.metadata["tokenizer.ggml.tokens"] == "<array of 5000>"
    assert ck.config["tie_word_embeddings"] is True and not ck.notes
