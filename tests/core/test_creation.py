"""Creation ops and seeded random numbers."""
import numpy as np
import pytest

import lumen


def test_tensor_infers_pytorch_dtypes():
    assert lumen.tensor(1.0).dtype is lumen.float32
    assert lumen.tensor([1, 2]).dtype is lumen.int64
    assert lumen.tensor([True]).dtype is lumen.bool
    assert lumen.tensor([1, 2.5]).dtype is lumen.float32
    assert lumen.tensor(np.zeros(2, np.float64)).dtype is lumen.float64  # numpy arrays keep theirs
    assert lumen.tensor(np.zeros(2, np.int32)).dtype is lumen.int32
    assert lumen.tensor([1, 2], dtype=lumen.float16).dtype is lumen.float16
    assert lumen.tensor([[1, 2], [3, 4]]).shape == (2, 2) and lumen.tensor(5).shape == ()
    t = lumen.tensor([1.0, 2.0])
    c = lumen.tensor(t)
    c[0] = 5
    assert t[0].item() == 1.0  # tensor() always copies
    assert lumen.Tensor([1.0, 2.0]).tolist() == [1.0, 2.0]


def test_default_dtype():
    assert lumen.get_default_dtype() is lumen.float32
    lumen.set_default_dtype(lumen.float64)
    try:
        assert lumen.tensor(1.5).dtype is lumen.float64 and lumen.zeros(1).dtype is lumen.float64
        assert (lumen.tensor([1, 2]) * 0.5).dtype is lumen.float64
    finally:
        lumen.set_default_dtype(lumen.float32)
    with pytest.raises(TypeError, match="floating"):
        lumen.set_default_dtype(lumen.int32)


def test_zeros_ones_full_empty_eye():
    assert lumen.zeros(2, 3).tolist() == [[0.0] * 3] * 2 and lumen.zeros((2, 3)).shape == (2, 3)
    assert lumen.ones([4]).shape == (4,) and lumen.ones(2, dtype=lumen.int8).dtype is lumen.int8
    assert lumen.zeros(()).shape == ()
    assert lumen.full((2,), 3).dtype is lumen.int64 and lumen.full((2,), 3.5).dtype is lumen.float32
    assert lumen.full((2,), True).dtype is lumen.bool and lumen.full(2, 1.0).shape == (2,)
    assert lumen.empty(3, 2).shape == (3, 2)
    np.testing.assert_array_equal(lumen.eye(3).numpy(), np.eye(3))
    assert lumen.eye(2, 3).shape == (2, 3) and lumen.eye(2, dtype=lumen.float64).dtype is lumen.float64
    z = lumen.zeros(2, requires_grad=True)
    assert z.requires_grad and z.is_leaf


def test_like_functions():
    t = lumen.ones(2, 3, dtype=lumen.float64)
    for fn in (lumen.zeros_like, lumen.ones_like, lumen.empty_like, lumen.rand_like, lumen.randn_like):
        out = fn(t)
        assert out.shape == (2, 3) and out.dtype is lumen.float64
    assert lumen.full_like(t, 7).tolist() == [[7.0] * 3] * 2
    assert lumen.zeros_like(t, dtype=lumen.int32).dtype is lumen.int32


def test_arange_linspace():
    assert lumen.arange(5).tolist() == [0, 1, 2, 3, 4] and lumen.arange(5).dtype is lumen.int64
    assert lumen.arange(1, 2, 0.25).tolist() == [1.0, 1.25, 1.5, 1.75]
    assert lumen.arange(1, 2, 0.25).dtype is lumen.float32
    assert lumen.arange(3, dtype=lumen.float64).dtype is lumen.float64
    np.testing.assert_allclose(lumen.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    assert lumen.linspace(0, 1, 5).dtype is lumen.float32


def test_manual_seed_reproducibility():
    lumen.manual_seed(123)
    a = (lumen.rand(3, 2), lumen.randn(4), lumen.randint(0, 10, (5,)), lumen.randperm(6))
    lumen.manual_seed(123)
    b = (lumen.rand(3, 2), lumen.randn(4), lumen.randint(0, 10, (5,)), lumen.randperm(6))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert lumen.initial_seed() == 123
    lumen.manual_seed(124)
    assert not np.array_equal(lumen.rand(3, 2).numpy(), a[0].numpy())


def test_random_ranges_and_dtypes():
    lumen.manual_seed(0)
    r = lumen.rand(2000)
    assert r.dtype is lumen.float32 and 0 <= r.min().item() and r.max().item() < 1
    assert abs(r.mean().item() - 0.5) < 0.05
    n = lumen.randn(4000, dtype=lumen.float64)
    assert n.dtype is lumen.float64 and abs(n.mean().item()) < 0.1 and abs(n.std().item() - 1) < 0.1
    i = lumen.randint(3, 7, (500,))
    assert i.dtype is lumen.int64 and set(i.tolist()) == {3, 4, 5, 6}
    assert lumen.randint(4, size=(2, 2)).shape == (2, 2)
    assert sorted(lumen.randperm(5).tolist()) == [0, 1, 2, 3, 4]
    assert lumen.rand(2, 2, requires_grad=True).requires_grad


def test_uniform_normal_in_place():
    lumen.manual_seed(5)
    t = lumen.empty(1000).uniform_(-2, -1)
    assert -2 <= t.min().item() and t.max().item() < -1
    t.normal_(3.0, 0.5)
    assert abs(t.mean().item() - 3.0) < 0.1
