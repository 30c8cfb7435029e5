"""The file-level reader fuzz harness (tests/python/fuzz_readers.py) as a test: a short
fixed-seed run, the oracle itself (it must catch a wrong exception, a ReadError that does
not name the file, and a hang), and one regression test per reader bug the harness found,
each checking the message."""

import json
import pathlib
import struct
import sys

import numpy as np
import pytest

pytest.importorskip("hypothesis")
gguf = pytest.importorskip("gguf")

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import fuzz_readers as F  # noqa: E402

from geomkit import cli  # noqa: E402
from geomkit.readers import ReadError, open_checkpoint  # noqa: E402


def test_fixed_seed_run():
    before = dict(F.COUNTS)
    F.run(120, 1)
    assert F.COUNTS["files"] - before["files"] >= 100
    # both outcomes occur: files read whole and files refused (each also through the CLI)
    assert F.COUNTS["read"] > before["read"] and F.COUNTS["refused"] > before["refused"]
    assert F.COUNTS["cli"] - before["cli"] == F.COUNTS["refused"] - before["refused"]


def test_the_base_files_are_valid():
    base = F.base_files()
    for key, suffix in [("safetensors", ".safetensors"), ("gguf", ".gguf"), ("npy", ".npy"), ("npz", ".npz"),
                        ("npz_compressed", ".npz")]:
        path = F.TMP / f"valid-{key}{suffix}"
        path.write_bytes(base[key])
        ck = open_checkpoint(path)
        assert len(ck.tensors) >= 1
        for t in ck.tensors:
            assert t.load().shape == t.shape
    ck = open_checkpoint(F.TMP / "valid-gguf.gguf")
    np.testing.assert_array_equal(ck.tensor("token_embd.weight").load(), np.arange(12).reshape(3, 4))


def test_the_oracle_catches_what_it_must(monkeypatch):
    good = F.base_files()["npy"]

    def raises(exc):
        def opener(path):
            raise exc(f"{path}: boom") if exc is ReadError else exc("boom")
        return opener

    monkeypatch.setattr(F, "open_checkpoint", raises(KeyError))
    with pytest.raises(F.Finding, match="KeyError instead of ReadError"):
        F.check_file("key error", good, ".npy")
    monkeypatch.setattr(F, "open_checkpoint", lambda path: (_ for _ in ()).throw(ReadError("no file named")))
    with pytest.raises(F.Finding, match="does not name the file"):
        F.check_file("anonymous", good, ".npy")

    def slow(path):
        import time
        while True:
            time.sleep(0.01)
    monkeypatch.setattr(F, "open_checkpoint", slow)
    monkeypatch.setattr(F, "BUDGET_S", 0.2)
    with pytest.raises(F.Finding, match="still running after"):
        F.check_file("hang", good, ".npy")


def refused(tmp_path, name, data, *fragments):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ReadError) as info:
        ck = open_checkpoint(path)
        for t in ck.tensors:
            t.load()
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg, msg
    for f in fragments:
        assert f in msg, msg
    return path


