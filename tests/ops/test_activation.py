"""relu, softmax, log_softmax: gradchecks, PyTorch parity, in-place semantics, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck


def _t(seed, *shape, grad=True):
    rng = np.random.default_rng(seed)
    return lumen.tensor(rng.standard_normal(shape), dtype=lumen.float64, requires_grad=grad)


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data())
def test_softmax_log_softmax_gradcheck(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = _t(0, *shape)
    assert gradcheck(lambda x: F.softmax(x, dim), (x,))
    assert gradcheck(lambda x: F.log_softmax(x, dim), (x,))


def test_softmax_gradgradcheck():
    x = _t(1, 3, 4)
    assert gradgradcheck(lambda x: F.softmax(x, 1), (x,))
    assert gradgradcheck(lambda x: F.log_softmax(x, 0), (x,))


def test_softmax_is_stable_for_large_logits():
    x = lumen.tensor([[1000.0, 1000.0, -1000.0]], dtype=lumen.float32)
    np.testing.assert_allclose(F.softmax(x, 1).numpy(), [[0.5, 0.5, 0.0]])
    np.testing.assert_allclose(F.log_softmax(x, 1).numpy(), [[-np.log(2), -np.log(2), -2000 - np.log(2)]],
                               rtol=1e-6)


def test_relu_gradcheck_and_parity():
    torch = pytest.importorskip("torch")
    x = _t(2, 2, 3, 5)
    assert gradcheck(F.relu, (x,))
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    np.testing.assert_array_equal(F.relu(x).detach().numpy(), torch.relu(tx).detach().numpy())


def test_relu_inplace():
    x = _t(3, 4, 5)
    with pytest.raises(RuntimeError, match="leaf tensor.*requires grad.*in-place"):
        F.relu(x, inplace=True)
    h = x * 1.0
    v = h._version
    out = F.relu(h, inplace=True)
    assert out is h and h._version > v
    np.testing.assert_array_equal(h.detach().numpy(), np.maximum(x.detach().numpy(), 0))
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (x.detach().numpy() > 0).astype(float))
    # an input saved for backward and then overwritten is caught
    a = x * 1.0
    b = a * a
    F.relu(a, inplace=True)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        b.sum().backward()


def test_softmax_and_log_softmax_match_torch():
    torch = pytest.importorskip("torch")
    x = _t(7, 2, 5, 3)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    for fn, tfn in ((F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)):
        x.grad, tx.grad = None, None
        y, ty = fn(x, 1), tfn(tx, 1)
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
        g = np.random.default_rng(0).standard_normal(y.shape)
        (y * lumen.tensor(g)).sum().backward()
        (ty * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_errors():
    with pytest.raises(IndexError, match=r"softmax: dim 2 is out of range for input of shape \(2, 3\)"):
        F.softmax(lumen.ones((2, 3)), 2)
    with pytest.raises(TypeError, match=r"log_softmax: expected a floating-point input, got lumen.int64"):
        F.log_softmax(lumen.ones((2, 3), dtype=lumen.int64), 1)


@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5])
def test_leaky_relu_gradcheck_double_backward_and_parity(slope):
    x = _t(7, 3, 5)
    gradcheck(lambda t: F.leaky_relu(t, slope), (x,))
    gradgradcheck(lambda t: F.leaky_relu(t, slope), (x,))
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    torch.nn.functional.leaky_relu(tx, slope).pow(2).sum().backward()
    F.leaky_relu(x, slope).pow(2).sum().backward()
    np.testing.assert_allclose(F.leaky_relu(x, slope).detach().numpy(),
                               torch.nn.functional.leaky_relu(tx, slope).detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_leaky_relu_module_and_inplace():
    x = lumen.tensor([-2.0, 0.0, 3.0])
    assert lumen.nn.LeakyReLU(0.5)(x).tolist() == [-1.0, 0.0, 3.0]
    y = x.clone()
    assert F.leaky_relu(y, 0.5, inplace=True) is y and y.tolist() == [-1.0, 0.0, 3.0]
    with pytest.raises(TypeError, match="leaky_relu: expected a floating-point input"):
        F.leaky_relu(lumen.tensor([1, 2]))


# ---- every activation of torch.nn.functional -----------------------------------------------------------------
# name -> (positional args, keyword args) as both libraries take them
ACTIVATIONS = {
    "elu": ((), {}), "elu(alpha=0.4)": ((0.4,), {}), "selu": ((), {}), "celu": ((0.7,), {}),
    "gelu": ((), {}), "gelu(tanh)": ((), {"approximate": "tanh"}), "silu": ((), {}), "mish": ((), {}),
    "hardswish": ((), {}), "hardsigmoid": ((), {}), "hardtanh": ((-0.5, 2.0), {}), "relu6": ((), {}),
    "softplus": ((), {}), "softplus(beta, threshold)": ((2.0, 3.0), {}), "softsign": ((), {}),
    "tanhshrink": ((), {}), "threshold": ((0.3, -2.0), {}), "glu": ((1,), {}), "logsigmoid": ((), {}),
    "softmin": ((1,), {}), "hardshrink": ((0.7,), {}), "softshrink": ((0.7,), {}), "leaky_relu": ((0.2,), {}),
    "rrelu": ((0.1, 0.3), {}),  # training=False: the mean slope
}


def _fn(name):
    return name.split("(")[0]


def _rng_input(seed, shape=(3, 4, 5), scale=3.0):
    # spread over every branch (|x| up to ~10), never within 1e-3 of a kink (-3, 0, 3, +-0.7, ...)
    a = np.random.default_rng(seed).standard_normal(shape) * scale
    kinks = np.array([-3.0, -0.7, -0.5, 0.0, 0.3, 0.7, 2.0, 3.0, 5.0 / 6])
    near = np.abs(a[..., None] - kinks).min(-1) < 1e-3
    return np.where(near, a + 0.01, a)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_matches_torch_values_and_gradients(name):
    torch = pytest.importorskip("torch")
    args, kwargs = ACTIVATIONS[name]
    a = _rng_input(1)
    a[0, 0, :4] = [30.0, -30.0, 1e-9, -1e-9]  # saturated branches and the neighbourhood of 0
    x = lumen.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y = getattr(F, _fn(name))(x, *args, **kwargs)
    ty = getattr(torch.nn.functional, _fn(name))(tx, *args, **kwargs)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    g = np.random.default_rng(2).standard_normal(tuple(y.shape))
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    # PyTorch's celu and hardsigmoid backward kernels use float32 constants (1/alpha, 1/6) in float64 too
    rtol = 1e-6 if _fn(name) in ("celu", "hardsigmoid") else 1e-12
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_gradcheck_and_gradgradcheck(name):
    args, kwargs = ACTIVATIONS[name]
    x = lumen.tensor(_rng_input(3, (2, 4)), requires_grad=True)
    fn = lambda t: getattr(F, _fn(name))(t, *args, **kwargs)  # noqa: E731
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_float32_keeps_its_dtype_and_saturation_never_overflows():
    x = lumen.tensor([-200.0, -1.0, 0.5, 200.0])
    for name in ACTIVATIONS:
        args, kwargs = ACTIVATIONS[name]
        if _fn(name) in ("glu", "softmin"):
            continue
        y = getattr(F, _fn(name))(x, *args, **kwargs)
        assert y.dtype is lumen.float32 and bool(y.isfinite().all()), name


def test_kink_gradients_follow_pytorch():
    torch = pytest.importorskip("torch")
    pts = [-3.0, 3.0, -1.0, 1.0, 0.0, 0.5, -0.5, 6.0]
    for name, args in (("hardswish", ()), ("hardsigmoid", ()), ("hardtanh", ()), ("relu6", ()), ("elu", ()),
                       ("hardshrink", (0.5,)), ("softshrink", (0.5,)), ("threshold", (1.0, 5.0)),
                       ("celu", ()), ("selu", ()), ("leaky_relu", ())):
        x = lumen.tensor(pts, dtype=lumen.float64, requires_grad=True)
        tx = torch.tensor(pts, dtype=torch.float64, requires_grad=True)
        getattr(F, name)(x, *args).sum().backward()
        getattr(torch.nn.functional, name)(tx, *args).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6, err_msg=name)


@settings(max_examples=10, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=st.integers(0, 99))
def test_activations_any_shape_match_torch(shape, seed):
    torch = pytest.importorskip("torch")
    a = _rng_input(seed, tuple(shape))
    for name in ("gelu", "silu", "mish", "softplus", "logsigmoid", "hardswish", "elu"):
        np.testing.assert_allclose(getattr(F, name)(lumen.tensor(a)).numpy(),
                                   getattr(torch.nn.functional, name)(torch.tensor(a)).numpy(), rtol=1e-12,
                                   atol=1e-15)


@pytest.mark.parametrize("num", [1, 4])
def test_prelu_matches_torch_and_gradchecks(num):
    torch = pytest.importorskip("torch")
    a, w = _rng_input(4, (2, 4, 3)), np.random.default_rng(5).standard_normal(num)
    x, lw = lumen.tensor(a, requires_grad=True), lumen.tensor(w, requires_grad=True)
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(w, requires_grad=True)
    F.prelu(x, lw).pow(2).sum().backward()
    torch.nn.functional.prelu(tx, tw).pow(2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lw.grad.numpy(), tw.grad.numpy(), rtol=1e-12)
    assert gradcheck(F.prelu, (x, lw)) and gradgradcheck(F.prelu, (x, lw))
    with pytest.raises(RuntimeError, match=r"prelu: weight has 3 parameters but input of shape \(2, 4, 3\)"):
        F.prelu(x, lumen.ones(3, dtype=lumen.float64))
    m = lumen.nn.PReLU(4, init=0.1)
    assert m.weight.tolist() == pytest.approx([0.1] * 4) and repr(m) == repr(torch.nn.PReLU(4, 0.1))


def test_rrelu_training_draws_slopes_from_the_generator():
    x = -lumen.ones((200, 50), dtype=lumen.float64)
    lumen.manual_seed(7)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    lumen.manual_seed(7)
    np.testing.assert_array_equal(y.numpy(), F.rrelu(x, 0.1, 0.3, training=True).numpy())
    slopes = -y.numpy()
    assert 0.1 <= slopes.min() and slopes.max() <= 0.3 and abs(slopes.mean() - 0.2) < 0.005
    assert len(np.unique(slopes)) > 1000
    pos = lumen.ones(5, dtype=lumen.float64)
    assert F.rrelu(pos, training=True).tolist() == [1.0] * 5
    np.testing.assert_allclose(F.rrelu(x).numpy(), -(1 / 8 + 1 / 3) / 2)  # eval: the mean slope
    m = lumen.nn.RReLU(0.1, 0.3)
    m.eval()
    np.testing.assert_allclose(m(x).numpy(), -0.2)
    # the slopes are constants of the graph: the gradient is the slope drawn
    xg = lumen.tensor(-np.ones(30), requires_grad=True)
    lumen.manual_seed(1)
    out = F.rrelu(xg, training=True)
    out.sum().backward()
    np.testing.assert_allclose(xg.grad.numpy(), -out.detach().numpy())
    with pytest.raises(RuntimeError, match="rrelu: lower bound 0.5 should be less than or equal"):
        F.rrelu(x, 0.5, 0.1, True)


@pytest.mark.parametrize("name", ["elu", "selu", "celu", "silu", "mish", "hardswish", "hardsigmoid", "hardtanh",
                                  "relu6", "threshold", "leaky_relu", "rrelu"])
def test_inplace_variants(name):
    args = (0.1, 2.0) if name == "threshold" else ()
    x = lumen.tensor(_rng_input(6, (3, 4)), requires_grad=True)
    expected = getattr(F, name)(x * 1.0, *args).detach().numpy()
    h = x * 1.0
    v = h._version
    out = getattr(F, name)(h, *args, inplace=True)
    assert out is h and h._version > v
    np.testing.assert_allclose(h.detach().numpy(), expected, rtol=1e-15)
    h.sum().backward()
    ref = lumen.tensor(x.detach().numpy(), requires_grad=True)
    getattr(F, name)(ref, *args).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ref.grad.numpy(), rtol=1e-15)
    with pytest.raises(RuntimeError, match="leaf tensor.*requires grad.*in-place"):
        getattr(F, name)(x, *args, inplace=True)


def test_underscore_forms_and_torch_namespace():
    for fn, args in ((F.elu_, ()), (F.selu_, ()), (F.celu_, ()), (F.hardtanh_, ()), (F.leaky_relu_, ()),
                     (F.threshold_, (0.0, 1.0)), (F.rrelu_, ()), (F.relu_, ())):
        t = lumen.tensor([-1.0, 2.0])
        assert fn(t, *args) is t
    assert lumen.selu is F.selu and lumen.celu is F.celu and lumen.prelu is F.prelu
    assert lumen.rrelu is F.rrelu and lumen.hardshrink is F.hardshrink and lumen.threshold is F.threshold
    t = lumen.tensor([-1.0, 0.2, 2.0])
    assert t.hardshrink(0.5).tolist() == [-1.0, 0.0, 2.0]
    assert t.prelu(lumen.tensor([0.5])).tolist() == [-0.5, pytest.approx(0.2), 2.0]


def test_softmax_dim_none_takes_the_legacy_dim_with_a_warning():
    torch = pytest.importorskip("torch")
    for shape in [(), (5,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        a = np.random.default_rng(0).standard_normal(shape)
        for name in ("softmax", "log_softmax", "softmin"):
            with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name} has been deprecated"):
                y = getattr(F, name)(lumen.tensor(a))
            with pytest.warns(UserWarning):
                ty = getattr(torch.nn.functional, name)(torch.tensor(a))
            np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax") as record:
        lumen.nn.Softmax()(lumen.ones((2, 3)))
    assert record[0].filename == __file__  # pointed at the caller of the layer, as PyTorch's


def test_softmax2d_glu_and_errors():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(1).standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(lumen.nn.Softmax2d()(lumen.tensor(a)).numpy(),
                               torch.nn.Softmax2d()(torch.tensor(a)).numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D"):
        lumen.nn.Softmax2d()(lumen.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"glu: halving dimension must be even, but dimension 1 .* is size 3"):
        F.glu(lumen.ones((2, 3)), 1)
    with pytest.raises(RuntimeError, match="celu: alpha cannot be 0"):
        F.celu(lumen.ones(3), 0.0)
    with pytest.raises(RuntimeError, match="gelu: approximate argument must be either 'none' or 'tanh'"):
        F.gelu(lumen.ones(3), approximate="fast")
    with pytest.raises(ValueError, match="hardtanh: min_val cannot be greater than max_val"):
        F.hardtanh(lumen.ones(3), 2.0, 1.0)
    with pytest.raises(TypeError, match="softplus: expected a floating-point input, got lumen.int64"):
        F.softplus(lumen.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="softshrink: lambda must be >= 0"):
        F.softshrink(lumen.ones(3), -1.0)


MODULE_CASES = [("PReLU", ()), ("PReLU", (3, 0.1)), ("RReLU", ()), ("RReLU", (0.1, 0.3, True)), ("ELU", ()),
                ("ELU", (0.5, True)), ("SELU", ()), ("SELU", (True,)), ("CELU", ()), ("CELU", (2.0, True)),
                ("GELU", ()), ("GELU", ("tanh",)), ("SiLU", ()), ("SiLU", (True,)), ("Mish", ()), ("Mish", (True,)),
                ("Hardswish", (True,)), ("Hardsigmoid", (True,)), ("Hardtanh", ()), ("Hardtanh", (-2, 2, True)),
                ("ReLU6", ()), ("ReLU6", (True,)), ("Softplus", ()), ("Softplus", (2, 10)), ("Softsign", ()),
                ("Tanhshrink", ()), ("Threshold", (0.1, 20)), ("Threshold", (0.1, 20, True)), ("GLU", ()),
                ("LogSigmoid", ()), ("Softmin", ()), ("Softmin", (1,)), ("Softmax2d", ()), ("LogSoftmax", ()),
                ("Softmax", (1,)), ("Hardshrink", ()), ("Softshrink", (0.3,)), ("Sigmoid", ()), ("Tanh", ()),
                ("ReLU", (True,)), ("LeakyReLU", ()), ("LeakyReLU", (0.2, True))]


def _module_pairs(torch):
    return [(getattr(lumen.nn, name)(*args), getattr(torch.nn, name)(*args)) for name, args in MODULE_CASES]


def test_activation_modules_repr_and_forward_match_torch():
    torch = pytest.importorskip("torch")
    a = _rng_input(8, (2, 4, 3, 2))
    for m, tm in _module_pairs(torch):
        assert repr(m) == repr(tm)
        if isinstance(m, lumen.nn.RReLU):
            m.eval(), tm.eval()
        if isinstance(m, lumen.nn.PReLU) or "dim=None" in repr(m):
            continue  # PReLU: see test_prelu_matches_torch_and_gradchecks; dim=None: the softmax test
        np.testing.assert_allclose(m(lumen.tensor(a)).numpy(), tm(torch.tensor(a)).numpy(), rtol=1e-12,
                                   atol=1e-15, err_msg=repr(m))


def test_gumbel_softmax_samples_the_softmax_and_passes_its_gradient_straight_through():
    logits = lumen.tensor(np.log([[0.1, 0.2, 0.7]]).repeat(20000, 0), requires_grad=True)
    lumen.manual_seed(0)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    h = hard.detach().numpy()
    assert set(np.unique(h)) == {0.0, 1.0} and np.all(h.sum(1) == 1)
    np.testing.assert_allclose(h.mean(0), [0.1, 0.2, 0.7], atol=0.01)  # argmax of logits + Gumbel noise
    lumen.manual_seed(0)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.detach().numpy().sum(1), 1, rtol=1e-12)
    assert np.all(h.argmax(1) == soft.detach().numpy().argmax(1))  # the same draw
    g = lumen.tensor(np.random.default_rng(0).standard_normal(h.shape))
    ga = lumen.autograd.grad((hard * g).sum(), logits)[0]
    gb = lumen.autograd.grad((soft * g).sum(), logits)[0]
    np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=1e-12)
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated and has no effect"):
        F.gumbel_softmax(logits, eps=1e-5)
    lumen.manual_seed(1)
    y = F.gumbel_softmax(lumen.zeros((2, 5, 3)), hard=True, dim=1).numpy()
    assert np.all(y.sum(1) == 1)


def test_softmax_takes_torch_softmax_positional_dtype():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    for name in ("softmax", "log_softmax"):
        y = getattr(lumen, name)(lumen.tensor(a), 1, lumen.float64)
        ty = getattr(torch, name)(torch.tensor(a), 1, torch.float64)
        assert y.dtype is lumen.float64
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)
