"""``.npy`` / ``.npz`` files of named arrays, or a directory of ``.npy`` files.

A ``.npy`` holds one array, named by the file's stem. A ``.npz`` holds one array per member
(``name.npy``). Data of a ``.npy`` and of an uncompressed (``np.savez``) member is
memory-mapped like a safetensors tensor; a compressed (``np.savez_compressed``) member is
inflated on ``load()``, one member at a time. Little-endian float16/32/64, integer and bool
arrays are accepted; other dtypes (object, complex, big-endian, structured) raise ReadError.
"""

from __future__ import annotations

import pathlib
import struct
import zipfile
import zlib

import numpy as np

from . import Checkpoint, ReadError, TensorRef, read_config

_NAMES = {"<f8": "F64", "<f4": "F32", "<f2": "F16", "|i1": "I8", "<i2": "I16", "<i4": "I32", "<i8": "I64",
          "|u1": "U8", "<u2": "U16", "<u4": "U32", "<u8": "U64", "|b1": "BOOL"}


def _npy_header(f, where: str):
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except ReadError:
        raise
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - numpy's header parser (ast, tokenize,
        # zlib under a compressed member) raises many types; each is a corrupt header here
        raise ReadError(f"{where}: not a valid .npy header: {type(exc).__name__}: {_short(exc)}") from None
    name = _NAMES.get(dtype.str)
    if name is None:
        raise ReadError(f"{where}: unsupported array dtype {dtype.str!r} ({dtype})")
    return tuple(int(s) for s in shape), bool(fortran), name, dtype.itemsize


# What zipfile and zlib raise on a corrupt archive or member: a bad zip structure, a bad
# deflate stream, a member cut short, an unsupported compression method or encryption.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError, ValueError,
               struct.error, OverflowError)


def _short(exc: BaseException) -> str:
    """An exception's message on one line, cut to 200 characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _ref(name, shape, fortran, dtype, itemsize, file, offset, member=""):
    count = 1
    for s in shape:
        count *= s
    return TensorRef(name=name, shape=shape, dtype=dtype, nbytes=count * itemsize, file=file,
                     offset=offset, encoding="npz-member" if member else "raw", member=member,
                     fortran_order=fortran and len(shape) > 1)


def _open_npy(path: pathlib.Path) -> TensorRef:
    try:
        with open(path, "rb") as f:
            shape, fortran, dtype, itemsize = _npy_header(f, str(path))
            offset = f.tell()
    except OSError as exc:
        raise ReadError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    ref = _ref(path.stem, shape, fortran, dtype, itemsize, path, offset)
    if offset + ref.nbytes > path.stat().st_size:
        raise ReadError(f"{path}: array of shape {shape} needs {ref.nbytes} bytes after the header, "
                        f"the file is shorter; truncated?")
    return ref


def _open_npz(path: pathlib.Path) -> list:
    refs = []
    try:
        with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                name = info.filename[:-4]
                with zf.open(info) as f:
                    shape, fortran, dtype, itemsize = _npy_header(f, f"{path}: member {info.filename!r}")
                    header_len = f.tell()
                ref = _ref(name, shape, fortran, dtype, itemsize, path, 0, member=info.filename)
                if header_len + ref.nbytes != info.file_size:
                    raise ReadError(f"{path}: member {info.filename!r} holds {info.file_size} bytes, its "
                                    f"header declares {header_len + ref.nbytes}")
                if info.compress_type == zipfile.ZIP_STORED:
                    raw.seek(info.header_offset)
                    local = raw.read(30)
                    if len(local) < 30 or local[:4] != b"PK\x03\x04":
                        raise ReadError(f"{path}: member {info.filename!r}: bad local zip header")
                    n_name, n_extra = struct.unpack("<HH", local[26:30])
                    data = info.header_offset + 30 + n_name + n_extra
                    ref = TensorRef(**{**ref.__dict__, "encoding": "raw", "member": "",
                                       "offset": data + header_len})
                refs.append(ref)
    except ReadError:
        raise
    except zipfile.BadZipFile as exc:
        raise ReadError(f"{path}: not a valid .npz (zip) file: {_short(exc)}") from exc
    except _ZIP_ERRORS as exc:
        raise ReadError(f"{path}: not a valid .npz (zip) file: {type(exc).__name__}: {_short(exc)}") from exc
    return refs


def npz_member_bytes(ref: TensorRef) -> bytes:
    """The raw array bytes of a compressed .npz member (inflated, header skipped)."""
    try:
        with zipfile.ZipFile(ref.file) as zf, zf.open(ref.member) as f:
            _npy_header(f, f"{ref.file}: member {ref.member!r}")
            data = f.read(ref.nbytes)
    except ReadError:
        raise
    except (KeyError,) + _ZIP_ERRORS as exc:
        raise ReadError(f"{ref.file}: member {ref.member!r}: cannot read: {_short(exc)}") from exc
    if len(data) != ref.nbytes:
        raise ReadError(f"{ref.file}: member {ref.member!r}: {len(data)} bytes, expected {ref.nbytes}")
    return data


def open_numpy(path: pathlib.Path) -> Checkpoint:
    if path.is_dir():
        files = sorted(path.glob("*.npz")) + sorted(path.glob("*.npy"))
        config = read_config(path)
    else:
        files = [path]
        config = read_config(path.parent)
    refs, seen = [], set()
    for f in files:
        with open(f, "rb") as fh:
            magic = fh.read(6)
        if not magic:
            raise ReadError(f"{f}: empty file")
        file_refs = _open_npz(f) if magic[:4] == b"PK\x03\x04" else [_open_npy(f)]
        for r in file_refs:
            if r.name in seen:
                raise ReadError(f"{f}: array {r.name!r} appears twice")
            seen.add(r.name)
        refs.extend(file_refs)
    return Checkpoint(path=path, format="numpy", files=files, config=config, tensors=refs)