def test_cli_refuses_with_status_2_and_one_line(tmp_path, capsys):
    path = refused(tmp_path, "cut.safetensors", F.BASE["safetensors"][:5], "too short")
    assert cli.main(["report", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("geomkit report: error: ") and str(path) in err[0]


# ------------------------------------------------------------------ regressions found by the harness
def test_deeply_nested_safetensors_header(tmp_path):
    text = b"[" * 100000 + b"]" * 100000
    refused(tmp_path, "deep.safetensors", struct.pack("<Q", len(text)) + text, "nested too deeply")


def test_safetensors_dtype_that_is_not_a_string(tmp_path):
    header, data = F.safetensors_header()
    header["a"]["dtype"] = ["F32"]
    refused(tmp_path, "d.safetensors", F.safetensors_bytes(header, data), "tensor 'a'", "unknown dtype ['F32']")
    header["a"]["dtype"] = {"x" * 500: 1}   # a long value is cut in the message
    msg = str(pytest.raises(ReadError, open_checkpoint,
                            refused(tmp_path, "e.safetensors", F.safetensors_bytes(header, data))).value)
    assert "x" * 100 not in msg


def test_corrupt_compressed_npz_member(tmp_path):
    # bytes overwritten inside the deflate streams: zlib errors and bad CRCs, each a ReadError
    messages = []
    for pos in range(60, len(F.BASE["npz_compressed"]) - 200, 7):
        data = bytearray(F.BASE["npz_compressed"])
        data[pos:pos + 2] = b"\xff\x00"
        path = tmp_path / f"z{pos}.npz"
        path.write_bytes(bytes(data))
        try:
            for t in open_checkpoint(path).tensors:
                t.load()
        except ReadError as exc:
            assert str(path) in str(exc)
            messages.append(str(exc))
    assert any("while decompressing data" in m for m in messages), messages  # zlib.error, once uncaught


def test_npy_header_that_numpy_cannot_tokenize(tmp_path):
    data = bytearray(F.BASE["npy"])
    data[10] = ord("(")   # an unclosed bracket at the start of the header dict
    refused(tmp_path, "t.npy", bytes(data), "not a valid .npy header")


def _gguf_with(offset, value, width):
    data = bytearray(F.BASE["gguf"])
    F.put_int(data, offset, value, width)
    return bytes(data)


def test_gguf_lying_array_length_is_refused_not_looped_over(tmp_path):
    # the array key-value (tokenizer.ggml.scores): key length, key, type, then item type, count
    key = b"tokenizer.ggml.scores"
    count_at = F.BASE["gguf"].index(key) + len(key) + 4 + 4
    assert struct.unpack_from("<Q", F.BASE["gguf"], count_at)[0] == 3   # the three scores
    refused(tmp_path, "a.gguf", _gguf_with(count_at, 1 << 62, 8), "not a readable GGUF file",
            "tokenizer.ggml.scores", "items", "truncated or corrupt")
    # the same through deletion of bytes, as the harness found it: refused within the budget
    data = bytearray(F.BASE["gguf"])
    del data[353:375]
    refused(tmp_path, "b.gguf", bytes(data), "not a readable GGUF file")


def test_gguf_counts_dims_types_and_byte_order(tmp_path):
    refused(tmp_path, "c.gguf", _gguf_with(16, 1 << 40, 8), "1099511627776 key-values")
    refused(tmp_path, "t.gguf", _gguf_with(8, 1 << 40, 8), "1099511627776 tensor infos")
    refused(tmp_path, "v.gguf", _gguf_with(4, 7, 4), "unsupported GGUF version 7")
    refused(tmp_path, "be.gguf", _gguf_with(4, 3 << 24, 4), "big-endian")
    offset, parts = F.BASE["gguf_infos"][0]
    n_dims_at = offset + parts[0] + parts[1]
    refused(tmp_path, "n.gguf", _gguf_with(n_dims_at, 5, 4), "5 dimensions (GGUF allows at most 4)")
    refused(tmp_path, "d.gguf", _gguf_with(n_dims_at + 4, 1 << 40, 8), "token_embd.weight", "does not fit")
    type_at = n_dims_at + 4 + parts[3]
    refused(tmp_path, "y.gguf", _gguf_with(type_at, 255, 4), "unsupported GGML tensor type id 255")
    key_type_at = F.BASE["gguf_kvs"][0][0] + F.BASE["gguf_kvs"][0][1][0] + F.BASE["gguf_kvs"][0][1][1]
    refused(tmp_path, "k.gguf", _gguf_with(key_type_at, 13, 4), "unknown GGUF value type 13")


def test_valid_json_edge_headers_still_read(tmp_path):
    header, data = F.safetensors_header()
    header["__metadata__"] = {"nested": json.dumps({"a": [1, 2]})}
    path = tmp_path / "ok.safetensors"
    path.write_bytes(F.safetensors_bytes(header, data))
    ck = open_checkpoint(path)
    assert [t.name for t in ck.tensors] == ["a", "b", "c.weight", "d", "e"]
    np.testing.assert_array_equal(ck.tensor("c.weight").load().shape, (2, 4))
