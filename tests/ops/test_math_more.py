"""torch's comparison, logic and bit functions, arithmetic aliases, special functions, NaN-aware and paired
reductions: values, dtypes and errors against torch; float64 gradchecks and torch's gradients where
differentiable."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
from lumen.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=12, deadline=None)


def pair(a):
    return lumen.tensor(a), torch.tensor(a)


def same(lo, to, rtol=1e-10, atol=1e-12):
    if isinstance(to, tuple):
        assert len(lo) == len(to)
        for x, y in zip(lo, to):
            same(x, y, rtol, atol)
        return
    assert lo.dtype.name == str(to.dtype).replace("torch.", ""), (lo.dtype, to.dtype)
    assert tuple(lo.shape) == tuple(to.shape)
    np.testing.assert_allclose(lo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol, equal_nan=True)


def compare_grad(lumen_fn, torch_fn, *arrays, rtol=1e-9, atol=1e-11, gradgrad=True, numeric=True):
    """Values and gradients of a weighted sum against torch, then (unless at a kink: ``numeric=False``)
    lumen's float64 gradcheck."""
    ls = [lumen.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    lo, to = lumen_fn(*ls), torch_fn(*ts)
    same(lo, to, rtol, atol)
    w = np.random.default_rng(5).standard_normal(tuple(to.shape))
    (lo * lumen.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    for li, ti in zip(ls, ts):
        np.testing.assert_allclose(li.grad.numpy(), ti.grad.numpy(), rtol=rtol, atol=atol)
    if not numeric:
        return
    fresh = [lumen.tensor(a, requires_grad=True) for a in arrays]
    assert gradcheck(lumen_fn, tuple(fresh))
    if gradgrad:
        assert gradgradcheck(lumen_fn, tuple(fresh))


RNG = np.random.default_rng(0)
F = RNG.uniform(-2, 2, (3, 4))
G = RNG.uniform(-2, 2, (4,))
SPECIAL = np.array([[0.0, -0.0, 1.0, -2.5], [np.inf, -np.inf, np.nan, 3.0], [2.0, 2.0, -1.0, 0.5]])
INTS = np.array([[0, 1, -3, 12], [7, -8, 5, 2]])


# ---- comparisons, logic, bits ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less",
                                  "less_equal", "not_equal"])
def test_comparisons_as_functions_methods_and_in_place(name):
    (la, ta), (lb, tb) = pair(SPECIAL), pair(SPECIAL[::-1].copy())
    same(getattr(lumen, name)(la, lb), getattr(torch, name)(ta, tb))
    same(getattr(lumen, name)(la, 2.0), getattr(torch, name)(ta, 2.0))
    same(getattr(la, name)(lb[0]), getattr(ta, name)(tb[0]))
    li, ti = pair(INTS)
    same(getattr(li.clone(), name + "_")(1.5), getattr(ti.clone(), name + "_")(1.5))
    same(getattr(la.clone(), name + "_")(lb), getattr(ta.clone(), name + "_")(tb))
    out = lumen.empty((3, 4), dtype=lumen.bool)
    assert getattr(lumen, name)(la, lb, out=out) is out
    same(out, getattr(torch, name)(ta, tb))


def test_in_place_comparison_of_a_graph_tensor_leaves_the_graph_and_refuses_leaves():
    x = lumen.tensor(F, requires_grad=True)
    y = x * 2
    assert y.gt_(0) is y and y.grad_fn is None and not y.requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        x.gt_(0)


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
def test_logical_binary(name):
    (la, ta), (lb, tb) = pair(SPECIAL), pair(INTS[:1].repeat(3, 0))
    same(getattr(lumen, name)(la, lb), getattr(torch, name)(ta, tb))
    same(getattr(la, name)(lb), getattr(ta, name)(tb))
    same(getattr(la.clone(), name + "_")(lb), getattr(ta.clone(), name + "_")(tb))
    with pytest.raises(TypeError, match="must be Tensor"):
        getattr(lumen, name)(la, 1)
    with pytest.raises(TypeError):
        getattr(torch, name)(ta, 1)


