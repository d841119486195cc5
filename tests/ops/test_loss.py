"""cross_entropy / nll_loss: gradchecks, double backward, PyTorch parity (weights, ignore_index,
reductions, dense targets), errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
import lumen.nn as nn
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck


def _case(seed, shape, ignore_index=-100, n_ignored=2):
    rng = np.random.default_rng(seed)
    x = lumen.tensor(rng.standard_normal(shape), dtype=lumen.float64, requires_grad=True)
    t = rng.integers(0, shape[1], (shape[0],) + tuple(shape[2:]))
    t.reshape(-1)[rng.permutation(t.size)[:n_ignored]] = ignore_index
    return x, lumen.tensor(t), lumen.tensor(rng.random(shape[1]) + 0.5, dtype=lumen.float64)


@settings(max_examples=15, deadline=None)
@given(shape=st.sampled_from([(3, 4), (1, 5), (2, 3, 4, 3), (1, 2, 1, 5), (2, 3, 5)]),
       reduction=st.sampled_from(["mean", "sum", "none"]), weighted=st.booleans(),
       ignore_index=st.sampled_from([-100, 1]), seed=st.integers(0, 999))
def test_gradcheck(shape, reduction, weighted, ignore_index, seed):
    x, t, w = _case(seed, shape, ignore_index, n_ignored=1)
    w = w if weighted else None
    kw = dict(ignore_index=ignore_index, reduction=reduction)
    assert gradcheck(lambda x: F.cross_entropy(x, t, w, **kw), (x,))
    assert gradcheck(lambda x: F.nll_loss(F.log_softmax(x, 1), t, w, **kw), (x,))


def test_cross_entropy_gradgradcheck():
    x, t, w = _case(1, (3, 4, 2, 2))
    assert gradgradcheck(lambda x: F.cross_entropy(x, t, w), (x,))
    assert gradgradcheck(lambda x: F.cross_entropy(x, t, reduction="none") * x.sum(1), (x,))
    assert gradgradcheck(lambda x: F.nll_loss(x * x, t, w, reduction="sum"), (x,))


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_torch(shape, reduction, weighted):
    torch = pytest.importorskip("torch")
    x, t, w = _case(2, shape, ignore_index=255, n_ignored=3)
    w = w if weighted else None
    tw = None if w is None else torch.tensor(w.numpy())
    for fn, tfn, arg in ((F.cross_entropy, torch.nn.functional.cross_entropy, x),
                         (F.nll_loss, torch.nn.functional.nll_loss, x)):
        xx = arg.detach().requires_grad_()
        tx = torch.tensor(xx.detach().numpy(), requires_grad=True)
        y = fn(xx, t, w, ignore_index=255, reduction=reduction)
        ty = tfn(tx, torch.tensor(t.numpy()), tw, ignore_index=255, reduction=reduction)
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
        g = np.random.default_rng(0).standard_normal(y.shape)
        (y * lumen.tensor(g)).sum().backward()
        (ty * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(xx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_unbatched_and_float32():
    x = lumen.tensor([1.0, 2.0, 0.5], requires_grad=True)
    loss = F.cross_entropy(x, lumen.tensor(1))
    expected = -(2.0 - np.log(np.exp([1.0, 2.0, 0.5]).sum()))
    assert loss.dtype is lumen.float32 and loss.shape == ()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)
    loss.backward()
    assert x.grad.dtype is lumen.float32
    assert F.cross_entropy(x, lumen.tensor(1), reduction="none").shape == ()


def test_all_ignored_mean_is_nan_and_sum_is_zero():
    x = lumen.zeros((2, 3), requires_grad=True)
    t = lumen.tensor([-100, -100])
    assert np.isnan(F.cross_entropy(x, t).item())
    loss = F.cross_entropy(x, t, reduction="sum")
    assert loss.item() == 0
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)


def test_int32_targets():
    x, t, _ = _case(3, (3, 4))
    a = F.cross_entropy(x, t.to(lumen.int32))
    np.testing.assert_allclose(a.item(), F.cross_entropy(x, t).item())


def test_errors():
    x = lumen.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"cross_entropy: input of shape \(2, 3, 4, 4\) needs target of shape "
                                         r"\(2, 4, 4\), got \(2, 4\)"):
        F.cross_entropy(x, lumen.zeros((2, 4), dtype=lumen.int64))
    t = lumen.zeros((2, 4, 4), dtype=lumen.int64)
    t[1, 2, 3] = 3
    with pytest.raises(ValueError, match=r"cross_entropy: target value 3 is out of range for input of shape "
                                         r"\(2, 3, 4, 4\) with 3 classes"):
        F.cross_entropy(x, t)
    t[1, 2, 3] = -1
    with pytest.raises(ValueError, match=r"nll_loss: target value -1 is out of range"):
        F.nll_loss(x, t)
    with pytest.raises(RuntimeError, match=r"cross_entropy: a floating-point target holds class probabilities and "
                                           r"needs input's shape \(2, 3, 4, 4\), got \(2, 4, 4\)"):
        F.cross_entropy(x, lumen.zeros((2, 4, 4)))
    with pytest.raises(TypeError, match=r"nll_loss: target must hold integer class indices, got lumen.float32"):
        F.nll_loss(x, lumen.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"nll_loss: weight of shape \(4,\) does not match the 3 classes"):
        F.nll_loss(x, lumen.zeros((2, 4, 4), dtype=lumen.int64), lumen.ones(4))
    with pytest.raises(ValueError, match=r"avg is not a valid value for reduction: cross_entropy's reduction must be "
                                         r"one of 'none', 'mean', 'sum'"):
        F.cross_entropy(x, lumen.zeros((2, 4, 4), dtype=lumen.int64), reduction="avg")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_label_smoothing_matches_pytorch(reduction, weighted):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 3, 3))
    t = rng.integers(0, 5, (2, 3, 3))
    t[0, 0, 0] = 255
    w = rng.random(5) if weighted else None
    ours = lumen.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    a = F.cross_entropy(ours, lumen.tensor(t), None if w is None else lumen.tensor(w), ignore_index=255,
                        reduction=reduction, label_smoothing=0.2)
    b = torch.nn.functional.cross_entropy(theirs, torch.tensor(t), None if w is None else torch.tensor(w),
                                          ignore_index=255, reduction=reduction, label_smoothing=0.2)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_label_smoothing_gradcheck_and_legacy_arguments():
    x = lumen.randn(3, 4, dtype=lumen.float64, requires_grad=True)
    t = lumen.tensor([0, 3, 1])
    assert gradcheck(lambda x: F.cross_entropy(x, t, label_smoothing=0.3), (x,))
    with pytest.warns(UserWarning, match="please use reduction='sum' instead"):
        legacy = F.cross_entropy(x, t, None, False)
    np.testing.assert_allclose(legacy.item(), F.cross_entropy(x, t, reduction="sum").item())
    with pytest.warns(UserWarning, match="please use reduction='none' instead"):
        assert nn.NLLLoss(reduce=False).reduction == "none"
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        F.cross_entropy(x, t, label_smoothing=1.5)
