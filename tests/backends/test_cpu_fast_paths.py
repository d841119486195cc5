"""CPU fast paths against the reference paths: Winograd vs im2col, separable upsampling vs deconvolution."""
import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lumen
import lumen.nn.functional as F
from lumen.backends import conv as conv_settings
from lumen.backends.cpu import conv, direct, winograd
from lumen import nn
from lumen.nn import init

# Error of each algorithm relative to the largest sum of |x| * |w| (a norm-wise bound: relative to
# max|y| alone, one output that cancels to near zero fails any tolerance), measured on these
# shapes (<= 64 channels): F(2x2) float32 ~2e-7, F(4x4) float32 ~2e-6 (its transforms hold 4, 5
# and 1/24); float64 ~1e-15.
BOUND = {("winograd2", np.float32): 1e-6, ("winograd4", np.float32): 1e-5,
         ("winograd2", np.float64): 1e-13, ("winograd4", np.float64): 1e-13}


@pytest.fixture(autouse=True)
def _default_selector():
    with conv_settings.flags():
        yield


@contextlib.contextmanager
def _transforms(kind):
    """The Winograd transforms in C (winograd.c, the default where it builds) or in NumPy (without a compiler)."""
    with pytest.MonkeyPatch.context() as patch:
        if kind == "numpy":
            patch.setattr(winograd, "_compiled", lambda dtype, m: None)
        yield


def test_the_c_transforms_build_here():
    for dtype in (np.float32, np.float64):
        for m in (2, 4):
            assert winograd._compiled(dtype, m) is not None, \
                winograd.native.typed_failure("winograd", dtype)


def _rel_err(a, ref, scale=None):
    return np.abs(a - ref).max() / (np.abs(ref).max() if scale is None else scale)


def _reference_forward(x, w, padding):
    conv_settings.algorithm = "im2col"
    y = conv.conv2d_forward(x.astype(np.float64), w.astype(np.float64), None, (1, 1), padding, (1, 1), 1)
    conv_settings.algorithm = None
    return y


shapes = st.tuples(st.integers(1, 2), st.integers(1, 24), st.integers(1, 24), st.integers(1, 19),
                   st.integers(1, 19), st.integers(0, 2))


@pytest.mark.parametrize("transforms", ["c", "numpy"])
@settings(max_examples=25, deadline=None)
@given(shape=shapes, algo=st.sampled_from(["winograd2", "winograd4"]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 16))
def test_winograd_forward_matches_im2col(transforms, shape, algo, dtype, seed):
    with _transforms(transforms):
        _check_forward(shape, algo, dtype, seed)


def _check_forward(shape, algo, dtype, seed):
    n, c, o, h, w, p = shape
    if h + 2 * p < 3 or w + 2 * p < 3:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    ref = _reference_forward(x, wt, (p, p)) + b.reshape(o, 1, 1)
    conv_settings.algorithm = algo
    y = conv.conv2d_forward(x, wt, b, (1, 1), (p, p), (1, 1), 1)
    assert y.dtype == dtype and y.shape == ref.shape and y.flags.c_contiguous
    scale = (_reference_forward(np.abs(x), np.abs(wt), (p, p)) + np.abs(b).reshape(o, 1, 1)).max()
    assert _rel_err(y, ref, scale) <= BOUND[algo, dtype]


@pytest.mark.parametrize("transforms", ["c", "numpy"])
@pytest.mark.parametrize("algo", ["winograd2", "winograd4"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_error_bound_at_vgg_width(algo, dtype, transforms, monkeypatch):
    if transforms == "numpy":
        monkeypatch.setattr(winograd, "_compiled", lambda dtype, m: None)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 64, 30, 30)).astype(dtype)
    w = (rng.standard_normal((64, 64, 3, 3)) / 24).astype(dtype)
    ref = _reference_forward(x, w, (1, 1))
    conv_settings.algorithm = algo
    assert _rel_err(conv.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1), ref) <= BOUND[algo, dtype]