def test_logical_not_and_bitwise_not():
    la, ta = pair(SPECIAL)
    same(lumen.logical_not(la), torch.logical_not(ta))
    same(la.clone().logical_not_(), ta.clone().logical_not_())
    li, ti = pair(INTS)
    same(lumen.bitwise_not(li), torch.bitwise_not(ti))
    same(~li, ~ti)
    same(li.clone().bitwise_not_(), ti.clone().bitwise_not_())
    lb, tb = pair(INTS > 0)
    same(lumen.bitwise_not(lb), torch.bitwise_not(tb))
    with pytest.raises(NotImplementedError, match="bitwise_not"):
        lumen.bitwise_not(la)


@pytest.mark.parametrize("name, op", [("bitwise_and", "__and__"), ("bitwise_or", "__or__"),
                                      ("bitwise_xor", "__xor__"), ("bitwise_left_shift", "__lshift__"),
                                      ("bitwise_right_shift", "__rshift__")])
def test_bitwise_binary_functions_methods_and_operators(name, op):
    li, ti = pair(INTS)
    shifts = np.array([0, 1, 2, 3])
    ls, ts = pair(shifts)
    same(getattr(lumen, name)(li, ls), getattr(torch, name)(ti, ts))
    same(getattr(li, name)(3), getattr(ti, name)(3))
    same(getattr(li, op)(ls), getattr(ti, op)(ts))
    same(getattr(lumen, name)(5, ls), getattr(torch, name)(5, ts))
    rop = "__r" + op[2:]
    same(getattr(ls, rop)(5), getattr(ts, rop)(5))
    same(getattr(li.clone(), name + "_")(ls), getattr(ti.clone(), name + "_")(ts))
    l8, t8 = lumen.tensor(INTS, dtype=lumen.int32), torch.tensor(INTS, dtype=torch.int32)
    same(getattr(lumen, name)(l8, ls), getattr(torch, name)(t8, ts))
    with pytest.raises(NotImplementedError, match=name):
        getattr(lumen, name)(lumen.tensor(F), ls)
    with pytest.raises(NotImplementedError):
        getattr(torch, name)(torch.tensor(F), ts)


def test_in_place_operators_on_ints_and_bools():
    li, ti = pair(INTS)
    for op in ("__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__"):
        lx, tx = li.clone(), ti.clone()
        assert getattr(lx, op)(2) is lx
        getattr(tx, op)(2)
        same(lx, tx)
    lb, tb = pair(INTS > 0)
    lb &= lumen.tensor(INTS < 5)
    tb &= torch.tensor(INTS < 5)
    same(lb, tb)
    same(True & lb, True & tb)


def test_float_and_int_predicates():
    la, ta = pair(SPECIAL)
    for name in ("isinf", "isposinf", "isneginf", "isreal", "signbit", "isfinite", "isnan"):
        same(getattr(lumen, name)(la), getattr(torch, name)(ta))
        same(getattr(la, name)(), getattr(ta, name)())
    li, ti = pair(INTS)
    for name in ("isinf", "isposinf", "isneginf", "signbit"):
        same(getattr(lumen, name)(li), getattr(torch, name)(ti))
    lu, tu = lumen.tensor([0, 200], dtype=lumen.uint8), torch.tensor([0, 200], dtype=torch.uint8)
    same(lumen.signbit(lu), torch.signbit(tu))


def test_isin():
    li, ti = pair(INTS)
    same(lumen.isin(li, lumen.tensor([1, 5, 7])), torch.isin(ti, torch.tensor([1, 5, 7])))
    same(lumen.isin(li, lumen.tensor([1, 5, 7]), invert=True), torch.isin(ti, torch.tensor([1, 5, 7]), invert=True))
    same(lumen.isin(li, 5), torch.isin(ti, 5))
    same(lumen.isin(5, li), torch.isin(5, ti))
    same(lumen.isin(li, lumen.tensor([1.0, 2.5])), torch.isin(ti, torch.tensor([1.0, 2.5])))


