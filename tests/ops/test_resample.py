"""crop, interpolate, pixel_(un)shuffle, fold/unfold and pad (whose index modes are gathers of lumen.ops.resample):
gradchecks, double backward, PyTorch parity, errors."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck

SETTINGS = settings(max_examples=15, deadline=None)


def _t(seed, *shape, grad=True):
    rng = np.random.default_rng(seed)
    return lumen.tensor(rng.standard_normal(shape), dtype=lumen.float64, requires_grad=grad)


def _backward_gradcheck(fn, x):
    """gradcheck of gy -> d<fn(x), gy>/dx built with create_graph (the double-backward path of a
    map linear in x)."""
    x = x.detach().requires_grad_()
    y = fn(x)
    gy = lumen.tensor(np.random.default_rng(5).standard_normal(y.shape), requires_grad=True)

    def first(g):
        with lumen.enable_grad():
            return lumen.autograd.grad(fn(x), x, g, create_graph=True)[0]
    return gradcheck(first, (gy,))


def _parity(fn, tfn, x, rtol=1e-12, atol=1e-13):
    torch = pytest.importorskip("torch")
    x = x.detach().requires_grad_()
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    y, ty = fn(x), tfn(tx)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(0).standard_normal(y.shape)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)


# ---- crop ----------------------------------------------------------------------------------

def test_crop_reference_size_and_offsets():
    x = _t(0, 2, 3, 9, 8)
    ref = lumen.zeros((1, 21, 5, 4))
    np.testing.assert_array_equal(F.crop(x, ref, 2).detach().numpy(), x.detach().numpy()[:, :, 2:7, 2:6])
    np.testing.assert_array_equal(F.crop(x, (4, 3), (5, 1)).detach().numpy(), x.detach().numpy()[:, :, 5:9, 1:4])
    np.testing.assert_array_equal(F.crop(x, 8).detach().numpy(), x.detach().numpy()[:, :, :8, :8])
    assert gradcheck(lambda x: F.crop(x, ref, (1, 3)), (x,))


def test_crop_errors():
    x = lumen.zeros((1, 2, 6, 6))
    with pytest.raises(ValueError, match=r"crop: a \(5, 4\) window at offset \(2, 2\) does not fit in input of "
                                         r"shape \(1, 2, 6, 6\)"):
        F.crop(x, lumen.zeros((1, 1, 5, 4)), 2)
    with pytest.raises(ValueError, match=r"crop: offset must be >= 0"):
        F.crop(x, 2, -1)
    with pytest.raises(ValueError, match=r"crop: expected a 4-d \(N, C, H, W\) input, got shape \(2, 6, 6\)"):
        F.crop(lumen.zeros((2, 6, 6)), 2)


# ---- interpolate --------------------------------------------------------------------------

MODES = [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True)]


@st.composite
def resize_cases(draw):
    mode, align = draw(st.sampled_from(MODES))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    if draw(st.booleans()):
        kw = dict(size=(draw(st.integers(1, 17)), draw(st.integers(1, 17))))
    else:
        sf = (draw(st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 2.3, 3.0])),
              draw(st.sampled_from([0.6, 1.0, 1.7, 2.0, 4.0])))
        if h * sf[0] < 1 or w * sf[1] < 1:
            sf = (2.0, 2.0)
        kw = dict(scale_factor=sf)
    return (1 + draw(st.integers(0, 1)), 2, h, w), dict(mode=mode, align_corners=align, **kw)


@SETTINGS
@given(case=resize_cases(), seed=st.integers(0, 999))
def test_interpolate_gradcheck(case, seed):
    shape, kw = case
    assert gradcheck(lambda x: F.interpolate(x, **kw), (_t(seed, *shape),))


@SETTINGS
@given(case=resize_cases(), seed=st.integers(0, 999))
def test_interpolate_matches_torch(case, seed):
    torch = pytest.importorskip("torch")
    shape, kw = case
    _parity(lambda x: F.interpolate(x, **kw), lambda t: torch.nn.functional.interpolate(t, **kw),
            _t(seed, *shape))


@pytest.mark.parametrize("mode,align", MODES)
def test_interpolate_float32_matches_torch(mode, align):
    """Index rules are computed in float32 like PyTorch's kernels (e.g. nearest at scale 1/3)."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((1, 2, 30, 7)).astype(np.float32)
    for kw in (dict(size=(90, 23)), dict(scale_factor=(1 / 3, 3.3)), dict(size=(11, 3))):
        y = F.interpolate(lumen.tensor(x), mode=mode, align_corners=align, **kw)
        ty = torch.nn.functional.interpolate(torch.tensor(x), mode=mode, align_corners=align, **kw)
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-6)