@pytest.mark.parametrize("transforms", ["c", "numpy"])
@pytest.mark.parametrize("algo", ["winograd2", "winograd4"])
@pytest.mark.parametrize("p", [0, 1, 2])
def test_winograd_backward_data_matches_col2im(algo, p, transforms, monkeypatch):
    if transforms == "numpy":
        monkeypatch.setattr(winograd, "_compiled", lambda dtype, m: None)
    rng = np.random.default_rng(p)
    x_shape = (2, 5, 11, 8)
    w = rng.standard_normal((7, 5, 3, 3))
    gy = rng.standard_normal((2, 7, 11 + 2 * p - 2, 8 + 2 * p - 2))
    conv_settings.algorithm = "im2col"
    ref = conv.conv2d_backward_data(gy, w, x_shape, (1, 1), (p, p), (1, 1), 1)
    conv_settings.algorithm = algo
    gx = conv.conv2d_backward_data(gy, w, x_shape, (1, 1), (p, p), (1, 1), 1)
    assert gx.shape == x_shape
    assert _rel_err(gx, ref) <= 1e-13


@pytest.mark.parametrize("transforms", ["c", "numpy"])
def test_winograd_bands_cover_the_image(monkeypatch, transforms):
    # A tiny band budget forces one tile row per band, including the padded edges.
    monkeypatch.setattr(winograd, "_BAND_BYTES", 1)
    if transforms == "numpy":
        monkeypatch.setattr(winograd, "_compiled", lambda dtype, m: None)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 13, 10))
    w = rng.standard_normal((4, 3, 3, 3))
    ref = _reference_forward(x, w, (2, 1))
    for algo in ("winograd2", "winograd4"):
        conv_settings.algorithm = algo
        assert _rel_err(conv.conv2d_forward(x, w, None, (1, 1), (2, 1), (1, 1), 1), ref) <= 1e-13


def test_selector_heuristic_benchmark_and_force(monkeypatch):
    rng = np.random.default_rng(3)
    ran = []
    forward_by = conv._forward_by
    monkeypatch.setattr(conv, "_forward_by", lambda algo, *args: ran.append(algo) or forward_by(algo, *args))

    def chosen(n, c, o, hw, k=3, padding=(1, 1)):
        x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
        w = rng.standard_normal((o, c, k, k)).astype(np.float32)
        ran.clear()
        conv.conv2d_forward(x, w, None, (1, 1), padding, (1, 1), 1)
        return ran[-1]  # benchmark mode times every candidate first, then runs the winner

    conv_settings.benchmark = False
    # up to 128 channels (test_cpu_direct.py); with AVX2's registers F(2x2,3x3) from 64 on large maps
    wide = direct.vector_bytes(np.float32) == 64
    assert chosen(1, 64, 64, 112) == ("direct" if wide else "winograd2")
    assert chosen(1, 256, 256, 56) == "winograd2"
    assert chosen(8, 256, 256, 13) == "im2col"  # tiles too coarse for a 13x13 map
    assert chosen(1, 192, 256, 56) == ("implicit" if wide else "winograd2")
    assert chosen(1, 192, 256, 9, k=7, padding=(0, 0)) == "im2col"
    assert chosen(1, 192, 192, 96, k=5, padding=(2, 2)) == "implicit"
    assert chosen(1, 64, 64, 112, k=1, padding=(0, 0)) == "im2col"  # 1x1: one GEMM on the input as it lies
    assert not conv_settings.CPU.cache
    conv_settings.algorithm = "winograd2"  # forced where it can run, an error elsewhere
    assert chosen(1, 64, 64, 14) == "winograd2"
    with pytest.raises(ValueError, match=r"forced algorithm 'winograd2' cannot run .*\(64, 64, 5, 5\).*'implicit'"):
        chosen(1, 64, 64, 96, k=5, padding=(2, 2))
    conv_settings.algorithm = None
    conv_settings.benchmark = True
    assert chosen(1, 64, 64, 28) in conv.ALGORITHMS
    [(key, winner)] = conv_settings.CPU.cache.items()
    assert key[0] == "forward" and winner == ran[-1]
    assert ran[:-1] == [a for a in conv.ALGORITHMS for _ in ("warm-up", "timed")]
    assert chosen(1, 64, 64, 28) == winner and len(ran) == 1  # the same shape again: cached, not timed
    conv_settings.clear_cache()
    assert not conv_settings.CPU.cache
    conv_settings.algorithm = "fft"
    with pytest.raises(ValueError, match=r"unknown cpu convolution algorithm 'fft'.*'im2col', 'implicit'"):
        chosen(1, 3, 4, 5)


