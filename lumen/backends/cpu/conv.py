"""2-D convolution on NumPy: im2col through strided views, then BLAS.

Layouts are chosen so that every GEMM reads and writes contiguous memory:
forward builds columns as (N, C*kh*kw, Ho*Wo) so ``w @ cols`` writes NCHW
directly; backward-filter builds them as (C*kh*kw, N*Ho*Wo) so the batch
folds into the GEMM's inner dimension (one GEMM per group, no batch loop).
Arrays keep their dtype: float32 stays float32, float64 stays float64.

Stride-1 ungrouped convolutions may instead run as an implicit GEMM (``implicit.py``: kh*kw
shifted GEMMs, no column matrix), and the 3x3 ones as Winograd F(2x2,3x3) or F(4x4,3x3)
(``winograd.py``, in all three directions); strided ungrouped ones with dilation 1 (a transposed
convolution's forward is their backward-data) as one stride-1 convolution over the input's
stride phases (``phase.py``); stride-1 ones with dilation 1, grouped or not, as the direct C kernel
(``direct.py``, where a C compiler is found), which wins on up to 128 channels per group. Which one
runs is set by ``lumen.backends.conv`` (``benchmark``, ``deterministic``, ``algorithm``: a heuristic
per layer shape, timing, or one forced); the names are ``ALGORITHMS``. All six are deterministic:
every GEMM splits its output, never its reduction, over the threads (``lumen.backends.conv.CPU``
says why for each), so repeated calls give bit-identical results for one thread count. Every GEMM
goes through ``blas.py``. Column matrices larger than ``_CHUNK_BYTES`` are built in bands of output
rows, so memory stays bounded on large images.
"""
from __future__ import annotations

import threading
import time

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import conv as settings
from . import blas, direct, implicit, parallel, phase, winograd

# Column buffers are reused between calls (like cuDNN's workspace): a fresh
# buffer of this size costs page faults comparable to the im2col copy itself.
_WORKSPACE_MAX_BYTES = 256 << 20
_CHUNK_BYTES = 64 << 20
_local = threading.local()


def _workspace(shape, dtype, slot="cols"):
    """An uninitialised array of ``shape`` in this thread's reusable buffer ``slot`` (fresh if too big)."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if nbytes > _WORKSPACE_MAX_BYTES:
        return np.empty(shape, dtype)
    bufs = getattr(_local, "bufs", None)
    if bufs is None:
        bufs = _local.bufs = {}
    buf = bufs.get(slot)
    if buf is None or buf.nbytes < nbytes:
        buf = bufs[slot] = np.empty(nbytes, np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def _describe(name, a):
    return f"{name} {tuple(a.shape)} {a.dtype}"


def _check_pairs(op, **pairs):
    for key, value in pairs.items():
        if len(value) != 2:
            raise ValueError(f"{op}: {key} must be an (h, w) pair of ints, got {value!r}")
    for key in ("stride", "dilation"):
        if key in pairs and min(pairs[key]) < 1:
            raise ValueError(f"{op}: {key} must be >= 1, got {pairs[key]!r}")
    if "padding" in pairs and min(pairs["padding"]) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {pairs['padding']!r}")


def _check_float(op, *named):
    dtypes = {a.dtype for _, a in named}
    if len(dtypes) != 1 or not np.issubdtype(next(iter(dtypes)), np.floating):
        desc = ", ".join(_describe(n, a) for n, a in named)
        raise TypeError(f"{op}: expected arrays of one floating dtype, got {desc}")


def _check_geometry(op, x_shape, w_shape, groups, stride, padding, dilation):
    """Validate a convolution and return (Ho, Wo)."""
    _check_pairs(op, stride=stride, padding=padding, dilation=dilation)
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"{op}: expected input (N,C,H,W) and weight (O,C/groups,kh,kw), "
                         f"got input {tuple(x_shape)} and weight {tuple(w_shape)}")
    n, c, h, w = x_shape
    o, cg, kh, kw = w_shape
    if groups < 1 or c % groups or o % groups or cg * groups != c:
        raise ValueError(f"{op}: input {tuple(x_shape)} and weight {tuple(w_shape)} with groups={groups}: "
                         f"expected C ({c}) == weight.shape[1] ({cg}) * groups and O ({o}) divisible by groups")
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"{op}: input {tuple(x_shape)} is smaller than the dilated kernel {(kh, kw)} "
                         f"(padding={tuple(padding)}, dilation={tuple(dilation)}): output would be {(ho, wo)}")
    return ho, wo


def _is_pointwise(w_shape, padding):
    return w_shape[2] == 1 and w_shape[3] == 1 and padding[0] == 0 and padding[1] == 0


def _pad(x, padding):
    """x zero-padded on H and W; only the border strips are zeroed, the interior is copied once."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = np.empty((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, :ph] = 0
    xp[:, :, ph + h:] = 0
    xp[:, :, ph:ph + h, :pw] = 0
    xp[:, :, ph:ph + h, pw + w:] = 0
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _windows(xp, kh, kw, out_hw, stride, dilation):
    """Read-only view (N, C, kh, kw, Ho, Wo) of the padded input xp: element [n,c,i,j,a,b]
    is xp[n, c, a*sh + i*dh, b*sw + j*dw]."""
    n, c = xp.shape[:2]
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, shape=(n, c, kh, kw) + tuple(out_hw),
                      strides=(s_n, s_c, dilation[0] * s_h, dilation[1] * s_w,
                               stride[0] * s_h, stride[1] * s_w),
                      writeable=False)