def test_interpolate_nearest_integer_labels_and_double_backward():
    labels = lumen.tensor(np.arange(12).reshape(1, 1, 3, 4))
    up = F.interpolate(labels, scale_factor=2)
    assert up.dtype is lumen.int64
    np.testing.assert_array_equal(up.numpy()[0, 0], np.arange(12).reshape(3, 4).repeat(2, 0).repeat(2, 1))
    x = _t(2, 1, 2, 4, 5)
    assert _backward_gradcheck(lambda x: F.interpolate(x, size=(7, 3), mode="bilinear"), x)
    assert _backward_gradcheck(lambda x: F.interpolate(x, size=(9, 4)), x)


def test_interpolate_errors():
    x = lumen.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"interpolate: exactly one of size or scale_factor must be given"):
        F.interpolate(x)
    with pytest.raises(ValueError, match=r"interpolate: exactly one of size or scale_factor must be given"):
        F.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match=r"interpolate: align_corners can only be set with the interpolating "
                                         r"modes linear \| bilinear \| bicubic \| trilinear, got mode 'nearest'"):
        F.interpolate(x, size=2, align_corners=True)
    with pytest.raises(NotImplementedError, match=r"interpolate: only 3-d, 4-d and 5-d inputs.*mode 'cubic'"):
        F.interpolate(x, size=2, mode="cubic")
    with pytest.raises(NotImplementedError, match=r"interpolate: got a 4-d input of shape \(1, 2, 4, 4\), but "
                                                  r"trilinear mode needs a 5-d input"):
        F.interpolate(x, size=2, mode="trilinear")
    with pytest.raises(NotImplementedError, match=r"interpolate: only 3-d, 4-d and 5-d inputs.*got a 2-d input"):
        F.interpolate(lumen.zeros((2, 4)), size=2)
    with pytest.raises(ValueError, match=r"interpolate: input of shape \(1, 2, 4, 4\) has 2 spatial dims but "
                                         r"size \(3, 3, 3\) gives 3"):
        F.interpolate(x, size=(3, 3, 3))
    with pytest.raises(ValueError, match=r"interpolate: recompute_scale_factor is not meaningful"):
        F.interpolate(x, size=3, recompute_scale_factor=True)
    with pytest.raises(ValueError, match=r"interpolate: antialias is restricted"):
        F.interpolate(x, size=3, antialias=True)
    with pytest.raises(TypeError, match=r"interpolate: expected a floating-point input, got lumen.int64"):
        F.interpolate(lumen.zeros((1, 1, 2, 2), dtype=lumen.int64), size=3, mode="bilinear")
    with pytest.raises(ValueError, match=r"interpolate: scale_factor 0.1 gives empty output"):
        F.interpolate(x, scale_factor=0.1)


# ---- interpolate in 1-d and 3-d, bicubic, area; the deprecated upsample aliases -------------------

ND_MODES = {1: [("nearest", None), ("nearest-exact", None), ("linear", False), ("linear", True), ("area", None)],
            2: [("bicubic", False), ("bicubic", True), ("area", None)],
            3: [("nearest", None), ("nearest-exact", None), ("trilinear", False), ("trilinear", True),
                ("area", None)]}


