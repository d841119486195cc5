"""The NumPy deep-learning primitives against slow loop references and against PyTorch."""
from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lumen.backends.cpu import conv, loss, lrn, native, parallel, pool

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch parity tests are skipped one by one via needs_torch
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
fast = settings(max_examples=25, deadline=None)


# ---------------------------------------------------------------------------
# Slow references: explicit loops, bounds checked by hand, no padding arrays.
# ---------------------------------------------------------------------------
def out_len(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def ref_conv2d(x, w, b, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    ho = out_len(h, kh, stride[0], padding[0], dilation[0])
    wo = out_len(wd, kw, stride[1], padding[1], dilation[1])
    y = np.zeros((n, o, ho, wo))
    for bn in range(n):
        for oc in range(o):
            g = oc // og
            for a in range(ho):
                for bb in range(wo):
                    acc = 0.0 if b is None else b[oc]
                    for ci in range(cg):
                        for i in range(kh):
                            ih = a * stride[0] - padding[0] + i * dilation[0]
                            if not 0 <= ih < h:
                                continue
                            for j in range(kw):
                                iw = bb * stride[1] - padding[1] + j * dilation[1]
                                if 0 <= iw < wd:
                                    acc += x[bn, g * cg + ci, ih, iw] * w[oc, ci, i, j]
                    y[bn, oc, a, bb] = acc
    return y


def ref_conv_grads(x_shape, w, gy, x, stride, padding, dilation, groups):
    """The adjoint by scattering: every product term of the forward sends gy back to x and w."""
    n, c, h, wd = x_shape
    o, cg, kh, kw = w.shape
    og = o // groups
    gx = np.zeros(x_shape)
    gw = np.zeros(w.shape)
    _, _, ho, wo = gy.shape
    for bn in range(n):
        for oc in range(o):
            g = oc // og
            for a in range(ho):
                for bb in range(wo):
                    for ci in range(cg):
                        for i in range(kh):
                            ih = a * stride[0] - padding[0] + i * dilation[0]
                            for j in range(kw):
                                iw = bb * stride[1] - padding[1] + j * dilation[1]
                                if 0 <= ih < h and 0 <= iw < wd:
                                    gx[bn, g * cg + ci, ih, iw] += gy[bn, oc, a, bb] * w[oc, ci, i, j]
                                    if x is not None:
                                        gw[oc, ci, i, j] += gy[bn, oc, a, bb] * x[bn, g * cg + ci, ih, iw]
    return gx, gw


def torch_pool_len(size, k, s, p, d, ceil_mode):
    num = size + 2 * p - d * (k - 1) - 1
    out = (num + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def ref_max_pool(x, kernel, stride, padding, dilation, ceil_mode):
    n, c, h, w = x.shape
    ho = torch_pool_len(h, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    wo = torch_pool_len(w, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    y = np.zeros((n, c, ho, wo))
    idx = np.zeros((n, c, ho, wo), dtype=np.int64)
    for bn in range(n):
        for ch in range(c):
            for a in range(ho):
                for b in range(wo):
                    best, arg = -math.inf, None
                    for i in range(kernel[0]):
                        ih = a * stride[0] - padding[0] + i * dilation[0]
                        for j in range(kernel[1]):
                            iw = b * stride[1] - padding[1] + j * dilation[1]
                            if 0 <= ih < h and 0 <= iw < w and (arg is None or x[bn, ch, ih, iw] > best):
                                best, arg = x[bn, ch, ih, iw], ih * w + iw
                    y[bn, ch, a, b], idx[bn, ch, a, b] = best, arg
    return y, idx


def ref_avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    n, c, h, w = x.shape
    ho = torch_pool_len(h, kernel[0], stride[0], padding[0], 1, ceil_mode)
    wo = torch_pool_len(w, kernel[1], stride[1], padding[1], 1, ceil_mode)
    y = np.zeros((n, c, ho, wo))
    for a in range(ho):
        for b in range(wo):
            h0, w0 = a * stride[0] - padding[0], b * stride[1] - padding[1]
            h1, w1 = min(h0 + kernel[0], h + padding[0]), min(w0 + kernel[1], w + padding[1])
            padded_count = (h1 - h0) * (w1 - w0)
            rh0, rw0, rh1, rw1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            real_count = (rh1 - rh0) * (rw1 - rw0)
            total = np.zeros((n, c))
            for ih in range(rh0, rh1):
                for iw in range(rw0, rw1):
                    total += x[:, :, ih, iw]
            if divisor_override:
                div = divisor_override
            else:
                div = padded_count if count_include_pad else real_count
            y[:, :, a, b] = total / div
    return y


def ref_lrn(x, size, alpha, beta, k):
    c = x.shape[1]
    y = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c - 1, ch + (size - 1) // 2)
        s = sum(x[:, cc] ** 2 for cc in range(lo, hi + 1))
        y[:, ch] = x[:, ch] / (k + alpha / size * s) ** beta
    return y


def numeric_grad(f, x, gy, eps=1e-6):
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    for p in range(flat.size):
        old = flat[p]
        flat[p] = old + eps
        up = np.sum(f(x) * gy)
        flat[p] = old - eps
        down = np.sum(f(x) * gy)
        flat[p] = old
        g.reshape(-1)[p] = (up - down) / (2 * eps)
    return g


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------
@st.composite
def conv_cases(draw, max_taps=40):
    """A small valid convolution: kernels 1/3/5/7/11, strides 1-4, padding, dilation, groups."""
    kh, kw = draw(st.sampled_from([1, 3, 5, 7, 11])), draw(st.sampled_from([1, 3, 5, 7, 11]))
    if kh * kw > max_taps:  # keep the loop references fast: big kernels come in thin pairs
        kw = draw(st.sampled_from([1, 3]))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)) if kh > 1 else 1, draw(st.integers(1, 3)) if kw > 1 else 1)
    padding = (draw(st.integers(0, kh // 2 + 1)), draw(st.integers(0, kw // 2 + 1)))
    kind = draw(st.sampled_from(["plain", "grouped", "depthwise"]))
    if kind == "plain":
        groups, cg, og = 1, draw(st.integers(1, 3)), draw(st.integers(1, 3))
    elif kind == "grouped":
        groups, cg, og = 2, draw(st.integers(1, 2)), draw(st.integers(1, 2))
    else:
        groups, cg, og = draw(st.integers(2, 3)), 1, draw(st.integers(1, 2))
    eff_h, eff_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    h = max(1, eff_h - 2 * padding[0]) + draw(st.integers(0, 4))
    w = max(1, eff_w - 2 * padding[1]) + draw(st.integers(0, 4))
    n = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, groups * cg, h, w))
    weight = rng.standard_normal((groups * og, cg, kh, kw))
    bias = rng.standard_normal(groups * og) if draw(st.booleans()) else None
    return x, weight, bias, stride, padding, dilation, groups


@fast
@given(conv_cases())
def test_conv2d_matches_loop_reference(case):
    x, w, b, stride, padding, dilation, groups = case
    y = conv.conv2d_forward(x, w, b, stride, padding, dilation, groups)
    np.testing.assert_allclose(y, ref_conv2d(x, w, b, stride, padding, dilation, groups), rtol=1e-10, atol=1e-10)
    gy = np.random.default_rng(1).standard_normal(y.shape)
    gx_ref, gw_ref = ref_conv_grads(x.shape, w, gy, x, stride, padding, dilation, groups)
    gx = conv.conv2d_backward_data(gy, w, x.shape, stride, padding, dilation, groups)
    gw = conv.conv2d_backward_filter(x, gy, w.shape, stride, padding, dilation, groups)
    assert gx.shape == x.shape and gw.shape == w.shape
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-10, atol=1e-10)


@needs_torch
@fast
@given(conv_cases(max_taps=121))
def test_conv2d_and_grads_match_torch(case):
    x, w, b, stride, padding, dilation, groups = case
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    yt = F.conv2d(xt, wt, None if b is None else torch.tensor(b), stride, padding, dilation, groups)
    y = conv.conv2d_forward(x, w, b, stride, padding, dilation, groups)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    gy = np.random.default_rng(2).standard_normal(y.shape)
    gxt, gwt = torch.autograd.grad(yt, (xt, wt), torch.tensor(gy))
    np.testing.assert_allclose(conv.conv2d_backward_data(gy, w, x.shape, stride, padding, dilation, groups),
                               gxt.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(conv.conv2d_backward_filter(x, gy, w.shape, stride, padding, dilation, groups),
                               gwt.numpy(), rtol=1e-10, atol=1e-10)


@fast
@given(conv_cases(max_taps=25), st.data())
def test_conv_transpose_with_output_padding_matches_loop_adjoint(case, data):
    """backward_data onto an input larger than the forward implies (output_padding)."""
    x, w, _, stride, padding, dilation, groups = case
    gy = conv.conv2d_forward(x, w, None, stride, padding, dilation, groups)
    oph = data.draw(st.integers(0, max(stride[0], dilation[0]) - 1))
    opw = data.draw(st.integers(0, max(stride[1], dilation[1]) - 1))
    n, c, _, _ = x.shape
    h = (gy.shape[2] - 1) * stride[0] - 2 * padding[0] + dilation[0] * (w.shape[2] - 1) + 1 + oph
    wd = (gy.shape[3] - 1) * stride[1] - 2 * padding[1] + dilation[1] * (w.shape[3] - 1) + 1 + opw
    assume(h >= 1 and wd >= 1)
    gx = conv.conv2d_backward_data(gy, w, (n, c, h, wd), stride, padding, dilation, groups)
    np.testing.assert_allclose(gx, ref_conv_grads((n, c, h, wd), w, gy, None, stride, padding, dilation,
                                                  groups)[0], rtol=1e-10, atol=1e-10)


@needs_torch
@fast
@given(conv_cases(max_taps=49), st.data())
def test_backward_data_is_torch_conv_transpose2d(case, data):
    x, w, b, stride, padding, dilation, groups = case
    gy = conv.conv2d_forward(x, w, None, stride, padding, dilation, groups)
    # PyTorch requires output_padding < stride or < dilation.
    oph = data.draw(st.integers(0, max(stride[0], dilation[0]) - 1))
    opw = data.draw(st.integers(0, max(stride[1], dilation[1]) - 1))
    assume((gy.shape[2] - 1) * stride[0] - 2 * padding[0] + dilation[0] * (w.shape[2] - 1) + 1 + oph >= 1)
    assume((gy.shape[3] - 1) * stride[1] - 2 * padding[1] + dilation[1] * (w.shape[3] - 1) + 1 + opw >= 1)
    ref = F.conv_transpose2d(torch.tensor(gy), torch.tensor(w), None, stride, padding, (oph, opw), groups,
                             dilation).numpy()
    got = conv.conv2d_backward_data(gy, w, (gy.shape[0], x.shape[1]) + ref.shape[2:], stride, padding,
                                    dilation, groups)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


def test_conv2d_keeps_float32_and_pointwise_path():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 9, 7)).astype(np.float32)
    for w_shape, stride, padding, groups in [((4, 6, 1, 1), (1, 1), (0, 0), 1),
                                             ((4, 3, 1, 1), (2, 3), (0, 0), 2),
                                             ((6, 1, 3, 3), (2, 1), (1, 1), 6),
                                             ((8, 3, 3, 5), (1, 2), (2, 1), 2)]:
        w = rng.standard_normal(w_shape).astype(np.float32)
        b = rng.standard_normal(w_shape[0]).astype(np.float32)
        y = conv.conv2d_forward(x, w, b, stride, padding, (1, 1), groups)
        assert y.dtype == np.float32 and y.flags.c_contiguous
        ref = ref_conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), stride, padding,
                         (1, 1), groups)
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        gx = conv.conv2d_backward_data(gy, w, x.shape, stride, padding, (1, 1), groups)
        gw = conv.conv2d_backward_filter(x, gy, w.shape, stride, padding, (1, 1), groups)
        assert gx.dtype == np.float32 and gw.dtype == np.float32
        gx_ref, gw_ref = ref_conv_grads(x.shape, w.astype(np.float64), gy.astype(np.float64),
                                        x.astype(np.float64), stride, padding, (1, 1), groups)
        np.testing.assert_allclose(gx, gx_ref, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(gw, gw_ref, rtol=1e-4, atol=1e-4)


def test_conv2d_accepts_non_contiguous_inputs():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 8, 10)).transpose(0, 1, 3, 2)[:, ::2]
    w = rng.standard_normal((5, 2, 3, 3))[:, :, ::-1]
    y = conv.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(y, ref_conv2d(x, w, None, (1, 1), (1, 1), (1, 1), 1), atol=1e-10)
    gy = rng.standard_normal(y.shape).transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3)
    gx_ref, gw_ref = ref_conv_grads(x.shape, w, gy, x, (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(conv.conv2d_backward_data(gy, w, x.shape, (1, 1), (1, 1), (1, 1), 1), gx_ref,
                               atol=1e-10)
    np.testing.assert_allclose(conv.conv2d_backward_filter(x, gy, w.shape, (1, 1), (1, 1), (1, 1), 1), gw_ref,
                               atol=1e-10)


@pytest.mark.parametrize("threshold, workspace_bytes", [(1, 256 << 20), (1 << 40, 256 << 20), (1, 3000)])
def test_conv2d_threaded_im2col_chunked_batch_and_reused_workspace(monkeypatch, threshold, workspace_bytes):
    """The channel-split worker path, the single-thread path and the batch split into
    workspace-sized chunks (3000 bytes: one sample per chunk) agree with the reference,
    and results never alias the reused column workspace."""
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", threshold)
    monkeypatch.setattr(conv, "_WORKSPACE_MAX_BYTES", workspace_bytes)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5, 9, 8))
    w = rng.standard_normal((6, 5, 3, 2))
    args = ((2, 1), (1, 1), (1, 2), 1)
    y = conv.conv2d_forward(x, w, None, *args)
    gy = rng.standard_normal(y.shape)
    gx = conv.conv2d_backward_data(gy, w, x.shape, *args)
    gw = conv.conv2d_backward_filter(x, gy, w.shape, *args)
    snapshot = [a.copy() for a in (y, gx, gw)]
    conv.conv2d_forward(rng.standard_normal((1, 5, 12, 12)), w, None, *args)  # reuses the workspace
    conv.conv2d_backward_data(gy, w, x.shape, *args)
    for got, kept in zip((y, gx, gw), snapshot):
        np.testing.assert_array_equal(got, kept)
    gx_ref, gw_ref = ref_conv_grads(x.shape, w, gy, x, *args)
    np.testing.assert_allclose(y, ref_conv2d(x, w, None, *args), atol=1e-10)
    np.testing.assert_allclose(gx, gx_ref, atol=1e-10)
    np.testing.assert_allclose(gw, gw_ref, atol=1e-10)