def test_is_predicates():
    for data, dtype in ((F, lumen.float64), (INTS, lumen.int64), (INTS, lumen.uint8), (INTS, lumen.bool),
                        (INTS, lumen.int8)):
        lx = lumen.tensor(data).to(dtype)
        tx = torch.tensor(data).to(getattr(torch, dtype.name))
        for name in ("is_floating_point", "is_complex", "is_signed"):
            assert getattr(lumen, name)(lx) == getattr(torch, name)(tx)
            assert getattr(lx, name)() == getattr(tx, name)()
    assert lumen.tensor(F).is_cpu
    assert lumen.is_same_size(lumen.tensor(F), lumen.zeros(3, 4)) and not lumen.tensor(F).is_same_size(lumen.zeros(4))
    assert lumen.is_nonzero(lumen.tensor([2.0])) and not lumen.tensor(0).is_nonzero()
    for bad, what in (([1, 2], "more than one value"), ([], "no values")):
        with pytest.raises(RuntimeError, match=what):
            lumen.is_nonzero(lumen.tensor(bad))
        with pytest.raises(RuntimeError, match=what):
            torch.is_nonzero(torch.tensor(bad))


@pytest.mark.parametrize("name", ["all", "any"])
def test_all_any_functions(name):
    for data in (SPECIAL, INTS, INTS > 0, np.zeros((0, 3))):
        lx, tx = pair(data)
        same(getattr(lumen, name)(lx), getattr(torch, name)(tx))
        same(getattr(lumen, name)(lx, dim=1), getattr(torch, name)(tx, dim=1))
        same(getattr(lumen, name)(lx, 0, keepdim=True), getattr(torch, name)(tx, 0, keepdim=True))


# ---- arithmetic aliases and extras -----------------------------------------------------------------------
def test_arithmetic_aliases():
    (la, ta), (lb, tb) = pair(F), pair(G)
    same(lumen.absolute(la), torch.absolute(ta))
    same(la.absolute(), ta.absolute())
    same(lumen.subtract(la, lb, alpha=2), torch.subtract(ta, tb, alpha=2))
    same(lumen.multiply(la, lb), torch.multiply(ta, tb))
    same(lumen.true_divide(la, lb), torch.true_divide(ta, tb))
    li, ti = pair(INTS)
    same(lumen.true_divide(li, 3), torch.true_divide(ti, 3))
    for mode in (None, "trunc", "floor"):
        same(lumen.divide(la, lb, rounding_mode=mode), torch.divide(ta, tb, rounding_mode=mode))
        same(lumen.divide(li, 3, rounding_mode=mode), torch.divide(ti, 3, rounding_mode=mode))
        same(la.clone().divide_(lb, rounding_mode=mode), ta.clone().divide_(tb, rounding_mode=mode))
    same(la.clone().subtract_(lb), ta.clone().subtract_(tb))
    same(la.clone().multiply_(lb), ta.clone().multiply_(tb))
    same(la.clone().true_divide_(lb), ta.clone().true_divide_(tb))
    same(la.clone().negative_(), ta.clone().negative_())
    same(la.clone().absolute_(), ta.clone().absolute_())
    same(la.negative(), ta.negative())
    assert lumen.positive(la) is la and la.positive() is la
    with pytest.raises(RuntimeError, match="bool"):
        lumen.positive(lumen.tensor([True]))


def test_float_power():
    li, ti = pair(INTS)
    same(lumen.float_power(li, 2), torch.float_power(ti, 2))
    same(lumen.float_power(li.to(lumen.float32), lumen.tensor([1, 2, 0, 3])),
         torch.float_power(ti.float(), torch.tensor([1, 2, 0, 3])))
    same(lumen.float_power(2, li), torch.float_power(2, ti))
    a = np.abs(F) + 0.5
    compare_grad(lambda x, y: lumen.float_power(x, y), lambda x, y: torch.float_power(x, y), a, G)
    lx, tx = pair(a)
    same(lx.clone().float_power_(2), tx.clone().float_power_(2))