@st.composite
def nd_resize_cases(draw):
    n = draw(st.sampled_from([1, 2, 3]))
    mode, align = draw(st.sampled_from(ND_MODES[n]))
    spatial = tuple(draw(st.integers(1, 6 if n < 3 else 4)) for _ in range(n))
    if draw(st.booleans()):
        kw = dict(size=tuple(draw(st.integers(1, 9 if n < 3 else 5)) for _ in range(n)))
    else:
        # scales whose output is not the input size or twice it: PyTorch's 1-d and 3-d nearest kernels
        # apply the scale there while their backward takes the copy shortcut (see the test below)
        sf = tuple(draw(st.sampled_from([0.5, 0.75, 1.5, 1.7, 2.3, 3.0])) for _ in range(n))
        if any(size * s < 1 for size, s in zip(spatial, sf)):
            sf = (3.0,) * n
        if mode == "nearest" and n != 2:
            assume(all(int(size * s) not in (size, 2 * size) for size, s in zip(spatial, sf)))
        kw = dict(scale_factor=sf, recompute_scale_factor=draw(st.sampled_from([None, True])))
    return (draw(st.integers(1, 2)), 2) + spatial, dict(mode=mode, align_corners=align, **kw)


@SETTINGS
@given(case=nd_resize_cases(), seed=st.integers(0, 999))
def test_interpolate_nd_gradcheck_and_matches_torch(case, seed):
    torch = pytest.importorskip("torch")
    shape, kw = case
    assert gradcheck(lambda x: F.interpolate(x, **kw), (_t(seed, *shape),))
    _parity(lambda x: F.interpolate(x, **kw), lambda t: torch.nn.functional.interpolate(t, **kw),
            _t(seed, *shape), rtol=1e-11, atol=1e-12)


def test_interpolate_scale_rules_match_torch():
    """The scale reaches the kernels (recompute_scale_factor None): bicubic at 1.1 on 4 rows is no copy,
    nearest in 1-d at 1.05 repeats row 0, in 2-d it is a copy, as PyTorch's kernels."""
    torch = pytest.importorskip("torch")
    for shape, kw in (((1, 1, 4, 5), dict(scale_factor=1.1, mode="bicubic")),
                      ((1, 1, 10), dict(scale_factor=1.05)), ((1, 1, 10, 10), dict(scale_factor=1.05)),
                      ((1, 1, 5, 5), dict(scale_factor=2.05)), ((1, 1, 5, 4, 4), dict(scale_factor=2.05))):
        x = np.random.default_rng(0).standard_normal(shape)
        y = F.interpolate(lumen.tensor(x), **kw).numpy()
        np.testing.assert_allclose(y, torch.nn.functional.interpolate(torch.tensor(x), **kw).numpy(),
                                   rtol=1e-12, atol=1e-13)
    # PyTorch's 1-d nearest backward takes a copy shortcut its forward does not (every input gets grad 1,
    # though row 9 is never read): Lumen's gradient is its forward's adjoint
    x = lumen.tensor(np.arange(10.0).reshape(1, 1, 10), requires_grad=True)
    F.interpolate(x, scale_factor=1.05).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [2, 1, 1, 1, 1, 1, 1, 1, 1, 0])


def test_interpolate_bicubic_float32_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((1, 2, 11, 7)).astype(np.float32)
    for kw in (dict(size=(30, 5)), dict(scale_factor=(1 / 3, 3.3)), dict(size=(11, 3), align_corners=True)):
        y = F.interpolate(lumen.tensor(x), mode="bicubic", **kw)
        ty = torch.nn.functional.interpolate(torch.tensor(x), mode="bicubic", **kw)
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-5)


@SETTINGS
@given(mode=st.sampled_from(["bilinear", "bicubic"]), align=st.sampled_from([None, True]),
       h=st.integers(1, 9), w=st.integers(1, 9), out=st.tuples(st.integers(1, 12), st.integers(1, 12)),
       seed=st.integers(0, 999))
def test_interpolate_antialias_gradcheck_and_matches_torch(mode, align, h, w, out, seed):
    torch = pytest.importorskip("torch")
    kw = dict(size=out, mode=mode, align_corners=align, antialias=True)
    # PyTorch 2.13's antialiased CPU kernel reads only row 0 along H when the output is one column wide
    # ((2, 1) -> (3, 1) gives x[0] three times; (3, 1) -> (5, 1) likewise): Lumen resizes those rows as for
    # any other width (its (5, 2) output's first column is torch's too)
    assume(out[1] > 1)
    assert gradcheck(lambda x: F.interpolate(x, **kw), (_t(seed, 1, 2, h, w),))
    _parity(lambda x: F.interpolate(x, **kw), lambda t: torch.nn.functional.interpolate(t, **kw),
            _t(seed, 1, 2, h, w), rtol=1e-11, atol=1e-12)


