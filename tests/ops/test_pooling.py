"""max_pool2d / avg_pool2d / adaptive_avg_pool2d: gradchecks, double backward, PyTorch parity, errors."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck

SETTINGS = settings(max_examples=15, deadline=None)


def _x(seed, *shape):
    # a permutation keeps values distinct: finite differences never cross a max-pool tie
    rng = np.random.default_rng(seed)
    vals = rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0
    return lumen.tensor(vals, dtype=lumen.float64, requires_grad=True)


def _out_size(n, k, s, p, d, ceil_mode):
    o = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    return o - 1 if ceil_mode and (o - 1) * s >= n + p else o


@st.composite
def pool_cases(draw, dilation=True):
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = tuple(draw(st.integers(0, kk // 2)) for kk in k)
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    ceil_mode = draw(st.booleans())
    for n, kk, s, p, d in zip((h, w), k, stride, padding, dil):
        assume(n + 2 * p >= d * (kk - 1) + 1)
        # every dilated window must reach into the input (PyTorch returns -inf and a bogus index)
        taps = np.arange(_out_size(n, kk, s, p, d, ceil_mode))[:, None] * s - p + np.arange(kk) * d
        assume(((taps >= 0) & (taps < n)).any(axis=1).all())
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), kernel_size=k, stride=stride,
                padding=padding, dilation=dil, ceil_mode=ceil_mode)


def _max(case):
    kw = {k: v for k, v in case.items() if k != "shape"}
    return lambda x: F.max_pool2d(x, **kw)


@st.composite
def avg_cases(draw):
    case = draw(pool_cases(dilation=False))
    del case["dilation"]
    case["count_include_pad"] = draw(st.booleans())
    case["divisor_override"] = draw(st.sampled_from([None, None, 3]))
    return case


def _avg(case, mod=F):
    kw = {k: v for k, v in case.items() if k != "shape"}
    return lambda x: mod.avg_pool2d(x, **kw)


@SETTINGS
@given(case=pool_cases(), seed=st.integers(0, 999))
def test_max_pool2d_gradcheck(case, seed):
    assert gradcheck(_max(case), (_x(seed, *case["shape"]),))


@SETTINGS
@given(case=avg_cases(), seed=st.integers(0, 999))
def test_avg_pool2d_gradcheck(case, seed):
    assert gradcheck(_avg(case), (_x(seed, *case["shape"]),))


@settings(max_examples=10, deadline=None)
@given(h=st.integers(1, 11), w=st.integers(1, 11), oh=st.integers(1, 6), ow=st.integers(1, 6))
def test_adaptive_avg_pool2d_gradcheck(h, w, oh, ow):
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, (oh, ow)), (_x(0, 2, 2, h, w),))


def _backward_gradcheck(fn, x):
    """gradcheck of gy -> d<fn(x), gy>/dx built with create_graph: the double-backward path of an op
    linear in x (lumen's gradgradcheck holds gy fixed, so it sees no dependence there)."""
    x = x.detach().requires_grad_()
    y = fn(x)
    gy = lumen.tensor(np.random.default_rng(5).standard_normal(y.shape), requires_grad=True)

    def first(g):
        with lumen.enable_grad():  # gradcheck probes shapes under no_grad
            return lumen.autograd.grad(fn(x), x, g, create_graph=True)[0]
    return gradcheck(first, (gy,))


def test_pool_double_backward():
    x = _x(1, 1, 2, 7, 6)
    assert _backward_gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), x)
    assert _backward_gradcheck(lambda x: F.avg_pool2d(x, (3, 2), (2, 1), 1, count_include_pad=False), x)
    assert _backward_gradcheck(lambda x: F.adaptive_avg_pool2d(x, (4, 5)), x)
    # through a nonlinearity the second derivative w.r.t. x itself is exercised
    assert gradgradcheck(lambda x: F.max_pool2d(x * x, 2, 1) * F.avg_pool2d(x, 2, 1), (x,))