def test_conv2d_errors_name_the_problem():
    x = np.zeros((1, 3, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_forward.*\(1, 3, 8, 8\).*\(4, 2, 3, 3\).*groups=1"):
        conv.conv2d_forward(x, np.zeros((4, 2, 3, 3), np.float32), None, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(TypeError, match=r"conv2d_forward.*float32.*float64"):
        conv.conv2d_forward(x, np.zeros((4, 3, 3, 3)), None, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match=r"smaller than the dilated kernel"):
        conv.conv2d_forward(x, np.zeros((4, 3, 5, 5), np.float32), None, (1, 1), (0, 0), (2, 2), 1)
    with pytest.raises(ValueError, match=r"bias \(3,\)"):
        conv.conv2d_forward(x, np.zeros((4, 3, 3, 3), np.float32), np.zeros(3, np.float32), (1, 1), (0, 0),
                            (1, 1), 1)
    with pytest.raises(ValueError, match=r"conv2d_backward_filter.*grad_output \(1, 4, 5, 5\).*\(1, 4, 6, 6\)"):
        conv.conv2d_backward_filter(x, np.zeros((1, 4, 5, 5), np.float32), (4, 3, 3, 3), (1, 1), (0, 0),
                                    (1, 1), 1)
    with pytest.raises(ValueError, match=r"conv2d_backward_data.*more positions"):
        conv.conv2d_backward_data(np.zeros((1, 4, 9, 9), np.float32), np.zeros((4, 3, 3, 3), np.float32),
                                  (1, 3, 8, 8), (1, 1), (0, 0), (1, 1), 1)


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------
@st.composite
def pool_cases(draw, dilated=True):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilated else (1, 1)
    ceil_mode = draw(st.booleans())
    h = max(1, dilation[0] * (kernel[0] - 1) + 1 - 2 * padding[0]) + draw(st.integers(0, 6))
    w = max(1, dilation[1] * (kernel[1] - 1) + 1 - 2 * padding[1]) + draw(st.integers(0, 6))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    x = np.random.default_rng(draw(st.integers(0, 2**31 - 1))).standard_normal((n, c, h, w))
    return x, kernel, stride, padding, dilation, ceil_mode


def _windows_reach_input(x_shape, kernel, stride, padding, dilation, ceil_mode):
    """False when some window holds only padding (PyTorch then reports an index outside the plane)."""
    for a in range(2):
        out = torch_pool_len(x_shape[2 + a], kernel[a], stride[a], padding[a], dilation[a], ceil_mode)
        for o in range(out):
            taps = [o * stride[a] - padding[a] + i * dilation[a] for i in range(kernel[a])]
            if not any(0 <= t < x_shape[2 + a] for t in taps):
                return False
    return True


@contextlib.contextmanager
def _max_pool_in(kind):
    """Max pooling's forward in C (pool.c, where it builds) or in NumPy (without a compiler)."""
    with pytest.MonkeyPatch.context() as patch:
        if kind == "numpy":
            patch.setattr(pool, "_compiled", lambda dtype: None)
        yield


@pytest.mark.parametrize("kind", ["c", "numpy"])
def test_max_pool_backward_refuses_an_index_outside_the_plane(kind):
    with _max_pool_in(kind):
        with pytest.raises(IndexError):
            pool.max_pool2d_backward(np.ones((1, 2, 2, 2)), np.full((1, 2, 2, 2), 9, np.int64), (1, 2, 3, 3))


def test_the_c_max_pool_builds_here():
    for dtype in (np.float32, np.float64):
        assert pool._compiled(dtype) is not None, native.typed_failure("pool", dtype)


@pytest.mark.parametrize("kind", ["c", "numpy"])
@fast
@given(case=pool_cases())
def test_max_pool_matches_loop_reference(kind, case):
    with _max_pool_in(kind):
        _check_max_pool(case)


def _check_max_pool(case):
    x, kernel, stride, padding, dilation, ceil_mode = case
    if not _windows_reach_input(x.shape, kernel, stride, padding, dilation, ceil_mode):
        with pytest.raises(ValueError, match="covers only padding"):
            pool.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
        return
    y, idx = pool.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    y_ref, idx_ref = ref_max_pool(x, kernel, stride, padding, dilation, ceil_mode)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    gy = np.random.default_rng(0).standard_normal(y.shape)
    gx = pool.max_pool2d_backward(gy, idx, x.shape)
    gx_ref = np.zeros(x.shape)
    for pos in np.ndindex(*y.shape):
        gx_ref[pos[0], pos[1]].reshape(-1)[idx_ref[pos]] += gy[pos]
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-12, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("kind", ["c", "numpy"])
@fast
@given(case=pool_cases(), values=st.sampled_from(["plain", "ties", "specials"]))
def test_max_pool_matches_torch_with_ties(kind, case, values):
    with _max_pool_in(kind):
        _check_max_pool_like_torch(case, values)


def _check_max_pool_like_torch(case, values):
    x, kernel, stride, padding, dilation, ceil_mode = case
    if values != "plain":  # few distinct values: first-in-window wins, as in PyTorch
        x = np.round(x)
    if values == "specials":  # NaN wins (the last one in a window), -inf windows report their first tap
        x = np.where(x > 1, np.nan, np.where(x < -0.5, -np.inf, x))
    if not _windows_reach_input(x.shape, kernel, stride, padding, dilation, ceil_mode):
        return
    xt = torch.tensor(x, requires_grad=True)
    yt, it = F.max_pool2d(xt, kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    y, idx = pool.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(idx, it.numpy())
    if values == "specials":
        return
    gy = np.random.default_rng(0).standard_normal(y.shape)
    (gxt,) = torch.autograd.grad(yt, xt, torch.tensor(gy))
    np.testing.assert_allclose(pool.max_pool2d_backward(gy, idx, x.shape), gxt.numpy(), rtol=1e-12, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("kind", ["c", "numpy"])
def test_max_pool_nan_and_inf_like_torch(kind, monkeypatch):
    if kind == "numpy":
        monkeypatch.setattr(pool, "_compiled", lambda dtype: None)
    x = np.array([[[[1.0, np.nan, 3.0, -np.inf], [np.nan, 0.0, -np.inf, -np.inf], [2.0, 5.0, 1.0, 1.0]]]])
    y, idx = pool.max_pool2d_forward(x, (2, 2), (1, 1), (1, 1), (1, 1), True)
    yt, it = F.max_pool2d(torch.tensor(x), 2, 1, 1, 1, True, return_indices=True)
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(idx, it.numpy())


@fast
@given(pool_cases(dilated=False), st.booleans(), st.sampled_from([None, 3]))
def test_avg_pool_matches_loop_reference(case, count_include_pad, divisor_override):
    x, kernel, stride, padding, _, ceil_mode = case
    y = pool.avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    ref = ref_avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    gy = np.random.default_rng(0).standard_normal(y.shape)

    def f(v):
        return pool.avg_pool2d_forward(v, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)

    # The forward is linear, so central differences are exact up to rounding.
    gx = pool.avg_pool2d_backward(gy, x.shape, kernel, stride, padding, ceil_mode, count_include_pad,
                                  divisor_override)
    np.testing.assert_allclose(gx, numeric_grad(f, x.copy(), gy, eps=1.0), rtol=1e-9, atol=1e-9)


@needs_torch
@fast
@given(pool_cases(dilated=False), st.booleans(), st.sampled_from([None, 1, 5]))
def test_avg_pool_matches_torch(case, count_include_pad, divisor_override):
    x, kernel, stride, padding, _, ceil_mode = case
    xt = torch.tensor(x, requires_grad=True)
    yt = F.avg_pool2d(xt, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    y = pool.avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    gy = np.random.default_rng(0).standard_normal(y.shape)
    (gxt,) = torch.autograd.grad(yt, xt, torch.tensor(gy))
    gx = pool.avg_pool2d_backward(gy, x.shape, kernel, stride, padding, ceil_mode, count_include_pad,
                                  divisor_override)
    np.testing.assert_allclose(gx, gxt.numpy(), rtol=1e-12, atol=1e-12)


def test_pool_float32_and_errors():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 9)).astype(np.float32)
    y, idx = pool.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1), (1, 1), True)
    assert y.dtype == np.float32 and idx.dtype == np.int64
    assert pool.max_pool2d_backward(y, idx, x.shape).dtype == np.float32
    a = pool.avg_pool2d_forward(x, (3, 2), (2, 2), (1, 1), True, False, None)
    assert a.dtype == np.float32
    assert pool.avg_pool2d_backward(a, x.shape, (3, 2), (2, 2), (1, 1), True, False, None).dtype == np.float32
    with pytest.raises(ValueError, match=r"max_pool2d_forward: padding \(2, 0\) must be at most half"):
        pool.max_pool2d_forward(x, (3, 3), (1, 1), (2, 0), (1, 1), False)
    with pytest.raises(ValueError, match=r"avg_pool2d_backward: grad_output \(2, 3, 3, 3\)"):
        pool.avg_pool2d_backward(np.zeros((2, 3, 3, 3), np.float32), x.shape, (2, 2), (2, 2), (0, 0), False,
                                 True, None)
    with pytest.raises(TypeError, match=r"max_pool2d_forward.*int64"):
        pool.max_pool2d_forward(np.zeros((1, 1, 4, 4), np.int64), (2, 2), (2, 2), (0, 0), (1, 1), False)


# ---------------------------------------------------------------------------
# Local response normalisation
# ---------------------------------------------------------------------------
lrn_params = st.tuples(st.integers(1, 7), st.floats(1e-4, 1.0), st.floats(0.25, 1.0), st.floats(0.5, 2.0))


@fast
@given(lrn_params, st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_lrn_matches_reference_and_numeric_gradient(params, channels, seed):
    size, alpha, beta, k = params
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, channels, 3, 2))
    y, scale = lrn.lrn_forward(x, size, alpha, beta, k)
    np.testing.assert_allclose(y, ref_lrn(x, size, alpha, beta, k), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scale, (x / y) ** (1 / beta), rtol=1e-9)
    gy = rng.standard_normal(x.shape)
    gx = lrn.lrn_backward(x, y, scale, gy, size, alpha, beta, k)
    num = numeric_grad(lambda v: lrn.lrn_forward(v, size, alpha, beta, k)[0], x.copy(), gy)
    np.testing.assert_allclose(gx, num, rtol=1e-6, atol=1e-7)


@needs_torch
@fast
@given(lrn_params, st.integers(1, 9), st.sampled_from([(2, 4), (3, 2, 5), (1, 3, 2, 2)]), st.integers(0, 99))
def test_lrn_matches_torch(params, channels, spatial, seed):
    size, alpha, beta, k = params
    x = np.random.default_rng(seed).standard_normal((spatial[0], channels) + spatial[1:])
    xt = torch.tensor(x, requires_grad=True)
    yt = F.local_response_norm(xt, size, alpha, beta, k)
    y, scale = lrn.lrn_forward(x, size, alpha, beta, k)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    gy = np.random.default_rng(seed + 1).standard_normal(x.shape)
    (gxt,) = torch.autograd.grad(yt, xt, torch.tensor(gy))
    np.testing.assert_allclose(lrn.lrn_backward(x, y, scale, gy, size, alpha, beta, k), gxt.numpy(),
                               rtol=1e-9, atol=1e-11)


def test_lrn_float32():
    x = np.random.default_rng(0).standard_normal((2, 8, 4, 4)).astype(np.float32)
    y, scale = lrn.lrn_forward(x, 5, 1e-4, 0.75, 2.0)
    assert y.dtype == np.float32 and scale.dtype == np.float32
    assert lrn.lrn_backward(x, y, scale, y, 5, 1e-4, 0.75, 2.0).dtype == np.float32
    np.testing.assert_allclose(y, ref_lrn(x.astype(np.float64), 5, 1e-4, 0.75, 2.0), rtol=1e-5)


# ---------------------------------------------------------------------------
# Softmax cross-entropy
# ---------------------------------------------------------------------------
@st.composite
def ce_cases(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    spatial = draw(st.sampled_from([(), (3,), (2, 3)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x = rng.standard_normal((n, c) + spatial) * draw(st.sampled_from([1.0, 50.0]))
    target = rng.integers(0, c, size=(n,) + spatial)
    ignore_index = draw(st.sampled_from([-100, 0, 255]))
    target[rng.random(target.shape) < 0.3] = ignore_index
    return x, target, ignore_index


@fast
@given(ce_cases())
def test_cross_entropy_matches_loop_reference(case):
    x, target, ignore_index = case
    loss_, log_prob = loss.softmax_cross_entropy_forward(x, target, ignore_index)
    assert loss_.shape == target.shape and log_prob.shape == x.shape
    gloss = np.random.default_rng(0).standard_normal(target.shape)
    gx = loss.softmax_cross_entropy_backward(log_prob, target, gloss, ignore_index)
    xs = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    ts, gs = target.reshape(-1), gloss.reshape(-1)
    gxs = np.moveaxis(gx, 1, -1).reshape(-1, x.shape[1])
    for row, t, g, ls, grow in zip(xs, ts, gs, loss_.reshape(-1), gxs):
        if t == ignore_index:
            assert ls == 0 and not grow.any()
            continue
        m = max(row)
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        assert math.isclose(ls, lse - row[t], rel_tol=1e-12, abs_tol=1e-12)
        expect = [g * (math.exp(v - lse) - (i == t)) for i, v in enumerate(row)]
        np.testing.assert_allclose(grow, expect, rtol=1e-10, atol=1e-12)


@needs_torch
@fast
@given(ce_cases())
def test_cross_entropy_matches_torch(case):
    x, target, ignore_index = case
    xt = torch.tensor(x, requires_grad=True)
    lt = F.cross_entropy(xt, torch.tensor(target), ignore_index=ignore_index, reduction="none")
    loss_, log_prob = loss.softmax_cross_entropy_forward(x, target, ignore_index)
    np.testing.assert_allclose(loss_, lt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(log_prob, F.log_softmax(xt, 1).detach().numpy(), rtol=1e-12, atol=1e-12)
    gloss = np.random.default_rng(0).standard_normal(target.shape)
    (gxt,) = torch.autograd.grad(lt, xt, torch.tensor(gloss))
    np.testing.assert_allclose(loss.softmax_cross_entropy_backward(log_prob, target, gloss, ignore_index),
                               gxt.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_float32_stable_and_errors():
    x = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]], np.float32)
    loss_, log_prob = loss.softmax_cross_entropy_forward(x, np.array([2, 1]), -100)
    assert loss_.dtype == np.float32 and np.all(np.isfinite(loss_))
    np.testing.assert_allclose(loss_, [2000.0, math.log(3)], rtol=1e-6)
    gx = loss.softmax_cross_entropy_backward(log_prob, np.array([2, 1]), np.float32(1.0), -100)
    assert gx.dtype == np.float32
    np.testing.assert_allclose(gx, [[1, 0, -1], [1 / 3, -2 / 3, 1 / 3]], atol=1e-6)
    with pytest.raises(ValueError, match=r"target value 3 is out of range for 3 classes"):
        loss.softmax_cross_entropy_forward(x, np.array([0, 3]), -100)
    with pytest.raises(ValueError, match=r"target value -1 is out of range for 3 classes"):
        loss.softmax_cross_entropy_backward(log_prob, np.array([-1, 0]), np.ones(2, np.float32), -100)
    with pytest.raises(ValueError, match=r"target \(3,\)"):
        loss.softmax_cross_entropy_forward(x, np.array([0, 1, 2]), -100)


@needs_torch
def test_max_pool_and_relu_backward_split_over_threads_match_torch(monkeypatch):
    """The worker-thread split (forced for small arrays here) gives the single-thread results:
    NaNs, ties and infinities included, as PyTorch."""
    from lumen.backends.cpu import activation
    rng = np.random.default_rng(7)
    x = np.round(rng.standard_normal((2, 5, 9, 8)) * 2)
    x[0, 1, 2, 3] = x[1, 4, 0, 0] = np.nan
    x[1, 2, 4, 4] = np.inf
    g = rng.standard_normal(x.shape)
    g[0, 0, 0, :2] = np.nan
    for threshold in (1 << 40, 1):
        monkeypatch.setattr(parallel, "MIN_ELEMENTS", threshold)
        for args in (((2, 2), (2, 2), (0, 0), (1, 1), False), ((3, 3), (2, 2), (1, 1), (1, 1), True)):
            y, idx = pool.max_pool2d_forward(x, *args)
            yt, it = F.max_pool2d(torch.tensor(x), *args, return_indices=True)
            np.testing.assert_array_equal(y, yt.numpy())
            np.testing.assert_array_equal(idx, it.numpy())
        expected = torch.ops.aten.threshold_backward(torch.tensor(g), torch.tensor(x), 0).numpy()
        np.testing.assert_array_equal(activation.relu_backward(g, x), expected)
        np.testing.assert_array_equal(activation.relu_backward(g[:, ::2], x[:, ::2]), expected[:, ::2])


@needs_torch
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_relu_backward_bitwise_like_torch(dtype):
    """Kept gradients keep their bits (signed zeros, NaN, inf); y <= 0 gives +0, a NaN y keeps gy."""
    from lumen.backends import get
    from lumen.backends.base import Backend
    from lumen.backends.cpu import activation
    g = np.array([1, np.nan, -3, 4, -5, np.inf, -0.0, np.nan], dtype)
    y = np.array([1, 0, -1, np.nan, 2, -0.0, 3, 7], dtype)
    expected = torch.ops.aten.threshold_backward(torch.tensor(g), torch.tensor(y), 0).numpy()
    # The NumPy backend's fused pass, and the base class's xp version that the CUDA backend inherits.
    for got in (activation.relu_backward(g, y), Backend.relu_backward(get("cpu"), g, y)):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


@needs_torch
def test_max_pool_with_more_taps_than_a_byte_holds():
    x = np.round(np.random.default_rng(8).standard_normal((1, 2, 26, 25)))  # ties, 12x12 = 144 taps
    y, idx = pool.max_pool2d_forward(x, (12, 12), (5, 5), (0, 0), (1, 1), True)
    yt, it = F.max_pool2d(torch.tensor(x), 12, 5, 0, 1, True, return_indices=True)
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(idx, it.numpy())


# ---------------------------------------------------------------------------
# Batch normalisation
# ---------------------------------------------------------------------------
def ref_batch_norm(x, w, b, eps, gy):
    """float64 per-channel loops: (y, mean, var, gx, gw, gb) of x (N, C, S)."""
    x, gy = x.astype(np.float64), gy.astype(np.float64)
    outs = [np.empty_like(x), [], [], np.empty_like(x), [], []]
    for c in range(x.shape[1]):
        v = x[:, c]
        mean, var = v.mean(), v.var()
        xhat = (v - mean) / math.sqrt(var + eps)
        scale = 1.0 if w is None else float(w[c])
        outs[0][:, c] = xhat * scale + (0.0 if b is None else float(b[c]))
        g = gy[:, c]
        outs[3][:, c] = scale / math.sqrt(var + eps) * (g - g.mean() - xhat * (g * xhat).mean())
        for k, value in ((1, mean), (2, var), (4, (g * xhat).sum()), (5, g.sum())):
            outs[k].append(value)
    return [np.asarray(o) for o in outs]


@fast
@given(n=st.integers(1, 3), c=st.integers(1, 6), s=st.integers(1, 40), affine=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), threads=st.sampled_from([1 << 40, 1]),
       seed=st.integers(0, 99))
def test_batch_norm_matches_loop_reference_split_or_not(n, c, s, affine, dtype, threads, seed):
    """The channel ranges on three worker threads (forced for small arrays, whatever the machine's cores) give the
    one-range results, and both match the float64 loops."""
    from lumen.backends import base
    from lumen.backends.cpu import NumpyBackend, normalization
    assume(n * s > 1)
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, s)) * 3 + 5).astype(dtype)
    gy = rng.standard_normal((n, c, s)).astype(dtype)
    w, b = (rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)) if affine else (None, None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parallel, "MIN_ELEMENTS", threads)
        mp.setattr(parallel, "WORKERS", 3)
        mp.setattr(normalization, "_RANGE_BYTES", 64)  # many ranges per thread
        y, mean, var, invstd = normalization.batch_norm_forward(x, w, b, 1e-5)
        gx, gw, gb = normalization.batch_norm_backward(x, mean, invstd, w, gy)
    same = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-14)
    generic = base.Backend.batch_norm_forward(NumpyBackend(), x, w, b, 1e-5)
    for got, want in zip((y, mean, var, invstd), generic):
        np.testing.assert_allclose(got, want, **same)
    for got, want in zip((gx, gw, gb), base.Backend.batch_norm_backward(NumpyBackend(), x, mean, invstd, w, gy)):
        np.testing.assert_allclose(got, want, **same)
    # float32 rounds x - mean at |mean|'s scale, so a channel whose spread is small beside its mean (two values
    # near 5) loses |mean| / std of its digits: the tolerance grows by that condition number.
    spread = np.sqrt(x.astype(np.float64).var(axis=(0, 2)) + 1e-5)
    condition = max(1.0, float(np.max(np.abs(x.astype(np.float64).mean(axis=(0, 2))) / spread)))
    tol = dict(rtol=1e-4, atol=3e-5 * condition) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for got, want in zip((y, mean, var, gx, gw, gb), ref_batch_norm(x, w, b, 1e-5, gy)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **tol)
    assert normalization.batch_norm_backward(x, mean, invstd, w, gy, input_grad=False)[0] is None


