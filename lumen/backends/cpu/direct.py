"""Direct convolution in C (``direct.c``): stride 1, dilation 1, any groups, float32 and float64.

The kernel keeps a block of output channels by positions in registers through every tap (``direct.c``
says how), so a layer with 8-64 channels runs at ~80 % of a core's FMA rate where im2col's GEMMs are
bound by streaming the column matrix. Forward runs image by image, the images split over the threads
(an image's positions with fewer images than threads, each range padding only the rows it reads);
backward-data is that forward on gy with the flipped, transposed kernel (conv.py reduces it to one);
backward-filter splits output-channel blocks over
the threads, each summing over every image in chunks whose size depends on the geometry only. So every
output element is summed by one thread in one fixed order, and the results do not depend on the thread
count. Built by ``native.py``; without a C compiler this algorithm is not offered.
"""
from __future__ import annotations

import ctypes

import numpy as np

from . import native, parallel

DTYPES = tuple(native.REALS)
# The filter gradient's chunks of images (their planes and gradients) and tiles of output rows (the rows'
# inputs and gradients, reread by every tap) in about this many bytes each: cache-sized.
_CHUNK_BYTES = 1 << 20
_TILE_BYTES = 1 << 19


class _Geometry(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in
                ("c", "h", "w", "o", "kh", "kw", "ph", "pw", "ho", "wo", "wp", "plane", "span", "chunk", "tile")] + \
        [("x_image", ctypes.c_longlong), ("y_image", ctypes.c_longlong)]


_ARGS = [ctypes.POINTER(_Geometry)] + [ctypes.c_void_p] * 4 + [ctypes.c_int] * 4
_SIGNATURES = [("lumen_direct_forward", ctypes.c_int, _ARGS),
               ("lumen_direct_filter_gradient", ctypes.c_int, _ARGS[:1] + _ARGS[2:]),
               ("lumen_direct_vector_bytes", ctypes.c_int, []), ("lumen_direct_block", ctypes.c_int, []),
               ("lumen_direct_channel_block", ctypes.c_int, []), ("lumen_direct_filter_block", ctypes.c_int, [])]


class _Kernels:
    def __init__(self, forward, filter_gradient, vector_bytes, block, channel_block, filter_block):
        self.forward, self.filter_gradient = forward, filter_gradient
        self.vector_bytes = vector_bytes()
        self.block, self.channel_block, self.filter_block = block(), channel_block(), filter_block()


_kernels = {}


def _load(dtype):
    dtype = np.dtype(dtype)
    if dtype not in _kernels:
        found = native.functions("direct", dtype, _SIGNATURES)
        _kernels[dtype] = _Kernels(*found) if found is not None else None
    return _kernels[dtype]


def available(dtype) -> bool:
    """Whether the kernels for ``dtype`` are built (building them on the first call)."""
    return _load(dtype) is not None


def vector_bytes(dtype) -> int:
    """The width of the registers the kernels for ``dtype`` were built for: 64 with AVX-512, 32 with AVX."""
    return _load(dtype).vector_bytes


def unavailable_reason(dtype) -> str:
    return native.typed_failure("direct", dtype)


