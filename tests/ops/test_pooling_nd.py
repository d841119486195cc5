"""1-d and 3-d max/avg pooling, adaptive avg (1-d, 3-d) and max (1-d, 2-d, 3-d) pooling, lp_pool, max_unpool:
float64 gradchecks (the new MaxPool3d, AdaptiveMaxPool and MaxUnpool Functions among them), double backward, PyTorch
parity (values, indices and gradients, hypothesis over shapes/windows), errors."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck

SETTINGS = settings(max_examples=10, deadline=None)


def _x(seed, *shape, offset=0.0):
    # a permutation keeps values distinct: finite differences never cross a max-pool tie
    rng = np.random.default_rng(seed)
    vals = rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 + offset
    return lumen.tensor(vals, dtype=lumen.float64, requires_grad=True)


def _parity(fn, tfn, x, rtol=1e-12, atol=1e-13):
    """Values, indices (when fn returns them) and input gradients against torch."""
    torch = pytest.importorskip("torch")
    x = x.detach().requires_grad_()
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    y, ty = fn(x), tfn(tx)
    if isinstance(ty, tuple):
        np.testing.assert_array_equal(y[1].numpy(), ty[1].numpy())
        assert y[1].dtype is lumen.int64
        y, ty = y[0], ty[0]
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(0).standard_normal(y.shape)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)


def _out_size(n, k, s, p, d, ceil_mode):
    o = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    return o - 1 if ceil_mode and (o - 1) * s >= n + p else o


@st.composite
def windows(draw, dims, dilation=True):
    k = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, kk // 2)) for kk in k)
    dil = tuple(draw(st.integers(1, 2)) for _ in range(dims)) if dilation else (1,) * dims
    spatial = tuple(draw(st.integers(1, 7 if dims == 1 else 4)) for _ in range(dims))
    ceil_mode = draw(st.booleans())
    for n, kk, s, p, d in zip(spatial, k, stride, padding, dil):
        assume(n + 2 * p >= d * (kk - 1) + 1)
        # every dilated window must reach into the input (PyTorch returns -inf and a bogus index)
        taps = np.arange(_out_size(n, kk, s, p, d, ceil_mode))[:, None] * s - p + np.arange(kk) * d
        assume(((taps >= 0) & (taps < n)).any(axis=1).all())
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    kw = dict(kernel_size=k, stride=stride, padding=padding, ceil_mode=ceil_mode)
    if dilation:
        kw["dilation"] = dil
    return batch + (draw(st.integers(1, 2)),) + spatial, kw


@pytest.mark.parametrize("dims", [1, 3])
@SETTINGS
@given(data=st.data(), seed=st.integers(0, 999))
def test_max_pool_nd_gradcheck_and_matches_torch(dims, data, seed):
    torch = pytest.importorskip("torch")
    shape, kw = data.draw(windows(dims))
    name = f"max_pool{dims}d"
    x = _x(seed, *shape)
    assert gradcheck(lambda a: getattr(F, name)(a, **kw), (x,))
    _parity(lambda a: getattr(F, name)(a, return_indices=True, **kw),
            lambda t: getattr(torch.nn.functional, name)(t, return_indices=True, **kw), x)


@pytest.mark.parametrize("dims", [1, 3])
@SETTINGS
@given(data=st.data(), seed=st.integers(0, 999), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 3]))
def test_avg_pool_nd_gradcheck_and_matches_torch(dims, data, seed, count_include_pad, divisor_override):
    torch = pytest.importorskip("torch")
    shape, kw = data.draw(windows(dims, dilation=False))
    kw["count_include_pad"] = count_include_pad
    if dims == 3:  # avg_pool1d has no divisor_override
        kw["divisor_override"] = divisor_override
    name = f"avg_pool{dims}d"
    if dims == 3:  # PyTorch's avg_pool3d wants the unpadded input at least the kernel
        assume(all(n >= k for n, k in zip(shape[-3:], kw["kernel_size"])))
    x = _x(seed, *shape)
    assert gradcheck(lambda a: getattr(F, name)(a, **kw), (x,))
    _parity(lambda a: getattr(F, name)(a, **kw), lambda t: getattr(torch.nn.functional, name)(t, **kw), x)


@SETTINGS
@given(dims=st.sampled_from([1, 2, 3]), data=st.data(), seed=st.integers(0, 999))
def test_adaptive_pools_gradcheck_and_match_torch(dims, data, seed):
    torch = pytest.importorskip("torch")
    spatial = tuple(data.draw(st.integers(1, 7 if dims < 3 else 4)) for _ in range(dims))
    out = tuple(data.draw(st.sampled_from([None, 1, 2, 3, 5] if dims > 1 else [1, 2, 3, 5])) for _ in range(dims))
    out = out[0] if dims == 1 else out
    x = _x(seed, data.draw(st.sampled_from([1, 2])), 2, *spatial)
    names = [f"adaptive_avg_pool{dims}d", f"adaptive_max_pool{dims}d"]
    for name in names:
        assert gradcheck(lambda a: getattr(F, name)(a, out), (x,))
        kw = dict(return_indices=True) if "max" in name else {}
        _parity(lambda a: getattr(F, name)(a, out, **kw), lambda t: getattr(torch.nn.functional, name)(t, out, **kw),
                x)
    unbatched = x[0].detach()
    np.testing.assert_array_equal(getattr(F, names[-1])(unbatched, out).numpy(),
                                  getattr(F, names[-1])(unbatched.unsqueeze(0), out)[0].numpy())


def test_adaptive_max_pool2d_nan_and_ties_match_torch():
    torch = pytest.importorskip("torch")
    x = np.zeros((1, 1, 5, 7))
    x[0, 0, 1, 2] = x[0, 0, 3, 5] = np.nan
    x[0, 0, 4, 0] = 1.0
    for out in ((2, 3), (1, 1), (5, 7), (3, 2)):
        y, i = F.adaptive_max_pool2d(lumen.tensor(x), out, return_indices=True)
        ty, ti = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), out, return_indices=True)
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


def test_new_max_functions_double_backward():
    x = _x(1, 1, 2, 3, 4, 5)
    assert gradgradcheck(lambda a: F.max_pool3d(a, 2, stride=(1, 2, 2), padding=1), (x,))
    assert gradgradcheck(lambda a: F.adaptive_max_pool2d(a, (2, 3)), (_x(2, 1, 2, 5, 7),))
    assert gradgradcheck(lambda a: F.adaptive_max_pool3d(a, (2, 1, 3)), (_x(3, 1, 1, 3, 2, 5),))
    assert gradgradcheck(lambda a: F.avg_pool3d(a, (2, 1, 3), padding=(1, 0, 1), ceil_mode=True), (x,))


@pytest.mark.parametrize("dims,norm_type,kernel,stride,ceil_mode", [
    (1, 2, 3, None, False), (1, 3.0, 2, 1, True), (2, 2, (2, 3), (1, 2), False), (2, 1.5, 3, 2, True),
    (3, 2, 2, (1, 2, 1), False)])
def test_lp_pool_gradcheck_and_matches_torch(dims, norm_type, kernel, stride, ceil_mode):
    torch = pytest.importorskip("torch")
    name = f"lp_pool{dims}d"
    x = _x(dims, 2, 2, *((5, 4, 5)[:dims] if dims < 3 else (3, 4, 5)), offset=0.5)  # positive: real powers

    def fn(a):
        return getattr(F, name)(a, norm_type, kernel, stride, ceil_mode)
    assert gradcheck(fn, (x,))
    _parity(fn, lambda t: getattr(torch.nn.functional, name)(t, norm_type, kernel, stride, ceil_mode), x,
            rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("dims,kernel,stride,padding,output_size", [
    (1, 2, None, 0, None), (1, 3, 2, 1, [8]), (2, 2, None, 0, None), (2, (2, 3), (2, 3), (1, 1), (1, 2, 8, 6)),
    (3, 2, None, 0, None), (3, (1, 2, 2), 2, 0, (4, 6, 7))])
def test_max_unpool_inverts_max_pool_and_matches_torch(dims, kernel, stride, padding, output_size):
    torch = pytest.importorskip("torch")
    shape = (1, 2) + ((8,), (8, 6), (4, 6, 8))[dims - 1]
    x = _x(dims, *shape)
    y, idx = getattr(F, f"max_pool{dims}d")(x.detach(), kernel, stride, padding, return_indices=True)
    name = f"max_unpool{dims}d"
    y = y.requires_grad_()
    flat = idx.numpy().reshape(2, -1)
    if all(len(set(row)) == len(row) for row in flat):  # a repeated index is written once: no derivative
        assert gradcheck(lambda a: getattr(F, name)(a, idx, kernel, stride, padding, output_size), (y,))
    tidx = torch.tensor(idx.numpy())
    _parity(lambda a: getattr(F, name)(a, idx, kernel, stride, padding, output_size),
            lambda t: getattr(torch.nn.functional, name)(t, tidx, kernel, stride, padding, output_size), y)
    with pytest.raises(RuntimeError, match=rf"{name}: indices must lie in \[0, \d+\)"):
        getattr(F, name)(y, idx + 10**6, kernel, stride, padding)


def test_pooling_nd_float32_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7, 8)).astype(np.float32)
    for name, args in (("max_pool3d", (3, 2, 1)), ("avg_pool3d", ((2, 3, 3), 2, 1, True, False)),
                       ("adaptive_avg_pool3d", ((4, 3, 5),))):
        y = getattr(F, name)(lumen.tensor(x), *args)
        assert y.dtype is lumen.float32
        np.testing.assert_allclose(y.numpy(), getattr(torch.nn.functional, name)(torch.tensor(x), *args).numpy(),
                                   rtol=1e-6, atol=1e-6)


def test_pooling_nd_errors():
    x1, x3 = lumen.zeros((1, 2, 5)), lumen.zeros((1, 2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"max_pool1d: padding \(2,\) should be at most half of kernel_size \(3,\)"):
        F.max_pool1d(x1, 3, padding=2)
    with pytest.raises(ValueError, match=r"max_pool3d: expected a 4-d \(unbatched\) or 5-d \(batched\) input, "
                                         r"got shape \(2, 3\)"):
        F.max_pool3d(lumen.zeros((2, 3)), 2)
    with pytest.raises(ValueError, match=r"avg_pool3d: input of shape \(1, 2, 3, 4, 5\) with kernel_size "
                                         r"\(4, 4, 4\).*too small"):
        F.avg_pool3d(x3, 4)
    with pytest.raises(RuntimeError, match=r"avg_pool3d: input of shape \(1, 2, 3, 4, 5\) is smaller than "
                                           r"kernel_size \(1, 5, 1\)"):
        F.avg_pool3d(x3, (1, 5, 1), padding=(0, 2, 0))
    with pytest.raises(ValueError, match=r"avg_pool3d: divisor_override must be a non-zero int"):
        F.avg_pool3d(x3, 2, divisor_override=0)
    with pytest.raises(TypeError, match=r"max_pool3d: expected a floating-point input, got lumen.int64"):
        F.max_pool3d(lumen.zeros((1, 1, 2, 2, 2), dtype=lumen.int64), 2)
    with pytest.raises(ValueError, match=r"max_pool1d: with input \(1, 1, 1\).*some window along W covers only "
                                         r"padding"):
        F.max_pool1d(lumen.zeros((1, 1, 1)), 2, 1, 1, 2)
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: output_size must be >= 1"):
        F.adaptive_max_pool2d(lumen.zeros((1, 1, 4, 4)), (0, 2))
    with pytest.raises(ValueError, match=r"adaptive_avg_pool3d: output_size must be an int or 3 ints"):
        F.adaptive_avg_pool3d(x3, (2, 2))
    with pytest.raises(ValueError, match=r"max_unpool2d: output_size \(9, 9\) must be 2 \(or 4\) sizes, each "
                                         r"within one stride of the default \(4, 4\)"):
        F.max_unpool2d(lumen.zeros((1, 1, 2, 2)), lumen.zeros((1, 1, 2, 2), dtype=lumen.int64), 2,
                       output_size=(9, 9))


@pytest.mark.cuda
def test_cuda_matches_cpu():
    """The N-d pools, unpooling and the new resampling ops on the CUDA backend (a GPU, or --cuda-emulator)
    give the CPU's values, indices and gradients."""
    pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")
    x3 = np.random.default_rng(0).permutation(2 * 2 * 3 * 4 * 5).reshape(2, 2, 3, 4, 5) / 7.0
    x2 = x3[:, :, 0]
    cases = [(x3, lambda a: F.max_pool3d(a, 2, stride=(1, 2, 2), padding=1, return_indices=True)),
             (x3, lambda a: F.avg_pool3d(a, (2, 1, 3), padding=(1, 0, 1), ceil_mode=True, count_include_pad=False)),
             (x3, lambda a: F.adaptive_avg_pool3d(a, (2, 3, 3))),
             (x3, lambda a: F.adaptive_max_pool3d(a, (2, 3, 2), return_indices=True)),
             (x2, lambda a: F.adaptive_max_pool2d(a, (3, 2), return_indices=True)),
             (x2[:, :, 0], lambda a: F.max_pool1d(a, 3, 2, 1, return_indices=True)),
             (x2, lambda a: F.lp_pool2d(a + 1, 2, 2)),
             (x2, lambda a: F.max_unpool2d(*F.max_pool2d(a, 2, return_indices=True), 2, output_size=(4, 5))),
             (x3, lambda a: F.interpolate(a, scale_factor=(1.5, 2, 0.5), mode="trilinear")),
             (x2, lambda a: F.interpolate(a, size=(5, 7), mode="bicubic", align_corners=True)),
             (x2, lambda a: F.interpolate(a, size=(3, 2), mode="bicubic", antialias=True)),
             (x2, lambda a: F.fold(F.unfold(a, 2, padding=1), (4, 5), 2, padding=1)),
             (x2, lambda a: F.pixel_unshuffle(F.pixel_shuffle(a.reshape(2, 8, 1, 5), 2), 2))]
    for x, case in cases:
        results = []
        for device in ("cpu", "cuda"):
            xs = lumen.tensor(x, device=device, requires_grad=True)
            out = case(xs)
            out, extra = (out[0], [out[1]]) if isinstance(out, tuple) else (out, [])
            (out * out).sum().backward()
            results.append([t.detach().cpu().numpy() for t in [out, xs.grad] + extra])
        for a, b in zip(*results):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
