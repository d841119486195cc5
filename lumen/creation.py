"""Creation ops: ``lumen.tensor``, ``zeros``, ``arange``, seeded ``rand``/``randn``/``randint`` ..."""
from __future__ import annotations

import numpy as np

from . import backends, dtypes
from .device import as_device
from .tensor import Tensor, _as_array, _size


def _make(array_fn, dtype, device, requires_grad):
    dev = as_device(device)
    backend = backends.get(dev.type)
    t = Tensor._wrap(array_fn(backend), dev, backend=backend)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype):
    return dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (nested lists, numbers, numpy arrays, Tensors).

    Python floats become the default dtype (float32), Python ints int64, as in PyTorch.
    """
    if isinstance(data, Tensor):
        data = data.detach()
        if device is None:
            device = data.device
    return _make(lambda b: b.xp.array(_as_array(b, data, dtype), copy=True), dtype, device, requires_grad)


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor) and dtype in (None, data.dtype) and (device is None or data.device == device):
        return data
    if isinstance(data, np.ndarray) and (device is None or as_device(device).type == "cpu"):
        return from_numpy(data if dtype is None else data.astype(dtypes.as_dtype(dtype).np, copy=False))
    return tensor(data, dtype, device)


def from_numpy(array):
    """A CPU tensor sharing memory with ``array`` (no copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    dtypes.from_numpy_dtype(array.dtype)
    return Tensor._wrap(array, as_device("cpu"))


def from_dlpack(obj):
    """A tensor sharing memory with any DLPack producer (numpy, CuPy, PyTorch) without a copy."""
    kind, _ = obj.__dlpack_device__()
    if kind == 1:  # kDLCPU
        return from_numpy(np.from_dlpack(obj))
    if kind == 2:  # kDLCUDA
        backend = backends.get("cuda")
        return Tensor._wrap(backend.xp.from_dlpack(obj), as_device("cuda"), backend=backend)
    raise RuntimeError(f"from_dlpack: unsupported DLPack device type {kind}; expected CPU (1) or CUDA (2)")


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda b: b.xp.zeros(_size(size), _float_dtype(dtype).np), dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda b: b.xp.ones(_size(size), _float_dtype(dtype).np), dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda b: b.xp.empty(_size(size), _float_dtype(dtype).np), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = dtypes.promote([], [], [fill_value])
    return _make(lambda b: b.xp.full(_size((size,)), fill_value, dtypes.as_dtype(dtype).np), dtype, device,
                 requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False):
    return empty(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = dtypes.promote([], [], [start, end, step])
    dtype = dtypes.as_dtype(dtype)
    return _make(lambda b: b.xp.arange(start, end, step).astype(dtype.np), dtype, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    d = _float_dtype(dtype)
    return _make(lambda b: b.xp.linspace(start, end, steps).astype(d.np), d, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(lambda b: b.xp.eye(n, m, dtype=_float_dtype(dtype).np), dtype, device, requires_grad)


# ---- random numbers: one seeded generator per backend --------------------------------
_seed = None


def manual_seed(seed: int):
    """Seed the generators of every backend (those loaded now and those loaded later)."""
    global _seed
    _seed = int(seed)
    backends.get("cpu").seed(_seed)
    for b in backends.loaded():
        b.seed(_seed)
    return _seed


def initial_seed():
    return _seed


def _generator(device):
    return backends.get(as_device(device).type).generator()


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    d = _float_dtype(dtype)
    g = generator or _generator(device)
    return _make(lambda b: b.asarray(g.random(_size(size), dtype=np.float64).astype(d.np)), d, device,
                 requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    d = _float_dtype(dtype)
    g = generator or _generator(device)
    return _make(lambda b: b.asarray(g.standard_normal(_size(size)).astype(d.np)), d, device, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None, generator=None):
    if high is None:
        low, high = 0, low
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    g = generator or _generator(device)
    return _make(lambda b: b.asarray(g.integers(low, high, _size((size,))).astype(d.np)), d, device, False)


def randperm(n, dtype=None, device=None, generator=None):
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    g = generator or _generator(device)
    return _make(lambda b: b.asarray(g.permutation(n).astype(d.np)), d, device, False)


def rand_like(t, dtype=None):
    return rand(t.shape, dtype=dtype or t.dtype, device=t.device)


def randn_like(t, dtype=None):
    return randn(t.shape, dtype=dtype or t.dtype, device=t.device)
