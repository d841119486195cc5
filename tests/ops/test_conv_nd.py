"""conv1d / conv3d / conv_transpose1d / conv_transpose3d: float64 gradchecks, double backward, PyTorch parity
(values and gradients, hypothesis over shapes, strides, paddings, dilations, groups), errors."""
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck

SETTINGS = settings(max_examples=10, deadline=None)


def _t(rng, *shape, grad=True):
    return lumen.tensor(rng.standard_normal(shape), dtype=lumen.float64, requires_grad=grad)


def _parity(fn, tfn, inputs, rtol=1e-10, atol=1e-11):
    """fn(*inputs) against tfn on torch copies: values, and the gradients of every input."""
    torch = pytest.importorskip("torch")
    lx = [None if a is None else a.detach().requires_grad_() for a in inputs]
    tx = [None if a is None else torch.tensor(a.detach().numpy(), requires_grad=True) for a in inputs]
    y = fn(*lx)
    with warnings.catch_warnings():  # torch's note that an even 'same' kernel copies the input
        warnings.simplefilter("ignore", UserWarning)
        ty = tfn(*tx)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(0).standard_normal(y.shape)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for a, b in zip(lx, tx):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)


@st.composite
def cases(draw, dims, transposed=False):
    g = draw(st.sampled_from([1, 2]))
    cin, cout = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    spatial = tuple(draw(st.integers(1, 6 if dims == 1 else 4)) for _ in range(dims))
    case = dict(batch=draw(st.sampled_from([None, 1, 2])), cin=cin, cout=cout, k=k, spatial=spatial,
                stride=stride, padding=padding, dilation=dilation, groups=g, bias=draw(st.booleans()))
    if transposed:
        case["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        out = [(n - 1) * s - 2 * p + d * (kk - 1) + o + 1 for n, s, p, d, kk, o in
               zip(spatial, stride, padding, dilation, k, case["output_padding"])]
        assume(min(out) >= 1)
    else:
        if draw(st.booleans()):  # 'same' (stride 1) or 'valid' instead of numbers
            case["padding"] = draw(st.sampled_from(["same", "valid"]))
            if case["padding"] == "same":
                case["stride"] = (1,) * dims
        pads = (0,) * dims if case["padding"] in ("same", "valid") else case["padding"]
        if case["padding"] != "same":
            for n, kk, p, d in zip(spatial, k, pads, dilation):
                assume(n + 2 * p >= d * (kk - 1) + 1)
    return case


def _inputs(case, seed, transposed=False):
    rng = np.random.default_rng(seed)
    lead = () if case["batch"] is None else (case["batch"],)
    x = _t(rng, *lead, case["cin"], *case["spatial"])
    if transposed:
        w = _t(rng, case["cin"], case["cout"] // case["groups"], *case["k"])
    else:
        w = _t(rng, case["cout"], case["cin"] // case["groups"], *case["k"])
    b = _t(rng, case["cout"]) if case["bias"] else None
    return x, w, b


def _fn(mod, name, case):
    keys = ("stride", "padding", "output_padding", "groups", "dilation") if "transpose" in name else \
        ("stride", "padding", "dilation", "groups")
    kw = {key: case[key] for key in keys}
    return lambda x, w, b: getattr(mod, name)(x, w, b, **kw)


@pytest.mark.parametrize("name,dims", [("conv1d", 1), ("conv3d", 3)])
@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_conv_nd_gradcheck_and_matches_torch(name, dims, data, seed):
    torch = pytest.importorskip("torch")
    case = data.draw(cases(dims))
    inputs = _inputs(case, seed)
    assert gradcheck(_fn(F, name, case), inputs)
    _parity(_fn(F, name, case), _fn(torch.nn.functional, name, case), inputs)


@pytest.mark.parametrize("name,dims", [("conv_transpose1d", 1), ("conv_transpose3d", 3)])
@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_conv_transpose_nd_gradcheck_and_matches_torch(name, dims, data, seed):
    torch = pytest.importorskip("torch")
    case = data.draw(cases(dims, transposed=True))
    inputs = _inputs(case, seed, transposed=True)
    assert gradcheck(_fn(F, name, case), inputs)
    _parity(_fn(F, name, case), _fn(torch.nn.functional, name, case), inputs)


def test_conv3d_and_conv_transpose3d_gradgradcheck():
    rng = np.random.default_rng(1)
    x, w, b = _t(rng, 1, 2, 3, 2, 3), _t(rng, 2, 1, 2, 2, 2), _t(rng, 2)
    assert gradgradcheck(lambda x, w, b: F.conv3d(x, w, b, stride=(2, 1, 1), padding=1, groups=2), (x, w, b))
    assert gradgradcheck(lambda x, w, b: F.conv_transpose3d(x, w, b, stride=(2, 1, 2), padding=(1, 0, 1),
                                                            output_padding=(1, 0, 0), groups=2), (x, w, b))
    x1, w1 = _t(rng, 1, 2, 5), _t(rng, 4, 1, 3)
    assert gradgradcheck(lambda x, w: F.conv1d(x, w, stride=2, padding=1, groups=2), (x1, w1))
    assert gradgradcheck(lambda x, w: F.conv_transpose1d(x, w, stride=2, output_padding=1), (x1, _t(rng, 2, 3, 3)))


def test_conv_transpose3d_is_adjoint_of_conv3d():
    """<conv3d(x, w), y> == <x, conv_transpose3d(y, w)>."""
    rng = np.random.default_rng(3)
    geometry = dict(stride=(2, 1, 3), padding=(1, 2, 0), dilation=(2, 1, 1), groups=2)
    x, w = _t(rng, 2, 4, 7, 5, 6, grad=False), _t(rng, 6, 2, 3, 2, 2, grad=False)
    cy = F.conv3d(x, w, **geometry)
    y = _t(rng, *cy.shape, grad=False)
    out_pad = tuple(n - ((m - 1) * s - 2 * p + d * (k - 1) + 1) for n, m, s, p, d, k in
                    zip(x.shape[2:], cy.shape[2:], geometry["stride"], geometry["padding"], geometry["dilation"],
                        w.shape[2:]))
    back = F.conv_transpose3d(y, w, output_padding=out_pad, **geometry)
    assert back.shape == x.shape
    np.testing.assert_allclose((cy * y).sum().item(), (x * back).sum().item(), rtol=1e-10)


def test_conv_nd_float32_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 7, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3, 3)).astype(np.float32)
    y = F.conv3d(lumen.tensor(x), lumen.tensor(w), padding="same")
    ty = torch.nn.functional.conv3d(torch.tensor(x), torch.tensor(w), padding="same")  # odd kernel: no warning
    assert y.dtype is lumen.float32
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-5)
    wt = rng.standard_normal((3, 2, 2, 3, 2)).astype(np.float32)
    y = F.conv_transpose3d(lumen.tensor(x), lumen.tensor(wt), stride=2)
    ty = torch.nn.functional.conv_transpose3d(torch.tensor(x), torch.tensor(wt), stride=2)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-5)