@pytest.mark.parametrize("name", ["addcmul", "addcdiv"])
def test_addcmul_addcdiv(name):
    t2 = np.abs(G) + 0.5
    compare_grad(lambda a, b, c: getattr(lumen, name)(a, b, c, value=0.5),
                 lambda a, b, c: getattr(torch, name)(a, b, c, value=0.5), F, F[:1], t2)
    compare_grad(lambda a, b, c: getattr(a, name)(b, c), lambda a, b, c: getattr(a, name)(b, c), G, F, t2)
    li, ti = pair(INTS)
    if name == "addcmul":
        same(lumen.addcmul(li, li, li, value=2), torch.addcmul(ti, ti, ti, value=2))
    else:
        with pytest.raises(RuntimeError, match="addcdiv"):
            lumen.addcdiv(li, li, li)
        same(lumen.addcdiv(li, li, li.double() + 20), torch.addcdiv(ti, ti, ti.double() + 20))


@given(st.lists(st.integers(1, 3), min_size=0, max_size=3), st.lists(st.integers(1, 3), min_size=0, max_size=3))
@SETTINGS
def test_xlogy_broadcast_and_gradients(sa, sb):
    shape_a, shape_b = tuple(sa), tuple(sb)
    rng = np.random.default_rng(len(sa) * 7 + len(sb))
    x, y = rng.uniform(-2, 2, shape_a), rng.uniform(0.2, 3, shape_b)
    try:
        np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        return
    compare_grad(lumen.xlogy, torch.xlogy, x, y, gradgrad=False)


def test_xlogy_zeros_nans_numbers_and_ints():
    x = np.array([0.0, 0.0, 1.0, 0.0, 2.0])
    y = np.array([0.0, np.nan, 0.0, 3.0, np.inf])
    (lx, tx), (ly, ty) = pair(x), pair(y)
    with np.errstate(divide="ignore"):  # log(0) where x is 1: -inf, as torch
        same(lumen.xlogy(lx, ly), torch.xlogy(tx, ty))
        same(lx.clone().xlogy_(ly), tx.clone().xlogy_(ty))
    same(lumen.xlogy(lx, 2), torch.xlogy(tx, 2))
    with np.errstate(divide="ignore"):
        same(lumen.xlogy(2, ly), torch.xlogy(2, ty))
    li, ti = pair(INTS)
    same(lumen.xlogy(li, li.abs()), torch.xlogy(ti, ti.abs()), rtol=1e-6)
    compare_grad(lumen.xlogy, torch.xlogy, np.array([0.0, 1.5, 0.0]), np.array([2.0, 0.5, 1.0]))


@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_logaddexp(name):
    compare_grad(getattr(lumen, name), getattr(torch, name), F * 3, G * 3)
    big = np.array([800.0, -800.0, 0.0])
    same(getattr(lumen, name)(*pair(big)[:1], lumen.tensor(big[::-1].copy())),
         getattr(torch, name)(torch.tensor(big), torch.tensor(big[::-1].copy())))
    li, ti = pair(INTS)
    same(getattr(li, name)(lumen.tensor(F[:2])), getattr(ti, name)(torch.tensor(F[:2])))
    with pytest.raises(NotImplementedError, match=name):
        getattr(lumen, name)(li, li)
    with pytest.raises(TypeError, match="must be Tensor"):
        getattr(lumen, name)(lumen.tensor(F), 1.0)


def test_copysign_heaviside_fmax_fmin():
    a = F.copy()
    a[0, 0] = 0.0
    compare_grad(lumen.copysign, torch.copysign, a, G, gradgrad=False)
    compare_grad(lambda x: lumen.copysign(x, -1.0), lambda x: torch.copysign(x, -1.0), F)
    li, ti = pair(INTS)
    same(lumen.copysign(li, -1), torch.copysign(ti, -1))
    same(lumen.tensor(a).copysign_(lumen.tensor(G)), torch.tensor(a).copysign_(torch.tensor(G)))
    (ls, ts), (lv, tv) = pair(SPECIAL), pair(np.array([0.5, 0.5, 0.5, 0.5]))
    same(lumen.heaviside(ls, lv), torch.heaviside(ts, tv))
    same(ls.clone().heaviside_(lv), ts.clone().heaviside_(tv))
    with pytest.raises(RuntimeError, match="dtypes"):
        lumen.heaviside(ls, lumen.tensor([1]))
    for name in ("fmax", "fmin"):
        same(getattr(lumen, name)(ls, lumen.tensor(SPECIAL[::-1].copy())),
             getattr(torch, name)(ts, torch.tensor(SPECIAL[::-1].copy())))
        same(getattr(li, name)(lumen.tensor(F[:2])), getattr(ti, name)(torch.tensor(F[:2])))
        tie = np.array([1.0, 2.0, np.nan, 0.5])
        other = np.array([1.0, np.nan, 3.0, 0.7])
        compare_grad(getattr(lumen, name), getattr(torch, name), tie, other, numeric=False)
        compare_grad(getattr(lumen, name), getattr(torch, name), F, G)


