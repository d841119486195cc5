"""A strict test double of CuPy, for running ``lumen.backends.cuda`` on the CPU (``pytest --cuda-emulator``).

Not CuPy and not a GPU. Device arrays are numpy arrays of the subclass :class:`ndarray`; every function here
refuses host (plain numpy) arrays where CuPy would raise, so host code that forgets a transfer fails as on a
GPU. Arrays from :func:`empty` and :func:`empty_like` are filled with NaN (-1 for integers), so output the
kernels forget to write shows. ``RawModule`` compiles the CUDA source as host C++ through ``cuda_emu.build``
and its kernels run in ``cuda_emu.runtime`` (fibers, chosen thread orders, argument checks).

Only the names ``lumen/backends/cuda`` uses exist (``tests/cuda_emu/test_cupy_double.py`` fails when the host
code uses one that is missing). Known differences from CuPy: ``numpy.asarray(device_array)`` works here (CuPy
raises), reductions and ``argmax`` may give numpy scalars where CuPy gives 0-d arrays, and ``matmul`` is numpy's
(no cuBLAS or TF32 numerics).
"""
from __future__ import annotations

import numpy

from cuda_emu import runtime
from lumen.backends.base import ARRAY_PRIMITIVES



class ndarray(numpy.ndarray):
    """A device array. Mixing it with a host numpy array in any operation raises TypeError, as in CuPy."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        name = f"cupy.{ufunc.__name__}"
        inputs = _to_host_views(inputs, name)
        if out is not None:
            kwargs["out"] = _to_host_views(out, name)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _as_device(result)

    def __array_function__(self, func, types, args, kwargs):
        name = f"numpy.{func.__name__} on a device array"
        return _as_device(func(*_to_host_views(args, name), **_to_host_views(kwargs, name)))

    def __dlpack_device__(self):
        return (2, 0)  # kDLCUDA, device 0

    def get(self):
        """A host copy (CuPy's ``ndarray.get``)."""
        return numpy.array(self.view(numpy.ndarray))

    @property
    def device(self):
        return cuda.Device(0)

    @property
    def data(self):
        """A ``cupy.cuda.MemoryPointer``: ``ptr`` the first element's address, ``mem`` the whole allocation."""
        root = self
        while isinstance(root.base, numpy.ndarray):
            root = root.base
        return cuda.MemoryPointer(cuda.Memory(root.ctypes.data, root.nbytes), self.ctypes.data)


def _is_host_array(obj) -> bool:
    return isinstance(obj, numpy.ndarray) and not isinstance(obj, ndarray)


def _to_host_views(obj, name):
    """``obj`` with every device array replaced by a plain view of its memory; TypeError for host arrays."""
    if isinstance(obj, ndarray):
        return obj.view(numpy.ndarray)
    if _is_host_array(obj):
        raise TypeError(f"{name}: Unsupported type {type(obj)} (a host numpy array where CuPy needs a device "
                        f"array; move it with cupy.asarray)")
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_host_views(o, name) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_host_views(v, name) for k, v in obj.items()}
    return obj


def _as_device(result):
    if isinstance(result, numpy.ndarray):
        return result.view(ndarray)
    if isinstance(result, numpy.generic):  # CuPy's results are 0-d device arrays, not host scalars
        return numpy.asarray(result).view(ndarray)
    if isinstance(result, tuple):
        return tuple(_as_device(r) for r in result)
    if isinstance(result, list):
        return [_as_device(r) for r in result]
    return result


def _device_function(numpy_function, name):
    def function(*args, **kwargs):
        where = f"cupy.{name}"
        result = numpy_function(*_to_host_views(args, where), **_to_host_views(kwargs, where))
        if "out" in kwargs and kwargs["out"] is not None:
            return kwargs["out"]
        return _as_device(result)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"numpy.{name} on device arrays only."
    return function


# Every array-level primitive the backend binds by name (lumen.backends.base.ARRAY_PRIMITIVES: by definition
# the functions numpy and CuPy share under one name and meaning), and the other numpy-named functions the host
# code calls, as numpy's on device arrays only. allclose, array_equal, empty and from_dlpack are defined below.
_HOST_CODE_NAMES = ("matmul", "broadcast_arrays", "ravel_multi_index", "ones", "unique", "searchsorted")
_OWN = {"allclose", "array_equal", "empty", "empty_like", "from_dlpack", "asarray"}
for _name in sorted((set(ARRAY_PRIMITIVES) | set(_HOST_CODE_NAMES)) - _OWN):
    globals()[_name] = _device_function(getattr(numpy, _name), _name)