def _chunks(n, ho, per_row_elements, itemsize):
    """(n0, n1, r0, r1): samples [n0, n1) x output rows [r0, r1) whose column matrix fits
    _CHUNK_BYTES. Whole samples are grouped while one fits (usually a single chunk); a larger
    image is cut into bands of output rows, so that e.g. FCN's 700x700 first layers never hold
    a gigabyte of columns at once."""
    rows = max(1, _CHUNK_BYTES // max(1, per_row_elements * itemsize))
    if rows >= ho:
        step = max(1, rows // ho)
        return [(n0, min(n, n0 + step), 0, ho) for n0 in range(0, n, step)]
    return [(i, i + 1, r0, min(ho, r0 + rows)) for i in range(n) for r0 in range(0, ho, rows)]


ALGORITHMS = settings.CPU.names


def _algorithms(dtype, w_shape, stride, dilation, groups):
    """The algorithms that can run a forward convolution of this shape; im2col runs every one."""
    names = ["im2col"]
    if groups == 1 and stride == (1, 1):
        if dtype in implicit.DTYPES:
            names.append("implicit")
        if w_shape[2:] == (3, 3) and dilation == (1, 1):
            names += ["winograd2", "winograd4"]
    # At stride 1 the phase decomposition is implicit's forward and im2col's single GEMM for backward-data.
    if groups == 1 and dilation == (1, 1) and dtype in phase.DTYPES:
        names.append("phase")
    # Another algorithm forced: the direct kernel is not built (its first use compiles it).
    if stride == dilation == (1, 1) and dtype in direct.DTYPES and settings.algorithm in (None, "direct"):
        if direct.available(dtype):
            names.append("direct")
        elif settings.algorithm == "direct":
            raise RuntimeError(f"conv2d: the forced algorithm 'direct' is unavailable: "
                               f"{direct.unavailable_reason(dtype)}")
    return tuple(names)


def _heuristic(candidates, n, c, o, ho, wo, op="fwd", pointwise=False, kernel=(1, 1), stride=(1, 1),
               dtype=np.float32):
    """The algorithm for a layer of c -> o channels per group, of ``dtype``."""
    # A 1x1 unpadded convolution is one GEMM on the input as it lies, which nothing beats.
    # Measured on this 2-core AVX-512 machine with every GEMM on Lumen's threads (benchmarks/NOTES.md,
    # rows 11-14): F(2x2,3x3) wins from 256 channels on maps of at least 14x14 (by up to 25%); the
    # implicit GEMM wins by 5-10% on large maps with fewer channels (20-40% on 64-128 channels at
    # 56x56-64x64, issue 22, NOTES row 26); im2col's single long GEMM wins
    # on small maps, with few channels (VGG's conv1_1) and for big kernels on small maps (FCN's fc6),
    # and ties or wins every backward-filter but those with 512 channels over >= 8x14x14 output pixels,
    # where F(2x2)'s (K = tiles) wins by ~5-15% (issue 22, NOTES row 20). F(4x4,3x3) loses to F(2x2)
    # everywhere here.
    # Strided layers (benchmarks/NOTES.md, issue 22): the phase decomposition wins where its sub-kernels
    # waste few taps (every FCN deconvolution, k4/s2: up to 16x on a transposed convolution's forward,
    # 1.0-2.5x on the other two directions); where padding the kernel to a multiple of the stride adds
    # taps (k3/s2: 16 for 9, AlexNet's k11/s4: 144 for 121) im2col's single GEMM wins.
    # The direct C kernel (benchmarks/NOTES.md row 31, AVX-512) beats every GEMM algorithm 1.2-9x on forward
    # and backward-data up to 128 channels (it computes blocks of 8 output channels, so it loses where the
    # output has fewer and the input many: conv1_1's backward-data), and on backward-filter up to
    # C*O = 512 with >= 8 outputs (its 64-channel filter gradients run at half im2col's speed).
    # With AVX2's 16 registers (a 2-core AMD EPYC, NOTES row 39) it computes 6 channels at a time at about
    # 40 % of the FMA peak: it still wins on small maps (the main job's narrow nets, AlexNet's conv2) and up
    # to 32 channels, but from 112x112 output pixels F(2x2,3x3) wins on 64 channels and more (VGG16's
    # conv1_2 to conv3_1), and im2col on conv1_1.
    pixels = n * ho * wo
    if pointwise:
        return "im2col"
    narrow_registers = "direct" in candidates and direct.vector_bytes(dtype) < 64
    if "direct" in candidates and (op != "bwd_filter" and max(c, o) <= 128 and (o >= 8 or c <= 16)
                                   and not (narrow_registers and max(c, o) > 32 and pixels >= 112 * 112)
                                   or op == "bwd_filter" and c * o <= 512 and o >= 8):
        return "direct"
    if narrow_registers and "winograd2" in candidates and op != "bwd_filter" and min(c, o) >= 64 and \
            ho * wo >= 56 * 56:
        return "winograd2"
    if "phase" in candidates and stride != (1, 1):
        (kh, kw), (sh, sw) = kernel, stride
        padded_taps = -(-kh // sh) * sh * -(-kw // sw) * sw
        return "phase" if padded_taps <= 1.1 * kh * kw else "im2col"
    if "winograd2" in candidates and op != "bwd_filter" and min(c, o) >= 256 and ho * wo >= 14 * 14 and pixels >= 1024:
        return "winograd2"
    if "winograd2" in candidates and op == "bwd_filter" and min(c, o) >= 512 and ho * wo >= 14 * 14 and pixels >= 1568:
        return "winograd2"
    if "implicit" in candidates and op != "bwd_filter" and min(c, o) >= 32 and \
            pixels >= (2048 if np.prod(kernel) <= 9 else 8192):
        return "implicit"
    return "im2col"


def _timer(run):
    """time(name) for benchmark mode: seconds of one run(name) after a warm-up run (workspace
    growth, page faults)."""
    def time_one(name):
        run(name)
        start = time.perf_counter()
        run(name)
        return time.perf_counter() - start
    return time_one


def _winograd_workspace(slot, shape, dtype):
    return _workspace(shape, dtype, ("winograd", slot))


def _phase_workspace(slot, shape, dtype):
    return _workspace(shape, dtype, ("phase", slot))


def _winograd(x, w, m, padding, b=None):
    return winograd.conv3x3(x, winograd.transform_filter(w, m), m, padding, _winograd_workspace,
                            parallel.over_range, b)


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y = conv2d(x, w) + b.

    x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) or None, all one float dtype
    -> y (N, O, Ho, Wo) of that dtype.
    """
    op = "conv2d_forward"
    _check_float(op, ("input", x), ("weight", w), *((("bias", b),) if b is not None else ()))
    ho, wo = _check_geometry(op, x.shape, w.shape, groups, stride, padding, dilation)
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"{op}: bias {tuple(b.shape)} does not match weight {tuple(w.shape)}: "
                         f"expected ({w.shape[0]},)")
    n, c = x.shape[:2]
    o = w.shape[0]
    algo = settings.CPU.choose(
        "forward", (x.shape, w.shape, stride, padding, dilation, groups, x.dtype),
        _algorithms(x.dtype, w.shape, stride, dilation, groups),
        lambda names: _heuristic(names, n, c // groups, o // groups, ho, wo, pointwise=_is_pointwise(w.shape, padding),
                                 kernel=w.shape[2:], stride=stride, dtype=x.dtype),
        _timer(lambda a: _forward_by(a, x, w, b, stride, padding, dilation, groups, ho, wo)),
        lambda: settings.describe(x.dtype, ("input", x.shape), ("weight", w.shape), stride=stride,
                                  padding=padding, dilation=dilation, groups=groups))
    return _forward_by(algo, x, w, b, stride, padding, dilation, groups, ho, wo)


def _forward_by(algo, x, w, b, stride, padding, dilation, groups, ho, wo):
    if algo == "direct":
        return direct.forward(x, w, b, padding, groups)
    if algo == "implicit":
        return implicit.forward(x, w, b, padding, dilation)
    if algo == "phase":
        return phase.forward(x, w, b, stride, padding, (ho, wo))
    if algo == "im2col":
        return _im2col_forward(x, w, b, stride, padding, dilation, groups, ho, wo)
    return _winograd(x, w, 2 if algo == "winograd2" else 4, padding, b)


def _im2col_forward(x, w, b, stride, padding, dilation, groups, ho, wo):
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    og = o // groups
    wg = w.reshape(groups, og, cg * kh * kw)
    y = np.empty((n, groups, og, ho * wo), dtype=x.dtype)
    # The bias goes in before the GEMMs, which then accumulate onto it: with beta = 0 OpenBLAS
    # zero-fills the output in a pass of its own, so the bias costs no pass (benchmarks/NOTES.md row 21).
    beta = 0.0
    if b is not None:
        parallel.over_range(lambda o0, o1: np.copyto(y[:, :, o0:o1], b.reshape(groups, og, 1)[:, o0:o1]),
                            og, y.size)
        beta = 1.0
    if _is_pointwise(w.shape, padding):
        # A 1x1 unpadded convolution is a plain matmul on the (strided) pixels.
        if stride != (1, 1):
            x = x[:, :, ::stride[0], ::stride[1]]
        blas.matmul(wg, np.ascontiguousarray(x).reshape(n, groups, cg, ho * wo), out=y, beta=beta)
    else:
        xp = _pad(x, padding)
        yr = y.reshape(n, groups, og, ho * wo)
        for n0, n1, r0, r1 in _chunks(n, ho, cg * groups * kh * kw * wo, x.dtype.itemsize):
            cols = _workspace((n1 - n0, groups * cg, kh, kw, r1 - r0, wo), x.dtype)
            view = _windows(xp[n0:n1, :, r0 * stride[0]:], kh, kw, (r1 - r0, wo), stride, dilation)
            parallel.over_range(lambda c0, c1: np.copyto(cols[:, c0:c1], view[:, c0:c1]), groups * cg, cols.size)
            blas.matmul(wg, cols.reshape(n1 - n0, groups, cg * kh * kw, (r1 - r0) * wo),
                        out=yr[n0:n1, :, :, r0 * wo:r1 * wo], beta=beta)
    return y.reshape(n, o, ho, wo)


def conv2d_backward_data(gy, w, x_shape, stride, padding, dilation, groups):
    """Gradient of conv2d w.r.t. its input, also the forward of a transposed convolution.

    gy (N, O, Ho, Wo), w (O, C/groups, kh, kw) -> gx (N, C, H, W) with (N, C, H, W) = x_shape.
    H and W may exceed what (Ho, Wo) implies (transposed convolution with output_padding):
    rows and columns that no window reaches get zero.
    """
    op = "conv2d_backward_data"
    _check_float(op, ("grad_output", gy), ("weight", w))
    x_shape = tuple(int(s) for s in x_shape)
    _check_pairs(op, stride=stride, padding=padding, dilation=dilation)
    if gy.ndim != 4 or len(x_shape) != 4 or gy.shape[0] != x_shape[0] or gy.shape[1] != w.shape[0]:
        raise ValueError(f"{op}: grad_output {tuple(gy.shape)}, weight {tuple(w.shape)} and input shape "
                         f"{x_shape}: expected grad_output (N, O, Ho, Wo) with N == input N and O == weight O")
    _check_geometry(op, x_shape, w.shape, groups, stride, padding, dilation)
    n, c, h, wd = x_shape
    o, _, kh, kw = w.shape
    _, _, ho, wo = gy.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    if (ho - 1) * sh + dh * (kh - 1) + 1 > h + 2 * ph or (wo - 1) * sw + dw * (kw - 1) + 1 > wd + 2 * pw:
        raise ValueError(f"{op}: grad_output {tuple(gy.shape)} has more positions than input shape {x_shape} "
                         f"allows with weight {tuple(w.shape)}, stride={tuple(stride)}, "
                         f"padding={tuple(padding)}, dilation={tuple(dilation)}")
    # Stride 1 with no output_padding: the input gradient is the forward convolution of gy with
    # the flipped, transposed kernel, padded by d(k-1) - p, which every algorithm can run; a strided
    # one is also open to the phase split (which handles output_padding itself).
    full = (dh * (kh - 1) - ph, dw * (kw - 1) - pw)
    if (ho, wo) == (h + 2 * ph - dh * (kh - 1), wd + 2 * pw - dw * (kw - 1)) or stride != (1, 1):
        candidates = _algorithms(gy.dtype, w.shape, stride, dilation, groups)
    else:
        candidates = ("im2col",)
    algo = settings.CPU.choose(
        "backward_data", (gy.shape, w.shape, x_shape, stride, padding, dilation, groups, gy.dtype), candidates,
        lambda names: _heuristic(names, n, o // groups, c // groups, h, wd, pointwise=_is_pointwise(w.shape, padding),
                                 kernel=w.shape[2:], stride=stride, dtype=gy.dtype),
        _timer(lambda a: _backward_data_by(a, gy, w, x_shape, stride, padding, dilation, groups, full)),
        lambda: settings.describe(gy.dtype, ("grad_output", gy.shape), ("weight", w.shape),
                                  ("input shape", x_shape), stride=stride, padding=padding, dilation=dilation,
                                  groups=groups))
    return _backward_data_by(algo, gy, w, x_shape, stride, padding, dilation, groups, full)


def _backward_data_by(algo, gy, w, x_shape, stride, padding, dilation, groups, full):
    if algo == "im2col":
        return _col2im_backward_data(gy, w, x_shape, stride, padding, dilation, groups)
    if algo == "phase":
        return phase.backward_data(gy, w, x_shape, stride, padding, _phase_workspace)
    o, cg, kh, kw = w.shape
    # Each group's kernel flipped and transposed: (C, O/groups, kh, kw), group by group.
    wf = np.ascontiguousarray(w[:, :, ::-1, ::-1].reshape(groups, o // groups, cg, kh, kw).transpose(0, 2, 1, 3, 4)
                              ).reshape(groups * cg, o // groups, kh, kw)
    # A negative padding of that forward convolution (p > d(k-1)) is a crop of gy.
    crop_h, crop_w = max(0, -full[0]), max(0, -full[1])
    gy = gy[:, :, crop_h:gy.shape[2] - crop_h, crop_w:gy.shape[3] - crop_w]
    full = (max(0, full[0]), max(0, full[1]))
    if algo == "direct":
        return direct.forward(gy, wf, None, full, groups)
    if algo == "implicit":
        return implicit.forward(gy, wf, None, full, dilation)
    return _winograd(gy, wf, 2 if algo == "winograd2" else 4, full)


def _col2im_backward_data(gy, w, x_shape, stride, padding, dilation, groups):
    n, c, h, wd = x_shape
    o, cg, kh, kw = w.shape
    og = o // groups
    _, _, ho, wo = gy.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    gyr = np.ascontiguousarray(gy).reshape(n, groups, og, ho * wo)
    wt = w.reshape(groups, og, cg * kh * kw).transpose(0, 2, 1)
    if _is_pointwise(w.shape, padding) and stride == (1, 1) and (ho, wo) == (h, wd):
        return blas.matmul(wt, gyr).reshape(n, c, h, wd)
    gx = np.zeros(x_shape, dtype=gy.dtype)
    # col2im: one strided add per kernel offset, each clipped to the output
    # positions whose input pixel lies inside the (unpadded) image.
    rows = [(i,) + _clip(i * dh - ph, sh, ho, h) for i in range(kh)]
    cols = [(j,) + _clip(j * dw - pw, sw, wo, wd) for j in range(kw)]
    taps = [(i, r0, a0, a1, j, q0, b0, b1) for i, r0, a0, a1 in rows if a1 > a0 for j, q0, b0, b1 in cols if b1 > b0]
    for n0, n1, g0, g1 in _chunks(n, ho, c * kh * kw * wo, gy.dtype.itemsize):
        gcols = _workspace((n1 - n0, groups, cg * kh * kw, (g1 - g0) * wo), gy.dtype)
        blas.matmul(wt, gyr[n0:n1, :, :, g0 * wo:g1 * wo], out=gcols)
        gcols = gcols.reshape(n1 - n0, c, kh, kw, g1 - g0, wo)
        gxb = gx[n0:n1]
        # This chunk holds output rows [g0, g1): each tap's row range is cut to them.
        band = [(i, r0 + (max(a0, g0) - a0) * sh, max(a0, g0) - g0, min(a1, g1) - g0, j, q0, b0, b1)
                for i, r0, a0, a1, j, q0, b0, b1 in taps if min(a1, g1) > max(a0, g0)]

        def col2im(ch0, ch1, gcols=gcols, gxb=gxb, band=band):
            for i, r0, a0, a1, j, q0, b0, b1 in band:
                gxb[:, ch0:ch1, r0:r0 + (a1 - a0 - 1) * sh + 1:sh, q0:q0 + (b1 - b0 - 1) * sw + 1:sw] += \
                    gcols[:, ch0:ch1, i, j, a0:a1, b0:b1]

        parallel.over_range(col2im, c, gcols.size)
    return gx


def _clip(offset, stride, n_out, size):
    """Output positions a in [a0, a1) whose input position a*stride + offset is in [0, size),
    and the first such input position."""
    a0 = max(0, -(offset // stride)) if offset < 0 else 0
    a1 = min(n_out, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    return a0 * stride + offset, a0, a1


def conv2d_backward_filter(x, gy, w_shape, stride, padding, dilation, groups):
    """Gradient of conv2d w.r.t. its filter.

    x (N, C, H, W), gy (N, O, Ho, Wo) -> gw with shape w_shape = (O, C/groups, kh, kw).
    """
    op = "conv2d_backward_filter"
    _check_float(op, ("input", x), ("grad_output", gy))
    w_shape = tuple(int(s) for s in w_shape)
    ho, wo = _check_geometry(op, x.shape, w_shape, groups, stride, padding, dilation)
    n, o = x.shape[0], w_shape[0]
    if gy.shape != (n, o, ho, wo):
        raise ValueError(f"{op}: grad_output {tuple(gy.shape)} does not match input {tuple(x.shape)} and "
                         f"weight {w_shape}: expected {(n, o, ho, wo)}")
    if n == 0:  # no image to sum over (the GEMM paths would return their uninitialised buffers)
        return np.zeros(w_shape, x.dtype)
    implemented = settings.CPU.directions["backward_filter"]
    candidates = tuple(a for a in _algorithms(x.dtype, w_shape, stride, dilation, groups) if a in implemented)
    algo = settings.CPU.choose(
        "backward_filter", (x.shape, w_shape, stride, padding, dilation, groups, x.dtype), candidates,
        lambda names: _heuristic(names, n, x.shape[1] // groups, o // groups, ho, wo, "bwd_filter",
                                 _is_pointwise(w_shape, padding),
                                 w_shape[2:], stride, x.dtype),
        _timer(lambda a: _backward_filter_by(a, x, gy, w_shape, stride, padding, dilation, groups)),
        lambda: settings.describe(x.dtype, ("input", x.shape), ("grad_output", gy.shape),
                                  ("weight shape", w_shape), stride=stride, padding=padding, dilation=dilation,
                                  groups=groups))
    return _backward_filter_by(algo, x, gy, w_shape, stride, padding, dilation, groups)


def _backward_filter_by(algo, x, gy, w_shape, stride, padding, dilation, groups):
    if algo == "direct":
        return direct.backward_filter(x, gy, w_shape, padding, groups)
    if algo == "implicit":
        return implicit.backward_filter(x, gy, w_shape, padding, dilation)
    if algo == "phase":
        return phase.backward_filter(x, gy, w_shape, stride, padding)
    if algo in ("winograd2", "winograd4"):
        return winograd.filter_gradient(x, gy, 2 if algo == "winograd2" else 4, padding, _winograd_workspace,
                                        parallel.over_range)
    n, c = x.shape[:2]
    o, cg, kh, kw = w_shape
    og = o // groups
    ho, wo = gy.shape[2:]
    gyr = gy.reshape(n, groups, og, ho * wo)
    if _is_pointwise(w_shape, padding):
        if stride != (1, 1):
            x = x[:, :, ::stride[0], ::stride[1]]
        cols = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(groups, cg, n * ho * wo)
        gyt = np.ascontiguousarray(gyr.transpose(1, 2, 0, 3)).reshape(groups, og, n * ho * wo)
        return blas.matmul(gyt, cols.transpose(0, 2, 1)).reshape(w_shape)
    xp = _pad(x, padding)
    # The transposed product gw^T = cols @ gy^T (C*kh*kw as BLAS's M) ran 1.1-1.4x faster than
    # gy @ cols^T with up to 256 output channels over many pixels, and up to 2x slower with 512
    # channels on 14x14-16x16 maps (benchmarks/NOTES.md row 25).
    transposed = og <= 256 <= cg * kh * kw and n * ho * wo >= 2048
    gw = np.empty((groups, cg * kh * kw, og) if transposed else (groups, og, cg * kh * kw), x.dtype)
    for k, (n0, n1, r0, r1) in enumerate(_chunks(n, ho, c * kh * kw * wo, x.dtype.itemsize)):
        nb, rb = n1 - n0, r1 - r0
        # Columns as (C, kh, kw, N, rows, Wo): the batch joins the GEMM's K dimension.
        cols = _workspace((c, kh, kw, nb, rb, wo), x.dtype)
        view = _windows(xp[n0:n1, :, r0 * stride[0]:], kh, kw, (rb, wo), stride, dilation)
        view = view.transpose(1, 2, 3, 0, 4, 5)
        parallel.over_range(lambda c0, c1: np.copyto(cols[c0:c1], view[c0:c1]), c, cols.size)
        gyt = np.ascontiguousarray(gyr[n0:n1, :, :, r0 * wo:r1 * wo].transpose(1, 2, 0, 3))
        gy_k = gyt.reshape(groups, og, nb * rb * wo)
        cols_k = cols.reshape(groups, cg * kh * kw, nb * rb * wo)
        a, b = (cols_k, gy_k) if transposed else (gy_k, cols_k)
        blas.matmul(a, b.transpose(0, 2, 1), out=gw, beta=1.0 if k else 0.0)
    return np.ascontiguousarray(gw.transpose(0, 2, 1) if transposed else gw).reshape(w_shape)