def test_batch_norm_float16_accumulates_in_float32():
    """65536 ones sum past float16's range (65504): the statistics still come out exact."""
    from lumen.backends.cpu import normalization
    x = np.ones((4, 2, 16384), np.float16)
    x[:, 1] = 2
    y, mean, var, invstd = normalization.batch_norm_forward(x, None, None, 1e-5)
    np.testing.assert_array_equal(mean, np.array([1, 2], np.float16))
    np.testing.assert_array_equal(var, 0)
    assert y.dtype == mean.dtype == np.float16 and np.all(y == 0)


def test_batch_norm_float16_products_and_gradient_sums_in_float32():
    """Squares of a 200-wide spread (values past 256) and gradient sums over 65536 values leave float16's range (65504) on the way:
    computed in float32, the results are finite and match the float32 primitive's."""
    from lumen.backends.cpu import normalization
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 2, 128, 128)) * 200).astype(np.float16).reshape(4, 2, -1)
    w = np.ones(2, np.float16)
    y, mean, var, invstd = normalization.batch_norm_forward(x, w, None, 1e-5)
    y32, mean32, _, invstd32 = normalization.batch_norm_forward(x.astype(np.float32), w.astype(np.float32), None, 1e-5)
    assert y.dtype == np.float16 and np.isfinite(var).all()
    np.testing.assert_allclose(y, y32, atol=5e-3)
    gy = np.abs(y)  # same-sign gradients: their sum is ~52000-65536 per channel
    gx, gw, gb = normalization.batch_norm_backward(x, mean, invstd, w, gy)
    gx32 = normalization.batch_norm_backward(x.astype(np.float32), mean32, invstd32, w.astype(np.float32),
                                             gy.astype(np.float32))[0]
    assert np.isfinite(gx).all()
    np.testing.assert_allclose(gx, gx32, atol=2e-5)


def test_lrn_split_over_images_matches_one_thread(monkeypatch):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 7, 4, 3)).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    whole = lrn.lrn_forward(x, 5, 1e-4, 0.75, 2.0)
    whole_gx = lrn.lrn_backward(x, *whole, gy, 5, 1e-4, 0.75, 2.0)
    monkeypatch.setattr(parallel, "WORKERS", 3)
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
    y, scale = lrn.lrn_forward(x, 5, 1e-4, 0.75, 2.0)
    assert np.array_equal(y, whole[0]) and np.array_equal(scale, whole[1])
    assert np.array_equal(lrn.lrn_backward(x, y, scale, gy, 5, 1e-4, 0.75, 2.0), whole_gx)