def test_gcd_lcm_ldexp():
    (la, ta), (lb, tb) = pair(INTS), pair(np.array([4, 6, 9, 8]))
    for name in ("gcd", "lcm"):
        same(getattr(lumen, name)(la, lb), getattr(torch, name)(ta, tb))
        same(getattr(la.clone(), name + "_")(lb), getattr(ta.clone(), name + "_")(tb))
        with pytest.raises(NotImplementedError, match=name):
            getattr(lumen, name)(lumen.tensor(F), lb)
    same(lumen.ldexp(lumen.tensor(F), lb), torch.ldexp(torch.tensor(F), tb))
    same(lumen.ldexp(la, lb), torch.ldexp(ta, tb))
    # non-negative exponents: torch's gradient takes 2 ** other in the integers (0 for a negative one)
    compare_grad(lambda x: lumen.ldexp(x, lumen.tensor([1, 2, 0, 3])),
                 lambda x: torch.ldexp(x, torch.tensor([1, 2, 0, 3])), F)
    compare_grad(lambda x: lumen.ldexp(x, lumen.tensor([1.0, -2.0, 0.0, 3.0])),
                 lambda x: torch.ldexp(x, torch.tensor([1.0, -2.0, 0.0, 3.0])), F)
    same(lumen.tensor(F).ldexp_(lb), torch.tensor(F).ldexp_(tb))


def test_nan_to_num():
    la, ta = pair(SPECIAL)
    same(lumen.nan_to_num(la), torch.nan_to_num(ta))
    same(lumen.nan_to_num(la, nan=1.5, posinf=9.0, neginf=-9.0), torch.nan_to_num(ta, 1.5, 9.0, -9.0))
    same(la.to(lumen.float32).nan_to_num(), ta.float().nan_to_num())
    same(la.clone().nan_to_num_(2.0), ta.clone().nan_to_num_(2.0))
    li, ti = pair(INTS)
    same(lumen.nan_to_num(li, nan=1.5), torch.nan_to_num(ti, nan=1.5))
    lx, tx = lumen.tensor(SPECIAL, requires_grad=True), torch.tensor(SPECIAL, requires_grad=True)
    lumen.nan_to_num(lx).sum().backward()
    torch.nan_to_num(tx).sum().backward()
    np.testing.assert_array_equal(lx.grad.numpy(), tx.grad.numpy())
    assert gradcheck(lumen.nan_to_num, (lumen.tensor(F, requires_grad=True),))


# ---- one-tensor special functions ------------------------------------------------------------------------
@pytest.mark.parametrize("name, low, high", [("lgamma", 0.2, 5.0), ("digamma", 0.2, 5.0), ("sinc", -2.5, 2.5),
                                             ("deg2rad", -200, 200), ("rad2deg", -4, 4), ("logit", 0.05, 0.95)])
def test_special_unary(name, low, high):
    a = np.random.default_rng(3).uniform(low, high, (3, 4))
    compare_grad(getattr(lumen, name), getattr(torch, name), a, rtol=1e-8, atol=1e-10)
    compare_grad(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), a, rtol=1e-8, atol=1e-10,
                 gradgrad=False)
    lx, tx = pair(a)
    same(getattr(lx.clone(), name + "_")(), getattr(tx.clone(), name + "_")(), rtol=1e-8)
    if name != "logit":  # integers 1, 2, 3 are outside logit's domain
        li, ti = pair(np.array([1, 2, 3]))
        same(getattr(lumen, name)(li), getattr(torch, name)(ti), rtol=1e-6)
    l32, t32 = lumen.tensor(a, dtype=lumen.float32), torch.tensor(a, dtype=torch.float32)
    same(getattr(lumen, name)(l32), getattr(torch, name)(t32), rtol=1e-5, atol=1e-5)


