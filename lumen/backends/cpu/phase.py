"""Strided convolutions by phase decomposition: one stride-1 convolution over the input's phases.

A stride-s convolution reads input row a*s + i for output row a and kernel tap i. With the tap
written i = s*u + r (r < s, u < ku = ceil(k/s)), that row is s*(a + u) + r: row a + u of the
input's phase r (its rows r, r + s, r + 2s, ...). So the convolution is one stride-1 convolution
with ku x ku taps over the input's sh*sw phases stacked as channels (space-to-depth), phase
(rh, rw) of channel c weighted by the sub-kernel w[:, c, rh::sh, rw::sw] (zero-padded to ku taps;
phases r >= k, which no tap reads, are left out):

- forward: the implicit GEMM (``implicit.forward_grid``) on that phase grid, which one transposing
  copy of the padded input builds; im2col would copy every input pixel (k/s)^2 times into columns;
- backward-filter: ``implicit.backward_filter_grid`` on the same grid, the sub-kernels' gradients
  interleaved back into the kh x kw kernel;
- backward-data (a transposed convolution's forward): the output's phase (rh, rw) is the full
  stride-1 correlation of gy with that phase's flipped sub-kernel, so all phases are one GEMM
  (pixels, O*ku*ku) @ (O*ku*ku, C*sh*sw) over a ku*ku-tap im2col of the small gy, written pixel-major
  so that interleaving it into the output reads runs of sw contiguous values. GEMM + col2im writes
  C*kh*kw values per input pixel instead and adds them back in kh*kw strided passes, one NumPy call
  per tap (4096 for FCN's k64/s32).

Dilation 1 and one group only; every GEMM goes through ``blas.py`` (deterministic: each output
element summed in one fixed order for a given thread count).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import blas, implicit, parallel

DTYPES = blas.DTYPES
# backward-data's phase outputs are built this many bytes of samples at a time (as im2col's columns).
_CHUNK_BYTES = 64 << 20
# Up to this many phases, interleaving them into the output as one copy each beats one copy of all
# (whose innermost runs are only nw values long): measured 3.5x at stride 2, even at stride 4.
_FEW_PHASES = 9


def _taps(kernel, stride):
    """(ku, phases): sub-kernel taps ceil(k/s) and the phases r < min(s, k) that some tap reads, per axis."""
    return tuple(-(-k // s) for k, s in zip(kernel, stride)), tuple(min(k, s) for k, s in zip(kernel, stride))


def _sub_kernels(w, stride):
    """w (O, C, kh, kw) -> view (O, C, uh, nh, uw, nw) with [o, c, u, rh, v, rw] = w[o, c, sh*u + rh, sw*v + rw],
    zero past the kernel; uh, uw the sub-kernel taps, nh, nw the phases some tap reads. Each caller
    copies it into the order its GEMMs read, runs of nw values staying contiguous."""
    o, c, kh, kw = w.shape
    (sh, sw), ((uh, uw), (nh, nw)) = stride, _taps((kh, kw), stride)
    if (kh, kw) == (uh * sh, uw * sw):
        padded = w
    else:
        padded = np.zeros((o, c, uh * sh, uw * sw), w.dtype)
        padded[:, :, :kh, :kw] = w
    return padded.reshape(o, c, uh, sh, uw, sw)[:, :, :, :nh, :, :nw]


def _phase_grid(x, stride, padding, phases, rows, cols):
    """The phases of x zero-padded by ``padding`` as an implicit-GEMM grid (C*nh*nw, N, rows, cols):
    [(c, rh, rw), n, m, q] = padded x[n, c, sh*m + rh, sw*q + rw], zero outside x."""
    n, c, h, w = x.shape
    (sh, sw), (ph, pw), (nh, nw) = stride, padding, phases
    eh, ew = rows * sh, cols * sw  # the padded extent the grid covers
    hh, ww = max(0, min(h, eh - ph)), max(0, min(w, ew - pw))  # the rows and columns of x inside it
    padded = ph or pw or hh < eh or ww < ew
    g = np.empty((c, nh, nw, n, rows, cols), x.dtype)

    def channels(c0, c1):
        if padded:
            part = np.zeros((n, c1 - c0, eh, ew), x.dtype)
            part[:, :, ph:ph + hh, pw:pw + ww] = x[:, c0:c1, :hh, :ww]
        else:
            part = x[:, c0:c1, :eh, :ew]
        phased = part.reshape(n, c1 - c0, rows, sh, cols, sw)[:, :, :, :nh, :, :nw]
        np.copyto(g[c0:c1], phased.transpose(1, 3, 5, 0, 2, 4))

    parallel.over_range(channels, c, g.size)
    return g.reshape(c * nh * nw, n, rows, cols)


def forward(x, w, b, stride, padding, out_hw):
    """Strided cross-correlation plus bias: x (N, C, H, W), w (O, C, kh, kw), b (O,) or None
    -> (N, O) + out_hw, one dtype in ``DTYPES``."""
    o, c = w.shape[:2]
    (uh, uw), phases = _taps(w.shape[2:], stride)
    g = _phase_grid(x, stride, padding, phases, out_hw[0] + uh - 1, out_hw[1] + uw - 1)
    taps = np.ascontiguousarray(_sub_kernels(w, stride).transpose(2, 4, 0, 1, 3, 5)).reshape(uh, uw, o, g.shape[0])
    return implicit.forward_grid(g, taps, b, (1, 1))


def backward_filter(x, gy, w_shape, stride, padding):
    """Gradient of ``forward`` w.r.t. its filter: x (N, C, H, W), gy (N, O, Ho, Wo) -> ``w_shape`` (O, C, kh, kw)."""
    o, c, kh, kw = w_shape
    (sh, sw), ((uh, uw), (nh, nw)) = stride, _taps((kh, kw), stride)
    ho, wo = gy.shape[2:]
    g = _phase_grid(x, stride, padding, (nh, nw), ho + uh - 1, wo + uw - 1)
    gsub = implicit.backward_filter_grid(g, gy, (o, g.shape[0], uh, uw), (1, 1))
    gw = np.empty((o, c, uh, sh, uw, sw), x.dtype)
    if (nh, nw) != (sh, sw):
        gw[:, :, :, nh:] = 0
        gw[:, :, :, :, :, nw:] = 0
    np.copyto(gw[:, :, :, :nh, :, :nw], gsub.reshape(uh, uw, o, c, nh, nw).transpose(2, 3, 0, 4, 1, 5))
    gw = gw.reshape(o, c, uh * sh, uw * sw)
    return gw if (kh, kw) == gw.shape[2:] else np.ascontiguousarray(gw[:, :, :kh, :kw])


def backward_data(gy, w, x_shape, stride, padding, workspace):
    """Gradient of ``forward`` w.r.t. its input, a transposed convolution's forward: gy (N, O, Ho, Wo),
    w (O, C, kh, kw) -> (N, C, H, W) = x_shape; rows and columns no window reaches are zero.

    workspace(slot, shape, dtype) -> a reusable uninitialised array. Samples are taken in chunks whose
    temporaries (the columns over gy, its padded grid, the phase outputs and their padded interleaving) fit
    _CHUNK_BYTES, so they stay bounded whatever the batch."""
    n, c = x_shape[:2]
    o, _, kh, kw = w.shape
    _, _, ho, wo = gy.shape
    (uh, uw), (nh, nw) = _taps((kh, kw), stride)
    jh, jw = ho + uh - 1, wo + uw - 1  # the phase rows and columns some sub-kernel tap reaches
    # Tap (i, j) of the columns below meets sub-kernel tap (uh-1-i, uw-1-j): the flipped sub-kernels.
    flipped = _sub_kernels(w, stride)[:, :, ::-1, :, ::-1].transpose(0, 2, 4, 1, 3, 5)
    taps = np.ascontiguousarray(flipped).reshape(o * uh * uw, c * nh * nw)
    gx = np.empty(x_shape, gy.dtype)
    per_sample = (o * uh * uw * jh * jw + o * (jh + uh - 1) * (jw + uw - 1)
                  + 2 * c * nh * nw * jh * jw) * gy.itemsize
    step = max(1, _CHUNK_BYTES // max(1, per_sample))
    for n0 in range(0, n, step):
        _backward_data_chunk(gy[n0:n0 + step], taps, gx[n0:n0 + step], stride, padding, (uh, uw), (nh, nw),
                             workspace)
    return gx


def _backward_data_chunk(gy, taps, gx, stride, padding, ku, phases, workspace):
    """backward_data of a few samples, written into gx (their slice of the output)."""
    n, c, h, wd = gx.shape
    _, o, ho, wo = gy.shape
    (sh, sw), (ph, pw), (uh, uw), (nh, nw) = stride, padding, ku, phases
    jh, jw = ho + uh - 1, wo + uw - 1
    # Columns (O, uh, uw, N, jh, jw) over gy zero-padded by ku - 1: [o, i, j, n, m, q] = gy[n, o, m+i-uh+1, q+j-uw+1].
    grid = _phase_grid(gy, (1, 1), (uh - 1, uw - 1), (1, 1), jh + uh - 1, jw + uw - 1)
    s_o, s_n, s_h, s_w = grid.strides
    windows = as_strided(grid, (o, uh, uw, n, jh, jw), (s_o, s_h, s_w, s_n, s_h, s_w), writeable=False)
    cols = workspace("cols", windows.shape, gy.dtype)
    parallel.over_range(lambda o0, o1: np.copyto(cols[o0:o1], windows[o0:o1]), o, cols.size)
    phased = workspace("phased", (n, jh, jw, c, nh, nw), gy.dtype)
    blas.gemm(cols.reshape(o * uh * uw, n * jh * jw).T, taps, phased.reshape(n * jh * jw, c * nh * nw))
    # Interleave the phases into the padded output (gx itself where no padding is cut off).
    mh, mw = max(jh, -(-(ph + h) // sh)), max(jw, -(-(pw + wd) // sw))
    cropped = (ph, pw) != (0, 0) or (mh * sh, mw * sw) != (h, wd)
    full = (workspace("full", (n, c, mh, sh, mw, sw), gy.dtype) if cropped else
            gx.reshape(n, c, mh, sh, mw, sw))
    source = phased.transpose(0, 3, 1, 4, 2, 5)

    def channels(c0, c1):
        part = full[:, c0:c1]
        part[:, :, jh:] = 0
        part[:, :, :jh, nh:] = 0
        part[:, :, :jh, :nh, jw:] = 0
        part[:, :, :jh, :nh, :jw, nw:] = 0
        if nh * nw <= _FEW_PHASES:  # one copy per phase: rows of jw values, not runs of nw
            for rh in range(nh):
                for rw in range(nw):
                    np.copyto(part[:, :, :jh, rh, :jw, rw], source[:, c0:c1, :, rh, :, rw])
        else:
            np.copyto(part[:, :, :jh, :nh, :jw, :nw], source[:, c0:c1])
        if cropped:
            np.copyto(gx[:, c0:c1], part.reshape(n, c1 - c0, mh * sh, mw * sw)[:, :, ph:ph + h, pw:pw + wd])

    parallel.over_range(channels, c, full.size)
