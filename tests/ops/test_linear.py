"""linear: gradcheck, PyTorch parity, errors."""
import numpy as np
import pytest

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck


def _t(seed, *shape, grad=True):
    rng = np.random.default_rng(seed)
    return lumen.tensor(rng.standard_normal(shape), dtype=lumen.float64, requires_grad=grad)


@pytest.mark.parametrize("dims", [(7,), (3, 7), (2, 3, 7)])
def test_linear_gradcheck_and_parity(dims):
    torch = pytest.importorskip("torch")
    x, w, b = _t(4, *dims), _t(5, 4, 7), _t(6, 4)
    assert gradcheck(F.linear, (x, w, b))
    assert gradcheck(F.linear, (x, w))
    t = [torch.tensor(a.detach().numpy()) for a in (x, w, b)]
    np.testing.assert_allclose(F.linear(x, w, b).detach().numpy(), torch.nn.functional.linear(*t).numpy(),
                               rtol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 5\) does not match weight of shape \(3, 4\)"):
        F.linear(lumen.ones((2, 5)), lumen.ones((3, 4)))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(4,\) does not match weight of shape \(3, 4\)"):
        F.linear(lumen.ones((2, 4)), lumen.ones((3, 4)), lumen.ones(4))


def test_backward_gemms_run_on_the_backend(monkeypatch):
    # On bare arrays `@` would be NumPy's matmul (OpenBLAS's own threads, and a loop without BLAS for the
    # weight gradient's transposed (n, 1) operand at batch 1): both gradients must be the backend's GEMMs.
    x = lumen.randn(1, 300, requires_grad=True)
    w = lumen.randn(200, 300, requires_grad=True)
    backend = x._backend
    calls = []
    real = backend.matmul

    def counting(a, b, *args, **kwargs):
        calls.append((a.shape, b.shape))
        return real(a, b, *args, **kwargs)

    monkeypatch.setattr(backend, "matmul", counting)
    y = F.linear(x, w)
    del calls[:]
    y.sum().backward()
    assert sorted(calls) == [((1, 200), (200, 300)), ((300, 1), (1, 200))]
    np.testing.assert_allclose(w.grad.numpy(), np.outer(np.ones(200), x.detach().numpy()[0]), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy()[0], w.detach().numpy().sum(0), rtol=1e-5, atol=1e-4)
