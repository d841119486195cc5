"""A strict test double of CuPy, for running ``lumen.backends.cuda`` on the CPU (``pytest --cuda-emulator``).

Not CuPy and not a GPU. Device arrays are numpy arrays of the subclass :class:`ndarray`; every function here
refuses host (plain numpy) arrays where CuPy would raise, so host code that forgets a transfer fails as on a
GPU. There are ``cupy.cuda.runtime.getDeviceCount()`` emulated devices (2 unless ``LUMEN_CUDA_EMU_DEVICES``
says otherwise); an array remembers the device it was made on (the current one, ``cupy.cuda.Device``), and an
operation or kernel launch on an array of another device than the current one raises CuPy's ValueError for
devices without peer access, so host code that forgets a device context fails. Arrays from :func:`empty` and :func:`empty_like` are filled with NaN (-1 for integers), so output the
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
    """A device array on device ``device.id``. Mixing it with a host numpy array in any operation raises
    TypeError, as in CuPy; using it while another device is current raises ValueError (see
    :func:`_check_current`)."""

    def __array_finalize__(self, obj):
        # A view (slice, reshape, transpose) lives where its base does; anything else is made on the current
        # device. Operations that make new arrays from device arrays (astype, copy) say where explicitly.
        self._device_id = obj._device_id if isinstance(obj, ndarray) else cuda.runtime.getDevice()

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
        return (2, self._device_id)  # kDLCUDA

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if not copy and numpy.dtype(dtype) == self.dtype:
            return self
        _check_current(self, "cupy.ndarray.astype")
        return self.view(numpy.ndarray).astype(dtype, order=order, casting=casting or "unsafe").view(ndarray)

    def copy(self, order="C"):
        """A copy on the current device, which may differ from this array's (CuPy's device-to-device copy)."""
        return numpy.array(self.view(numpy.ndarray), order=order).view(ndarray)

    def fill(self, value):
        _check_current(self, "cupy.ndarray.fill")
        self.view(numpy.ndarray).fill(value)

    def __getitem__(self, key):
        if _holds_array(key):  # advanced indexing is a kernel; a basic index only makes a view
            _check_devices((self, key), "cupy.ndarray.__getitem__")
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        _check_devices((self, key, value), "cupy.ndarray.__setitem__")
        super().__setitem__(key, value)

    def get(self):
        """A host copy (CuPy's ``ndarray.get``)."""
        return numpy.array(self.view(numpy.ndarray))

    @property
    def device(self):
        return cuda.Device(self._device_id)

    @property
    def data(self):
        """A ``cupy.cuda.MemoryPointer``: ``ptr`` the first element's address, ``mem`` the whole allocation."""
        root = self
        while isinstance(root.base, numpy.ndarray):
            root = root.base
        return cuda.MemoryPointer(cuda.Memory(root.ctypes.data, root.nbytes), self.ctypes.data, self._device_id)


def _is_host_array(obj) -> bool:
    return isinstance(obj, numpy.ndarray) and not isinstance(obj, ndarray)


def _holds_array(key) -> bool:
    return isinstance(key, (numpy.ndarray, list)) or (isinstance(key, tuple) and any(map(_holds_array, key)))


def _check_current(array, name):
    """ValueError, CuPy's for devices without peer access, when ``array`` is not on the current device: a GPU
    with peer access would read it remotely instead (with a PerformanceWarning) and put results on the current
    device, so Lumen's host code must run under its arrays' device."""
    current = cuda.runtime.getDevice()
    if array._device_id != current:
        raise ValueError(f"{name}: The device where the array resides ({array._device_id}) is different from the "
                         f"current device ({current}). Peer access is unavailable between these devices.")


def _check_devices(obj, name):
    """:func:`_check_current` for every device array in ``obj`` (nested tuples and lists)."""
    if isinstance(obj, ndarray):
        _check_current(obj, name)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _check_devices(o, name)


def _to_host_views(obj, name):
    """``obj`` with every device array replaced by a plain view of its memory; TypeError for host arrays and
    ValueError for device arrays on another device than the current one."""
    if isinstance(obj, ndarray):
        _check_current(obj, name)
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
    """A device array of ``a`` on the current device: a device array there as it is (or cast), one on another
    device and host data copied over."""
    if isinstance(a, ndarray):
        if a._device_id != cuda.runtime.getDevice():
            return numpy.array(a.view(numpy.ndarray), dtype=dtype, order=order or "K").view(ndarray)
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
    kind, device_id = x.__dlpack_device__()
    if kind != 2:
        raise RuntimeError(f"cupy.from_dlpack: the object lives on DLPack device type {kind}, not CUDA (2)")
    with cuda.Device(device_id):
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
        current = cuda.runtime.getDevice()
        for i, a in enumerate(args):
            if _is_host_array(a):
                raise TypeError(f"{self._kernel.name}: argument {i} is a host numpy array; kernels take device "
                                f"arrays (cupy.asarray) and numpy scalars")
            if isinstance(a, ndarray) and a._device_id != current:
                raise ValueError(f"{self._kernel.name}: argument {i} is an array on device {a._device_id}, the "
                                 f"kernel launches on the current device {current} (a GPU would fault or read "
                                 f"through peer access): launch it under cupy.cuda.Device({a._device_id})")
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
