"""2-D convolution on the GPU: forward, backward-data and backward-filter.

Two algorithms, both supporting groups, stride, padding and dilation:

``"gemm"``
    im2col into a column buffer, then a cuBLAS GEMM through ``cupy.matmul``
    (one batched GEMM per group); backward-data is a GEMM then a
    deterministic gather col2im. The batch is processed in chunks so the
    column buffer stays under :data:`workspace_limit` bytes.
``"implicit"``
    implicit-GEMM kernels (``kernels/implicit_gemm.cu``) that gather the
    operands tile by tile into shared memory with no column buffer;
    backward-filter splits its N*Ho*Wo reduction over blocks and sums the
    partial products in a fixed order (deterministic).

Which one runs is set by ``lumen.backends.conv`` (shared with the CPU backend):
per layer shape a fixed heuristic (:func:`heuristic`), or with ``benchmark = True``
both timed once (CUDA events) and the winner cached, as cudnnFind does, or one
forced with ``algorithm``; each function's ``algo`` argument forces one for that
call only. Both algorithms are deterministic (no atomics; cuBLAS GEMMs are
bitwise reproducible on one GPU architecture and stream), so repeated calls give
bit-identical results and ``deterministic = True`` excludes neither. TF32 is used by the ``"gemm"`` path only when enabled with
:func:`set_tf32` (off by default); the implicit kernels always compute in
full float32 (float16 inputs accumulate in float32).
"""
from __future__ import annotations

import math

import cupy
import numpy

from .. import conv as settings
from . import _module as km

ALGORITHMS = settings.CUDA.names

#: Largest column buffer (bytes) the ``"gemm"`` algorithm allocates; the batch is chunked to fit.
workspace_limit = 256 * 1024 * 1024

_INT32_LIMIT = 2**31 - 2**20  # headroom for the tile overhang of the implicit kernels
_BM = _BN = 64
_BK = 16


def set_tf32(enabled: bool) -> None:
    """Allow (or forbid) TF32 tensor-core math in cuBLAS float32 GEMMs (the "gemm" algorithm)."""
    from cupy._core import _routines_linalg as linalg

    linalg.set_compute_type(numpy.float32, linalg.COMPUTE_TYPE_TF32 if enabled
                            else linalg.COMPUTE_TYPE_FP32)


def _out_len(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _check(op, x_shape, w_shape, stride, padding, dilation, groups, x_dtype, w_dtype):
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"{op}: expected 4-d input (N,C,H,W) and weight (O,C/groups,kH,kW), "
                         f"got input {tuple(x_shape)} and weight {tuple(w_shape)}")
    if x_dtype != w_dtype:
        raise TypeError(f"{op}: input dtype {x_dtype} and weight dtype {w_dtype} differ")
    N, C, H, W = x_shape
    O, Cg, kh, kw = w_shape
    if groups < 1 or C % groups or O % groups or Cg != C // groups:
        raise ValueError(f"{op}: input {tuple(x_shape)} and weight {tuple(w_shape)} do not "
                         f"match groups={groups} (need C == weight.shape[1] * groups and "
                         f"O divisible by groups)")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: need stride >= 1, dilation >= 1, padding >= 0, got "
                         f"stride={stride}, padding={padding}, dilation={dilation}")
    Ho = _out_len(H, kh, stride[0], padding[0], dilation[0])
    Wo = _out_len(W, kw, stride[1], padding[1], dilation[1])
    if Ho < 1 or Wo < 1:
        raise ValueError(f"{op}: input {tuple(x_shape)} with kernel {(kh, kw)}, padding "
                         f"{padding}, dilation {dilation} gives an empty output ({Ho}x{Wo})")
    return N, C, H, W, O, Cg, kh, kw, Ho, Wo


def _i32(*values):
    return tuple(numpy.int32(v) for v in values)


def _dims(N, C, H, W, O, Ho, Wo, kh, kw, stride, padding, dilation, groups):
    return _i32(N, C, H, W, O, Ho, Wo, kh, kw, stride[0], stride[1], padding[0], padding[1],
                dilation[0], dilation[1], groups)


def _candidates(N, C, H, W, O, Cg, kh, kw, Ho, Wo, stride, groups):
    """The algorithms that can run a convolution of this geometry."""
    sizes = (N * C * H * W, N * O * Ho * Wo, O * Cg * kh * kw)
    return ALGORITHMS if max(sizes) < _INT32_LIMIT and groups <= 65535 else ("gemm",)


