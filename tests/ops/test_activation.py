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