def test_conv_nd_errors():
    x1, x3 = lumen.zeros((1, 2, 5)), lumen.zeros((1, 2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"conv1d: expected a 2-d \(unbatched\) or 3-d \(batched\) input, got "
                                         r"shape \(1, 1, 2, 5\)"):
        F.conv1d(lumen.zeros((1, 1, 2, 5)), lumen.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match=r"conv3d: expected a 5-d weight for input of shape \(1, 2, 3, 4, 5\), "
                                         r"got shape \(1, 2, 3, 3\)"):
        F.conv3d(x3, lumen.zeros((1, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"conv3d: input of shape \(1, 2, 3, 4, 5\) has 2 channels but weight "
                                         r"of shape \(1, 3, 1, 1, 1\) with groups=1 expects 3"):
        F.conv3d(x3, lumen.zeros((1, 3, 1, 1, 1)))
    with pytest.raises(ValueError, match=r"conv3d: input of shape \(1, 2, 3, 4, 5\) padded by \(0, 0, 0\) is "
                                         r"smaller than the dilated kernel \(4, 1, 1\)"):
        F.conv3d(x3, lumen.zeros((1, 2, 4, 1, 1)))
    with pytest.raises(ValueError, match=r"conv1d: padding='same' is not supported for strided convolutions"):
        F.conv1d(x1, lumen.zeros((1, 2, 3)), stride=2, padding="same")
    with pytest.raises(ValueError, match=r"conv3d: stride must be an int or 3 ints, got \(1, 2\)"):
        F.conv3d(x3, lumen.zeros((1, 2, 1, 1, 1)), stride=(1, 2))
    with pytest.raises(ValueError, match=r"conv_transpose3d: output_padding \(0, 2, 0\) must be smaller than "
                                         r"either stride \(1, 2, 1\) or dilation \(1, 1, 1\)"):
        F.conv_transpose3d(x3, lumen.zeros((2, 1, 1, 1, 1)), stride=(1, 2, 1), output_padding=(0, 2, 0))
    with pytest.raises(TypeError, match=r"conv1d: input is lumen.float32 but weight is lumen.float64"):
        F.conv1d(x1, lumen.zeros((1, 2, 3), dtype=lumen.float64))
    with pytest.raises(TypeError, match=r"conv3d: expected a floating-point input, got lumen.int64"):
        F.conv3d(lumen.zeros((1, 2, 3, 4, 5), dtype=lumen.int64), lumen.zeros((1, 2, 1, 1, 1), dtype=lumen.int64))


@pytest.mark.cuda
def test_cuda_matches_cpu():
    """conv1d/3d and their transposes on the CUDA backend (a GPU, or --cuda-emulator) give the CPU's values and
    gradients."""
    pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")
    rng = np.random.default_rng(0)
    cases = [((1, 2, 7), (4, 1, 3), lambda x, w: F.conv1d(x, w, stride=2, padding="valid", groups=2)),
             ((1, 2, 3, 4, 5), (2, 2, 2, 3, 2), lambda x, w: F.conv3d(x, w, padding="same")),
             ((1, 2, 5), (2, 3, 3), lambda x, w: F.conv_transpose1d(x, w, stride=2, output_padding=1)),
             ((1, 2, 2, 3, 2), (2, 1, 2, 2, 3), lambda x, w: F.conv_transpose3d(x, w, stride=(2, 1, 2), groups=2))]
    for xs, ws, fn in cases:
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        results = []
        for device in ("cpu", "cuda"):
            lx, lw = (lumen.tensor(a, device=device, requires_grad=True) for a in (x, w))
            out = fn(lx, lw)
            (out * out).sum().backward()
            results.append([t.detach().cpu().numpy() for t in (out, lx.grad, lw.grad)])
        for a, b in zip(*results):
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-11)