def heuristic(direction, names, N, C, H, W, O, Cg, kh, kw, Ho, Wo, stride, groups):
    """One of ``names`` (those that can run the call) for when ``benchmark`` is off (not tuned on
    hardware yet).

    cuBLAS GEMMs win for ordinary dense layers, so "gemm" is the default;
    "implicit" is taken where the per-group GEMMs are too thin to use cuBLAS
    well (grouped/depthwise layers with a short reduction).
    Backward-data with stride > 1 always stays on "gemm": the implicit
    transposed problem would multiply stride_h*stride_w times as many zeros.
    """
    if "implicit" not in names:
        return "gemm"
    if direction == "backward_data" and (stride[0] > 1 or stride[1] > 1):
        return "gemm"
    if groups > 1 and Cg * kh * kw <= 64:
        return "implicit"
    return "gemm"


def _time(fn):
    fn()  # compiles the kernels and warms the allocator
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(2):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end))
    return min(times)


def _select(direction, key, geom, runners, algo, describe):
    """The algorithm to run: ``algo`` if given, else as ``lumen.backends.conv`` says."""
    return settings.CUDA.choose(direction, key, _candidates(*geom),
                                lambda names: heuristic(direction, names, *geom),
                                lambda a: _time(runners[a]), describe, forced=algo)


