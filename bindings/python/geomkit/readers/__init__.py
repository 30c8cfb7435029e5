"""Reading model checkpoints one tensor at a time.

``open_checkpoint(path)`` reads only the files' headers and returns a :class:`Checkpoint`:
the tensors' names, shapes and stored types (:class:`TensorRef`), the model's config and the
files in order. No tensor data is read until ``TensorRef.load()``, which memory-maps exactly
that tensor's bytes, decodes them into a fresh float32 array (float64 for F64) and unmaps
them, so a caller that drops each array before loading the next holds one tensor at a time.

One module per format, each with the same shape (``open_*`` returns refs, config, metadata):

- :mod:`.safetensors` - a ``.safetensors`` file or a directory of shards (ordered by
  ``model.safetensors.index.json``); the header is parsed and validated here, not by the
  ``safetensors`` package.
- :mod:`.gguf` - a ``.gguf`` file, read with the ``gguf`` package (llama.cpp's reader) and
  dequantized with its ``gguf.quants.dequantize``; metadata becomes HF-style config keys.
- :mod:`.numpy` - ``.npy`` / ``.npz`` of named arrays (or a directory of ``.npy``).
- :mod:`.dtypes` - decoding of F64/F32/F16/BF16/F8_E4M3/F8_E5M2 and fp8 scales.

Every unreadable input raises :class:`ReadError`, whose message names the file (and the
tensor, where there is one).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from dataclasses import dataclass, field

import numpy as np

from . import dtypes as _dtypes


class ReadError(ValueError):
    """An unreadable checkpoint; the message names the file (and tensor)."""


@dataclass(frozen=True)
class TensorRef:
    """One stored tensor: where it is and how it is encoded. Holds no data; picklable.

    ``shape`` is numpy's (row-major) order for every format; for GGUF that is the reverse
    of the file's ``ne`` order. ``dtype`` is the stored type ("F32", "BF16", "F8_E4M3",
    "Q4_K", ...). ``nbytes`` counts the bytes stored in the file.
    """

    name: str
    shape: tuple
    dtype: str
    nbytes: int
    file: pathlib.Path
    offset: int = 0                  # absolute byte offset of the data in ``file``
    encoding: str = "raw"            # "raw" (dtypes.decode), "gguf" (gguf.quants), "npz-member"
    member: str = ""                 # the zip member, for "npz-member"
    fortran_order: bool = False      # .npy written in Fortran order
    scale: "TensorRef | None" = None  # fp8: the scale tensor folded in by load()
    scale_kind: str = ""             # "scale" (per tensor / channel) or "block"
    scale_block: tuple = (128, 128)

    @property
    def is_float(self) -> bool:
        """False for integer and boolean tensors, which a report skips."""
        if self.encoding == "gguf":
            return self.dtype not in ("I8", "I16", "I32", "I64")
        return _dtypes.is_float(self.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def _where(self) -> str:
        return f"{self.file}: tensor {self.name!r}"

    def _map(self):
        """A read-only mmap of exactly this tensor's bytes (page-aligned underneath)."""
        try:
            size = os.stat(self.file).st_size
        except OSError as exc:
            raise ReadError(f"{self._where()}: cannot open: {exc.strerror or exc}") from exc
        if self.offset + self.nbytes > size:
            raise ReadError(f"{self._where()}: data [{self.offset}, {self.offset + self.nbytes}) lies "
                            f"past the end of the file ({size} bytes); truncated?")
        if self.nbytes == 0:
            return np.zeros(0, dtype=np.uint8)
        try:
            mm = np.memmap(self.file, dtype=np.uint8, mode="r", offset=self.offset, shape=(self.nbytes,))
            return mm.view(np.ndarray)   # a plain array: results derived from it are not memmaps
        except (OSError, ValueError) as exc:
            raise ReadError(f"{self._where()}: cannot map its data: {exc}") from exc

    def raw(self) -> np.ndarray:
        """The stored bytes as a read-only uint8 memory map (drop it to unmap)."""
        if self.encoding == "npz-member":
            return np.frombuffer(self._npz_bytes(), dtype=np.uint8)
        return self._map()

    def _npz_bytes(self) -> bytes:
        from .numpy import npz_member_bytes
        return npz_member_bytes(self)

    def load(self) -> np.ndarray:
        """The tensor as a fresh C-contiguous float32 array (float64 for F64 and 32/64-bit
        integers), fp8 scales applied. ReadError on truncated or corrupt data."""
        try:
            if self.encoding == "gguf":
                from .gguf import load_gguf_tensor
                out = load_gguf_tensor(self)
            else:
                raw = self.raw()
                try:
                    out = _dtypes.decode(raw, self.dtype, self.shape[::-1] if self.fortran_order else self.shape)
                finally:
                    del raw
                if self.fortran_order:
                    out = np.ascontiguousarray(out.T)
            if self.scale is not None:
                scale = self.scale.load()
                try:
                    _dtypes.apply_scale(out, scale, self.scale_kind, self.scale_block)
                except ValueError as exc:
                    raise ReadError(f"{self._where()}: its scale {self.scale.name!r}: {exc}") from exc
        except ReadError:
            raise
        except MemoryError:
            raise
        except Exception as exc:
            raise ReadError(f"{self._where()}: cannot decode {self.dtype} data: {exc}") from exc
        if not out.flags.c_contiguous:
            out = np.ascontiguousarray(out)
        return out

    def digest(self, chunk: int = 1 << 24) -> str:
        """sha256 of the stored bytes, read through the map in chunks (for tied weights)."""
        h = hashlib.sha256()
        raw = self.raw()
        for start in range(0, raw.size, chunk):
            h.update(raw[start:start + chunk].tobytes())
        del raw
        return h.hexdigest()


