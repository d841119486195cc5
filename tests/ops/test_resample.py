"""crop, interpolate and pad (whose index modes are gathers of lumen.ops.resample): gradchecks, double backward, PyTorch parity, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

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
    with pytest.raises(ValueError, match=r"interpolate: align_corners can only be set with mode 'bilinear'"):
        F.interpolate(x, size=2, align_corners=True)
    with pytest.raises(ValueError, match=r"interpolate: mode must be 'nearest', 'nearest-exact' or 'bilinear'"):
        F.interpolate(x, size=2, mode="bicubic")
    with pytest.raises(ValueError, match=r"interpolate: expected a 4-d \(N, C, H, W\) input, got shape \(2, 4\)"):
        F.interpolate(lumen.zeros((2, 4)), size=2)
    with pytest.raises(TypeError, match=r"interpolate: expected a floating-point input, got lumen.int64"):
        F.interpolate(lumen.zeros((1, 1, 2, 2), dtype=lumen.int64), size=3, mode="bilinear")
    with pytest.raises(ValueError, match=r"interpolate: scale_factor 0.1 gives empty output"):
        F.interpolate(x, scale_factor=0.1)


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