def _chunk(N, per_image_elems, itemsize):
    return max(1, min(N, workspace_limit // max(1, per_image_elems * itemsize)))


def _is_pointwise(kh, kw, stride, padding):
    # A 1x1 kernel with unit stride and no padding reads x as its own column buffer.
    return kh == kw == 1 and stride == (1, 1) and padding == (0, 0)


# ---------------------------------------------------------------- forward --

def _fwd_gemm(x, w, b, y, N, C, H, W, O, Cg, kh, kw, Ho, Wo, stride, padding, dilation, G):
    K, L, Og = Cg * kh * kw, Ho * Wo, O // G
    wm = w.reshape(G, Og, K)
    pointwise = _is_pointwise(kh, kw, stride, padding)
    nb = N if pointwise else _chunk(N, C * kh * kw * L, x.itemsize)
    col = None if pointwise else cupy.empty((nb, G, K, L), x.dtype)
    im2col = km.kernel("im2col.cu", "im2col", x.dtype, "conv2d_forward")
    for n0 in range(0, N, nb):
        bn = min(nb, N - n0)
        if pointwise:
            cols = x[n0:n0 + bn].reshape(bn, G, K, L)
        else:
            cols = col[:bn]
            km.launch(im2col, bn * C * L, (
                x[n0:n0 + bn], cols, numpy.int64(bn * C * L),
                *_i32(C, H, W, Cg, kh, kw, *stride, *padding, *dilation, Ho, Wo),
                numpy.int64(G * K * L), numpy.int64(K * L), numpy.int64(L)))
        cupy.matmul(wm, cols, out=y[n0:n0 + bn].reshape(bn, G, Og, L))
    if b is not None:
        y += b.reshape(1, O, 1, 1)


def _fwd_implicit(x, w, b, y, N, C, H, W, O, Cg, kh, kw, Ho, Wo, stride, padding, dilation, G):
    fn = km.kernel("implicit_gemm.cu", "igemm_fwd", x.dtype, "conv2d_forward")
    grid = (math.ceil(N * Ho * Wo / _BN), math.ceil((O // G) / _BM), G)
    fn(grid, (256,), (x, w, b if b is not None else w, numpy.int32(b is not None), y,
                      *_dims(N, C, H, W, O, Ho, Wo, kh, kw, stride, padding, dilation, G)))


def conv2d_forward(x, w, b, stride, padding, dilation, groups, algo=None):
    """y = conv(x, w) + b.

    x (N,C,H,W), w (O,C/groups,kh,kw), b (O,) or None, all of one float dtype
    -> y (N,O,Ho,Wo). ``algo`` forces "gemm" or "implicit" for this call; None: as
    ``lumen.backends.conv`` says.
    """
    op = "conv2d_forward"
    stride, padding, dilation = tuple(stride), tuple(padding), tuple(dilation)
    dims = _check(op, x.shape, w.shape, stride, padding, dilation, groups, x.dtype, w.dtype)
    N, C, H, W, O, Cg, kh, kw, Ho, Wo = dims
    km.ctype(x.dtype, op)
    if b is not None and (b.shape != (O,) or b.dtype != x.dtype):
        raise ValueError(f"{op}: bias must have shape ({O},) and dtype {x.dtype}, "
                         f"got {b.shape} {b.dtype}")
    x, w = cupy.ascontiguousarray(x), cupy.ascontiguousarray(w)
    b = None if b is None else cupy.ascontiguousarray(b)
    y = cupy.empty((N, O, Ho, Wo), x.dtype)
    args = (x, w, b, y, *dims, stride, padding, dilation, groups)
    runners = {"gemm": lambda: _fwd_gemm(*args), "implicit": lambda: _fwd_implicit(*args)}
    key = (x.shape, w.shape, stride, padding, dilation, groups, x.dtype.str)
    geom = (N, C, H, W, O, Cg, kh, kw, Ho, Wo, stride, groups)
    runners[_select("forward", key, geom, runners, algo, lambda: settings.describe(
        x.dtype, ("input", x.shape), ("weight", w.shape), stride=stride, padding=padding, dilation=dilation, groups=groups))]()
    return y


# ---------------------------------------------------------- backward data --

def _data_gemm(gy, w, gx, N, C, H, W, O, Cg, kh, kw, Ho, Wo, stride, padding, dilation, G):
    K, L, Og = Cg * kh * kw, Ho * Wo, O // G
    wt = w.reshape(G, Og, K).transpose(0, 2, 1)
    pointwise = _is_pointwise(kh, kw, stride, padding)
    nb = N if pointwise else _chunk(N, C * kh * kw * L, gy.itemsize)
    gcol = None if pointwise else cupy.empty((nb, G, K, L), gy.dtype)
    col2im = km.kernel("im2col.cu", "col2im", gy.dtype, "conv2d_backward_data")
    for n0 in range(0, N, nb):
        bn = min(nb, N - n0)
        gyc = gy[n0:n0 + bn].reshape(bn, G, Og, L)
        if pointwise:
            cupy.matmul(wt, gyc, out=gx[n0:n0 + bn].reshape(bn, G, K, L))
            continue
        cols = gcol[:bn]
        cupy.matmul(wt, gyc, out=cols)
        km.launch(col2im, bn * C * H * W, (
            cols, gx[n0:n0 + bn], numpy.int64(bn * C * H * W),
            *_i32(C, H, W, Cg, kh, kw, *stride, *padding, *dilation, Ho, Wo),
            numpy.int64(G * K * L), numpy.int64(K * L), numpy.int64(L)))


def _data_implicit(gy, w, gx, N, C, H, W, O, Cg, kh, kw, Ho, Wo, stride, padding, dilation, G):
    fn = km.kernel("implicit_gemm.cu", "igemm_bwd_data", gy.dtype, "conv2d_backward_data")
    grid = (math.ceil(N * H * W / _BN), math.ceil(Cg / _BM), G)
    fn(grid, (256,), (gy, w, gx,
                      *_dims(N, C, H, W, O, Ho, Wo, kh, kw, stride, padding, dilation, G)))


def conv2d_backward_data(gy, w, x_shape, stride, padding, dilation, groups, algo=None):
    """Gradient w.r.t. the input (also the transposed convolution's forward).

    gy (N,O,Ho,Wo), w (O,C/groups,kh,kw) -> gx (N,C,H,W) with N,C,H,W = x_shape;
    ``algo`` as in :func:`conv2d_forward`.
    """
    op = "conv2d_backward_data"
    stride, padding, dilation = tuple(stride), tuple(padding), tuple(dilation)
    x_shape = tuple(int(s) for s in x_shape)
    dims = _check(op, x_shape, w.shape, stride, padding, dilation, groups, gy.dtype, w.dtype)
    N, C, H, W, O, Cg, kh, kw, Ho, Wo = dims
    km.ctype(gy.dtype, op)
    if gy.shape != (N, O, Ho, Wo):
        raise ValueError(f"{op}: grad_output has shape {gy.shape}, expected {(N, O, Ho, Wo)} "
                         f"for input {x_shape} and weight {w.shape}")
    gy, w = cupy.ascontiguousarray(gy), cupy.ascontiguousarray(w)
    gx = cupy.empty(x_shape, gy.dtype)
    args = (gy, w, gx, *dims, stride, padding, dilation, groups)
    runners = {"gemm": lambda: _data_gemm(*args), "implicit": lambda: _data_implicit(*args)}
    key = (x_shape, w.shape, stride, padding, dilation, groups, gy.dtype.str)
    geom = (N, C, H, W, O, Cg, kh, kw, Ho, Wo, stride, groups)
    runners[_select("backward_data", key, geom, runners, algo, lambda: settings.describe(
        gy.dtype, ("grad_output", gy.shape), ("weight", w.shape), ("input shape", x_shape), stride=stride, padding=padding,
        dilation=dilation, groups=groups))]()
    return gx


# -------------------------------------------------------- backward filter --

def _acc_dtype(dtype):
    return numpy.float32 if dtype == numpy.float16 else dtype


def _filter_gemm(x, gy, gw, N, C, H, W, O, Cg, kh, kw, Ho, Wo, stride, padding, dilation, G):
    K, L, Og = Cg * kh * kw, Ho * Wo, O // G
    pointwise = _is_pointwise(kh, kw, stride, padding)
    nb = _chunk(N, C * kh * kw * L, x.itemsize)
    col = None if pointwise else cupy.empty((G, K, nb * L), x.dtype)
    # float16 chunks are summed in float32 so the batch reduction keeps precision.
    acc = cupy.zeros((G, Og, K), _acc_dtype(x.dtype))
    im2col = km.kernel("im2col.cu", "im2col", x.dtype, "conv2d_backward_filter")
    for n0 in range(0, N, nb):
        bn = min(nb, N - n0)
        # (G, Og, bn*L): the chunk's images join the GEMM reduction.
        gyc = gy[n0:n0 + bn].reshape(bn, G, Og, L).transpose(1, 2, 0, 3).reshape(G, Og, bn * L)
        if pointwise:
            cols = x[n0:n0 + bn].reshape(bn, G, K, L).transpose(1, 2, 0, 3).reshape(G, K, bn * L)
        else:
            # Layout (G, K, bn, L) contiguous; the last, shorter chunk needs its own buffer.
            cols = col if bn == nb else cupy.empty((G, K, bn * L), x.dtype)
            km.launch(im2col, bn * C * L, (
                x[n0:n0 + bn], cols, numpy.int64(bn * C * L),
                *_i32(C, H, W, Cg, kh, kw, *stride, *padding, *dilation, Ho, Wo),
                numpy.int64(L), numpy.int64(K * bn * L), numpy.int64(bn * L)))
        acc += cupy.matmul(gyc, cols.transpose(0, 2, 1))
    gw[...] = acc.reshape(gw.shape)


def _filter_implicit(x, gy, gw, N, C, H, W, O, Cg, kh, kw, Ho, Wo, stride, padding, dilation,
                     G):
    fn = km.kernel("implicit_gemm.cu", "igemm_bwd_filter", x.dtype, "conv2d_backward_filter")
    Og, Kf, R = O // G, Cg * kh * kw, N * Ho * Wo
    tiles = math.ceil(Kf / _BN) * math.ceil(Og / _BM) * G
    sms = cupy.cuda.Device().attributes["MultiProcessorCount"]
    # Enough blocks for ~4 waves, each split still reducing >= 32 BK slices.
    splits = max(1, min(math.ceil(4 * sms / tiles), R // (32 * _BK), 65535 // G))
    chunk = math.ceil(math.ceil(R / splits) / _BK) * _BK
    splits = math.ceil(R / chunk)
    ws = cupy.empty((splits, G, Og, Kf), _acc_dtype(x.dtype))
    grid = (math.ceil(Kf / _BN), math.ceil(Og / _BM), G * splits)
    fn(grid, (256,), (x, gy, ws,
                      *_dims(N, C, H, W, O, Ho, Wo, kh, kw, stride, padding, dilation, G),
                      numpy.int32(splits), numpy.int32(chunk)))
    total = ws[0] if splits == 1 else ws.sum(axis=0)
    gw[...] = total.reshape(gw.shape)


def conv2d_backward_filter(x, gy, w_shape, stride, padding, dilation, groups, algo=None):
    """Gradient w.r.t. the filter: x (N,C,H,W), gy (N,O,Ho,Wo) -> gw of w_shape (O,C/groups,kh,kw);
    ``algo`` as in :func:`conv2d_forward`."""
    op = "conv2d_backward_filter"
    stride, padding, dilation = tuple(stride), tuple(padding), tuple(dilation)
    w_shape = tuple(int(s) for s in w_shape)
    dims = _check(op, x.shape, w_shape, stride, padding, dilation, groups, x.dtype, gy.dtype)
    N, C, H, W, O, Cg, kh, kw, Ho, Wo = dims
    km.ctype(x.dtype, op)
    if gy.shape != (N, O, Ho, Wo):
        raise ValueError(f"{op}: grad_output has shape {gy.shape}, expected {(N, O, Ho, Wo)} "
                         f"for input {x.shape} and weight {w_shape}")
    x, gy = cupy.ascontiguousarray(x), cupy.ascontiguousarray(gy)
    gw = cupy.empty(w_shape, x.dtype)
    args = (x, gy, gw, *dims, stride, padding, dilation, groups)
    runners = {"gemm": lambda: _filter_gemm(*args), "implicit": lambda: _filter_implicit(*args)}
    key = (x.shape, w_shape, stride, padding, dilation, groups, x.dtype.str)
    geom = (N, C, H, W, O, Cg, kh, kw, Ho, Wo, stride, groups)
    runners[_select("backward_filter", key, geom, runners, algo, lambda: settings.describe(
        x.dtype, ("input", x.shape), ("grad_output", gy.shape), ("weight shape", w_shape), stride=stride, padding=padding,
        dilation=dilation, groups=groups))]()
    return gw
