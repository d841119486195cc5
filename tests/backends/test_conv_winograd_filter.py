"""Winograd backward-filter (winograd2/4 in conv2d_backward_filter) and the im2col paths issue 22 changed
(bias written before the forward GEMM, the transposed backward-filter product) against the reference
im2col path, against torch, and by finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lumen
import lumen.nn.functional as F
from lumen.backends import conv as conv_settings
from lumen.backends.cpu import conv, winograd

torch = pytest.importorskip("torch")

# Norm-wise bounds, as tests/backends/test_cpu_fast_paths.py's: error relative to the largest sum of
# |x| * |gy| products. Measured here: F(2x2) float32 ~2e-7, F(4x4) ~3e-6, float64 ~1e-15.
BOUND = {("winograd2", np.float32): 1e-6, ("winograd4", np.float32): 2e-5,
         ("winograd2", np.float64): 1e-13, ("winograd4", np.float64): 1e-13}


@pytest.fixture(autouse=True)
def _default_selector():
    with conv_settings.flags():
        yield


def _filter_gradient(algo, x, gy, w_shape, padding, stride=(1, 1), dilation=(1, 1), groups=1):
    with conv_settings.flags(algorithm=algo):
        return conv.conv2d_backward_filter(x, gy, w_shape, stride, padding, dilation, groups)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 9), o=st.integers(1, 9), h=st.integers(1, 15), w=st.integers(1, 15),
       padding=st.tuples(st.integers(0, 3), st.integers(0, 3)), algo=st.sampled_from(["winograd2", "winograd4"]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 16))
def test_winograd_filter_gradient_matches_im2col(n, c, o, h, w, padding, algo, dtype, seed):
    ho, wo = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2
    if ho < 1 or wo < 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    gy = rng.standard_normal((n, o, ho, wo)).astype(dtype)
    ref = _filter_gradient("im2col", x.astype(np.float64), gy.astype(np.float64), (o, c, 3, 3), padding)
    got = _filter_gradient(algo, x, gy, (o, c, 3, 3), padding)
    assert got.dtype == dtype and got.shape == (o, c, 3, 3) and got.flags.c_contiguous
    scale = _filter_gradient("im2col", np.abs(x).astype(np.float64), np.abs(gy).astype(np.float64),
                             (o, c, 3, 3), padding).max()
    assert np.abs(got - ref).max() <= BOUND[algo, dtype] * scale


@pytest.mark.parametrize("algo", ["winograd2", "winograd4"])
def test_winograd_filter_gradient_matches_torch_and_runs_in_bands(monkeypatch, algo):
    # One tile row per band: the gradient is summed over many bands, the last one overhanging the map.
    monkeypatch.setattr(winograd, "_BAND_BYTES", 1)
    calls = []
    monkeypatch.setattr(winograd, "filter_gradient", lambda *a, fn=winograd.filter_gradient: calls.append(1) or fn(*a))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 11, 9))
    gy = rng.standard_normal((2, 6, 11, 9))
    got = _filter_gradient(algo, x, gy, (6, 5, 3, 3), (1, 1))
    expected = torch.ops.aten.convolution_backward(
        torch.from_numpy(gy), torch.from_numpy(x), torch.zeros(6, 5, 3, 3, dtype=torch.float64), None, [1, 1],
        [1, 1], [1, 1], False, [0, 0], 1, [False, True, False])[1].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert calls == [1]


@pytest.mark.parametrize("algo", ["winograd2", "winograd4"])
def test_conv2d_gradcheck_through_winograd_in_every_direction(algo):
    conv_settings.algorithm = algo
    x = lumen.randn(2, 3, 6, 5, dtype=lumen.float64, requires_grad=True)
    w = lumen.randn(4, 3, 3, 3, dtype=lumen.float64, requires_grad=True)
    b = lumen.randn(4, dtype=lumen.float64, requires_grad=True)
    assert lumen.autograd.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=(1, 2)), (x, w, b))


def test_heuristic_keeps_im2col_for_backward_filter_where_winograd_loses():
    # Measured (benchmarks/NOTES.md row 20): Winograd's backward-filter wins only with 512 channels
    # over at least 8 x 14 x 14 output pixels; VGG's 64-256-channel layers and batch 1 stay on im2col.
    names = ("im2col", "implicit", "winograd2", "winograd4")
    pick = lambda n, c, o, hw: conv._heuristic(names, n, c, o, hw, hw, "bwd_filter", False, (3, 3))
    assert pick(8, 512, 512, 14) == "winograd2"
    assert pick(8, 512, 512, 28) == "winograd2"
    assert pick(1, 512, 512, 14) == "im2col"
    assert pick(8, 256, 256, 56) == "im2col"
    assert pick(1, 64, 64, 224) == "im2col"


def test_heuristic_runs_implicit_from_2048_pixels_for_3x3_kernels():
    # Measured (benchmarks/NOTES.md row 26): the implicit GEMM beats im2col by 20-40% on 64-128
    # channels at 56x56-64x64 (forward and backward-data); larger kernels keep the 8192-pixel bar.
    names = ("im2col", "implicit", "winograd2", "winograd4")
    pick = lambda c, hw, k=3: conv._heuristic(names, 1, c, c, hw, hw, "fwd", False, (k, k))
    assert pick(64, 56) == pick(128, 64) == "implicit"
    assert pick(128, 32) == "im2col"
    assert pick(64, 48, k=5) == "im2col"
    assert pick(64, 96, k=5) == "implicit"


# im2col's changed paths, over both GEMM orientations of the backward-filter (transposed from 2048
# output pixels with <= 256 channels per group and >= 256 rows of columns) and with bias, groups,
# strides, dilations and 1x1 kernels in the forward.
@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 2), cg=st.sampled_from([1, 3, 30]), og=st.sampled_from([2, 7]), groups=st.integers(1, 2),
       hw=st.sampled_from([5, 48]), k=st.sampled_from([1, 3]), stride=st.integers(1, 2), dilation=st.integers(1, 2),
       padding=st.integers(0, 1), bias=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_im2col_forward_and_filter_gradient_match_torch(n, cg, og, groups, hw, k, stride, dilation, padding, bias,
                                                        seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cg * groups, hw, hw))
    w = rng.standard_normal((og * groups, cg, k, k))
    b = rng.standard_normal(og * groups) if bias else None
    args = ((stride, stride), (padding, padding), (dilation, dilation), groups)
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    expected = torch.nn.functional.conv2d(xt, wt, None if b is None else torch.from_numpy(b), *args)
    with conv_settings.flags(algorithm="im2col"):
        y = conv.conv2d_forward(x, w, b, *args)
        np.testing.assert_allclose(y, expected.numpy(), rtol=1e-12, atol=1e-12)
        gy = rng.standard_normal(y.shape)
        gw = conv.conv2d_backward_filter(x, gy, w.shape, *args)
    gw_expected = torch.ops.aten.convolution_backward(torch.from_numpy(gy), xt, wt, None, *[list(a) for a in args[:3]],
                                                      False, [0, 0], groups, [False, True, False])[1]
    np.testing.assert_allclose(gw, gw_expected.numpy(), rtol=1e-11, atol=1e-11)
    assert gw.flags.c_contiguous


def test_im2col_forward_bias_float32_and_gradcheck():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 3, 40, 40), dtype=np.float32)
    w = rng.standard_normal((16, 3, 3, 3), dtype=np.float32)
    b = rng.standard_normal(16, dtype=np.float32)
    with conv_settings.flags(algorithm="im2col"):
        y = conv.conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1), 1)
    expected = torch.nn.functional.conv2d(*(torch.from_numpy(a) for a in (x, w, b)), padding=1).numpy()
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    conv_settings.algorithm = "im2col"
    xl = lumen.randn(2, 4, 9, 8, dtype=lumen.float64, requires_grad=True)
    wl = lumen.randn(6, 2, 3, 3, dtype=lumen.float64, requires_grad=True)
    bl = lumen.randn(6, dtype=lumen.float64, requires_grad=True)
    assert lumen.autograd.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2), (xl, wl, bl))
