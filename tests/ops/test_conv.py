"""conv2d / conv_transpose2d: float64 gradchecks, double backward, PyTorch parity, errors."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import lumen
import lumen.nn.functional as F
from lumen import nn
from lumen.autograd import gradcheck, gradgradcheck
from lumen.ops.conv import bilinear_upsample2d

SETTINGS = settings(max_examples=15, deadline=None)


def _t(rng, *shape, grad=True):
    return lumen.tensor(rng.standard_normal(shape), dtype=lumen.float64, requires_grad=grad)


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 2, "depthwise"]))
    cin_g = 1 if groups == "depthwise" else draw(st.integers(1, 2))
    cout_g = draw(st.integers(1, 2))
    g = draw(st.integers(2, 3)) if groups == "depthwise" else groups
    k = (draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 3, 5])))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    for n, kk, p, d in zip((h, w), k, padding, dilation):
        assume(n + 2 * p >= d * (kk - 1) + 1)
    return dict(n=draw(st.integers(1, 2)), cin=cin_g * g, cout=cout_g * g, h=h, w=w, k=k, stride=stride,
                padding=padding, dilation=dilation, groups=g, bias=draw(st.booleans()))


def _conv_inputs(case, seed):
    rng = np.random.default_rng(seed)
    x = _t(rng, case["n"], case["cin"], case["h"], case["w"])
    w = _t(rng, case["cout"], case["cin"] // case["groups"], *case["k"])
    b = _t(rng, case["cout"]) if case["bias"] else None
    return x, w, b


def _conv(case):
    kw = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    return lambda x, w, b: F.conv2d(x, w, b, **kw)


@SETTINGS
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_conv2d_gradcheck(case, seed):
    assert gradcheck(_conv(case), _conv_inputs(case, seed))


@pytest.mark.parametrize("k,stride,padding,dilation", [((7, 7), 2, 3, 1), ((11, 11), 4, 2, 1),
                                                       ((7, 3), (3, 1), (1, 2), (1, 2))])
def test_conv2d_gradcheck_large_kernels(k, stride, padding, dilation):
    rng = np.random.default_rng(0)
    x, w, b = _t(rng, 1, 2, 13, 12), _t(rng, 2, 2, *k), _t(rng, 2)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation), (x, w, b))


def test_conv2d_gradgradcheck():
    rng = np.random.default_rng(1)
    x, w, b = _t(rng, 2, 4, 5, 4), _t(rng, 4, 2, 3, 2), _t(rng, 4)
    assert gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, groups=2), (x, w, b))


@st.composite
def transpose_cases(draw):
    case = draw(conv_cases())
    # output_padding must be smaller than stride or dilation
    case["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1))
                                   for s, d in zip(case["stride"], case["dilation"]))
    out = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, s, p, d, k, o in
           zip((case["h"], case["w"]), case["stride"], case["padding"], case["dilation"], case["k"],
               case["output_padding"])]
    assume(min(out) >= 1)
    return case


def _transpose(case, mod):
    kw = {k: case[k] for k in ("stride", "padding", "output_padding", "groups", "dilation")}
    return lambda x, w, b: mod.conv_transpose2d(x, w, b, **kw)


def _transpose_inputs(case, seed):
    rng = np.random.default_rng(seed)
    x = _t(rng, case["n"], case["cin"], case["h"], case["w"])
    w = _t(rng, case["cin"], case["cout"] // case["groups"], *case["k"])
    b = _t(rng, case["cout"]) if case["bias"] else None
    return x, w, b


@SETTINGS
@given(case=transpose_cases(), seed=st.integers(0, 2**16))
def test_conv_transpose2d_gradcheck(case, seed):
    assert gradcheck(_transpose(case, F), _transpose_inputs(case, seed))


def test_conv_transpose2d_gradgradcheck():
    rng = np.random.default_rng(2)
    x, w, b = _t(rng, 1, 2, 3, 4), _t(rng, 2, 2, 3, 3), _t(rng, 4)
    assert gradgradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                                            groups=2), (x, w, b))


def test_conv_transpose2d_is_adjoint_of_conv2d():
    """<conv(x, w), y> == <x, conv_transpose(y, w)>: Caffe's deconvolution is conv2d's input gradient."""
    rng = np.random.default_rng(3)
    x, w = _t(rng, 2, 4, 11, 9, grad=False), _t(rng, 6, 2, 3, 5, grad=False)
    cy = F.conv2d(x, w, stride=(2, 3), padding=(1, 2), dilation=(2, 1), groups=2)
    y = _t(rng, *cy.shape, grad=False)
    out_pad = tuple(n - ((m - 1) * s - 2 * p + d * (k - 1) + 1) for n, m, s, p, d, k in
                    zip(x.shape[2:], cy.shape[2:], (2, 3), (1, 2), (2, 1), w.shape[2:]))
    back = F.conv_transpose2d(y, w, stride=(2, 3), padding=(1, 2), dilation=(2, 1), groups=2,
                              output_padding=out_pad)
    assert back.shape == x.shape
    np.testing.assert_allclose((cy * y).sum().item(), (x * back).sum().item(), rtol=1e-10)


# ---- PyTorch parity ----------------------------------------------------------------------

def _parity(lumen_fn, torch_fn, inputs, rtol=1e-7, atol=1e-9):
    torch = pytest.importorskip("torch")
    inputs = [None if t is None else t.detach().requires_grad_() for t in inputs]
    outs = lumen_fn(*inputs)
    t_in = [None if t is None else torch.tensor(t.detach().numpy(), requires_grad=True) for t in inputs]
    t_out = torch_fn(*t_in)
    np.testing.assert_allclose(outs.detach().numpy(), t_out.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(0).standard_normal(outs.shape)
    (outs * lumen.tensor(g)).sum().backward()
    (t_out * torch.tensor(g)).sum().backward()
    for a, b in zip(inputs, t_in):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)


@SETTINGS
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_conv2d_matches_torch(case, seed):
    torch = pytest.importorskip("torch")
    kw = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    _parity(_conv(case), lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kw), _conv_inputs(case, seed))


@SETTINGS
@given(case=transpose_cases(), seed=st.integers(0, 2**16))
def test_conv_transpose2d_matches_torch(case, seed):
    torch = pytest.importorskip("torch")
    _parity(_transpose(case, F), _transpose(case, torch.nn.functional), _transpose_inputs(case, seed))


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch warns about its own zero-padded copy
@pytest.mark.parametrize("k,dilation", [((3, 3), 1), ((4, 2), 1), ((2, 5), (3, 2)), ((1, 4), (1, 3))])
def test_conv2d_same_and_valid_match_torch(k, dilation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x, w = _t(rng, 2, 2, 8, 11), _t(rng, 3, 2, *k)
    y = F.conv2d(x, w, padding="same", dilation=dilation)
    assert y.shape[2:] == x.shape[2:]
    _parity(lambda x, w: F.conv2d(x, w, padding="same", dilation=dilation),
            lambda x, w: torch.nn.functional.conv2d(x, w, padding="same", dilation=dilation), (x, w))
    _parity(lambda x, w: F.conv2d(x, w, padding="valid", dilation=dilation),
            lambda x, w: torch.nn.functional.conv2d(x, w, padding="valid", dilation=dilation), (x, w))


def test_conv2d_float32_keeps_dtype():
    rng = np.random.default_rng(5)
    x = lumen.tensor(rng.standard_normal((1, 3, 6, 6)), dtype=lumen.float32, requires_grad=True)
    w = lumen.tensor(rng.standard_normal((2, 3, 3, 3)), dtype=lumen.float32, requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    y.sum().backward()
    assert y.dtype is lumen.float32 and x.grad.dtype is lumen.float32 and w.grad.dtype is lumen.float32


# ---- errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape,w_shape,b_shape,kw,match", [
    ((1, 3, 5, 5), (2, 4, 3, 3), None, {}, r"conv2d: input of shape \(1, 3, 5, 5\) has 3 channels.*"
                                            r"\(2, 4, 3, 3\)"),
    ((1, 4, 5, 5), (2, 1, 3, 3), None, dict(groups=2), r"conv2d: input.*4 channels.*groups=2 expects 2"),
    ((1, 4, 5, 5), (3, 2, 3, 3), None, dict(groups=2), r"conv2d: dim 0 of weight \(3, 2, 3, 3\).*groups=2"),
    ((3, 5, 5), (2, 3, 3, 3), None, {}, r"conv2d: expected a 4-d \(N, C, H, W\) input, got shape \(3, 5, 5\)"),
    ((1, 3, 5, 5), (2, 3, 3, 3), (3,), {}, r"conv2d: bias of shape \(3,\) does not match the 2 output"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(padding="same", stride=2), r"conv2d: padding='same'.*strided"),
    ((1, 3, 2, 5), (2, 3, 3, 3), None, {}, r"conv2d: input of shape \(1, 3, 2, 5\).*smaller than"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(padding="full"), r"conv2d: padding must be"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(stride=0), r"conv2d: stride must be >= 1"),
])
def test_conv2d_errors(x_shape, w_shape, b_shape, kw, match):
    x, w = lumen.zeros(x_shape), lumen.zeros(w_shape)
    b = None if b_shape is None else lumen.zeros(b_shape)
    with pytest.raises(ValueError, match=match):
        F.conv2d(x, w, b, **kw)


def test_conv2d_dtype_and_type_errors():
    with pytest.raises(TypeError, match=r"conv2d: input is lumen.float32 but weight is lumen.float64"):
        F.conv2d(lumen.zeros((1, 1, 3, 3)), lumen.zeros((1, 1, 3, 3), dtype=lumen.float64))
    with pytest.raises(TypeError, match=r"conv2d: expected a floating-point input, got lumen.int64"):
        F.conv2d(lumen.zeros((1, 1, 3, 3), dtype=lumen.int64), lumen.zeros((1, 1, 3, 3), dtype=lumen.int64))


def test_conv_transpose2d_errors():
    x = lumen.zeros((1, 4, 5, 5))
    with pytest.raises(ValueError, match=r"conv_transpose2d: input of shape \(1, 4, 5, 5\) has 4 channels"):
        F.conv_transpose2d(x, lumen.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"conv_transpose2d: output_padding \(2, 2\) must be smaller"):
        F.conv_transpose2d(x, lumen.zeros((4, 2, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d: bias of shape \(2,\) does not match the 4"):
        F.conv_transpose2d(x, lumen.zeros((4, 2, 3, 3)), lumen.zeros(2), groups=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d:.*too small"):
        F.conv_transpose2d(lumen.zeros((1, 4, 1, 1)), lumen.zeros((4, 2, 1, 1)), padding=1)


@pytest.mark.parametrize("k,stride,padding,output_padding", [(4, 2, 1, 0), (64, 32, 0, 0), (3, 2, 1, 1),
                                                             (5, 3, 2, 2)])
def test_bilinear_upsample2d_matches_torch_deconvolution(k, stride, padding, output_padding):
    """FCN's fixed bilinear upsampling as two banded GEMMs equals the dense deconvolution with the
    ``nn.init.bilinear_`` weight (Lumen's general path and PyTorch's), values and gradients."""
    torch = pytest.importorskip("torch")
    c = 3
    w = nn.init.bilinear_(lumen.zeros((c, c, k, k), dtype=lumen.float64))
    rng = np.random.default_rng(6)
    x = _t(rng, 2, c, 5, 4)
    kw = dict(stride=stride, padding=padding, output_padding=output_padding)
    y = bilinear_upsample2d(x, k, **kw)
    assert type(y.grad_fn).__name__ == "SeparableResample"
    general = F.conv_transpose2d(x, w, **kw)
    assert type(general.grad_fn).__name__ == "Conv2dBackwardData"
    np.testing.assert_allclose(y.detach().numpy(), general.detach().numpy(), rtol=1e-10, atol=1e-12)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    ty = torch.nn.functional.conv_transpose2d(tx, torch.tensor(w.numpy()), **kw)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(y.shape)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    small = x.detach()[:1, :, :3, :2].requires_grad_()
    assert gradcheck(lambda x: bilinear_upsample2d(x, k, **kw), (small,))


def test_bilinear_upsample2d_bias_and_errors():
    rng = np.random.default_rng(7)
    x, b = _t(rng, 1, 2, 3, 3), _t(rng, 2)
    w = nn.init.bilinear_(lumen.zeros((2, 2, 4, 4), dtype=lumen.float64))
    np.testing.assert_allclose(bilinear_upsample2d(x, 4, stride=2, padding=1, bias=b).detach().numpy(),
                               F.conv_transpose2d(x, w, b, stride=2, padding=1).detach().numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"bilinear_upsample2d: bias of shape \(3,\) does not match the 2"):
        bilinear_upsample2d(x, 4, stride=2, bias=lumen.zeros(3, dtype=lumen.float64))
    with pytest.raises(ValueError, match=r"bilinear_upsample2d: output_padding \(2, 2\) must be smaller"):
        bilinear_upsample2d(x, 4, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"bilinear_upsample2d: expected a 4-d"):
        bilinear_upsample2d(lumen.zeros((2, 3, 3)), 4)
