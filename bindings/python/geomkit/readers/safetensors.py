"""safetensors: the header is parsed and validated here; data is memory-mapped per tensor.

A file is an 8-byte little-endian header length N, N bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``),
then the data; offsets count from the end of the header. Checked before any tensor is
listed: the file holds the header, the JSON is an object, every dtype is known, every shape
is a list of non-negative integers whose product times the item size equals the byte span,
every span lies inside the file, and no two spans overlap.

A directory: with ``model.safetensors.index.json`` (or a single ``*.safetensors.index.json``)
the shards are those its ``weight_map`` names, in the order they first appear there, and each
tensor must be in the shard the map says; other ``.safetensors`` files beside them are
ignored (a note says so). Without an index, every ``*.safetensors`` file in sorted order.
"""

from __future__ import annotations

import json
import os
import pathlib
import struct

from . import Checkpoint, ReadError, TensorRef, fold_fp8_scales, read_config
from .dtypes import DTYPES

MAX_HEADER = 100 * 1024 * 1024   # the safetensors package's own limit


def _short(value) -> str:
    """repr(value) cut to 80 characters: a hostile header may hold huge values."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_header(path: pathlib.Path):
    """(tensor entries {name: (dtype, shape, begin, end)} in file order, metadata, data start)."""
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if size == 0:
                raise ReadError(f"{path}: empty file")
            if len(head) < 8:
                raise ReadError(f"{path}: {size} bytes, too short for a safetensors header")
            (n,) = struct.unpack("<Q", head)
            if n == 0 or 8 + n > size:
                raise ReadError(f"{path}: header length {n} does not fit in the file ({size} bytes); "
                                f"truncated or not a safetensors file")
            if n > MAX_HEADER:
                raise ReadError(f"{path}: header length {n} exceeds {MAX_HEADER} bytes")
            text = f.read(n)
    except OSError as exc:
        raise ReadError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        header = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReadError(f"{path}: header is not valid JSON: {exc}") from exc
    except RecursionError:
        raise ReadError(f"{path}: header is not valid JSON: nested too deeply") from None
    if not isinstance(header, dict):
        raise ReadError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise ReadError(f"{path}: __metadata__ is not a JSON object")
    data_start = 8 + n
    data_size = size - data_start
    entries = []
    for name, meta in header.items():
        where = f"{path}: tensor {_short(name)}"
        if not isinstance(meta, dict) or not {"dtype", "shape", "data_offsets"} <= meta.keys():
            raise ReadError(f"{where}: entry needs dtype, shape and data_offsets")
        dtype, shape, offsets = meta["dtype"], meta["shape"], meta["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise ReadError(f"{where}: unknown dtype {_short(dtype)} (known: {', '.join(DTYPES)})")
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in shape):
            raise ReadError(f"{where}: shape {_short(shape)} is not a list of non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise ReadError(f"{where}: data_offsets {_short(offsets)} are not [begin, end] with 0 <= begin <= end")
        begin, end = offsets
        count = 1
        for s in shape:
            count *= s
        need = count * DTYPES[dtype][0]
        if need != end - begin:
            raise ReadError(f"{where}: shape {_short(shape)} of {dtype} needs {need} bytes but its data_offsets "
                            f"span {end - begin}")
        if end > data_size:
            raise ReadError(f"{where}: data [{begin}, {end}) lies past the end of the data section "
                            f"({data_size} bytes); truncated?")
        entries.append((begin, end, name, dtype, tuple(shape)))
    entries.sort()
    for (b0, e0, n0, *_), (b1, e1, n1, *_) in zip(entries, entries[1:]):
        if b1 < e0:
            raise ReadError(f"{path}: tensors {n0!r} [{b0}, {e0}) and {n1!r} [{b1}, {e1}) overlap")
    refs = [TensorRef(name=name, shape=shape, dtype=dtype, nbytes=end - begin, file=path,
                      offset=data_start + begin)
            for begin, end, name, dtype, shape in entries]
    return refs, metadata


def _index_file(directory: pathlib.Path):
    main = directory / "model.safetensors.index.json"
    if main.is_file():
        return main
    found = sorted(directory.glob("*.safetensors.index.json"))
    if len(found) > 1:
        raise ReadError(f"{directory}: several safetensors index files ({', '.join(p.name for p in found)}); "
                        f"pass one shard or a directory with one index")
    return found[0] if found else None


def shard_order(directory: pathlib.Path, notes: list):
    """(files in order, weight_map or None)."""
    index = _index_file(directory)
    if index is None:
        files = sorted(directory.glob("*.safetensors"))
        if not files:
            raise ReadError(f"{directory}: no .safetensors files in this directory")
        return files, None
    try:
        data = json.loads(index.read_text())
    except (OSError, ValueError) as exc:
        raise ReadError(f"{index}: not valid JSON: {exc}") from exc
    except RecursionError:
        raise ReadError(f"{index}: not valid JSON: nested too deeply") from None
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map \
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()):
        raise ReadError(f"{index}: needs a non-empty \"weight_map\" object of tensor name -> shard file")
    files = []
    for shard in weight_map.values():
        p = directory / shard
        if pathlib.Path(shard).name != shard:
            raise ReadError(f"{index}: shard name {shard!r} is not a file name in {directory}")
        if p not in files:
            files.append(p)
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise ReadError(f"{index}: missing shard file(s) {', '.join(missing)} in {directory}")
    extra = sorted(set(directory.glob("*.safetensors")) - set(files))
    if extra:
        notes.append(f"ignored {', '.join(p.name for p in extra)}: not listed in {index.name}")
    return files, weight_map


def open_safetensors(path: pathlib.Path) -> Checkpoint:
    notes = []
    if path.is_dir():
        files, weight_map = shard_order(path, notes)
        config = read_config(path)
    else:
        files, weight_map = [path], None
        config = read_config(path.parent)
    refs, metadata, seen = [], {}, {}
    for f in files:
        file_refs, meta = read_header(f)
        metadata.update(meta)
        for r in file_refs:
            if r.name in seen:
                raise ReadError(f"{f}: tensor {r.name!r} is also in {seen[r.name]}")
            seen[r.name] = f
            if weight_map is not None:
                listed = weight_map.get(r.name)
                if listed is None:
                    raise ReadError(f"{f}: tensor {r.name!r} is not in the index's weight_map")
                if listed != f.name:
                    raise ReadError(f"{f}: tensor {r.name!r} is listed in the index under {listed}")
        refs.extend(file_refs)
    if weight_map is not None:
        absent = [n for n in weight_map if n not in seen]
        if absent:
            raise ReadError(f"{path}: the index lists {len(absent)} tensor(s) no shard holds, "
                            f"e.g. {absent[0]!r} in {weight_map[absent[0]]}")
    refs, by_name = fold_fp8_scales(path, refs, config, notes)
    return Checkpoint(path=path, format="safetensors", files=files, config=config, tensors=refs,
                      metadata=metadata, notes=notes, _by_name=by_name)