@pytest.mark.parametrize("algo", ["winograd2", "winograd4"])
def test_conv2d_gradients_through_winograd(algo):
    rng = np.random.default_rng(4)
    x = lumen.tensor(rng.standard_normal((2, 4, 9, 7)), requires_grad=True)
    w = lumen.tensor(rng.standard_normal((6, 4, 3, 3)), requires_grad=True)
    g = lumen.tensor(rng.standard_normal((2, 6, 9, 7)))
    grads = {}
    for a in ("im2col", algo):
        conv_settings.algorithm = a
        x.grad = w.grad = None
        y = F.conv2d(x, w, padding=1)
        (y * g).sum().backward()
        grads[a] = (y.detach().numpy(), x.grad.numpy(), w.grad.numpy())
    for ref, got in zip(grads["im2col"], grads[algo]):
        assert _rel_err(got, ref) <= 1e-13


def _fixed_up(c, k, dtype=lumen.float32, **kw):
    """An FCN-style frozen bilinear upsampling layer (``fix_bilinear_``)."""
    return nn.ConvTranspose2d(c, c, k, bias=False, dtype=dtype, **kw).fix_bilinear_()


def _path(y):
    """The Function that produced the deconvolution output."""
    return type(y.grad_fn).__name__


@pytest.mark.parametrize("dtype,tol", [(lumen.float32, 2e-6), (lumen.float64, 1e-13)])
@pytest.mark.parametrize("c,h,k,s,p,op", [(4, 3, 64, 32, 0, 0), (5, 7, 16, 8, 3, 0), (3, 5, 4, 2, 1, 1),
                                          (2, 4, 3, 2, 0, 0)])
def test_fixed_bilinear_upsampling_matches_deconvolution(dtype, tol, c, h, k, s, p, op):
    rng = np.random.default_rng(5)
    layer = nn.ConvTranspose2d(c, c, k, stride=s, padding=p, output_padding=op, dtype=dtype).fix_bilinear_()
    with lumen.no_grad():
        layer.bias.copy_(lumen.tensor(rng.standard_normal(c), dtype=dtype))
    learned = lumen.tensor(layer.weight.numpy(), requires_grad=True)
    x = lumen.tensor(rng.standard_normal((2, c, h, h + 1)), dtype=dtype, requires_grad=True)
    out = {}
    for name, run in (("fixed", layer), ("learned", lambda t: F.conv_transpose2d(
            t, learned, layer.bias, stride=s, padding=p, output_padding=op))):
        x.grad = None
        y = run(x)
        g = lumen.tensor(rng.standard_normal(y.shape), dtype=dtype) if name == "fixed" else g
        (y * g).sum().backward()
        out[name] = (y.detach().numpy(), x.grad.numpy())
    assert layer.is_fixed_bilinear()
    assert out["fixed"][0].shape == out["learned"][0].shape
    assert _rel_err(out["fixed"][0], out["learned"][0]) <= tol
    assert _rel_err(out["fixed"][1], out["learned"][1]) <= tol
    assert learned.grad is not None