def test_interpolate_antialias_one_column_output_resizes_rows():
    torch = pytest.importorskip("torch")
    x = np.array([1.0, 2.0, 4.0]).reshape(1, 1, 3, 1)
    y = F.interpolate(lumen.tensor(x), size=(5, 1), mode="bilinear", antialias=True).numpy()
    wide = torch.nn.functional.interpolate(torch.tensor(x.repeat(2, axis=3)), size=(5, 2), mode="bilinear",
                                           antialias=True).numpy()
    np.testing.assert_allclose(y[..., 0], wide[..., 0], rtol=1e-12)
    np.testing.assert_allclose(y.ravel(), [1.0, 1.4, 2.0, 3.2, 4.0], rtol=1e-12)


def test_interpolate_antialias_float32_and_scale_factor_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((1, 3, 40, 31)).astype(np.float32)
    for kw in (dict(scale_factor=(0.3, 0.45)), dict(scale_factor=(2.5, 0.7)), dict(size=(9, 5), align_corners=True)):
        for mode in ("bilinear", "bicubic"):
            y = F.interpolate(lumen.tensor(x), mode=mode, antialias=True, **kw)
            ty = torch.nn.functional.interpolate(torch.tensor(x), mode=mode, antialias=True, **kw)
            np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=3e-6)


@pytest.mark.parametrize("name,kw", [("upsample", dict(scale_factor=2, mode="bilinear")),
                                     ("upsample_nearest", dict(size=(5, 7))),
                                     ("upsample_bilinear", dict(scale_factor=(2, 1.5)))])
def test_deprecated_upsample_aliases_warn_and_match_torch(name, kw):
    torch = pytest.importorskip("torch")
    x = _t(4, 1, 2, 3, 4)
    with pytest.warns(UserWarning, match=rf"`nn.functional.{name}` is deprecated"):
        y = getattr(F, name)(x, **kw)
    with pytest.warns(UserWarning, match=rf"`nn.functional.{name}` is deprecated"):
        ty = getattr(torch.nn.functional, name)(torch.tensor(x.detach().numpy()), **kw)
    np.testing.assert_allclose(y.detach().numpy(), ty.numpy(), rtol=1e-12, atol=1e-13)


# ---- pixel_shuffle / pixel_unshuffle, fold / unfold ------------------------------------------------

@SETTINGS
@given(lead=st.sampled_from([(), (2,), (1, 2)]), c=st.integers(1, 2), r=st.integers(1, 3), h=st.integers(1, 3),
       w=st.integers(1, 3), seed=st.integers(0, 999))
def test_pixel_shuffle_unshuffle_match_torch_and_invert(lead, c, r, h, w, seed):
    torch = pytest.importorskip("torch")
    x = _t(seed, *lead, c * r * r, h, w)
    _parity(lambda a: F.pixel_shuffle(a, r), lambda t: torch.nn.functional.pixel_shuffle(t, r), x)
    _parity(lambda a: F.pixel_unshuffle(a, r), lambda t: torch.nn.functional.pixel_unshuffle(t, r),
            _t(seed, *lead, c, h * r, w * r))
    np.testing.assert_array_equal(F.pixel_unshuffle(F.pixel_shuffle(x, r), r).detach().numpy(),
                                  x.detach().numpy())


