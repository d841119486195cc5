"""dropout: scaling, reproducibility, gradcheck and double backward, in-place, errors."""
import numpy as np
import pytest

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck


def _t(seed, *shape, grad=True):
    rng = np.random.default_rng(seed)
    return lumen.tensor(rng.standard_normal(shape), dtype=lumen.float64, requires_grad=grad)


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
    with pytest.raises(ValueError, match=r"dropout: dropout probability has to be between 0 and 1, but got 1.5"):
        F.dropout(lumen.ones(3), 1.5)


def _channel_masks(y, x):
    """Per-element keep factor y / x, checked to be one value per (sample, channel)."""
    ratio = y / x
    flat = ratio.reshape(ratio.shape[0], ratio.shape[1], -1)
    np.testing.assert_allclose(flat, np.broadcast_to(flat[..., :1], flat.shape), rtol=1e-12,
                               err_msg="a channel was partly dropped")
    return flat[..., 0]


@pytest.mark.parametrize("fn,shape", [(F.dropout1d, (40, 30, 5)), (F.dropout2d, (40, 30, 3, 2)),
                                      (F.dropout3d, (40, 30, 2, 2, 2))])
def test_channel_dropout_drops_whole_channels(fn, shape):
    x = lumen.tensor(np.random.default_rng(0).uniform(1, 2, shape), requires_grad=True)
    lumen.manual_seed(4)
    y = fn(x, 0.3)
    keep = _channel_masks(y.detach().numpy(), x.detach().numpy())
    assert set(np.round(np.unique(keep), 12)) == {0.0, round(1 / 0.7, 12)}
    assert abs((keep == 0).mean() - 0.3) < 0.05
    g = np.random.default_rng(1).standard_normal(shape)
    (y * lumen.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), g * (y.detach().numpy() / x.detach().numpy()), rtol=1e-12)
    lumen.manual_seed(4)
    np.testing.assert_array_equal(fn(x, 0.3).detach().numpy(), y.detach().numpy())
    assert fn(x, 0.3, training=False) is x and fn(x, 0.0) is x


@pytest.mark.parametrize("fn,shape", [(F.dropout1d, (30, 5)), (F.dropout3d, (30, 2, 2, 2))])
def test_channel_dropout_of_unbatched_inputs(fn, shape):
    x = lumen.ones(shape, dtype=lumen.float64)
    lumen.manual_seed(2)
    y = fn(x, 0.5).numpy()
    assert y.shape == shape
    _channel_masks(y[None], x.numpy()[None])


def test_dropout2d_rules_and_warnings_follow_pytorch():
    x = lumen.ones((4, 6, 5), dtype=lumen.float64)
    with pytest.warns(UserWarning, match="dropout2d: Received a 3D input to dropout2d and assuming that channel-wise"):
        y = F.dropout2d(x, 0.5)
    _channel_masks(y.numpy(), x.numpy())  # read as (N, C, L), as PyTorch
    with pytest.warns(UserWarning, match="dropout2d: Received a 2-D input to dropout2d, which is deprecated"):
        F.dropout2d(lumen.ones((4, 6)), 0.5)
    with pytest.warns(UserWarning, match="dropout3d: Received a 3-D input to dropout3d, which is deprecated"):
        F.dropout3d(lumen.ones((4, 6, 2)), 0.5)
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a 4D input"):
        F.dropout1d(lumen.ones((1, 2, 3, 4)))
    with pytest.raises(ValueError, match="dropout2d: dropout probability has to be between 0 and 1, but got -0.1"):
        F.dropout2d(lumen.ones((1, 2, 3, 4)), -0.1)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 2"):
        lumen.nn.Dropout2d(2)


@pytest.mark.parametrize("feature", [False, True])
def test_alpha_dropout_formula_statistics_and_gradient(feature):
    p, alpha = 0.2, 1.7580993408473766
    a = 1 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    fn = F.feature_alpha_dropout if feature else F.alpha_dropout
    shape = (400, 300, 2) if feature else (400, 600)
    x = lumen.tensor(np.random.default_rng(3).standard_normal(shape))
    lumen.manual_seed(5)
    y = fn(x, p, training=True).numpy()
    xn = x.numpy()
    kept = np.isclose(y, a * xn + alpha * a * p, rtol=0, atol=1e-12)
    dropped = np.isclose(y, -alpha * a + alpha * a * p, rtol=0, atol=1e-12)
    assert np.all(kept | dropped) and abs(dropped.mean() - p) < 0.01
    if feature:
        assert np.all(dropped == dropped[..., :1])
    # zero mean and unit variance in, (about) the same out: the point of alpha dropout
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    assert fn(x, p) is x  # training defaults to False, as PyTorch's
    xg = lumen.tensor(np.random.default_rng(4).standard_normal((3, 4, 2)), requires_grad=True)

    def seeded(t):
        lumen.manual_seed(0)
        return fn(t * t, 0.4, True)

    assert gradcheck(seeded, (xg,)) and gradgradcheck(seeded, (xg,))
    np.testing.assert_array_equal(fn(x, 1.0, True).numpy(), 0)


def test_dropout_modules_train_eval_inplace_and_repr():
    torch = pytest.importorskip("torch")
    for name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"):
        m, tm = getattr(lumen.nn, name)(0.3, inplace=True), getattr(torch.nn, name)(0.3, inplace=True)
        assert repr(m) == repr(tm) and repr(getattr(lumen.nn, name)()) == repr(getattr(torch.nn, name)())
        x = lumen.ones((4, 3, 2, 2, 2) if name == "Dropout3d" else (4, 3, 5) if name == "Dropout1d" else (4, 3, 2, 2))
        m.eval()
        assert m(x) is x
        m.train()
        lumen.manual_seed(0)
        v = x._version
        assert m(x) is x and x._version > v and not np.all(x.numpy() == 1)


def test_channel_dropout_inplace_under_autograd():
    x = lumen.tensor(np.ones((6, 4, 3)), requires_grad=True)
    h = x * 2.0
    lumen.manual_seed(3)
    out = F.dropout1d(h, 0.5, inplace=True)
    assert out is h
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), h.detach().numpy())  # d(2x * mask)/dx = 2 mask = h
