"""sort, argsort, topk, kthvalue, median, mode, unique, bincount, histc: PyTorch parity (values, indices,
gradients, dtypes, named results) and float64 gradchecks."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
from lumen.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=15, deadline=None)


def distinct(shape, seed=0):
    """float64 values without ties, so every order and finite difference is unambiguous."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) / 4.0 - n / 8.0


def both(array, grad=True):
    return (lumen.tensor(array, requires_grad=grad and array.dtype.kind == "f"),
            torch.tensor(array, requires_grad=grad and array.dtype.kind == "f"))


def same(lo, to):
    """Lumen result == torch result: each tensor's values and dtype, tuples and named tuples alike."""
    if isinstance(to, tuple):
        assert isinstance(lo, tuple) and len(lo) == len(to)
        if hasattr(to, "_fields"):
            assert lo._fields == to._fields and type(lo).__name__ == type(to).__name__
        for a, b in zip(lo, to):
            same(a, b)
        return
    assert str(lo.dtype).split(".")[-1] == str(to.dtype).split(".")[-1], (lo.dtype, to.dtype)
    assert tuple(lo.shape) == tuple(to.shape)
    np.testing.assert_array_equal(lo.detach().numpy(), to.detach().numpy())


def same_grad(fn, array, seed=5):
    """fn's first output's gradient (weighted sum) matches torch's."""
    xl, xt = both(array)
    lo, to = fn(xl), fn(xt)
    lo, to = (lo[0], to[0]) if isinstance(to, tuple) else (lo, to)
    w = np.random.default_rng(seed).standard_normal(tuple(to.shape))
    (lo * lumen.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


@SETTINGS
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.data())
def test_sort_argsort_topk_match_torch_over_shapes(shape, data):
    x = distinct(shape, seed=len(shape))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    descending = data.draw(st.booleans())
    k = data.draw(st.integers(0, shape[dim]))
    largest = data.draw(st.booleans())
    xl, xt = both(x)
    same(lumen.sort(xl, dim, descending), torch.sort(xt, dim, descending))
    same(xl.argsort(dim, descending), xt.argsort(dim=dim, descending=descending))
    same(xl.topk(k, dim, largest), xt.topk(k, dim, largest))
    same_grad(lambda t: t.sort(dim, descending), x)
    same_grad(lambda t: t.topk(k, dim, largest), x)


def test_stable_sort_with_ties_and_nan_matches_torch():
    x = np.array([[3, 1, 2, 1, 3, 3, np.nan, 1], [0, 0, np.nan, -1, 0, np.nan, 2, 2]])
    for descending in (False, True):
        same(lumen.sort(lumen.tensor(x), 1, descending, stable=True),
             torch.sort(torch.tensor(x), dim=1, descending=descending, stable=True))
        same(lumen.argsort(lumen.tensor(x), 0, descending=descending, stable=True),
             torch.argsort(torch.tensor(x), dim=0, descending=descending, stable=True))
    ints = np.array([5, 2, 5, 2, 9, 0])
    same(lumen.sort(lumen.tensor(ints), descending=True, stable=True),
         torch.sort(torch.tensor(ints), descending=True, stable=True))
    bools = np.array([True, False, True])
    same(lumen.sort(lumen.tensor(bools)), torch.sort(torch.tensor(bools)))
    same(lumen.topk(lumen.tensor([1.0, np.nan, 2.0]), 2), torch.topk(torch.tensor([1.0, np.nan, 2.0]), 2))


def test_topk_and_sort_with_ties_give_torchs_values_and_consistent_indices():
    # which of equal elements PyTorch's default (unstable) kernels report is unspecified
    x = np.random.default_rng(0).integers(0, 5, (3, 200)).astype(np.float32)
    for largest in (True, False):
        lo, to = lumen.topk(lumen.tensor(x), 7, 1, largest), torch.topk(torch.tensor(x), 7, 1, largest)
        np.testing.assert_array_equal(lo.values.numpy(), to.values.numpy())
        np.testing.assert_array_equal(np.take_along_axis(x, lo.indices.numpy(), 1), lo.values.numpy())
        assert all(len(set(row)) == 7 for row in lo.indices.tolist())
    for descending in (False, True):
        lo, to = lumen.sort(lumen.tensor(x), 1, descending), torch.sort(torch.tensor(x), 1, descending)
        np.testing.assert_array_equal(lo.values.numpy(), to.values.numpy())
        np.testing.assert_array_equal(np.sort(lo.indices.numpy(), 1), np.tile(np.arange(200), (3, 1)))


