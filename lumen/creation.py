"""Creation ops: ``lumen.tensor``, ``zeros``, ``arange``, ``rand``/``randn``/``randint`` from a ``lumen.Generator`` ..."""
from __future__ import annotations


from . import backends, dtypes, random
from .device import as_device, target_device
from .tensor import Tensor, _size, as_array


def _make(array_fn, dtype, device, requires_grad):
    dev = target_device(device)
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
    return _make(lambda b: as_array(b, data, dtype).copy(), dtype, device, requires_grad)


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor) and dtype in (None, data.dtype) and (device is None or data.device == device):
        return data
    if backends.get("cpu").owns(data) and target_device(device).type == "cpu":
        return from_numpy(data if dtype is None else data.astype(dtypes.as_dtype(dtype).np, copy=False))
    return tensor(data, dtype, device)


def from_numpy(array):
    """A CPU tensor sharing memory with ``array`` (no copy)."""
    if not backends.get("cpu").owns(array):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    dtypes.from_numpy_dtype(array.dtype)
    return Tensor._wrap(array, as_device("cpu"))


def from_dlpack(obj):
    """A tensor sharing memory with any DLPack producer (numpy, CuPy, PyTorch) without a copy."""
    kind, _ = obj.__dlpack_device__()
    if kind == 1:  # kDLCPU
        return from_numpy(backends.get("cpu").from_dlpack(obj))
    if kind == 2:  # kDLCUDA
        backend = backends.get("cuda")
        return Tensor._wrap(backend.from_dlpack(obj), as_device("cuda"), backend=backend)
    raise RuntimeError(f"from_dlpack: unsupported DLPack device type {kind}; expected CPU (1) or CUDA (2)")


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda b: b.zeros(_size(size), _float_dtype(dtype).np), dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda b: b.ones(_size(size), _float_dtype(dtype).np), dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda b: b.empty(_size(size), _float_dtype(dtype).np), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = dtypes.promote([], [], [fill_value])
    return _make(lambda b: b.full(_size((size,)), fill_value, dtypes.as_dtype(dtype).np), dtype, device,
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
    return _make(lambda b: b.arange(start, end, step).astype(dtype.np), dtype, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    d = _float_dtype(dtype)
    return _make(lambda b: b.linspace(start, end, steps).astype(d.np), d, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(lambda b: b.eye(n, m, dtype=_float_dtype(dtype).np), dtype, device, requires_grad)


# ---- random numbers: drawn from a lumen.Generator (the device's default one unless generator=) ---------
def _random(op, draw, size, dtype, device, requires_grad, generator):
    dev = target_device(device)
    gen = random.array_generator(dev, generator, op)
    return _make(lambda b: draw(b.random, gen, _size(size)), dtype, dev, requires_grad)


def _random_float_dtype(dtype, op):
    d = _float_dtype(dtype)
    if not d.is_floating_point:
        raise RuntimeError(f"{op}: needs a floating point dtype, got {d}")
    return d


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1)."""
    d = _random_float_dtype(dtype, "rand")
    return _random("rand", lambda r, g, shape: r.uniform(g, shape, d.np), size, d, device, requires_grad,
                   generator)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal."""
    d = _random_float_dtype(dtype, "randn")
    return _random("randn", lambda r, g, shape: r.normal(g, shape, d.np), size, d, device, requires_grad,
                   generator)


def randint(low, high=None, size=(), dtype=None, device=None, generator=None, requires_grad=False):
    """Integers uniform on [low, high) (``randint(high, size)`` starts at 0), int64 by default."""
    if high is None or not isinstance(high, (int, float)) or isinstance(high, bool):
        if high is not None:  # randint(high, size), torch's two-argument form
            size = high
        low, high = 0, low
    if not low < high:
        raise RuntimeError(f"randint: expects low < high, got low={low} and high={high}")
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    return _random("randint", lambda r, g, shape: r.integers(g, low, high, shape, d.np), (size,), d, device,
                   requires_grad, generator)


def randperm(n, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0 .. n-1, int64 by default."""
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    return _random("randperm", lambda r, g, shape: r.permutation(g, n, d.np), (), d, device, requires_grad,
                   generator)


def rand_like(t, dtype=None, *, generator=None, device=None, requires_grad=False):
    return rand(t.shape, generator=generator, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def randn_like(t, dtype=None, *, generator=None, device=None, requires_grad=False):
    return randn(t.shape, generator=generator, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)