del _name

from . import _core, cuda, linalg, random  # noqa: E402,F401 (submodules: cupy.cuda, ...; they use the above)

float16, float32, float64 = numpy.float16, numpy.float32, numpy.float64
int8, int16, int32, int64, uint8, bool_ = numpy.int8, numpy.int16, numpy.int32, numpy.int64, numpy.uint8, numpy.bool_
dtype = numpy.dtype
inf, nan = numpy.inf, numpy.nan


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A 0-d device bool array, as CuPy's (numpy's is a Python bool)."""
    return _as_device(numpy.bool_(numpy.allclose(*_to_host_views((a, b), "cupy.allclose"), rtol=rtol, atol=atol,
                                                 equal_nan=equal_nan)))


def array_equal(a1, a2, equal_nan=False):
    return _as_device(numpy.bool_(numpy.array_equal(*_to_host_views((a1, a2), "cupy.array_equal"),
                                                    equal_nan=equal_nan)))


def asarray(a, dtype=None, order=None):
    """A device array of ``a``: a device array as it is (or cast), host data copied to the device."""
    if isinstance(a, ndarray):
        return a.astype(dtype, copy=False) if dtype is not None else a
    return numpy.array(a, dtype=dtype, order=order or "K").view(ndarray)


array = asarray


def asnumpy(a, stream=None, order="C", out=None):
    """A host copy of a device array (host arrays and scalars are passed through numpy.asarray, as in CuPy)."""
    if isinstance(a, ndarray):
        host = numpy.array(a.view(numpy.ndarray), order=order)
        if out is None:
            return host
        out[...] = host
        return out
    return numpy.asarray(a, order=order)


def _garbage(shape, dtype):
    dt = numpy.dtype(dtype)
    filler = numpy.nan if dt.kind in "fc" else (-1 if dt.kind in "iu" else True)
    return numpy.full(shape, filler, dtype=dt).view(ndarray)


def empty(shape, dtype=float, order="C"):
    """Uninitialised device memory: NaN (floats) or -1 (integers), so unwritten output shows."""
    return _garbage(shape, dtype)


def empty_like(a, dtype=None, order="K", subok=None, shape=None):
    if not isinstance(a, ndarray):
        raise TypeError(f"cupy.empty_like: Unsupported type {type(a)} (a host array)")
    return _garbage(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)


def from_dlpack(x):
    """A device array sharing memory with a DLPack producer on the (emulated) device; a CPU producer raises."""
    if isinstance(x, ndarray):
        return x
    kind, _ = x.__dlpack_device__()
    if kind != 2:
        raise RuntimeError(f"cupy.from_dlpack: the object lives on DLPack device type {kind}, not CUDA (2)")
    return numpy.from_dlpack(x).view(ndarray)


class RawKernel:
    """A kernel of a :class:`RawModule`: ``kernel(grid, block, args)`` launches it on the emulator."""

    def __init__(self, kernel):
        self._kernel = kernel

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None):
        if not isinstance(grid, tuple) or not isinstance(block, tuple) or not isinstance(args, tuple):
            raise TypeError(f"{self._kernel.name}: grid, block and args must be tuples, got {type(grid).__name__}, "
                            f"{type(block).__name__} and {type(args).__name__}")
        if shared_mem:
            raise NotImplementedError("dynamic shared memory is not emulated")
        for i, a in enumerate(args):
            if _is_host_array(a):
                raise TypeError(f"{self._kernel.name}: argument {i} is a host numpy array; kernels take device "
                                f"arrays (cupy.asarray) and numpy scalars")
        self._kernel(grid, block, args)


class RawModule:
    """CUDA source compiled for the emulator, one library per (code, options, name_expressions)."""

    def __init__(self, code=None, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, name_expressions=None, jitify=False):
        if code is None or path is not None:
            raise NotImplementedError("the emulator builds RawModule(code=...) only")
        self._library = runtime.load(code, tuple(options), tuple(name_expressions or ()))

    def get_function(self, name):
        try:
            return RawKernel(self._library.kernels[name])
        except KeyError:
            raise cuda.driver.CUDADriverError(f"CUDA_ERROR_NOT_FOUND: named symbol not found: {name!r} (name "
                                              f"expressions: {sorted(self._library.kernels)})") from None
