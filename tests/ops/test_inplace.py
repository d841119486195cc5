"""In-place ops write into the tensor's own buffer, bump its version, and match PyTorch."""
import tracemalloc

import numpy as np
import pytest

import lumen
from lumen import optim
from lumen.ops import inplace

torch = pytest.importorskip("torch")

N = inplace.BLOCK * 3 + 5  # several blocks and a ragged tail


def _pair(seed, n=N, positive=False):
    a = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    if positive:
        a = np.abs(a) + 0.5
    return lumen.tensor(a), torch.tensor(a)


@pytest.mark.parametrize("update", [
    lambda y, x: y.add_(x, alpha=-0.3), lambda y, x: y.add_(x), lambda y, x: y.sub_(x, alpha=2.5),
    lambda y, x: y.mul_(x), lambda y, x: y.div_(x), lambda y, x: y.addcmul_(x, x, value=0.1),
    lambda y, x: y.addcdiv_(x, x, value=-0.7), lambda y, x: y.lerp_(x, 0.25), lambda y, x: y.add_(2.0),
], ids=["add_alpha", "add", "sub_alpha", "mul", "div", "addcmul", "addcdiv", "lerp", "add_scalar"])
def test_matches_torch_and_writes_in_place(update):
    y, ty = _pair(0)
    x, tx = _pair(1, positive=True)
    buffer, version = y.numpy(), y._version
    assert update(y, x) is y and y._version == version + 1
    update(ty, tx)
    assert np.shares_memory(y.numpy(), buffer)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-6, atol=1e-6)


def test_unary_and_fill_kernels():
    y, ty = _pair(2, positive=True)
    y.sqrt_().neg_().clamp_(-1.2, -0.9)
    ty.sqrt_().neg_().clamp_(-1.2, -0.9)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-6)
    y.fill_(3).mul_(lumen.tensor(2.0))
    assert (y == 6).all()
    y.copy_(lumen.arange(N))  # int source, cast as PyTorch's copy_
    assert y[7].item() == 7.0
    y.zero_()
    assert not y.any()


def test_errors_name_the_op():
    t = lumen.zeros(3, dtype=lumen.int64)
    with pytest.raises(RuntimeError, match="add_: result type lumen.float32 can.t be cast .*int64"):
        t.add_(0.5)
    with pytest.raises(RuntimeError, match=r"mul_: operand of shape \(4,\) does not broadcast .*\(3,\)"):
        lumen.zeros(3).mul_(lumen.ones(4))
    with pytest.raises(RuntimeError, match="read-only"):
        lumen.zeros(1).expand(3).add_(1)
    with pytest.raises(RuntimeError, match="leaf tensor .* requires grad"):
        lumen.zeros(3, requires_grad=True).add_(1)


def test_recorded_in_place_keeps_the_graph():
    x = lumen.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x * 2
    y.addcmul_(x, x, value=0.5)  # y = 2x + x^2 / 2, dy/dx = 2 + x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 0.0, 5.0])


def _peak_above(step):
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    step()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


@pytest.mark.parametrize("make", [lambda p: optim.SGD([p], lr=0.1, momentum=0.9),
                                  lambda p: optim.Adam([p], lr=1e-3),
                                  lambda p: optim.AdamW([p], lr=1e-3)], ids=["sgd-momentum", "adam", "adamw"])
def test_optimizer_step_allocates_under_5_percent_of_the_parameter(make):
    n = 38 * 2**20 // 4  # a 38 MiB float32 parameter
    p = lumen.zeros(n).requires_grad_()
    p.grad = lumen.ones(n)
    opt = make(p)
    opt.step()  # creates the state
    assert _peak_above(opt.step) < 0.05 * n * 4


def test_out_argument_as_torch():
    torch = pytest.importorskip("torch")
    a, b = np.arange(6.0, dtype=np.float32).reshape(2, 3), np.ones((3, 4), np.float32)
    out = lumen.empty(2, 4)
    version = out._version
    assert lumen.matmul(lumen.tensor(a), lumen.tensor(b), out=out) is out and out._version > version
    np.testing.assert_array_equal(out.numpy(), torch.matmul(torch.tensor(a), torch.tensor(b)).numpy())
    empty = lumen.empty(0)
    assert lumen.matmul(lumen.tensor(a), lumen.tensor(b), out=empty).shape == (2, 4)
    with pytest.warns(UserWarning, match="was resized since it had shape \\[3, 3\\]"):
        lumen.matmul(lumen.tensor(a), lumen.tensor(b), out=lumen.empty(3, 3))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        lumen.matmul(lumen.tensor(a, requires_grad=True), lumen.tensor(b), out=lumen.empty(2, 4))
    with pytest.raises(RuntimeError, match="expected out tensor to have dtype lumen.float32"):
        lumen.matmul(lumen.tensor(a), lumen.tensor(b), out=lumen.empty(2, 4, dtype=lumen.int64))
