"""The CuPy backend: Lumen's primitives as hand-written CUDA kernels.

Needs CuPy and an NVIDIA GPU. Importing this package without CuPy raises
ImportError; with CuPy but no usable GPU the import succeeds, :func:`available`
returns False and constructing :class:`CupyBackend` raises RuntimeError.
Install with ``pip install 'lumen[cuda]'`` (or the ``cupy-cudaXXx`` wheel that
matches your CUDA driver).

Kernels live in ``kernels/*.cu``, compiled by NVRTC through ``cupy.RawModule``
on first use, once per element type (float16, float32, float64); CuPy loads a
compiled module on each device where one of its kernels is launched.

Devices: CuPy makes arrays and launches kernels on its *current* device, not on
the device of the arrays it is given. Every primitive of :class:`CupyBackend`
therefore runs with the device of its first array argument current (primitives
without one, such as ``zeros`` or ``asarray``, use the current device: the
caller places them with :func:`device_context`), so ``backend.add(a, b)`` on
cuda:1 arrays runs on cuda:1 whichever device is current.
"""
from __future__ import annotations

_INSTALL_HINT = ("Lumen's cuda backend needs CuPy and an NVIDIA GPU with a working CUDA driver; "
                 "install CuPy with pip install 'lumen[cuda]' or the cupy-cudaXXx wheel "
                 "matching your driver")

try:
    import cupy
    import cupyx
except Exception as exc:  # a broken CuPy install raises more than ImportError
    raise ImportError(f"{_INSTALL_HINT} (importing cupy failed: {exc!r})") from exc

import functools
import inspect

import numpy

from .. import base
from . import _module as km
from . import conv, loss, lrn, pool, random


def available() -> bool:
    """True when CuPy sees at least one CUDA device. Never raises."""
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def device_count() -> int:
    return cupy.cuda.runtime.getDeviceCount()


def current_device() -> int:
    """The index of CuPy's current device (of this host thread); 0 without a usable device."""
    return cupy.cuda.runtime.getDevice() if available() else 0


def device_context(index: int):
    """``cupy.cuda.Device(index)``, a context manager making it current, for an index that exists: cuda:N
    with N >= device_count() is a RuntimeError naming both."""
    count = device_count()
    if not 0 <= index < count:
        raise RuntimeError(f"cuda:{index}: invalid device ordinal; CuPy sees {count} CUDA device(s)"
                           + (f" (cuda:0 to cuda:{count - 1})" if count else ""))
    return cupy.cuda.Device(index)


def set_device(index: int) -> None:
    """Make device ``index`` current for this host thread."""
    device_context(index).use()


def _first_array(args):
    for a in args:
        if isinstance(a, cupy.ndarray):
            return a
        if isinstance(a, (list, tuple)) and a and isinstance(a[0], cupy.ndarray):
            return a[0]
    return None


def _on_inputs_device(fn):
    """``fn`` run with its first array argument's device current: CuPy would otherwise allocate the result and
    launch the kernels on the current device, reading the arrays through peer access or failing."""
    @functools.wraps(fn)
    def on_inputs_device(*args, **kwargs):
        array = _first_array(args)
        if array is None:
            return fn(*args, **kwargs)
        with array.device:
            return fn(*args, **kwargs)
    return on_inputs_device


def synchronize() -> None:
    """Wait for every kernel queued on the current stream."""
    cupy.cuda.get_current_stream().synchronize()


def _special(name):
    """cupyx.scipy.special's ufunc ``name``, in the input's dtype."""
    def fn(a, out=None):
        from cupyx.scipy import special
        return getattr(special, name)(a, out=out).astype(a.dtype, copy=False)
    fn.__name__ = name
    return staticmethod(fn)


