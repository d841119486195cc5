"""Legacy typed constructors, Tensor.type, constants and the small creation names, against torch."""
import warnings

import numpy as np
import pytest

import lumen

torch = pytest.importorskip("torch")


def same(ours, theirs):
    assert ours.dtype.name == str(theirs.dtype).split(".")[-1]
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("name", ["FloatTensor", "DoubleTensor", "HalfTensor", "ByteTensor", "CharTensor",
                                  "ShortTensor", "IntTensor", "LongTensor", "BoolTensor"])
def test_typed_constructors_and_isinstance(name):
    ours, theirs = getattr(lumen, name), getattr(torch, name)
    same(ours([1, 0, 1]), theirs([1, 0, 1]))
    assert tuple(ours(2, 3).shape) == tuple(theirs(2, 3).shape) == (2, 3)
    assert ours(2, 3).dtype.name == str(theirs(2, 3).dtype).split(".")[-1]
    assert tuple(ours().shape) == tuple(theirs().shape) == (0,)
    other = lumen.float64 if name != "DoubleTensor" else lumen.float32
    assert isinstance(ours([1]), ours) and not isinstance(lumen.zeros(1, dtype=other), ours)
    assert isinstance(torch.tensor([1]).to(theirs.dtype), theirs)
    assert lumen.ones(2).type(ours).dtype is ours.dtype
    assert lumen.ones(2).type(f"torch.{name}").dtype is ours.dtype  # a ported string names it too
    assert ours([1]).type() == f"lumen.{name}" and theirs([1]).type() == f"torch.{name}"


def test_typed_constructor_refuses_another_dtype_of_tensor():
    with pytest.raises(TypeError):
        torch.LongTensor(torch.ones(2))
    with pytest.raises(TypeError, match="LongTensor"):
        lumen.LongTensor(lumen.ones(2))


def test_constants_and_typename():
    for name in ("e", "pi", "inf", "nan"):
        ours, theirs = getattr(lumen, name), getattr(torch, name)
        assert ours == theirs or (np.isnan(ours) and np.isnan(theirs))
    assert lumen.newaxis is torch.newaxis is None
    assert lumen.typename(lumen.zeros(2)) == "lumen.FloatTensor" and torch.typename(torch.zeros(2)) == "torch.FloatTensor"
    assert lumen.typename(3) == torch.typename(3) == "int"


def test_creation_names_match_torch():
    same(lumen.logspace(0, 2, 3), torch.logspace(0, 2, 3))
    same(lumen.logspace(1, 3, 3, base=2, dtype=lumen.float64), torch.logspace(1, 3, 3, base=2, dtype=torch.float64))
    with pytest.warns(UserWarning, match="lumen.range is deprecated"):
        ours = lumen.range(0, 2, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(ours, torch.range(0, 2, 0.5))
    same(lumen.scalar_tensor(3), torch.scalar_tensor(3))
    same(lumen.scalar_tensor(3, dtype=lumen.float64), torch.scalar_tensor(3, dtype=torch.float64))
    drawn = lumen.randint_like(lumen.zeros(50, dtype=lumen.int32), 3, 7, generator=lumen.Generator().manual_seed(0))
    assert drawn.dtype == lumen.int32 and set(drawn.tolist()) <= {3, 4, 5, 6}
    assert lumen.randint_like(lumen.zeros(5), 4).dtype.name == str(torch.randint_like(torch.zeros(5), 4).dtype)[6:]


def test_asarray_shares_or_copies_as_torch():
    a = np.ones(3, np.float32)
    ours, theirs = lumen.asarray(a), torch.asarray(a)
    a[0] = 5
    assert ours.tolist() == theirs.tolist() == [5, 1, 1]
    b = np.ones(3, np.float32)
    ours, theirs = lumen.asarray(b, copy=True), torch.asarray(b, copy=True)
    b[0] = 5
    assert ours.tolist() == theirs.tolist() == [1, 1, 1]
    same(lumen.asarray([1, 2]), torch.asarray([1, 2]))
    with pytest.raises(ValueError, match="copy=False"):
        lumen.asarray(np.ones(2), dtype=lumen.float32, copy=False)
    t = lumen.ones(2)
    assert lumen.asarray(t) is t and lumen.asarray(t, requires_grad=True).requires_grad


def test_binomial():
    counts = lumen.full((20000,), 10.0)
    drawn = lumen.binomial(counts, lumen.full((20000,), 0.3), generator=lumen.Generator().manual_seed(1))
    reference = torch.binomial(torch.full((4,), 10.0), torch.full((4,), 0.3))
    assert drawn.dtype.name == str(reference.dtype).split(".")[-1] and abs(drawn.mean().item() - 3) < 0.05
    assert drawn.min().item() >= 0 and drawn.max().item() <= 10
    with pytest.raises(RuntimeError, match="probabilit"):  # torch draws from it anyway; Lumen says what is wrong
        lumen.binomial(lumen.ones(2), lumen.tensor([0.5, 1.5]))