def test_zero_dim_sort_topk_kthvalue():
    xl, xt = lumen.tensor(2.5), torch.tensor(2.5)
    same(xl.sort(), xt.sort())
    same(xl.topk(1), xt.topk(1))
    same(xl.kthvalue(1), xt.kthvalue(1))
    same(xl.median(0), xt.median(0))
    same(xl.mode(), xt.mode())


@pytest.mark.parametrize("shape,k,dim,keepdim", [((7,), 3, 0, False), ((3, 5), 5, 1, True), ((4, 3, 2), 1, 0, False),
                                                 ((4, 3, 2), 2, -2, True)])
def test_kthvalue_matches_torch_and_gradchecks(shape, k, dim, keepdim):
    x = distinct(shape, seed=k)
    xl, xt = both(x)
    same(lumen.kthvalue(xl, k, dim, keepdim), torch.kthvalue(xt, k, dim, keepdim))
    same_grad(lambda t: t.kthvalue(k, dim, keepdim), x)
    assert gradcheck(lambda t: t.kthvalue(k, dim, keepdim).values, (xl,))


def test_kthvalue_ties_and_nan_match_torch():
    # which of equal elements PyTorch's quickselect reports is unspecified: values must match, and each
    # index must point at an element holding its value
    x = np.array([[3.0, 1.0, 2.0, 1.0, 3.0, 3.0], [1.0, np.nan, 0.0, 2.0, np.nan, 2.0]])
    for k in range(1, 7):
        lo, to = lumen.kthvalue(lumen.tensor(x), k, 1), torch.kthvalue(torch.tensor(x), k, 1)
        np.testing.assert_array_equal(lo.values.numpy(), to.values.numpy())
        np.testing.assert_array_equal(x[np.arange(2), lo.indices.numpy()], lo.values.numpy())


@pytest.mark.parametrize("x", [np.array([3.0, 1.0, 2.0, 1.0, 3.0, 3.0]), np.array([[4.0, -1.0], [2.0, 7.0]]),
                               np.array([1.0, np.nan, 0.0, np.nan]), np.array([5.0]), np.array([2.0, 2.0, 2.0]),
                               np.array([[1.0, 2.0], [2.0, 3.0]])])
def test_median_without_dim_is_the_lower_median_and_shares_ties_gradient(x):
    same(lumen.median(lumen.tensor(x)), torch.median(torch.tensor(x)))
    same(lumen.nanmedian(lumen.tensor(x)), torch.nanmedian(torch.tensor(x)))
    same_grad(lambda t: t.median(), x)
    same_grad(lambda t: t.nanmedian(), x)
    same_grad(lambda t: t.quantile(0.5), x)


def test_median_with_dim_matches_torch_and_gradchecks():
    x = distinct((4, 6), seed=3)
    for dim, keepdim in ((0, False), (1, True), (-1, False)):
        same(lumen.median(lumen.tensor(x), dim, keepdim), torch.median(torch.tensor(x), dim, keepdim))
        same_grad(lambda t: t.median(dim, keepdim), x)
    nan = np.array([[1.0, np.nan, 0.0, np.nan], [3.0, 2.0, 1.0, 0.0]])
    same(lumen.median(lumen.tensor(nan), 1), torch.median(torch.tensor(nan), 1))
    xl = lumen.tensor(x, requires_grad=True)
    assert gradcheck(lambda t: t.median(), (xl,))
    assert gradcheck(lambda t: t.median(1).values, (xl,))
    assert gradgradcheck(lambda t: t.median(0).values, (xl,))
    same_grad(lambda t: t.median(), x)


@pytest.mark.parametrize("dim,keepdim", [(-1, False), (0, True), (1, False)])
def test_mode_matches_torch_with_ties(dim, keepdim):
    x = np.random.default_rng(dim + 2).integers(0, 4, (5, 7, 3))
    same(lumen.mode(lumen.tensor(x), dim, keepdim), torch.mode(torch.tensor(x), dim, keepdim))
    f = x / 2.0
    same(lumen.tensor(f).mode(dim, keepdim), torch.tensor(f).mode(dim, keepdim))
    same_grad(lambda t: t.mode(dim, keepdim), f)