class CupyBackend(base.Backend):
    """Backend of every CUDA device; arrays are ``cupy.ndarray``, each primitive runs on its arrays' device."""

    name = "cuda"
    xp = cupy
    random = random

    def __init__(self):
        if not available():
            raise RuntimeError(f"no CUDA device is visible. {_INSTALL_HINT}")

    # ---- arrays -----------------------------------------------------------
    def asarray(self, data, dtype=None):
        return cupy.asarray(data, dtype=dtype)

    def to_numpy(self, array):
        return cupy.asnumpy(array)

    def scatter_add(self, target, index, values) -> None:
        cupyx.scatter_add(target, index, values)

    def scatter_reduce(self, target, index, values, reduce) -> None:
        """``target[index] = reduce(target[index], values)`` with repeated indices all combined;
        ``reduce`` is "sum", "prod", "amax" or "amin"."""
        if reduce != "prod":
            {"sum": cupyx.scatter_add, "amax": cupyx.scatter_max, "amin": cupyx.scatter_min}[reduce](
                target, index, values)
            return
        # CuPy has no scatter-multiply: multiply in rounds, each round the first remaining value of every
        # target position (no repeats within a round), as many rounds as the most repeated position has.
        arrays = cupy.broadcast_arrays(*index, values)
        position = cupy.ravel_multi_index(tuple(a.reshape(-1) for a in arrays[:-1]), target.shape)
        values = arrays[-1].reshape(-1)
        flat = target.reshape(-1)  # a view: callers pass a C-contiguous target
        while position.size:
            first_positions, first = cupy.unique(position, return_index=True)
            flat[first_positions] *= values[first]
            rest = cupy.ones(position.size, dtype=bool)
            rest[first] = False
            position, values = position[rest], values[rest]

    erf, erfc, erfinv = _special("erf"), _special("erfc"), _special("erfinv")
    lgamma, digamma = _special("gammaln"), _special("digamma")

    @staticmethod
    def polygamma(n, a):
        """The ``n``-th derivative of digamma."""
        from cupyx.scipy import special
        return special.polygamma(n, a).astype(a.dtype, copy=False)

    @staticmethod
    def may_share_memory(a, b, max_work=None):
        """Whether ``a`` and ``b`` may overlap in memory: never when they live on two devices."""
        return a.device == b.device and cupy.may_share_memory(a, b, max_work)

    @staticmethod
    def data_ptr(a):
        """The device address of the array's first element."""
        return a.data.ptr

    @staticmethod
    def storage_offset(a):
        """Elements between the start of the allocation the array views and its first element."""
        return (a.data.ptr - a.data.mem.ptr) // a.itemsize

    LinAlgError = cupy.linalg.LinAlgError  # what ``linalg`` raises for singular or non-definite input

    @staticmethod
    def linalg(name, *arrays, **options):
        """``cupy.linalg.<name>(*arrays, **options)`` (inv, det, slogdet, solve, cholesky, qr, eigh, svd, ...)."""
        return getattr(cupy.linalg, name)(*arrays, **options)

    @staticmethod
    def svd(a):
        """The reduced SVD ``(U, S, Vh)`` of the matrices in the last two dims, S descending."""
        return cupy.linalg.svd(a, full_matrices=False)

    # ---- convolution ----------------------------------------------------------
    def conv2d_forward(self, x, w, b, stride, padding, dilation, groups):
        return conv.conv2d_forward(x, w, b, stride, padding, dilation, groups)

    def conv2d_backward_data(self, gy, w, x_shape, stride, padding, dilation, groups):
        return conv.conv2d_backward_data(gy, w, x_shape, stride, padding, dilation, groups)

    def conv2d_backward_filter(self, x, gy, w_shape, stride, padding, dilation, groups):
        return conv.conv2d_backward_filter(x, gy, w_shape, stride, padding, dilation, groups)

    # ---- pooling ----------------------------------------------------------------
    def max_pool2d_forward(self, x, kernel, stride, padding, dilation, ceil_mode):
        return pool.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)

    def max_pool2d_backward(self, gy, indices, x_shape):
        return pool.max_pool2d_backward(gy, indices, x_shape)

    def avg_pool2d_forward(self, x, kernel, stride, padding, ceil_mode, count_include_pad,
                           divisor_override):
        return pool.avg_pool2d_forward(x, kernel, stride, padding, ceil_mode,
                                       count_include_pad, divisor_override)

    def avg_pool2d_backward(self, gy, x_shape, kernel, stride, padding, ceil_mode,
                            count_include_pad, divisor_override):
        return pool.avg_pool2d_backward(gy, x_shape, kernel, stride, padding, ceil_mode,
                                        count_include_pad, divisor_override)

    # ---- normalisation and losses ---------------------------------------------
    def lrn_forward(self, x, size, alpha, beta, k):
        return lrn.lrn_forward(x, size, alpha, beta, k)

    def lrn_backward(self, x, y, scale, gy, size, alpha, beta, k):
        return lrn.lrn_backward(x, y, scale, gy, size, alpha, beta, k)

    def softmax_cross_entropy_forward(self, x, target, ignore_index):
        return loss.softmax_cross_entropy_forward(x, target, ignore_index)

    def softmax_cross_entropy_backward(self, log_prob, target, gloss, ignore_index):
        return loss.softmax_cross_entropy_backward(log_prob, target, gloss, ignore_index)

    # ---- extras (fused kernels the layers above may use) -----------------------
    def dropout_mask(self, shape, p, dtype, generator):
        """Inverted-dropout mask of ``shape``: 1/(1-p) with probability 1-p, else 0, drawn from ``generator``
        (an array-level generator of this backend: ``lumen.random.array_generator``)."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout_mask: p must be in [0, 1], got {p}")
        with random.device_of(generator):
            if p == 1.0:
                return cupy.zeros(shape, dtype)
            fn = km.kernel("elementwise.cu", "dropout_mask", dtype, "dropout_mask")
            u = random.uniform(generator, shape, numpy.float32)
            mask = cupy.empty(shape, dtype)
            km.launch(fn, mask.size, (u, mask, numpy.int64(mask.size), numpy.float64(p),
                                      numpy.float64(1.0 / (1.0 - p))))
            return mask

    @staticmethod
    def _channel_layout(op, y, b):
        if y.ndim < 2 or b.shape != (y.shape[1],) or b.dtype != y.dtype:
            raise ValueError(f"{op}: expected y (N,C,...) and b (C,) of one dtype, got "
                             f"y {y.dtype} {y.shape} and b {b.dtype} {b.shape}")
        return y.shape[1], y.size // max(1, y.shape[0] * y.shape[1])

    def bias_add(self, x, b):
        """x (N,C,...) + b (C,) broadcast over channels -> new array."""
        C, S = self._channel_layout("bias_add", x, b)
        fn = km.kernel("elementwise.cu", "bias_add", x.dtype, "bias_add")
        x, b = cupy.ascontiguousarray(x), cupy.ascontiguousarray(b)
        y = cupy.empty_like(x)
        km.launch(fn, y.size, (x, b, y, numpy.int64(y.size), numpy.int32(C), numpy.int64(S)))
        return y

    def bias_relu_(self, y, b):
        """In place: y = max(y + b[channel], 0) for contiguous y (N,C,...); returns y."""
        C, S = self._channel_layout("bias_relu_", y, b)
        if not y.flags.c_contiguous:
            raise ValueError("bias_relu_: y must be C-contiguous to be updated in place")
        fn = km.kernel("elementwise.cu", "bias_relu_inplace", y.dtype, "bias_relu_")
        km.launch(fn, y.size, (y, cupy.ascontiguousarray(b), numpy.int64(y.size),
                               numpy.int32(C), numpy.int64(S)))
        return y

    def relu(self, x):
        """max(x, 0) (NaN propagates) -> new array."""
        fn = km.kernel("elementwise.cu", "relu", x.dtype, "relu")
        x = cupy.ascontiguousarray(x)
        y = cupy.empty_like(x)
        km.launch(fn, y.size, (x, y, numpy.int64(y.size)))
        return y

    def crop(self, x, offset_h, offset_w, h, w):
        """x (N,C,H,W)[:, :, offset_h:offset_h+h, offset_w:offset_w+w] as a new contiguous array."""
        if x.ndim != 4:
            raise ValueError(f"crop: expected a 4-d input (N,C,H,W), got shape {x.shape}")
        H, W = x.shape[2:]
        if min(offset_h, offset_w) < 0 or h < 0 or w < 0 or offset_h + h > H or offset_w + w > W:
            raise ValueError(f"crop: window offset ({offset_h}, {offset_w}) size ({h}, {w}) "
                             f"does not fit in input {x.shape}")
        fn = km.kernel("elementwise.cu", "crop", x.dtype, "crop")
        x = cupy.ascontiguousarray(x)
        y = cupy.empty(x.shape[:2] + (h, w), x.dtype)
        km.launch(fn, y.size, (x, y, numpy.int64(y.size),
                               *(numpy.int32(v) for v in (H, W, h, w, offset_h, offset_w))))
        return y


# Primitives that do not take the device from an array argument: transfers make their arrays on the current
# device (the caller places them) and the rest only read metadata.
_UNPLACED = {"asarray", "to_numpy", "owns", "format_array", "data_ptr", "storage_offset"}


def _place_primitives(cls):
    for name in dir(cls):
        if name.startswith("_") or name in _UNPLACED:
            continue
        raw = inspect.getattr_static(cls, name)
        if isinstance(raw, staticmethod):
            setattr(cls, name, staticmethod(_on_inputs_device(raw.__func__)))
        elif inspect.isfunction(raw):
            setattr(cls, name, _on_inputs_device(raw))


_place_primitives(CupyBackend)

__all__ = ["CupyBackend", "available", "current_device", "device_context", "device_count", "set_device"]