def test_max_pool2d_caffe_googlenet_shapes():
    """Caffe's pooling rounds up: GoogLeNet's 112 -> 56 with kernel 3, stride 2 needs ceil_mode."""
    x = lumen.zeros((1, 1, 112, 112))
    assert F.max_pool2d(x, 3, 2, ceil_mode=True).shape == (1, 1, 56, 56)
    assert F.max_pool2d(x, 3, 2).shape == (1, 1, 55, 55)


def test_adaptive_avg_pool2d_global_and_none():
    x = _x(2, 2, 3, 7, 5)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1).detach().numpy(),
                               x.detach().numpy().mean(axis=(2, 3), keepdims=True), rtol=1e-12)
    y = F.adaptive_avg_pool2d(x, (None, 2))
    assert y.shape == (2, 3, 7, 2)
    np.testing.assert_allclose(y.detach().numpy()[..., 0], x.detach().numpy()[..., :3].mean(-1), rtol=1e-12)


# ---- PyTorch parity ----------------------------------------------------------------------

def _parity(lumen_fn, torch_fn, x):
    torch = pytest.importorskip("torch")
    x = x.detach().requires_grad_()
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    y, ty = lumen_fn(x), torch_fn(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(y.shape)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=pool_cases(), seed=st.integers(0, 999))
def test_max_pool2d_matches_torch(case, seed):
    torch = pytest.importorskip("torch")
    kw = {k: v for k, v in case.items() if k != "shape"}
    x = _x(seed, *case["shape"])
    _parity(_max(case), lambda t: torch.nn.functional.max_pool2d(t, **kw), x)
    _, idx = F.max_pool2d(x, return_indices=True, **kw)
    _, tidx = torch.nn.functional.max_pool2d(torch.tensor(x.detach().numpy()), return_indices=True, **kw)
    assert idx.dtype is lumen.int64
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@SETTINGS
@given(case=avg_cases(), seed=st.integers(0, 999))
def test_avg_pool2d_matches_torch(case, seed):
    torch = pytest.importorskip("torch")
    _parity(_avg(case), _avg(case, torch.nn.functional), _x(seed, *case["shape"]))


@pytest.mark.parametrize("size,out", [((7, 5), (3, 2)), ((13, 13), (6, 6)), ((6, 9), (3, 3)),
                                      ((5, 4), (7, 6)), ((8, 8), (None, 3))])
def test_adaptive_avg_pool2d_matches_torch(size, out):
    torch = pytest.importorskip("torch")
    _parity(lambda x: F.adaptive_avg_pool2d(x, out),
            lambda t: torch.nn.functional.adaptive_avg_pool2d(t, out), _x(3, 2, 3, *size))


# ---- errors ------------------------------------------------------------------------------

def test_pool_errors():
    x = lumen.zeros((1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 2\) should be at most half of kernel_size \(3, 3\)"):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match=r"max_pool2d: expected a 4-d \(N, C, H, W\) input, got shape \(2, 5, 5\)"):
        F.max_pool2d(lumen.zeros((2, 5, 5)), 2)
    with pytest.raises(ValueError, match=r"avg_pool2d: input of shape \(1, 2, 5, 5\) with kernel_size \(7, 7\).*too small"):
        F.avg_pool2d(x, 7)
    with pytest.raises(ValueError, match=r"avg_pool2d: divisor_override must be a non-zero int"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(TypeError, match=r"max_pool2d: expected a floating-point input, got lumen.int64"):
        F.max_pool2d(lumen.zeros((1, 1, 4, 4), dtype=lumen.int64), 2)
    with pytest.raises(ValueError, match=r"max_pool2d: with input \(1, 1, 1, 1\).*some window along H covers only padding"):
        F.max_pool2d(lumen.zeros((1, 1, 1, 1)), (2, 1), 1, (1, 0), (2, 1))
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: output_size must be >= 1"):
        F.adaptive_avg_pool2d(x, (0, 2))
