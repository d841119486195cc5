"""Creation ops: ``lumen.tensor``, ``zeros``, ``arange``, ``rand``/``randn``/``randint`` from a ``lumen.Generator`` ..."""
from __future__ import annotations

import warnings

from . import backends, dtypes, random
from .device import as_device, placed, target_device
from .tensor import Tensor, _size, as_array


def _make(array_fn, dtype, device, requires_grad):
    dev = target_device(device)
    backend = backends.get(dev.type)
    with placed(dev):
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
    kind, index = obj.__dlpack_device__()
    if kind == 1:  # kDLCPU
        return from_numpy(backends.get("cpu").from_dlpack(obj))
    if kind == 2:  # kDLCUDA
        backend = backends.get("cuda")
        return Tensor._wrap(backend.from_dlpack(obj), as_device(f"cuda:{index}"), backend=backend)
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


# ---- the legacy typed-tensor constructors (torch.FloatTensor(2, 3), torch.LongTensor([1, 2])) --------------
class _TensorTypeMeta(type):
    def __instancecheck__(cls, obj):
        # isinstance(t, lumen.FloatTensor): a CPU tensor of that dtype, as torch tests it
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype and obj.device.type == "cpu"

    def __repr__(cls):
        return f"<class 'lumen.{cls.__name__}'>"


class _TypedTensor(metaclass=_TensorTypeMeta):
    """Pre-0.4 PyTorch's typed constructors, still accepted by torch: ``FloatTensor(2, 3)`` is an
    uninitialised float32 tensor of that size, ``FloatTensor([1, 2])`` one holding the data, ``FloatTensor()``
    an empty one. They make ordinary ``lumen.Tensor``s; ``isinstance`` and ``Tensor.type`` understand them."""
    dtype = None

    def __new__(cls, *args, device=None):
        if len(args) == 1 and not isinstance(args[0], int):
            data = args[0]
            if isinstance(data, Tensor) and data.dtype is not cls.dtype:
                raise TypeError(f"{cls.__name__}(): expected a {cls.dtype} tensor, got one of {data.dtype}")
            return tensor(data, dtype=cls.dtype, device=device)
        return empty(*args, dtype=cls.dtype, device=device) if args else empty(0, dtype=cls.dtype, device=device)


def _typed(name, dtype):
    return _TensorTypeMeta(name, (_TypedTensor,), {"dtype": dtype, "__module__": "lumen"})


FloatTensor, DoubleTensor, HalfTensor = (_typed("FloatTensor", dtypes.float32), _typed("DoubleTensor", dtypes.float64),
                                         _typed("HalfTensor", dtypes.float16))
ByteTensor, CharTensor, ShortTensor = (_typed("ByteTensor", dtypes.uint8), _typed("CharTensor", dtypes.int8),
                                       _typed("ShortTensor", dtypes.int16))
IntTensor, LongTensor, BoolTensor = (_typed("IntTensor", dtypes.int32), _typed("LongTensor", dtypes.int64),
                                     _typed("BoolTensor", dtypes.bool_))
TENSOR_TYPES = {cls.__name__: cls for cls in (FloatTensor, DoubleTensor, HalfTensor, ByteTensor, CharTensor,
                                              ShortTensor, IntTensor, LongTensor, BoolTensor)}


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):
    """``obj`` as a tensor, sharing its memory when it can (a Tensor or numpy array of that dtype and
    device) unless ``copy=True``; ``copy=False`` raises when a copy is needed, as ``torch.asarray``."""
    shared = as_tensor(obj, dtype=dtype, device=device) if copy is not True else None
    if shared is not None and copy is False:
        source = obj._data if isinstance(obj, Tensor) else obj
        if not shared._backend.may_share_memory(shared._data, source):
            raise ValueError("asarray: copy=False but the data must be copied (another dtype, device or type)")
    out = shared if shared is not None else tensor(obj, dtype=dtype, device=device)
    return out.requires_grad_(requires_grad) if requires_grad else out


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    """A 0-d tensor of the number ``s``, of the default float dtype unless ``dtype``."""
    return tensor(float(s), dtype=dtype or dtypes.get_default_dtype(), device=device, requires_grad=requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    """``steps`` values from ``base ** start`` to ``base ** end``, evenly spaced in the exponent."""
    d = _float_dtype(dtype)
    return _make(lambda b: b.power(base, b.linspace(start, end, steps)).astype(d.np), d, device, requires_grad)


def inclusive_range(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """``lumen.range`` (named so here to keep Python's ``range`` in this module), deprecated as in PyTorch:
    like ``arange`` but including ``end``, in the default float dtype."""
    warnings.warn("lumen.range is deprecated and will be removed in a future release because its behavior is "
                  "inconsistent with Python's range builtin. Instead, use lumen.arange, which produces values in "
                  "[start, end).", UserWarning, stacklevel=2)
    if end is None:
        start, end = 0, start
    count = int((end - start) // step) + 1
    d = _float_dtype(dtype)
    return _make(lambda b: (start + step * b.arange(count)).astype(d.np), d, device, requires_grad)


def randint_like(input, low=0, high=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """``randint`` of ``input``'s shape (``randint_like(t, high)`` starts at 0), in its dtype unless ``dtype``."""
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=dtype or input.dtype, device=device or input.device,
                   generator=generator, requires_grad=requires_grad)