@dataclass
class Checkpoint:
    """An opened checkpoint: headers read, no tensor data held."""

    path: pathlib.Path
    format: str                       # "safetensors" | "gguf" | "numpy"
    files: list
    config: dict
    tensors: list                     # TensorRef in file order (fp8 scale tensors folded in)
    metadata: dict = field(default_factory=dict)   # safetensors __metadata__ / GGUF key-values
    notes: list = field(default_factory=list)      # things a report should mention
    _by_name: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if not self._by_name:
            self._by_name = {t.name: t for t in self.tensors}

    def tensor(self, name: str) -> TensorRef:
        try:
            return self._by_name[name]
        except KeyError:
            raise ReadError(f"{self.path}: no tensor named {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def __iter__(self):
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    def close(self) -> None:
        """Nothing stays open between loads; kept for the context-manager protocol."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


SUFFIXES = {".safetensors": "safetensors", ".gguf": "gguf", ".npy": "numpy", ".npz": "numpy"}


def _sniff(path: pathlib.Path) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ReadError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:6] == b"\x93NUMPY" or head[:4] == b"PK\x03\x04":
        return "numpy"
    return None


def read_config(directory: pathlib.Path) -> dict:
    """config.json in ``directory`` ({} when there is none); ReadError when it is corrupt."""
    cfg = directory / "config.json"
    if not cfg.is_file():
        return {}
    try:
        data = json.loads(cfg.read_text())
    except (OSError, ValueError) as exc:
        raise ReadError(f"{cfg}: not valid JSON: {exc}") from exc
    except RecursionError:
        raise ReadError(f"{cfg}: not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise ReadError(f"{cfg}: expected a JSON object, got {type(data).__name__}")
    return data


def open_checkpoint(path) -> Checkpoint:
    """Opens a .safetensors/.gguf/.npy/.npz file or a directory of them (headers only)."""
    path = pathlib.Path(path)
    if path.name.endswith(".safetensors.index.json") and path.is_file():
        from .safetensors import open_safetensors
        return open_safetensors(path.parent)
    if not path.exists():
        raise ReadError(f"{path}: no such file or directory")
    if path.is_dir():
        kinds = [("safetensors", ("*.safetensors", "*.safetensors.index.json")), ("gguf", ("*.gguf",)),
                 ("numpy", ("*.npz", "*.npy"))]
        fmt = next((k for k, globs in kinds if any(next(path.glob(g), None) for g in globs)), None)
        if fmt is None:
            pickles = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
            hint = (f" ({', '.join(pickles[:3])} are PyTorch pickles, which geomkit does not read: "
                    f"convert them to safetensors)") if pickles else ""
            raise ReadError(f"{path}: no .safetensors, .gguf, .npy or .npz files in this directory{hint}")
    else:
        if path.stat().st_size == 0:
            raise ReadError(f"{path}: empty file")
        fmt = SUFFIXES.get(path.suffix.lower()) or _sniff(path)
        if fmt is None:
            raise ReadError(f"{path}: unknown format (expected .safetensors, .gguf, .npy or .npz)")
    if fmt == "safetensors":
        from .safetensors import open_safetensors as opener
    elif fmt == "gguf":
        from .gguf import open_gguf as opener
    else:
        from .numpy import open_numpy as opener
    return opener(path)


def fold_fp8_scales(path: pathlib.Path, refs: list, config: dict, notes: list) -> tuple:
    """Attaches ``X.weight_scale`` / ``X.weight_scale_inv`` to an fp8 ``X.weight`` and takes
    the scale tensors out of the list (they stay reachable by name). Returns (refs, by_name)."""
    by_name = {r.name: r for r in refs}
    block = (128, 128)
    qc = config.get("quantization_config") if isinstance(config, dict) else None
    if isinstance(qc, dict) and isinstance(qc.get("weight_block_size"), (list, tuple)) \
            and len(qc["weight_block_size"]) == 2:
        block = tuple(int(b) for b in qc["weight_block_size"])
    folded = set()
    replaced = {}
    for r in refs:
        for suffix, kind in ((".weight_scale_inv", "block"), (".weight_scale", "scale")):
            if not r.name.endswith(suffix):
                continue
            base = r.name[: -len(suffix)] + ".weight"
            w = by_name.get(base)
            if w is None or not w.dtype.startswith("F8_"):
                continue
            if kind == "block" and r.size != 1:
                need = tuple(-(-s // b) for s, b in zip(w.shape, block))
                if len(w.shape) != 2 or tuple(r.shape) != need:
                    raise ReadError(f"{r.file}: tensor {r.name!r} of shape {tuple(r.shape)} is not a "
                                    f"{block[0]}x{block[1]} block scale of {base!r} {tuple(w.shape)} "
                                    f"(expected {need})")
            replaced[base] = TensorRef(**{**w.__dict__, "scale": r,
                                          "scale_kind": "scale" if r.size == 1 else kind,
                                          "scale_block": block})
            folded.add(r.name)
    if folded:
        notes.append(f"fp8: {len(replaced)} weights have their scales applied on load "
                     f"({len(folded)} scale tensors folded in)")
    out = [replaced.get(r.name, r) for r in refs if r.name not in folded]
    by_name.update(replaced)
    return out, by_name