def test_sinc_at_zero_and_logit_eps():
    compare_grad(lumen.sinc, torch.sinc, np.array([0.0, 1.0, -0.5, 2.0]))
    p = np.array([0.0, 0.01, 0.3, 0.995, 1.0])
    lx, tx = pair(p)
    with np.errstate(divide="ignore"):  # logit(0) and logit(1) are -inf and inf, as torch
        same(lumen.logit(lx), torch.logit(tx))
    compare_grad(lambda t: lumen.logit(t, eps=0.02), lambda t: torch.logit(t, eps=0.02),
                 np.array([0.005, 0.3, 0.7, 0.99]), gradgrad=False)
    same(lx.clone().logit_(0.1), tx.clone().logit_(0.1))


def test_polygamma_and_mvlgamma():
    a = np.random.default_rng(4).uniform(0.5, 4.0, (2, 3))
    for n in (0, 1, 2, 3):
        compare_grad(lambda t: lumen.polygamma(n, t), lambda t: torch.polygamma(n, t), a, rtol=1e-7, atol=1e-9,
                     gradgrad=n < 3)
        same(lumen.tensor(a).polygamma(n), torch.tensor(a).polygamma(n), rtol=1e-8)
        same(lumen.tensor(a).polygamma_(n), torch.tensor(a).polygamma_(n), rtol=1e-8)
    with pytest.raises(RuntimeError, match="polygamma"):
        lumen.polygamma(-1, lumen.tensor(a))
    b = a + 2.0
    for p in (1, 2, 4):
        compare_grad(lambda t: lumen.mvlgamma(t, p), lambda t: torch.mvlgamma(t, p), b, rtol=1e-8)
        same(lumen.tensor(b).mvlgamma_(p), torch.tensor(b).mvlgamma_(p))
    same(lumen.mvlgamma(lumen.tensor([1.0, 0.2]), 4), torch.mvlgamma(torch.tensor([1.0, 0.2]), 4))
    with pytest.raises(RuntimeError, match="p has to be"):
        lumen.mvlgamma(lumen.tensor([3.0]), 0)


def test_frexp():
    for data in (SPECIAL[[0, 2]], F * 1000):
        lx, tx = pair(data)
        same(lumen.frexp(lx), tuple(torch.frexp(tx)))
        assert lx.frexp().mantissa.shape == lx.shape and lx.frexp().exponent.dtype is lumen.int32
        lm, le = lumen.frexp(lx.to(lumen.float32))
        tm, te = torch.frexp(tx.float())
        same(lm, tm)
        same(le, te)
    with pytest.raises(RuntimeError, match="floating"):
        lumen.frexp(lumen.tensor(INTS))


# ---- reductions ------------------------------------------------------------------------------------------
def with_nans():
    a = np.random.default_rng(6).uniform(-2, 2, (3, 4))
    a[0, 1] = a[2, 3] = np.nan
    return a


def test_nansum_nanmean():
    a = with_nans()
    la, ta = pair(a)
    for kwargs in ({}, {"dim": 1}, {"dim": (0, 1), "keepdim": True}, {"dim": 0}):
        same(lumen.nansum(la, **kwargs), torch.nansum(ta, **kwargs))
        same(lumen.nanmean(la, **kwargs), torch.nanmean(ta, **kwargs))
        same(la.nansum(**kwargs), ta.nansum(**kwargs))
        same(la.nanmean(**kwargs), ta.nanmean(**kwargs))
    li, ti = pair(INTS)
    same(lumen.nansum(li), torch.nansum(ti))
    same(lumen.nansum(li > 0), torch.nansum(ti > 0))
    for kwargs in ({}, {"dtype": lumen.float64}):
        with pytest.raises(RuntimeError, match="nanmean"):
            lumen.nanmean(li, **kwargs)
    same(lumen.nanmean(lumen.tensor([np.nan])), torch.nanmean(torch.tensor([np.nan])))
    for fn in ("nansum", "nanmean"):
        compare_grad(lambda t: getattr(lumen, fn)(t, 1), lambda t: getattr(torch, fn)(t, 1), a, gradgrad=False)