def test_unique_matches_torch():
    x = np.array([[2, 1, 3], [1, 3, 3], [2, 1, 3]])
    xl, xt = lumen.tensor(x), torch.tensor(x)
    same(lumen.unique(xl), torch.unique(xt))
    same(xl.unique(return_inverse=True, return_counts=True), xt.unique(return_inverse=True, return_counts=True))
    same(lumen.unique(xl, return_counts=True), torch.unique(xt, return_counts=True))
    for dim in (0, 1):
        same(lumen.unique(xl, return_inverse=True, return_counts=True, dim=dim),
             torch.unique(xt, return_inverse=True, return_counts=True, dim=dim))
    f = lumen.tensor([0.5, -1.0, 0.5], requires_grad=True)
    assert not lumen.unique(f).requires_grad


def test_bincount_matches_torch():
    x = np.array([0, 2, 2, 5, 1, 2])
    xl, xt = lumen.tensor(x), torch.tensor(x)
    same(lumen.bincount(xl), torch.bincount(xt))
    same(xl.bincount(minlength=9), xt.bincount(minlength=9))
    for w in (np.linspace(0, 1, 6, dtype=np.float32), np.linspace(0, 1, 6), np.arange(6)):
        same(lumen.bincount(xl, lumen.tensor(w)), torch.bincount(xt, torch.tensor(w)))
    same(lumen.bincount(lumen.tensor([], dtype=lumen.int64)), torch.bincount(torch.tensor([], dtype=torch.int64)))
    same(lumen.bincount(lumen.tensor([], dtype=lumen.int64), lumen.tensor([]), minlength=3),
         torch.bincount(torch.tensor([], dtype=torch.int64), torch.tensor([]), minlength=3))
    same(lumen.histc(lumen.tensor([5.0, 6.0]), 3, 0, 1), torch.histc(torch.tensor([5.0, 6.0]), 3, 0, 1))
    for bad in (lumen.tensor([-1, 0]), lumen.tensor([[1, 2]])):
        with pytest.raises(RuntimeError, match="bincount"):
            lumen.bincount(bad)
    with pytest.raises(NotImplementedError, match="bincount"):
        lumen.bincount(lumen.tensor([1.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_histc_matches_torch(dtype):
    x = np.random.default_rng(0).standard_normal(500).astype(dtype)
    x[:3] = [0.0, 1.0, -1.0]
    for bins, lo, hi in ((10, -1, 1), (7, 0, 0), (100, -2.5, 0.3), (3, 1, 1)):
        same(lumen.histc(lumen.tensor(x), bins, lo, hi), torch.histc(torch.tensor(x), bins, lo, hi))
    same(lumen.tensor(x).histc(bins=4), torch.tensor(x).histc(bins=4))
    with pytest.raises(NotImplementedError):
        lumen.histc(lumen.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="max must be larger"):
        lumen.histc(lumen.tensor([1.0]), 3, 2, 1)


def test_sort_family_errors_name_the_op():
    x = lumen.tensor([[1.0, 2.0]])
    with pytest.raises(RuntimeError, match="topk"):
        x.topk(3)
    with pytest.raises(RuntimeError, match="kthvalue"):
        x.kthvalue(0)
    with pytest.raises(IndexError, match="sort"):
        x.sort(2)
    same(lumen.tensor([]).median(), torch.tensor([]).median())  # NaN
    with pytest.raises(IndexError, match="median"):
        lumen.ones(2, 0).median(1)
    with pytest.raises(IndexError, match="mode"):
        lumen.ones(2, 0).mode(1)
    same(lumen.ones(2, 0).sort(1), torch.ones(2, 0).sort(1))
    same(lumen.ones(2, 0).topk(0, 1), torch.ones(2, 0).topk(0, 1))


def test_searchsorted_and_bucketize_match_torch():
    seq = np.array([1.0, 3.0, 3.0, 5.0, 7.0])
    values = np.array([[0.0, 3.0, 5.5], [7.0, 9.0, 3.0]])
    for right in (False, True):
        same(lumen.searchsorted(lumen.tensor(seq), lumen.tensor(values), right=right),
             torch.searchsorted(torch.tensor(seq), torch.tensor(values), right=right))
        same(lumen.bucketize(lumen.tensor(values), lumen.tensor(seq), right=right, out_int32=True),
             torch.bucketize(torch.tensor(values), torch.tensor(seq), right=right, out_int32=True))
    same(lumen.searchsorted(lumen.tensor(seq), 4.0), torch.searchsorted(torch.tensor(seq), 4.0))
    same(lumen.searchsorted(lumen.tensor(seq), lumen.tensor(values), side="right"),
         torch.searchsorted(torch.tensor(seq), torch.tensor(values), side="right"))
    rows = np.array([[1, 3, 5], [2, 4, 6]])
    wanted = np.array([[3, 6], [1, 7]])
    same(lumen.searchsorted(lumen.tensor(rows), lumen.tensor(wanted), right=True),
         torch.searchsorted(torch.tensor(rows), torch.tensor(wanted), right=True))
    shuffled = np.array([5.0, 1.0, 7.0, 3.0])
    sorter = np.argsort(shuffled)
    same(lumen.searchsorted(lumen.tensor(shuffled), lumen.tensor(values), sorter=lumen.tensor(sorter)),
         torch.searchsorted(torch.tensor(shuffled), torch.tensor(values), sorter=torch.tensor(sorter)))
    with pytest.raises(RuntimeError, match="searchsorted"):
        lumen.searchsorted(lumen.tensor(seq), lumen.tensor(values), right=True, side="left")


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_and_nanquantile_match_torch(interpolation):
    x = distinct((4, 7), seed=2)
    with_nan = x.copy()
    with_nan[1, [0, 3]] = np.nan
    with_nan[2, :] = np.nan
    q = np.array([0.0, 0.1, 0.5, 0.75, 1.0])
    for name in ("quantile", "nanquantile"):
        for data in (x, with_nan):
            for qq in (0.3, q):
                for dim, keepdim in ((None, False), (None, True), (1, False), (0, True), (-1, True)):
                    def run(lib, a):
                        return getattr(lib, name)(lib.tensor(a), lib.tensor(qq) if isinstance(qq, np.ndarray) else qq,
                                                  dim, keepdim, interpolation=interpolation)
                    lo, to = run(lumen, data), run(torch, data)
                    assert tuple(lo.shape) == tuple(to.shape)
                    np.testing.assert_allclose(lo.numpy(), to.numpy(), rtol=1e-13)
    q_l = lumen.tensor(q)
    same_grad(lambda t: t.quantile(q_l if isinstance(t, lumen.Tensor) else torch.tensor(q), 1,
                                   interpolation=interpolation), x)
    assert gradcheck(lambda t: t.nanquantile(q_l, 0, interpolation=interpolation), (lumen.tensor(x, requires_grad=True),))


def test_quantile_errors_as_torch():
    with pytest.raises(RuntimeError, match="float or double"):
        lumen.quantile(lumen.tensor([1, 2]), 0.5)
    with pytest.raises(RuntimeError, match=r"range \[0, 1\]"):
        lumen.quantile(lumen.tensor([1.0, 2.0]), 1.5)
    with pytest.raises(RuntimeError, match="same dtype"):
        lumen.quantile(lumen.tensor([1.0, 2.0]), lumen.tensor([0.5], dtype=lumen.float64))


def test_nanmedian_msort_unique_consecutive_match_torch():
    x = np.array([[np.nan, np.nan, np.nan], [1.0, np.nan, 4.0], [3.0, 1.0, 2.0], [5.0, np.nan, np.nan]])
    same(lumen.nanmedian(lumen.tensor(x)), torch.nanmedian(torch.tensor(x)))
    for dim, keepdim in ((1, False), (0, True)):
        same(lumen.tensor(x).nanmedian(dim, keepdim), torch.tensor(x).nanmedian(dim, keepdim))
    same_grad(lambda t: t.nanmedian(1), np.nan_to_num(x, nan=0.5) + np.arange(12).reshape(4, 3))
    same(lumen.msort(lumen.tensor(x)), torch.msort(torch.tensor(x)))
    runs = np.array([1, 1, 2, 2, 3, 1, 1, 1])
    same(lumen.unique_consecutive(lumen.tensor(runs), return_inverse=True, return_counts=True),
         torch.unique_consecutive(torch.tensor(runs), return_inverse=True, return_counts=True))
    rows = np.array([[1, 1], [1, 1], [2, 1], [1, 1]])
    for dim in (0, 1):
        same(lumen.tensor(rows).unique_consecutive(True, True, dim), torch.tensor(rows).unique_consecutive(True, True, dim))
    same(lumen.unique_consecutive(lumen.tensor(rows.reshape(2, 4)), return_inverse=True),
         torch.unique_consecutive(torch.tensor(rows.reshape(2, 4)), return_inverse=True))
