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
