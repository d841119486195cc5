"""local_response_norm and batch_norm: gradchecks, double backward, PyTorch parity, running stats, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck


def _t(seed, *shape, grad=True, offset=0.0):
    rng = np.random.default_rng(seed)
    return lumen.tensor(rng.standard_normal(shape) + offset, dtype=lumen.float64, requires_grad=grad)


@settings(max_examples=15, deadline=None)
@given(size=st.integers(1, 6), c=st.integers(1, 7), spatial=st.sampled_from([(3,), (2, 3), (1, 1)]),
       alpha=st.sampled_from([1e-4, 0.3]), beta=st.sampled_from([0.75, 1.5]), k=st.sampled_from([1.0, 2.0]),
       seed=st.integers(0, 999))
def test_lrn_gradcheck(size, c, spatial, alpha, beta, k, seed):
    x = _t(seed, 2, c, *spatial)
    assert gradcheck(lambda x: F.local_response_norm(x, size, alpha, beta, k), (x,))


@pytest.mark.parametrize("size", [2, 5])
def test_lrn_gradgradcheck(size):
    x = _t(1, 2, 6, 2, 3)
    assert gradgradcheck(lambda x: F.local_response_norm(x, size, alpha=0.5, beta=0.75, k=2.0), (x,))


def test_lrn_create_graph_gradient_equals_fused_gradient():
    x = _t(2, 2, 7, 3, 3)
    gy = _t(3, 2, 7, 3, 3, grad=False)
    plain = lumen.autograd.grad(F.local_response_norm(x, 5, 0.1), x, gy)[0]
    graph = lumen.autograd.grad(F.local_response_norm(x, 5, 0.1), x, gy, create_graph=True)[0]
    np.testing.assert_allclose(plain.numpy(), graph.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 1.0), (4, 0.2, 0.5, 2.0), (1, 1.0, 1.0, 1.0)])
def test_lrn_matches_torch(size, alpha, beta, k):
    torch = pytest.importorskip("torch")
    x = _t(4, 2, 6, 5, 3)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    y = F.local_response_norm(x, size, alpha, beta, k)
    ty = torch.nn.functional.local_response_norm(tx, size, alpha, beta, k)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(0).standard_normal(y.shape)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 3, 2)])
@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_train_gradcheck(shape, affine):
    x = _t(5, *shape)
    w, b = (_t(6, shape[1]), _t(7, shape[1])) if affine else (None, None)
    assert gradcheck(lambda *a: F.batch_norm(a[0], None, None, *a[1:], training=True),
                     (x, w, b) if affine else (x,))


def test_batch_norm_gradgradcheck():
    x, w, b = _t(8, 3, 2, 2, 2), _t(9, 2), _t(10, 2)
    assert gradgradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, w, b))
    rm, rv = _t(11, 2, grad=False), _t(12, 2, grad=False, offset=3.0)
    assert gradgradcheck(lambda x, w, b: F.batch_norm(x * x, rm, rv, w, b) ** 2, (x, w, b))


@pytest.mark.parametrize("training", [False, True])
def test_batch_norm_matches_torch_and_updates_running_stats(training):
    torch = pytest.importorskip("torch")
    x, w, b = _t(13, 4, 3, 5, 2), _t(14, 3), _t(15, 3)
    rm, rv = _t(16, 3, grad=False), _t(17, 3, grad=False, offset=3.0)
    trm, trv = (torch.tensor(a.numpy()) for a in (rm, rv))
    tx, tw, tb = (torch.tensor(a.detach().numpy(), requires_grad=True) for a in (x, w, b))
    v = rm._version
    y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.3, eps=1e-3)
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=training, momentum=0.3, eps=1e-3)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-12)
    assert (rm._version > v) == training
    g = np.random.default_rng(0).standard_normal(y.shape)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for a, ta in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_batch_norm_float32_training_stats():
    x = lumen.tensor(np.arange(12.0).reshape(3, 2, 2), dtype=lumen.float32)
    rm, rv = lumen.zeros(2), lumen.ones(2)
    y = F.batch_norm(x, rm, rv, training=True, momentum=1.0)
    data = np.arange(12.0).reshape(3, 2, 2).transpose(1, 0, 2).reshape(2, -1)
    np.testing.assert_allclose(rm.numpy(), data.mean(1), rtol=1e-6)
    np.testing.assert_allclose(rv.numpy(), data.var(1, ddof=1), rtol=1e-6)
    assert y.dtype is lumen.float32
    np.testing.assert_allclose(y.numpy().transpose(1, 0, 2).reshape(2, -1).mean(1), 0, atol=1e-6)


def test_errors():
    x = lumen.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"local_response_norm: expected input \(N, C, \*\) with at least 3 dims, got \(2, 3\)"):
        F.local_response_norm(lumen.zeros((2, 3)), 3)
    with pytest.raises(ValueError, match=r"local_response_norm: size must be a positive int, got 0"):
        F.local_response_norm(x, 0)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean of shape \(4,\) does not match the 3 channels of "
                                         r"input \(2, 3, 4, 4\)"):
        F.batch_norm(x, lumen.zeros(4), lumen.ones(4))
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel when training, got "
                                         r"input of shape \(1, 3\)"):
        F.batch_norm(lumen.zeros((1, 3)), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean and running_var are needed when training=False"):
        F.batch_norm(x, None, None)
    with pytest.raises(TypeError, match=r"batch_norm: input is lumen.float32 but weight is lumen.float64"):
        F.batch_norm(x, None, None, lumen.ones(3, dtype=lumen.float64), training=True)
