"""TEMPORARY stand-in for geomkit.readers (safetensors only); deleted once readers lands."""
import json
import pathlib

import numpy as np


class ReadError(ValueError):
    pass


class _Ref:
    def __init__(self, name, shape, dtype, file):
        self.name, self.shape, self.dtype, self.file = name, tuple(shape), dtype, file

    def load(self):
        from safetensors import safe_open
        with safe_open(str(self.file), "np") as f:
            a = f.get_tensor(self.name)
        return np.ascontiguousarray(a, dtype=np.float64 if a.dtype == np.float64 else np.float32)


class _Ckpt:
    def __init__(self, path):
        from safetensors import safe_open
        self.path = pathlib.Path(path)
        if not self.path.exists():
            raise ReadError(f"no such file or directory: {self.path}")
        self.files = sorted(self.path.glob("*.safetensors")) if self.path.is_dir() else [self.path]
        if not self.files:
            raise ReadError(f"{self.path}: no .safetensors files")
        self.format = "safetensors"
        d = self.path if self.path.is_dir() else self.path.parent
        self.config = json.loads((d / "config.json").read_text()) if (d / "config.json").is_file() else {}
        self.tensors = []
        for fp in self.files:
            with safe_open(str(fp), "np") as f:
                for n in f.keys():
                    sl = f.get_slice(n)
                    self.tensors.append(_Ref(n, sl.get_shape(), sl.get_dtype(), fp))
        self._by = {t.name: t for t in self.tensors}

    def tensor(self, name):
        if name not in self._by:
            raise ReadError(f"{self.path}: no tensor {name}")
        return self._by[name]

    def close(self):
        pass


def open_checkpoint(path):
    return _Ckpt(path)