def _geometry(kernels, x_shape, w_shape, padding, itemsize):
    _, c, h, w = x_shape
    o, _, kh, kw = w_shape
    ph, pw = padding
    ho, wo, wp = h + 2 * ph - kh + 1, w + 2 * pw - kw + 1, w + 2 * pw
    span = -(-((ho - 1) * wp + wo) // kernels.block) * kernels.block
    plane = -(-max((h + 2 * ph) * wp, span + (kh - 1) * wp + kw - 1) // kernels.block) * kernels.block
    outputs = -(-o // kernels.filter_block) * kernels.filter_block
    chunk = max(1, _CHUNK_BYTES // (itemsize * (c + outputs) * plane))
    tile = max(1, _TILE_BYTES // (itemsize * (c + outputs) * wp))
    if plane * max(c, o) >= 2 ** 31:
        raise ValueError(f"conv2d (direct): an image of {c} x {h} x {w} with padding {tuple(padding)} is too large "
                         f"for its 32-bit plane offsets; use another algorithm (lumen.backends.conv.algorithm)")
    return _Geometry(c, h, w, o, kh, kw, ph, pw, ho, wo, wp, plane, span, chunk, tile)


def _run(fn, *args):
    if fn(*args):
        geometry = args[0]._obj
        raise MemoryError(f"conv2d (direct): out of memory for a padded image of {geometry.c} x {geometry.plane} "
                          f"elements")


def _units(fn, groups, count, work, ranges_per_thread=4):
    """fn(group, i0, i1) over [0, count) for every group, the groups x count units split over the threads."""
    def units(u0, u1):
        for group in range(u0 // count, (u1 - 1) // count + 1):
            fn(group, max(u0 - group * count, 0), min(u1 - group * count, count))
    parallel.over_range(units, groups * count, work, ranges_per_thread)


def forward(x, w, b, padding, groups=1):
    """Stride-1 cross-correlation plus bias: x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) or None
    -> (N, O, H + 2ph - kh + 1, W + 2pw - kw + 1), of x's dtype (one of ``DTYPES``)."""
    kernels = _load(x.dtype)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    g = _geometry(kernels, (n, cg, h, wd), (og, cg, kh, kw), padding, x.dtype.itemsize)
    g.x_image, g.y_image = c * h * wd, o * g.ho * g.wo
    block = kernels.channel_block
    blocks = -(-og // block)
    # (groups, blocks, C/groups, kh*kw, block): each tap's weights for one block of output channels side by side.
    packed = np.zeros((groups, blocks * block, cg, kh * kw), x.dtype)
    packed[:, :og] = w.reshape(groups, og, cg, kh * kw)
    packed = np.ascontiguousarray(packed.reshape(groups, blocks, block, cg, kh * kw).transpose(0, 1, 3, 4, 2))
    bias = None
    if b is not None:
        bias = np.zeros((groups, blocks * block), x.dtype)
        bias[:, :og] = b.reshape(groups, og)
    x = np.ascontiguousarray(x)
    y = np.empty((n, o, g.ho, g.wo), x.dtype)
    size = x.dtype.itemsize

    positions = g.span // kernels.block

    def run(group, n0, n1, p0=0, p1=positions):
        _run(kernels.forward, ctypes.byref(g), x.ctypes.data + group * cg * h * wd * size,
             packed.ctypes.data + group * packed[0].nbytes, None if bias is None else bias.ctypes.data + group *
             bias[0].nbytes, y.ctypes.data + group * og * g.ho * g.wo * size, n0, n1, p0 * kernels.block,
             p1 * kernels.block)

    work = n * groups * blocks * block * cg * kh * kw * g.span // 16
    if n >= parallel.WORKERS:
        _units(lambda group, n0, n1: run(group, n0, n1), groups, n, work)
    else:  # the image's positions split: every range pads only the rows it reads
        for image in range(n):
            _units(lambda group, p0, p1: run(group, image, image + 1, p0, p1), groups, positions, work // n)
    return y


def backward_filter(x, gy, w_shape, padding, groups=1):
    """Gradient of ``forward`` w.r.t. its filter: x (N, C, H, W), gy (N, O, Ho, Wo) -> (O, C/groups, kh, kw)."""
    kernels = _load(x.dtype)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w_shape
    og = o // groups
    g = _geometry(kernels, (n, cg, h, wd), (og, cg, kh, kw), padding, x.dtype.itemsize)
    g.x_image, g.y_image = c * h * wd, o * g.ho * g.wo
    block = kernels.filter_block
    blocks = -(-og // block)
    x, gy = np.ascontiguousarray(x), np.ascontiguousarray(gy, dtype=x.dtype)
    gw = np.empty((groups, blocks * block, cg, kh, kw), x.dtype)
    size = x.dtype.itemsize

    def output_blocks(group, b0, b1):
        _run(kernels.filter_gradient, ctypes.byref(g), x.ctypes.data + group * cg * h * wd * size,
             gy.ctypes.data + group * og * g.ho * g.wo * size, gw[group, b0 * block:].ctypes.data, 0, n,
             b0 * block, b1 * block)

    _units(output_blocks, groups, blocks, n * groups * blocks * block * cg * kh * kw * g.span // 16, 1)
    return np.ascontiguousarray(gw[:, :og]).reshape(w_shape)