def test_aminmax():
    la, ta = pair(F)
    same(tuple(lumen.aminmax(la)), tuple(torch.aminmax(ta)))
    for kwargs in ({"dim": 1}, {"dim": 0, "keepdim": True}, {"keepdim": True}):
        r, t = la.aminmax(**kwargs), ta.aminmax(**kwargs)
        same(r.min, t.min)
        same(r.max, t.max)
    assert type(lumen.aminmax(la)).__name__ == "aminmax"
    with pytest.raises(RuntimeError, match="empty"):
        lumen.aminmax(lumen.zeros(0))


@pytest.mark.parametrize("name", ["var_mean", "std_mean"])
def test_var_mean_std_mean(name):
    fl, ft = getattr(lumen, name), getattr(torch, name)
    la, ta = pair(F)
    for args, kwargs in (((), {}), ((1,), {}), ((), {"dim": 0, "correction": 0, "keepdim": True}),
                         ((True,), {}), ((False,), {}), (((0, 1), False, True), {}), ((1,), {"correction": 2})):
        same(fl(la, *args, **kwargs), ft(ta, *args, **kwargs))
    compare_grad(lambda t: sum(fl(t, 1)), lambda t: sum(ft(t, 1)), F)


@given(st.integers(1, 9), st.integers(0, 1))
@SETTINGS
def test_logcumsumexp(n, dim):
    a = np.random.default_rng(n).uniform(-40, 40, (n, 3) if dim == 0 else (3, n))
    compare_grad(lambda t: lumen.logcumsumexp(t, dim), lambda t: torch.logcumsumexp(t, dim), a, gradgrad=n < 4)
    same(lumen.tensor(a).logcumsumexp(dim - 2), torch.tensor(a).logcumsumexp(dim - 2))


# ---- in-place function forms, tensor utilities, random fills, printing and threads -----------------------
@pytest.mark.parametrize("name, args", [("abs_", ()), ("exp_", ()), ("sin_", ()), ("tanh_", ()), ("sigmoid_", ()),
                                        ("clamp_", (-0.5, 0.5)), ("clamp_min_", (0.1,)), ("fill_", (2.5,)),
                                        ("zero_", ()), ("neg_", ()), ("trunc_", ()), ("square_", ()),
                                        ("nan_to_num_", ()), ("deg2rad_", ())])
def test_in_place_functions_at_module_level(name, args):
    lx, tx = pair(F.copy())
    assert getattr(lumen, name)(lx, *args) is lx
    getattr(torch, name)(tx, *args)
    same(lx, tx, rtol=1e-12)


def test_fill_diagonal_matches_torch():
    for shape, wrap in (((3, 4), False), ((7, 3), True), ((7, 3), False), ((3, 3, 3), False)):
        same(lumen.zeros(*shape).fill_diagonal_(2.5, wrap), torch.zeros(*shape).fill_diagonal_(2.5, wrap))
    with pytest.raises(RuntimeError, match="equal length"):
        lumen.zeros(2, 3, 3).fill_diagonal_(1)


def test_sum_to_size_casts_and_device_queries():
    compare_grad(lambda t: t.sum_to_size(1, 4), lambda t: t.sum_to_size(1, 4), F)
    compare_grad(lambda t: t.sum_to_size((4,)), lambda t: t.sum_to_size((4,)), F)
    with pytest.raises(RuntimeError, match="not expandable"):
        lumen.tensor(F).sum_to_size(2, 4)
    li, ti = pair(INTS * 20)
    for name in ("byte", "char", "short"):
        same(getattr(li, name)(), getattr(ti, name)())
    assert lumen.tensor(F).get_device() == torch.tensor(F).get_device() == -1
    la = lumen.tensor(F)
    assert la.new(2, 3).shape == (2, 3) and la.new(2, 3).dtype is la.dtype and la.new().shape == (0,)
    same(la.new([1, 2]), torch.tensor(F).new([1, 2]))


