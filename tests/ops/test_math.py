"""Elementwise math, two-operand math, cumulative ops and products: float64 gradchecks and comparisons
with PyTorch (values, gradients and result dtypes)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
from lumen.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=15, deadline=None)


def arrays(*shapes, low=-1.0, high=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, s) for s in shapes]


def compare(lumen_fn, torch_fn, *arrays_, rtol=1e-10, atol=1e-12):
    """Values and the gradients of a weighted sum, with every input float64 and requiring grad."""
    ls = [lumen.tensor(a, requires_grad=True) for a in arrays_]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays_]
    lo, to = lumen_fn(*ls), torch_fn(*ts)
    np.testing.assert_allclose(lo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    assert lo.dtype.name == str(to.dtype).replace("torch.", "")
    w = np.random.default_rng(99).standard_normal(tuple(to.shape))
    (lo * lumen.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    for li, ti in zip(ls, ts):
        np.testing.assert_allclose(li.grad.numpy(), ti.grad.numpy(force=True), rtol=rtol, atol=atol)


def away_from_integers(a, gap=0.05):
    near = np.abs(a - np.round(a)) < gap
    return np.where(near, a + 2 * gap, a)


# name -> the input range that stays inside the domain (and off kinks)
UNARY = {
    "tan": (-1.2, 1.2), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atan": (-3, 3), "sinh": (-3, 3),
    "cosh": (-3, 3), "asinh": (-3, 3), "acosh": (1.1, 4), "atanh": (-0.9, 0.9), "log2": (0.1, 4),
    "log10": (0.1, 4), "log1p": (-0.9, 3), "expm1": (-3, 3), "exp2": (-3, 3), "erf": (-2.5, 2.5),
    "erfc": (-2.5, 2.5), "erfinv": (-0.95, 0.95), "reciprocal": (0.3, 3), "trunc": (-3, 3), "fix": (-3, 3),
    "frac": (-3, 3), "sgn": (-1, 1),
}
SMOOTH = [n for n in UNARY if n not in ("trunc", "fix", "frac", "sgn")]


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_function_and_method_match_torch(name):
    low, high = UNARY[name]
    (a,) = arrays((3, 4), low=low, high=high, seed=1)
    a = away_from_integers(a) if name in ("trunc", "fix", "frac") else a
    compare(getattr(lumen, name), getattr(torch, name), a)
    compare(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), a)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradcheck(name):
    low, high = UNARY[name]
    (a,) = arrays((2, 3), low=low, high=high, seed=2)
    x = lumen.tensor(away_from_integers(a), requires_grad=True)
    fn = getattr(lumen, name)
    if name in ("trunc", "fix", "sgn"):  # piecewise constant: a zero gradient (compared with torch above)
        fn(x).sum().backward()
        assert not x.grad.numpy().any()
        return
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_node_names_follow_torch():
    x = lumen.ones(2, requires_grad=True)
    assert x.tan().grad_fn.name() == "TanBackward" and repr(x.arccosh().grad_fn) == "<AcoshBackward>"
    assert "grad_fn=<Log1pBackward>" in repr(x.log1p())


def test_torch_aliases():
    for alias, name in [("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"), ("arcsinh", "asinh"),
                        ("arccosh", "acosh"), ("arctanh", "atanh"), ("fix", "trunc"), ("arctan2", "atan2"),
                        ("ger", "outer"), ("clip", "clamp")]:
        assert getattr(lumen, alias) is getattr(lumen, name)
        assert getattr(lumen.Tensor, alias) is getattr(lumen.Tensor, name)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_integer_inputs_promote_as_torch(name):
    data = [1, 2, 3] if name != "acosh" else [1, 2, 5]
    if name in ("asin", "acos", "atanh", "erfinv"):
        data = [0, -1, 0] if name in ("asin", "acos") else [0, 0, 0]
    t = torch.tensor(data)
    li = lumen.tensor(data)
    if name == "frac":
        with pytest.raises(NotImplementedError):
            torch.frac(t)
        with pytest.raises(NotImplementedError, match="frac"):
            lumen.frac(li)
        return
    expected = getattr(torch, name)(t)
    got = getattr(lumen, name)(li)
    assert got.dtype.name == str(expected.dtype).replace("torch.", "")
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)


def test_float32_stays_float32():
    x = lumen.tensor([0.1, 0.5], dtype=lumen.float32)
    for name in SMOOTH:
        assert getattr(lumen, name)(x + (1 if name == "acosh" else 0)).dtype is lumen.float32, name


@pytest.mark.parametrize("name", ["tan", "asin", "atanh", "log2", "log1p", "expm1", "exp2", "erf", "erfc", "erfinv",
                                  "reciprocal", "trunc", "frac", "sgn", "arcsin", "fix"])
def test_inplace_unary(name):
    low, high = UNARY.get(name, UNARY.get({"arcsin": "asin"}.get(name, name)))
    (a,) = arrays((3, 2), low=low, high=high, seed=3)
    x = lumen.tensor(a)
    out = getattr(x, name + "_")()
    assert out is x and x._version == 1
    np.testing.assert_allclose(x.numpy(), getattr(torch, name)(torch.tensor(a)).numpy(), rtol=1e-12)
    # under autograd: recorded as the out-of-place op on the old values
    xl, xt = lumen.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    yl, yt = xl * 0.5, xt * 0.5
    getattr(yl, name + "_")()
    yl.sum().backward()
    getattr(torch, name)(yt).sum().backward()  # torch has no derivative for some in-place forms (atanh_)
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(force=True), rtol=1e-10)


@pytest.mark.parametrize("name", ["sin", "cos", "tanh", "log", "sigmoid", "rsqrt", "square", "abs", "sign", "floor",
                                  "ceil", "round"])
def test_inplace_existing_unary_ops(name):
    a = np.array([[0.3, 1.7], [2.2, 0.6]]) * (1 if name in ("log", "rsqrt") else np.array([1, -1]))
    x = lumen.tensor(a)
    assert getattr(x, name + "_")() is x
    np.testing.assert_allclose(x.numpy(), getattr(torch.tensor(a), name + "_")().numpy(), rtol=1e-12)
    xl, xt = lumen.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    getattr(xl * 0.5, name + "_")().sum().backward()
    getattr(xt * 0.5, name + "_")().sum().backward()
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(force=True), rtol=1e-10)


def test_inplace_float_op_on_integer_tensor_raises_as_torch():
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).tan_()
    with pytest.raises(RuntimeError, match="tan_"):
        lumen.tensor([1, 2]).tan_()
    x = lumen.tensor([-2, 3])
    x.sgn_()
    assert x.tolist() == [-1, 1]


# ---- two operands -------------------------------------------------------------------------------
@st.composite
def broadcastable(draw):
    full = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    a = tuple(draw(st.sampled_from([n, 1])) for n in full)[draw(st.integers(0, len(full))):]
    b = tuple(draw(st.sampled_from([n, 1])) for n in full)
    return (a, b) if draw(st.booleans()) else (b, a)


BINARY = {"atan2": "atan2", "arctan2": "arctan2", "remainder": "remainder", "fmod": "fmod", "hypot": "hypot"}


@SETTINGS
@given(broadcastable(), st.sampled_from(sorted(BINARY)), st.integers(0, 100))
def test_binary_broadcast_matches_torch(shapes, name, seed):
    a, b = arrays(*shapes, low=-3, high=3, seed=seed)
    b = np.where(np.abs(b) < 0.3, 0.7, b)  # divisors away from 0
    compare(getattr(lumen, name), getattr(torch, name), a, b)
    compare(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), a, b)


@pytest.mark.parametrize("name", ["atan2", "remainder", "fmod", "hypot"])
def test_binary_gradcheck(name):
    a, b = arrays((3, 4), (4,), low=0.5, high=3, seed=4)
    a = a * np.sign(np.arange(12).reshape(3, 4) % 3 - 1 + 0.5)
    if name in ("remainder", "fmod"):  # keep a / b off the integers where the result jumps
        a = away_from_integers(a / b, 0.1) * b
    x, y = lumen.tensor(a, requires_grad=True), lumen.tensor(b, requires_grad=True)
    fn = getattr(lumen, name)
    assert gradcheck(fn, (x, y))
    assert gradgradcheck(fn, (x, y))


def test_remainder_and_fmod_signs_and_gradients_match_torch():
    a, b = np.array([5.5, -5.5, 3.0, -3.0]), np.array([2.0, 2.0, -2.0, -2.0])
    for name in ("remainder", "fmod"):
        compare(getattr(lumen, name), getattr(torch, name), a, b)
    ai, bi = [7, -7, 7, -7], [3, 3, -3, -3]
    for name in ("remainder", "fmod"):
        got = getattr(lumen, name)(lumen.tensor(ai), lumen.tensor(bi))
        expected = getattr(torch, name)(torch.tensor(ai), torch.tensor(bi))
        assert got.tolist() == expected.tolist() and got.dtype is lumen.int64
    assert (lumen.tensor(ai) % 3).tolist() == (torch.tensor(ai) % 3).tolist()
    assert (10 % lumen.tensor([3, -4])).tolist() == (10 % torch.tensor([3, -4])).tolist()
    assert lumen.remainder(5.0, lumen.tensor([2.0, -3.0])).tolist() == torch.remainder(
        5.0, torch.tensor([2.0, -3.0])).tolist()
    assert lumen.atan2(lumen.tensor([1, 2]), lumen.tensor([3, 4])).dtype is lumen.float32


def test_binary_inplace():
    a, b = np.array([5.5, -5.5, 3.0]), np.array([2.0, 2.0, -2.0])
    for name in ("atan2", "remainder", "fmod", "hypot"):
        x = lumen.tensor(a)
        assert getattr(x, name + "_")(lumen.tensor(b)) is x
        np.testing.assert_allclose(x.numpy(), getattr(torch, name)(torch.tensor(a), torch.tensor(b)).numpy())
    with pytest.raises(RuntimeError, match="atan2_"):
        lumen.tensor([1, 2]).atan2_(lumen.tensor([1, 2]))


def test_hypot_lerp_dtype_errors_as_torch():
    with pytest.raises(NotImplementedError, match="hypot"):
        lumen.hypot(lumen.tensor([1, 2]), lumen.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="end"):
        lumen.lerp(lumen.ones(2, dtype=lumen.float64), lumen.ones(2), 0.5)
    with pytest.raises(NotImplementedError, match="lerp"):
        lumen.lerp(lumen.tensor([1, 2]), lumen.tensor([1, 2]), 0.5)


@pytest.mark.parametrize("weight", ["scalar", "tensor"])
def test_lerp_matches_torch(weight):
    a, b, w = arrays((3, 4), (4,), (3, 1), seed=5)
    if weight == "scalar":
        compare(lambda x, y: lumen.lerp(x, y, 0.3), lambda x, y: torch.lerp(x, y, 0.3), a, b)
        compare(lambda x, y: x.lerp(y, 0.7), lambda x, y: x.lerp(y, 0.7), a, b)
    else:
        compare(lumen.lerp, torch.lerp, a, b, w)
        x, y, z = (lumen.tensor(v, requires_grad=True) for v in (a, b, w))
        assert gradcheck(lumen.lerp, (x, y, z))


def test_clamp_tensor_bounds_edges_match_torch():
    x = np.array([0.0, 1.0, 2.0, 3.0, 0.5, 0.2])
    lo = np.array([0.0, 0.5, 2.5, 1.0, 1.0, 0.7])
    hi = np.array([1.0, 1.0, 2.0, 3.0, 0.5, 0.7])  # ties, min > max and min == max
    compare(lambda a, b, c: lumen.clamp(a, b, c), lambda a, b, c: torch.clamp(a, b, c), x, lo, hi)
    compare(lambda a, b: a.clamp(min=b), lambda a, b: a.clamp(min=b), x, lo)
    compare(lambda a, c: a.clamp(max=c), lambda a, c: a.clamp(max=c), x, hi)
    compare(lambda a, b: a.clip(b, 0.6), lambda a, b: a.clip(b, torch.tensor(0.6, dtype=torch.float64)), x, lo)


def test_clamp_tensor_bounds_broadcast_and_promote():
    a, lo, hi = arrays((2, 3), (1, 3), (2, 1), seed=6)
    compare(lambda x, y, z: lumen.clamp(x, y, z), lambda x, y, z: torch.clamp(x, y, z), a, lo, hi)
    wide = lumen.clamp(lumen.tensor(a), lumen.zeros(4, 1, 1, dtype=lumen.float64))
    assert wide.tolist() == torch.clamp(torch.tensor(a), torch.zeros(4, 1, 1, dtype=torch.float64)).tolist()
    got = lumen.clamp(lumen.tensor([1, 2, 3]), lumen.tensor([1.5]))
    expected = torch.clamp(torch.tensor([1, 2, 3]), torch.tensor([1.5]))
    assert got.dtype is lumen.float32 and got.tolist() == expected.tolist()
    x = lumen.tensor(a, requires_grad=True)
    assert x.clamp(-0.2, 0.2).grad_fn.name() == "ClampBackward"  # the scalar fast path
    with pytest.raises(RuntimeError, match="broadcast"):
        lumen.clamp(x, lumen.zeros(5))
    y, z = lumen.tensor(lo, requires_grad=True), lumen.tensor(hi, requires_grad=True)
    a_off = lumen.tensor(np.where(np.abs(a) < 0.1, 0.3, a), requires_grad=True)
    assert gradcheck(lambda p, q, r: lumen.clamp(p, q, r), (a_off, y * 0 - 0.5, z * 0 + 0.5))


def test_clamp_min_max_methods():
    x = lumen.tensor([-1.0, 0.5, 2.0])
    assert x.clamp_min(0).tolist() == [0.0, 0.5, 2.0]
    assert x.clamp_max(lumen.tensor([0.0, 0.0, 1.0])).tolist() == [-1.0, 0.0, 1.0]


def test_isclose_matches_torch():
    a = [1.0, 1.0 + 1e-9, math.nan, math.inf, -math.inf, 0.0, 1.0]
    b = [1.0, 1.0, math.nan, math.inf, math.inf, 1e-9, 1.1]
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.2}, {"atol": 1e-3, "rtol": 0.0}):
        got = lumen.isclose(lumen.tensor(a), lumen.tensor(b), **kw)
        expected = torch.isclose(torch.tensor(a), torch.tensor(b), **kw)
        assert got.dtype is lumen.bool and got.tolist() == expected.tolist()
        assert lumen.tensor(a).isclose(lumen.tensor(b), **kw).tolist() == expected.tolist()
    assert lumen.isclose(lumen.ones(2, 1), lumen.ones(3)).shape == (2, 3)
    with pytest.raises(RuntimeError, match="did not match"):
        lumen.isclose(lumen.tensor([1]), lumen.tensor([1.0]))
    with pytest.raises(TypeError):
        lumen.isclose(lumen.tensor([1.0]), 1.0)


def test_equal_matches_torch():
    cases = [([1, 2], [1.0, 2.0]), ([1.0, 2.0], [1.0, 2.5]), ([[1.0, 1.0]], [1.0, 1.0]), ([], [])]
    for a, b in cases:
        assert lumen.equal(lumen.tensor(a), lumen.tensor(b)) == torch.equal(torch.tensor(a), torch.tensor(b))
        assert lumen.tensor(a).equal(lumen.tensor(b)) == torch.tensor(a).equal(torch.tensor(b))


# ---- cumulative ops and products ---------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_cumprod_match_torch(dim):
    (a,) = arrays((3, 4), low=0.5, high=1.5, seed=7)
    for name in ("cumsum", "cumprod"):
        compare(lambda x: getattr(lumen, name)(x, dim), lambda x: getattr(torch, name)(x, dim), a)
        compare(lambda x: getattr(x, name)(dim), lambda x: getattr(x, name)(dim), a)
        x = lumen.tensor(a, requires_grad=True)
        assert gradcheck(lambda t: getattr(t, name)(dim), (x,))
        assert gradgradcheck(lambda t: getattr(t, name)(dim), (x,))


def test_cumulative_dtypes_match_torch():
    for name in ("cumsum", "cumprod"):
        for data, kw in (([1, 2, 3], {}), ([True, False, True], {}), ([1, 2, 3], {"dtype": torch.float64}),
                         ([1.5, 2.0], {"dtype": torch.float64}), (2.5, {})):
            lkw = {"dtype": lumen.float64} if kw else {}
            expected = getattr(torch, name)(torch.tensor(data), 0, **kw)
            got = getattr(lumen, name)(lumen.tensor(data), 0, **lkw)
            assert got.dtype.name == str(expected.dtype).replace("torch.", "")
            assert got.shape == tuple(expected.shape) and got.tolist() == expected.tolist()
    with pytest.raises(IndexError):
        lumen.cumsum(lumen.ones(2, 3), 2)


CUMPROD_ZEROS = [
    [[1.0, 0.0, 2.0, 0.0, 3.0], [3.0, 4.0, 0.0, 2.0, 2.0]],  # two zeros, one zero
    [[0.0, 1.5, 2.0, -1.0, 0.5], [2.0, -1.0, 0.5, 3.0, 0.0]],  # zero first, zero last
    [[0.0, 0.0, 2.0, 1.0, 0.5], [1.0, 2.0, 3.0, 0.5, -2.0]],  # leading zeros, no zero
]


@pytest.mark.parametrize("data", CUMPROD_ZEROS)
def test_cumprod_gradient_with_zeros_matches_torch(data):
    a = np.array(data)
    compare(lambda x: x.cumprod(1), lambda x: x.cumprod(1), a)
    compare(lambda x: x.cumprod(0), lambda x: x.cumprod(0), a)
    x = lumen.tensor(a, requires_grad=True)
    assert gradcheck(lambda t: t.cumprod(1), (x,))
    assert gradgradcheck(lambda t: t.cumprod(1), (x,))


@pytest.mark.parametrize("data", CUMPROD_ZEROS)
def test_prod_gradient_with_zeros_matches_torch(data):
    a = np.array(data)
    for dim in (0, 1):
        compare(lambda x: x.prod(dim), lambda x: x.prod(dim), a)
        compare(lambda x: lumen.prod(x, dim, keepdim=True), lambda x: torch.prod(x, dim, keepdim=True), a)
    compare(lumen.prod, torch.prod, a)
    x = lumen.tensor(a, requires_grad=True)
    for fn in (lambda t: t.prod(1), lambda t: t.prod(), lambda t: t.prod(0, keepdim=True)):
        assert gradcheck(fn, (x,))
        assert gradgradcheck(fn, (x,))


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(0, 100), st.data())
def test_prod_cumprod_random_zeros_match_torch(shape, seed, data):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-2, 2, shape) * (rng.random(shape) > 0.3)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    compare(lambda x: x.prod(dim), lambda x: x.prod(dim), a)
    compare(lambda x: x.cumprod(dim), lambda x: x.cumprod(dim), a)
    compare(lambda x: x.prod(), lambda x: x.prod(), a)


def test_prod_dtypes_and_errors_match_torch():
    for data, kw in (([1, 2, 3], {}), ([True, True], {}), ([1.5, 2.0], {"dtype": torch.float64}), (3.0, {})):
        lkw = {"dtype": lumen.float64} if kw else {}
        expected = torch.prod(torch.tensor(data), **kw)
        got = lumen.prod(lumen.tensor(data), **lkw)
        assert got.dtype.name == str(expected.dtype).replace("torch.", "") and got.item() == expected.item()
    assert lumen.tensor([[1, 2], [3, 4]]).prod(1).tolist() == [2, 12]
    with pytest.raises(TypeError):
        lumen.prod(lumen.ones(2, 2), dim=(0, 1))


def test_cumsum_inplace():
    x = lumen.tensor([1.0, 2.0, 3.0])
    assert x.cumsum_(0) is x and x.tolist() == [1.0, 3.0, 6.0]
    assert x.cumprod_(0).tolist() == [1.0, 3.0, 18.0]


def test_clamp_min_max_functions_and_inplace_match_torch():
    a = [-1.0, 0.5, 2.0]
    assert lumen.clamp_min(lumen.tensor(a), 0.0).tolist() == torch.clamp_min(torch.tensor(a), 0.0).tolist()
    assert lumen.clamp_max(lumen.tensor(a), 1.0).tolist() == torch.clamp_max(torch.tensor(a), 1.0).tolist()
    x, t = lumen.tensor(a), torch.tensor(a)
    assert x.clamp_min_(0.0) is x and x.tolist() == t.clamp_min_(0.0).tolist()
    assert x.clamp_max_(lumen.tensor(1.0)).tolist() == t.clamp_max_(torch.tensor(1.0)).tolist()


@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, True), ((0, 2), False)])
def test_amin_matches_torch_with_ties(dim, keepdim):
    a = np.round(arrays((2, 3, 4), seed=8)[0] * 2) / 2  # halves: ties share the gradient
    compare(lambda x: lumen.amin(x, dim, keepdim), lambda x: torch.amin(x, () if dim is None else dim, keepdim), a)
    compare(lambda x: x.amin(dim, keepdim), lambda x: x.amin(() if dim is None else dim, keepdim), a)
