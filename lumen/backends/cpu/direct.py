"""Direct convolution in C (``direct.c``): stride 1, dilation 1, one group, float32 and float64.

The kernel keeps a block of output channels by positions in registers through every tap (``direct.c``
says how), so a layer with 8-64 channels runs at ~80 % of a core's FMA rate where im2col's GEMMs are
bound by streaming the column matrix. Forward runs image by image, the images split over the threads
(output-channel blocks with fewer images than threads); backward-data is that forward on gy with the
flipped, transposed kernel (conv.py reduces it to one); backward-filter splits output-channel blocks over
the threads, each summing over every image in chunks whose size depends on the geometry only. So every
output element is summed by one thread in one fixed order, and the results do not depend on the thread
count. Built by ``native.py``; without a C compiler this algorithm is
not offered.
"""
from __future__ import annotations

import ctypes

import numpy as np

from . import native, parallel

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Images per pass of the filter gradient: their planes and gradients in about this many bytes (cache-sized).
_CHUNK_BYTES = 1 << 20
_REAL = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


class _Geometry(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in
                ("c", "h", "w", "o", "kh", "kw", "ph", "pw", "ho", "wo", "wp", "plane", "span", "chunk")]


class _Kernels:
    def __init__(self, lib):
        self.block = lib.lumen_direct_block()
        self.channel_block = lib.lumen_direct_channel_block()
        self.filter_block = lib.lumen_direct_filter_block()
        args = [ctypes.POINTER(_Geometry)] + [ctypes.c_void_p] * 4 + [ctypes.c_int] * 4
        self.forward, self.filter_gradient = lib.lumen_direct_forward, lib.lumen_direct_filter_gradient
        self.forward.argtypes = args
        self.filter_gradient.argtypes = args[:1] + args[2:]
        self.forward.restype = self.filter_gradient.restype = ctypes.c_int


_kernels = {}


def _load(dtype):
    dtype = np.dtype(dtype)
    if dtype not in _kernels:
        lib = native.library("direct", REAL=_REAL[dtype]) if dtype in _REAL else None
        _kernels[dtype] = _Kernels(lib) if lib is not None else None
    return _kernels[dtype]


def available(dtype) -> bool:
    """Whether the kernels for ``dtype`` are built (building them on the first call)."""
    return _load(dtype) is not None


def unavailable_reason(dtype) -> str:
    if np.dtype(dtype) not in _REAL:
        return f"the direct algorithm runs float32 and float64, not {np.dtype(dtype)}"
    return native.failure("direct", REAL=_REAL[np.dtype(dtype)]) or "its C kernels are not built"


def _geometry(kernels, x_shape, w_shape, padding, itemsize):
    _, c, h, w = x_shape
    o, _, kh, kw = w_shape
    ph, pw = padding
    ho, wo, wp = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1, w + 2 * pw
    span = -(-((ho - 1) * wp + wo) // kernels.block) * kernels.block
    plane = -(-max((h + 2 * ph) * wp, span + (kh - 1) * wp + kw - 1) // kernels.block) * kernels.block
    outputs = -(-o // kernels.filter_block) * kernels.filter_block
    chunk = max(1, _CHUNK_BYTES // (itemsize * (c + outputs) * plane))
    if plane * max(c, o) >= 2 ** 31:
        raise ValueError(f"conv2d (direct): an image of {c} x {h} x {w} with padding {tuple(padding)} is too large "
                         f"for its 32-bit plane offsets; use another algorithm (lumen.backends.conv.algorithm)")
    return _Geometry(c, h, w, o, kh, kw, ph, pw, ho, wo, wp, plane, span, chunk)


def _run(fn, *args):
    if fn(*args):
        geometry = args[0]._obj
        raise MemoryError(f"conv2d (direct): out of memory for a padded image of {geometry.c} x {geometry.plane} "
                          f"elements")


def forward(x, w, b, padding):
    """Stride-1 cross-correlation plus bias: x (N, C, H, W), w (O, C, kh, kw), b (O,) or None
    -> (N, O, H + 2ph - kh + 1, W + 2pw - kw + 1), of x's dtype (one of ``DTYPES``)."""
    kernels = _load(x.dtype)
    n, c = x.shape[:2]
    o, _, kh, kw = w.shape
    g = _geometry(kernels, x.shape, w.shape, padding, x.dtype.itemsize)
    block = kernels.channel_block
    blocks = -(-o // block)
    # (blocks, C, kh*kw, block): each tap's weights for one block of output channels side by side.
    packed = np.zeros((blocks * block, c, kh * kw), x.dtype)
    packed[:o] = w.reshape(o, c, kh * kw)
    packed = np.ascontiguousarray(packed.reshape(blocks, block, c, kh * kw).transpose(0, 2, 3, 1))
    bias = None
    if b is not None:
        bias = np.zeros(blocks * block, x.dtype)
        bias[:o] = b
    x = np.ascontiguousarray(x)
    y = np.empty((n, o, g.ho, g.wo), x.dtype)
    pointers = (ctypes.byref(g), x.ctypes.data, packed.ctypes.data, None if bias is None else bias.ctypes.data,
                y.ctypes.data)
    work = n * blocks * block * c * kh * kw * g.span // 16
    if n >= parallel.WORKERS:
        parallel.over_range(lambda n0, n1: _run(kernels.forward, *pointers, n0, n1, 0, blocks * block), n, work)
    else:
        for image in range(n):
            parallel.over_range(lambda b0, b1: _run(kernels.forward, *pointers, image, image + 1, b0 * block,
                                                    b1 * block), blocks, work // n, ranges_per_thread=1)
    return y


def backward_filter(x, gy, w_shape, padding):
    """Gradient of ``forward`` w.r.t. its filter: x (N, C, H, W), gy (N, O, Ho, Wo) -> (O, C, kh, kw)."""
    kernels = _load(x.dtype)
    n, c = x.shape[:2]
    o, _, kh, kw = w_shape
    g = _geometry(kernels, x.shape, w_shape, padding, x.dtype.itemsize)
    block = kernels.filter_block
    blocks = -(-o // block)
    x, gy = np.ascontiguousarray(x), np.ascontiguousarray(gy, dtype=x.dtype)
    gw = np.empty((blocks * block, c, kh, kw), x.dtype)
    per_block = block * c * kh * kw * gw.itemsize

    def output_blocks(b0, b1):
        _run(kernels.filter_gradient, ctypes.byref(g), x.ctypes.data, gy.ctypes.data,
             gw.ctypes.data + b0 * per_block, 0, n, b0 * block, b1 * block)

    parallel.over_range(output_blocks, blocks, n * blocks * block * c * kh * kw * g.span // 16, ranges_per_thread=1)
    return gw[:o]