@pytest.mark.parametrize("name, args, check", [
    ("cauchy_", (1.0, 2.0), lambda x: abs(np.median(x) - 1.0) < 0.05 and abs(np.median(np.abs(x - 1)) - 2.0) < 0.1),
    ("log_normal_", (0.5, 0.4), lambda x: (x > 0).all() and abs(np.log(x).mean() - 0.5) < 0.02
     and abs(np.log(x).std() - 0.4) < 0.02),
    ("geometric_", (0.3,), lambda x: (x >= 1).all() and (x == np.round(x)).all() and abs(x.mean() - 1 / 0.3) < 0.1),
])
def test_random_fills(name, args, check):
    x = lumen.empty(40000, dtype=lumen.float64)
    assert getattr(x, name)(*args, generator=lumen.Generator().manual_seed(0)) is x
    assert check(x.numpy())
    again = getattr(lumen.empty(40000, dtype=lumen.float64), name)(*args, generator=lumen.Generator().manual_seed(0))
    np.testing.assert_array_equal(again.numpy(), x.numpy())


def test_random_fill_errors_and_integer_geometric():
    ints = lumen.empty(1000, dtype=lumen.int64).geometric_(0.5)
    assert ints.dtype is lumen.int64 and int(ints.min()) >= 1
    for call, match in ((lambda: lumen.empty(3).cauchy_(sigma=0), "sigma"),
                        (lambda: lumen.empty(3).geometric_(1.5), "p to be in"),
                        (lambda: lumen.empty(3).log_normal_(std=-1), "std"),
                        (lambda: lumen.empty(3, dtype=lumen.int64).cauchy_(), "floating")):
        with pytest.raises(RuntimeError, match=match):
            call()


def test_set_printoptions_changes_repr():
    x = lumen.tensor([1.123456, 2e-5, 300.0])
    try:
        lumen.set_printoptions(precision=2)
        assert repr(x) == "tensor([1.12e+00, 2.00e-05, 3.00e+02])"
        lumen.set_printoptions(sci_mode=False)
        assert "e+" not in repr(x) and "300." in repr(x)
        lumen.set_printoptions(threshold=5, edgeitems=2)
        assert repr(lumen.arange(10)) == "tensor([0, 1, ..., 8, 9])"
        lumen.set_printoptions(profile="full")
        assert "..." not in repr(lumen.arange(300))
        with pytest.raises(ValueError, match="profile"):
            lumen.set_printoptions(profile="long")
    finally:
        lumen.set_printoptions(profile="default")
    assert repr(x) == "tensor([1.1235e+00, 2.0000e-05, 3.0000e+02])"


def test_num_threads():
    before = lumen.get_num_threads()
    try:
        lumen.set_num_threads(1)
        assert lumen.get_num_threads() == 1
        a = lumen.randn(300, 300)
        np.testing.assert_allclose((a @ a).numpy(), a.numpy() @ a.numpy(), rtol=1e-4, atol=1e-3)
    finally:
        lumen.set_num_threads(before)
    assert lumen.get_num_threads() == before
    with pytest.raises(RuntimeError, match="positive"):
        lumen.set_num_threads(0)
    with pytest.raises(TypeError):
        lumen.set_num_threads(1.5)


@pytest.mark.parametrize("name, args", [("squeeze_", (1,)), ("squeeze_", ()), ("unsqueeze_", (0,)), ("t_", ()),
                                        ("transpose_", (0, 1)), ("swapaxes_", (1, 0)), ("swapdims_", (0, 1))])
def test_in_place_views(name, args):
    a = F[:, :1] if name == "squeeze_" else F
    lx, tx = pair(a.copy())
    assert getattr(lx, name)(*args) is lx
    getattr(tx, name)(*args)
    same(lx, tx)
    assert lx._version == tx._version
    compare_grad(lambda t: getattr(t * 2, name)(*args) * 3, lambda t: getattr(t * 2, name)(*args) * 3, a)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(lumen.tensor(a, requires_grad=True), name)(*args)


def test_data_ptr_and_storage_offset_of_views():
    la, ta = lumen.zeros(4, 5), torch.zeros(4, 5)
    for view in (lambda x: x, lambda x: x[1:, 2:], lambda x: x[2], lambda x: x.t()[1], lambda x: x[:, 3]):
        assert view(la).storage_offset() == view(ta).storage_offset()
        assert view(la).data_ptr() - la.data_ptr() == view(ta).data_ptr() - ta.data_ptr()