def test_fast_path_only_while_the_fixed_weight_is_frozen_and_unmodified():
    import copy

    x = lumen.randn(1, 3, 4, 4, requires_grad=True)
    up = _fixed_up(3, 4, stride=2)
    assert _path(up(x)) == "SeparableResample"
    up.weight.requires_grad_(True)
    assert _path(up(x)) == "Conv2dBackwardData"
    up.weight.requires_grad_(False)
    assert _path(up(x)) == "SeparableResample"
    # a move or cast keeps the kernel, and so the fast path; so does a copy of the layer
    up.to(lumen.float64)
    y = up(x.double())
    assert _path(y) == "SeparableResample" and y.dtype is lumen.float64
    twin = copy.deepcopy(up)
    assert twin.is_fixed_bilinear() and _path(twin(x.double())) == "SeparableResample"
    # loading the kernel's own values (a checkpoint of it) keeps it; loading other values ends it
    up.load_state_dict(twin.state_dict())
    assert up.is_fixed_bilinear()
    other = _fixed_up(3, 4, stride=2)
    other.load_state_dict({"weight": twin.weight * 2})
    assert not other.is_fixed_bilinear() and _path(other(x)) == "Conv2dBackwardData"
    # a write to the weight (here, an in-place change) ends it for good
    with lumen.no_grad():
        up.weight[0, 1, 0, 0] = 1.0
    assert _path(up(x.double())) == "Conv2dBackwardData"
    assert twin.is_fixed_bilinear()
    # the plain op never inspects its weight: a frozen bilinear kernel given to it stays a deconvolution
    frozen = init.bilinear_(lumen.zeros(3, 3, 4, 4))
    assert _path(F.conv_transpose2d(x, frozen, stride=2)) == "Conv2dBackwardData"
    with pytest.raises(ValueError, match=r"ConvTranspose2d.fix_bilinear_: needs in_channels == out_channels"):
        nn.ConvTranspose2d(3, 4, 4).fix_bilinear_()


def test_separable_resample_double_backward():
    up1, up2 = _fixed_up(2, 4, lumen.float64, stride=2, padding=1), _fixed_up(2, 4, lumen.float64, stride=2)
    x = lumen.randn(1, 2, 3, 3, dtype=lumen.float64, requires_grad=True)
    assert _path(up1(x)) == "SeparableResample"
    assert lumen.autograd.gradcheck(up1, (x,))
    assert lumen.autograd.gradgradcheck(lambda t: up2(t) ** 2, (x,))


@pytest.mark.parametrize("stride,padding,dilation,groups", [((1, 1), (1, 1), (1, 1), 1), ((2, 1), (2, 0), (1, 2), 2)])
def test_row_bands_match_whole_image(monkeypatch, stride, padding, dilation, groups):
    """Columns of a large image are built in bands of output rows; every primitive agrees with one chunk."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, 15, 9))
    w = rng.standard_normal((6, 4 // groups, 3, 3))
    conv_settings.algorithm = "im2col"
    y = conv.conv2d_forward(x, w, None, stride, padding, dilation, groups)
    gy = rng.standard_normal(y.shape)
    ref = (y, conv.conv2d_backward_data(gy, w, x.shape, stride, padding, dilation, groups),
           conv.conv2d_backward_filter(x, gy, w.shape, stride, padding, dilation, groups))
    monkeypatch.setattr(conv, "_CHUNK_BYTES", 8 * 4 * 9 * y.shape[3] * 2)  # two output rows per band
    assert len(conv._chunks(2, y.shape[2], 4 * 9 * y.shape[3], 8)) > 2
    got = (conv.conv2d_forward(x, w, None, stride, padding, dilation, groups),
           conv.conv2d_backward_data(gy, w, x.shape, stride, padding, dilation, groups),
           conv.conv2d_backward_filter(x, gy, w.shape, stride, padding, dilation, groups))
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