@st.composite
def patch_cases(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    image = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    for n, kk, dd, pp in zip(image, k, d, p):
        assume(n + 2 * pp >= dd * (kk - 1) + 1)
    return image, dict(kernel_size=k, dilation=d, padding=p, stride=s)


@SETTINGS
@given(case=patch_cases(), batch=st.sampled_from([None, 1, 2]), seed=st.integers(0, 999))
def test_unfold_fold_gradcheck_and_match_torch(case, batch, seed):
    torch = pytest.importorskip("torch")
    image, kw = case
    lead = () if batch is None else (batch,)
    x = _t(seed, *lead, 2, *image)
    assert gradcheck(lambda a: F.unfold(a, **kw), (x,))
    _parity(lambda a: F.unfold(a, **kw), lambda t: torch.nn.functional.unfold(t, **kw), x)
    cols = F.unfold(x, **kw)
    c = _t(seed + 1, *cols.shape)
    assert gradcheck(lambda a: F.fold(a, image, **kw), (c,))
    _parity(lambda a: F.fold(a, image, **kw), lambda t: torch.nn.functional.fold(t, image, **kw), c)


def test_fold_unfold_double_backward_and_errors():
    x = _t(0, 1, 2, 5, 4)
    assert _backward_gradcheck(lambda a: F.unfold(a, 2, padding=1, stride=2), x)
    assert _backward_gradcheck(lambda a: F.fold(a, (3, 4), 2), _t(1, 1, 8, 6))
    with pytest.raises(RuntimeError, match=r"fold: input of shape \(1, 8, 5\) does not match kernel_size "
                                           r"\(2, 2\) and output_size \(3, 4\).*2 x 3 = 6 sliding blocks"):
        F.fold(lumen.zeros((1, 8, 5)), (3, 4), 2)
    with pytest.raises(RuntimeError, match=r"unfold: an image of size \(5, 4\) padded by \(0, 0\) is smaller "
                                           r"than the kernel \(6, 1\)"):
        F.unfold(lumen.zeros((1, 1, 5, 4)), (6, 1))
    with pytest.raises(NotImplementedError, match=r"unfold: only 3-d or 4-d"):
        F.unfold(lumen.zeros((1, 1, 1, 5, 4)), 2)
    with pytest.raises(RuntimeError, match=r"pixel_shuffle: the channel dim of input \(1, 5, 2, 2\) \(5\) is not "
                                           r"divisible by upscale_factor\*\*2 = 4"):
        F.pixel_shuffle(lumen.zeros((1, 5, 2, 2)), 2)
    with pytest.raises(RuntimeError, match=r"pixel_unshuffle: the height and width of input \(1, 1, 3, 4\)"):
        F.pixel_unshuffle(lumen.zeros((1, 1, 3, 4)), 2)


# ---- pad ------------------------------------------------------------------------------------

@pytest.mark.parametrize("pads,mode,value", [((1, 2), "constant", None), ((1, -2, 0, 3), "constant", 1.5),
                                             ((2, 1, 1, 2), "reflect", None), ((1, 2, 3, 0), "replicate", None),
                                             ((2, 1, 0, 4), "circular", None), ((1, 1, 1, 1, 1, 0), "constant", 2.0)])
def test_pad_gradcheck_and_matches_torch(pads, mode, value):
    torch = pytest.importorskip("torch")
    x = _t(3, 2, 3, 4, 5)
    kw = dict(mode=mode) if value is None else dict(mode=mode, value=value)
    assert gradcheck(lambda x: F.pad(x, pads, **kw), (x,))
    assert _backward_gradcheck(lambda x: F.pad(x, pads, **kw), x)
    _parity(lambda x: F.pad(x, pads, **kw), lambda t: torch.nn.functional.pad(t, pads, **kw), x)


def test_pad_errors():
    x = lumen.zeros((1, 1, 3, 3))
    with pytest.raises(RuntimeError, match=r"pad: pad must be an even-length sequence"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(RuntimeError, match=r"pad: reflect padding \(3, 0\) must be smaller"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(RuntimeError, match=r"pad: padding \(-2, -2\) of input \(1, 1, 3, 3\) gives shape"):
        F.pad(x, (-2, -2))
    with pytest.raises(ValueError, match=r"pad: value is only meaningful in mode 'constant'"):
        F.pad(x, (1, 1), mode="reflect", value=1.0)
    assert F.pad(x, (1, 1), mode="reflect", value=0).shape == (1, 1, 3, 5)  # PyTorch accepts value 0
