"""relu, softmax, log_softmax, dropout, linear: gradchecks, PyTorch parity, in-place semantics, errors."""
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


@pytest.mark.parametrize("dims", [(7,), (3, 7), (2, 3, 7)])
def test_linear_gradcheck_and_parity(dims):
    torch = pytest.importorskip("torch")
    x, w, b = _t(4, *dims), _t(5, 4, 7), _t(6, 4)
    assert gradcheck(F.linear, (x, w, b))
    assert gradcheck(F.linear, (x, w))
    t = [torch.tensor(a.detach().numpy()) for a in (x, w, b)]
    np.testing.assert_allclose(F.linear(x, w, b).detach().numpy(), torch.nn.functional.linear(*t).numpy(),
                               rtol=1e-12)


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


def test_dropout_scaling_reproducibility_and_grad():
    x = lumen.ones((200, 100), dtype=lumen.float64, requires_grad=True)
    lumen.manual_seed(3)
    y = F.dropout(x, 0.3)
    lumen.manual_seed(3)
    y2 = F.dropout(x, 0.3)
    a = y.detach().numpy()
    np.testing.assert_array_equal(a, y2.detach().numpy())
    assert set(np.unique(a)) == {0.0, 1 / 0.7}
    assert abs((a == 0).mean() - 0.3) < 0.01
    g = np.random.default_rng(0).standard_normal(a.shape)
    (y * lumen.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), g * a)
    assert F.dropout(x, 0.3, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).detach().numpy(), 0)


def test_dropout_gradcheck_and_double_backward():
    x = _t(8, 3, 4)

    def fn(x):
        lumen.manual_seed(0)  # the same mask on every call of gradcheck
        return F.dropout(x * x, 0.4)

    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_dropout_inplace_and_float32():
    lumen.manual_seed(1)
    h = lumen.ones((50, 40))
    v = h._version
    out = F.dropout(h, 0.5, inplace=True)
    assert out is h and h._version > v and h.dtype is lumen.float32
    assert set(np.unique(h.numpy())) == {0.0, 2.0}


def test_errors():
    with pytest.raises(ValueError, match=r"dropout: probability p must be between 0 and 1, got 1.5"):
        F.dropout(lumen.ones(3), 1.5)
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 5\) does not match weight of shape \(3, 4\)"):
        F.linear(lumen.ones((2, 5)), lumen.ones((3, 4)))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(4,\) does not match weight of shape \(3, 4\)"):
        F.linear(lumen.ones((2, 4)), lumen.ones((3, 4)), lumen.ones(4))
    with pytest.raises(IndexError, match=r"softmax: dim 2 is out of range for input of shape \(2, 3\)"):
        F.softmax(lumen.ones((2, 3)), 2)
    with pytest.raises(TypeError, match=r"log_softmax: expected a floating-point input, got lumen.int64"):
        F.log_softmax(lumen.ones((2, 3), dtype=lumen.int64), 1)
