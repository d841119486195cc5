"""addbmm and addr (functions, methods, in place), floor_divide_, pow_, split_with_sizes, fill: against torch."""
import numpy as np
import pytest

import lumen
from lumen.autograd import gradcheck

torch = pytest.importorskip("torch")
rng = np.random.default_rng(0)


def pair(shape):
    a = rng.standard_normal(shape)
    return lumen.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("op, shapes", [("addbmm", [(3, 4), (2, 3, 5), (2, 5, 4)]), ("addr", [(3, 4), (3,), (4,)]),
                                        ("addbmm", [(4,), (2, 3, 5), (2, 5, 4)])])
@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, 2.0)])
def test_products_values_gradients_and_gradcheck(op, shapes, beta, alpha):
    ours, theirs = zip(*(pair(s) for s in shapes))
    y = getattr(lumen, op)(*ours, beta=beta, alpha=alpha)
    t = getattr(torch, op)(*theirs, beta=beta, alpha=alpha)
    np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    t.sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
    assert gradcheck(lambda *xs: getattr(lumen, op)(*xs, beta=beta, alpha=alpha), [x.detach().requires_grad_() for x in ours])
    if tuple(ours[0].shape) != tuple(t.shape):
        with pytest.raises(RuntimeError, match="does not fit"):  # torch too: in place needs the result's shape
            getattr(ours[0].detach().clone(), op + "_")(*[x.detach() for x in ours[1:]])
        return
    base = ours[0].detach().clone()
    assert getattr(base, op + "_")(*[x.detach() for x in ours[1:]], beta=beta, alpha=alpha) is base
    np.testing.assert_allclose(base.numpy(), t.detach().numpy(), rtol=1e-12)


def test_shape_errors_name_the_op():
    with pytest.raises(RuntimeError, match="addbmm"):
        lumen.addbmm(lumen.zeros(3, 4), lumen.zeros(3, 5), lumen.zeros(5, 4))
    with pytest.raises(RuntimeError, match="addr"):
        lumen.addr(lumen.zeros(3, 4), lumen.zeros(3, 1), lumen.zeros(4))


def test_in_place_division_power_split_fill():
    x, t = lumen.tensor([5.0, -7.0]), torch.tensor([5.0, -7.0])
    assert x.floor_divide_(2) is x and x.tolist() == t.floor_divide_(2).tolist()
    assert lumen.tensor([2, 3]).pow_(2).tolist() == torch.tensor([2, 3]).pow_(2).tolist()
    ours = lumen.split_with_sizes(lumen.arange(5), [2, 3])
    assert [p.tolist() for p in ours] == [p.tolist() for p in torch.split_with_sizes(torch.arange(5), [2, 3])]
    assert lumen.arange(6).reshape(2, 3).split_with_sizes([1, 2], dim=1)[1].shape == (2, 2)
    filled, reference = lumen.fill(lumen.zeros(2, dtype=lumen.int64), 3), torch.fill(torch.zeros(2, dtype=torch.int64), 3)
    assert filled.tolist() == reference.tolist() and filled.dtype == lumen.int64
    assert lumen.short is lumen.int16 and lumen.get_device(lumen.zeros(1)) == torch.get_device(torch.zeros(1)) == -1
