"""The ``device=`` keyword of the batched functions.

``device="cpu"`` (the default) calls the CPU module as before; ``device="cuda"`` calls the
function of the same name in the optional ``geomkit._geomkit_cuda`` module, which exists
only when geomkit was built with CUDA (``pip install . -C cmake.define.GEOMKIT_ENABLE_CUDA=ON``).
It takes the same arguments and returns the same types; options that only the CPU has
raise ValueError there, and a missing device raises RuntimeError ("no CUDA device: ...").
"""

from __future__ import annotations

import functools
import importlib
import importlib.util

DEVICES = ("cpu", "cuda")
CUDA_BUILD_COMMAND = "pip install . -C cmake.define.GEOMKIT_ENABLE_CUDA=ON"
_CUDA_MODULE = "_geomkit_cuda"


def cuda_module(function: str = "device"):
    """The ``_geomkit_cuda`` extension, or RuntimeError saying why it cannot be used."""
    name = f"{__package__}.{_CUDA_MODULE}"
    if importlib.util.find_spec(name) is None:
        raise RuntimeError(
            f"geomkit.{function}: device='cuda' is not available: geomkit was built without CUDA "
            f"(no {name} module). Build it with CUDA: {CUDA_BUILD_COMMAND}")
    try:
        return importlib.import_module(name)
    except ImportError as e:  # built, but e.g. the CUDA runtime libraries are missing
        raise RuntimeError(f"geomkit.{function}: device='cuda': {name} failed to load: {e}") from e


def cuda_available() -> tuple:
    """(True, '') when geomkit was built with CUDA and a device can be used, else
    (False, reason)."""
    try:
        module = cuda_module("cuda_available")
    except RuntimeError as e:
        return False, str(e)
    ok, reason = module.device_available()
    return bool(ok), str(reason)


def with_device(cpu_function, name: str):
    """cpu_function with a keyword-only ``device`` argument (see the module docstring)."""

    @functools.wraps(cpu_function)
    def wrapper(*args, device: str = "cpu", **kwargs):
        if isinstance(device, str) and device == "cpu":
            return cpu_function(*args, **kwargs)
        if isinstance(device, str) and device == "cuda":
            return getattr(cuda_module(name), name)(*args, **kwargs)
        raise ValueError(f"geomkit.{name}: argument 'device' must be 'cpu' or 'cuda' (got {device!r})")

    wrapper.__doc__ = (cpu_function.__doc__ or "") + (
        "\n\ndevice: 'cpu' (default) or 'cuda' (needs geomkit built with CUDA; see geomkit.cuda_available()).")
    return wrapper
