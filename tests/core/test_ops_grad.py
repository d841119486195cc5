"""Every differentiable core op, gradchecked in float64 against central differences."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import lumen
from lumen.autograd import gradcheck, gradgradcheck, GradcheckError

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rnd(*shape, low=-1.0, high=1.0, seed=0, grad=True):
    rng = np.random.default_rng(seed)
    return lumen.tensor(rng.uniform(low, high, shape), dtype=lumen.float64, requires_grad=grad)


def away_from(x, values, gap=0.1):
    """Move entries off kinks (|x - v| < gap) so finite differences stay on one side."""
    a = x.detach().numpy().copy()
    for v in values:
        near = np.abs(a - v) < gap
        a[near] = v + np.where(a[near] >= v, gap, -gap) * 1.5
    return lumen.tensor(a, dtype=lumen.float64, requires_grad=True)


UNARY = {
    "neg": (lambda x: -x, {}),
    "exp": (lambda x: x.exp(), {}),
    "log": (lambda x: x.log(), {"low": 0.2, "high": 2.0}),
    "sqrt": (lambda x: x.sqrt(), {"low": 0.2, "high": 2.0}),
    "rsqrt": (lambda x: x.rsqrt(), {"low": 0.2, "high": 2.0}),
    "tanh": (lambda x: x.tanh(), {}),
    "sigmoid": (lambda x: x.sigmoid(), {"low": -4, "high": 4}),
    "square": (lambda x: x.square(), {}),
    "clone": (lambda x: x.clone(), {}),
    "contiguous": (lambda x: x.t().contiguous(), {}),
    "float32_roundtrip": (lambda x: x.to(lumen.float32).to(lumen.float64), {}),
    "softmax": (lambda x: x.softmax(1), {}),
    "log_softmax": (lambda x: x.log_softmax(0), {}),
    "pow_scalar": (lambda x: x ** 3, {}),
    "rpow_scalar": (lambda x: 2.0 ** x, {}),
    "rdiv_scalar": (lambda x: 1.5 / x, {"low": 0.5, "high": 2.0}),
    "rsub_scalar": (lambda x: 1.5 - x, {}),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    fn, kw = UNARY[name]
    if name == "float32_roundtrip":
        # a float32 hop loses precision, so only the gradient's value (the identity) is checked
        x = rnd(3, 4)
        fn(x).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.ones((3, 4)))
        return
    assert gradcheck(fn, (rnd(3, 4, **kw),))


def test_abs_relu_clamp_away_from_kinks():
    x = away_from(rnd(4, 5, seed=1), [0.0, -0.3, 0.4])
    assert gradcheck(lambda t: t.abs(), (x,))
    assert gradcheck(lambda t: t.relu(), (x,))
    assert gradcheck(lambda t: t.clamp(-0.3, 0.4), (x,))
    assert gradcheck(lambda t: t.clamp(min=-0.3), (x,))
    assert gradcheck(lambda t: t.clamp(max=0.4), (x,))


def test_clamp_with_tensor_bounds():
    x = away_from(rnd(3, 4, seed=2), [-0.2, 0.2])
    lo = lumen.full((3, 4), -0.2, dtype=lumen.float64)
    hi = lumen.full((4,), 0.2, dtype=lumen.float64)
    assert gradcheck(lambda t: t.clamp(lo, hi), (x,))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_binary_both_operands(op):
    a, b = rnd(3, 4, seed=1), rnd(3, 4, seed=2)
    if op in ("div", "pow"):
        a, b = rnd(3, 4, low=0.5, high=2.0, seed=1), rnd(3, 4, low=0.5, high=2.0, seed=2)
    if op in ("maximum", "minimum"):
        b = lumen.tensor(b.detach().numpy() + np.where(np.abs(b.detach().numpy() - a.detach().numpy()) < 0.1,
                                                       0.3, 0.0), requires_grad=True)
    fns = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
           "div": lambda x, y: x / y, "pow": lambda x, y: x ** y,
           "maximum": lambda x, y: x.maximum(y), "minimum": lambda x, y: x.minimum(y)}
    assert gradcheck(fns[op], (a, b))


def test_pow_exponent_gradient_at_zero_base_is_zero():
    a = lumen.tensor([0.0, 2.0], dtype=lumen.float64)
    b = lumen.tensor([2.0, 3.0], dtype=lumen.float64, requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 8 * np.log(2)])


@st.composite
def _broadcastable_pair(draw):
    """Two shapes that broadcast together: dims of size 1 and missing leading dims on either side."""
    full = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    a = [draw(st.sampled_from([n, 1])) for n in full]
    b = [draw(st.sampled_from([n, 1])) for n in full]
    drop = draw(st.integers(0, len(full)))
    return tuple(a[drop:]), tuple(b)


@SETTINGS
@given(_broadcastable_pair(), st.sampled_from(["add", "sub", "mul", "div", "maximum", "where"]),
       st.booleans())
def test_broadcast_binary(shapes, op, swap):
    sa, sb = shapes if not swap else shapes[::-1]
    a, b = rnd(*sa, seed=3), rnd(*sb, low=0.5, high=1.5, seed=4)
    expected = np.broadcast_shapes(sa, sb)
    fns = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
           "div": lambda x, y: x / y, "maximum": lambda x, y: x.maximum(y),
           "where": lambda x, y: lumen.where(x > 0, x, y)}
    out = fns[op](a, b)
    assert out.shape == expected
    assert gradcheck(fns[op], (a, b))


@pytest.mark.parametrize("sa,sb", [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)), ((3, 4), (4, 2)),
                                   ((2, 3, 4), (4, 2)), ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5))])
def test_matmul(sa, sb):
    a, b = rnd(*sa, seed=5), rnd(*sb, seed=6)
    out = a @ b
    assert out.shape == np.matmul(np.zeros(sa), np.zeros(sb)).shape
    assert gradcheck(lambda x, y: x @ y, (a, b))


def test_where_gradients_and_scalar_branch():
    c = lumen.tensor([[True, False, True], [False, False, True]])
    a, b = rnd(2, 3, seed=7), rnd(3, seed=8)
    assert gradcheck(lambda x, y: lumen.where(c, x, y), (a, b))
    assert gradcheck(lambda x: lumen.where(c, x, 0.0), (a,))
    assert gradcheck(lambda x: x.masked_fill(c, 2.0), (a,))


@SETTINGS
@given(st.lists(st.integers(1, 3), min_size=1, max_size=3), st.data(), st.booleans(),
       st.sampled_from(["sum", "mean", "var", "std", "logsumexp", "amax"]))
def test_reductions(shape, data, keepdim, op):
    nd = len(shape)
    dims = data.draw(st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=nd,
                              unique_by=lambda d: d % nd))
    dim = dims[0] if len(dims) == 1 else tuple(dims)
    x = rnd(*shape, seed=9)
    n = int(np.prod([shape[d % nd] for d in dims]))
    if op in ("var", "std") and n < 2:
        return
    fn = {"sum": lambda t: t.sum(dim, keepdim=keepdim), "mean": lambda t: t.mean(dim, keepdim=keepdim),
          "var": lambda t: t.var(dim, keepdim=keepdim), "std": lambda t: t.std(dim, keepdim=keepdim),
          "logsumexp": lambda t: t.logsumexp(dim, keepdim=keepdim),
          "amax": lambda t: t.amax(dim, keepdim=keepdim)}[op]
    ref = {"sum": np.sum, "mean": np.mean, "var": lambda a, axis, keepdims: np.var(a, axis, ddof=1,
                                                                                     keepdims=keepdims),
           "std": lambda a, axis, keepdims: np.std(a, axis, ddof=1, keepdims=keepdims),
           "logsumexp": lambda a, axis, keepdims: np.log(np.exp(a).sum(axis, keepdims=keepdims)),
           "amax": np.amax}[op]
    axis = tuple(d % nd for d in dims)
    np.testing.assert_allclose(fn(x).detach().numpy(), ref(x.detach().numpy(), axis=axis, keepdims=keepdim),
                               rtol=1e-10, atol=1e-12)
    assert gradcheck(fn, (x,))


@pytest.mark.parametrize("op", ["sum", "mean", "var", "std", "max", "min"])
def test_full_reductions(op):
    x = rnd(3, 4, seed=10)
    assert gradcheck(lambda t: getattr(t, op)(), (x,))


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("dim,keepdim", [(0, False), (1, True), (-1, False)])
def test_max_min_dim(op, dim, keepdim):
    x = rnd(3, 4, seed=11)
    values, indices = getattr(x, op)(dim, keepdim=keepdim)
    assert indices.dtype is lumen.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.numpy(), getattr(np, "arg" + op)(x.detach().numpy(), dim,
                                                                           keepdims=keepdim))
    assert gradcheck(lambda t: getattr(t, op)(dim, keepdim=keepdim)[0], (x,))


def test_max_ties_share_gradient():
    x = lumen.tensor([1.0, 3.0, 3.0, 0.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0.5, 0.5, 0])


SHAPE_OPS = {
    "reshape": lambda t: t.reshape(4, 6),
    "reshape_neg": lambda t: t.reshape(-1, 3),
    "view": lambda t: t.view(2, 12),
    "permute": lambda t: t.permute(2, 0, 1),
    "transpose": lambda t: t.transpose(0, 2),
    "T": lambda t: t.T,
    "flatten": lambda t: t.flatten(1),
    "squeeze": lambda t: t.reshape(2, 1, 12).squeeze(1),
    "squeeze_all": lambda t: t.reshape(1, 24, 1).squeeze(),
    "unsqueeze": lambda t: t.unsqueeze(-1),
    "expand": lambda t: t[:, :1].expand(2, 5, 4) * 1,
    "narrow": lambda t: t.narrow(2, 1, 2),
    "repeat": lambda t: t[0].repeat(2, 1, 2),
    "permute_then_reshape": lambda t: t.permute(1, 0, 2).reshape(3, 8),
    "pad": lambda t: lumen.pad(t, (1, 2, 0, 1)),
    "pad_value_crop": lambda t: lumen.pad(t, (-1, 1, 2, -1), value=3.0),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_ops(name):
    assert gradcheck(SHAPE_OPS[name], (rnd(2, 3, 4, seed=12),))


def test_cat_stack_split_chunk():
    a, b, c = rnd(2, 3, seed=1), rnd(2, 1, seed=2), rnd(2, 2, seed=3)
    assert gradcheck(lambda x, y, z: lumen.cat([x, y, z], dim=1), (a, b, c))
    assert gradcheck(lambda x, y: lumen.stack([x, y], dim=1), (a, rnd(2, 3, seed=4)))
    x = rnd(5, 3, seed=5)
    assert gradcheck(lambda t: x_split(t), (x,))
    assert gradcheck(lambda t: tuple(p * (i + 1) for i, p in enumerate(lumen.chunk(t, 3, dim=1))), (x,))
    assert [p.shape for p in lumen.split(x, [1, 4])] == [(1, 3), (4, 3)]


def x_split(t):
    parts = lumen.split(t, 2)
    assert [p.shape for p in parts] == [(2, 3), (2, 3), (1, 3)]
    return tuple(p * (i + 1) for i, p in enumerate(parts))


INDEX_EXPRS = [
    (1,), (slice(None), 2), (slice(1, None), slice(None, None, 2)), (Ellipsis, 0), (None, 1),
    (slice(None), None, slice(-2, None)), (-1, -1),
]


def _index_expr():
    basic = st.one_of(st.integers(-3, 2), st.builds(slice, st.sampled_from([None, 0, 1, -2]),
                                                     st.sampled_from([None, 2, 3, -1]),
                                                     st.sampled_from([None, 1, 2])),
                      st.just(None), st.just(Ellipsis))
    adv = st.lists(st.integers(-3, 2), min_size=1, max_size=5).map(np.array)
    return st.lists(st.one_of(basic, adv), min_size=1, max_size=3).filter(
        lambda items: sum(i is Ellipsis for i in items) <= 1).map(tuple)


@SETTINGS
@given(_index_expr())
def test_getitem_drawn(index):
    x = rnd(3, 3, 3, seed=13)
    try:
        expected = x.detach().numpy()[index]
    except IndexError:
        with pytest.raises(IndexError):
            x[index]
        return
    out = x[index]
    np.testing.assert_array_equal(out.detach().numpy(), expected)
    if out.numel():
        assert gradcheck(lambda t: t[index], (x,))


@pytest.mark.parametrize("index", INDEX_EXPRS)
def test_getitem_basic(index):
    assert gradcheck(lambda t: t[index], (rnd(3, 4, 5, seed=14),))


def test_getitem_repeated_indices_scatter_add():
    x = rnd(4, 3, seed=15)
    idx = lumen.tensor([0, 2, 0, 0, 3])
    assert gradcheck(lambda t: t[idx], (x,))
    x[idx].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[:, 0], [3, 0, 1, 1])
    assert gradcheck(lambda t: t[[1, 1, 2], [0, 0, 2]], (x,))
    assert gradcheck(lambda t: t[:, [2, 2]], (x,))


def test_getitem_boolean_mask():
    x = rnd(3, 4, seed=16)
    mask = x.detach() > 0
    out = x[mask]
    np.testing.assert_array_equal(out.detach().numpy(), x.detach().numpy()[mask.numpy()])
    assert gradcheck(lambda t: t[mask], (x,))
    assert gradcheck(lambda t: t[lumen.tensor([True, False, True])], (x,))


def test_setitem_gradients_reach_both_tensors():
    def f(t, v):
        y = t * 1
        y[1:, ::2] = v
        y[0, [0, 3]] = v[0, 0] * 2
        return y
    assert gradcheck(f, (rnd(3, 4, seed=17), rnd(2, 2, seed=18)))
    assert gradcheck(lambda t, v: _put_broadcast(t, v), (rnd(3, 4, seed=19), rnd(4, seed=20)))


def _put_broadcast(t, v):
    y = t.clone()
    y[t.detach() > 0] = 0.0
    y[1] = v
    return y


@pytest.mark.parametrize("name", ["mul", "div", "tanh", "exp", "matmul", "sigmoid", "getitem", "logsumexp",
                                  "pow", "max_dim"])
def test_gradgradcheck(name):
    a, b = rnd(3, 3, low=0.5, high=1.5, seed=21), rnd(3, 3, low=0.5, high=1.5, seed=22)
    fns = {"mul": (lambda x, y: x * y * x, (a, b)), "div": (lambda x, y: x / y, (a, b)),
           "tanh": (lambda x: x.tanh(), (a,)), "exp": (lambda x: x.exp(), (a,)),
           "matmul": (lambda x, y: (x @ y).tanh(), (a, b)), "sigmoid": (lambda x: x.sigmoid(), (a,)),
           "getitem": (lambda x: (x[[0, 0, 2]] ** 2), (a,)), "logsumexp": (lambda x: x.logsumexp(1), (a,)),
           "pow": (lambda x, y: x ** y, (a, b)), "max_dim": (lambda x: x.max(1)[0] ** 2, (a,))}
    fn, inputs = fns[name]
    assert gradgradcheck(fn, inputs)


def test_gradcheck_catches_a_wrong_backward():
    class Bad(lumen.autograd.Function):
        def forward(self, a):
            return a * 2

        def backward(self, g):
            return g * 3
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda t: Bad.apply(t), (rnd(3),))
    assert gradcheck(lambda t: Bad.apply(t), (rnd(3),), raise_exception=False) is False


def test_gradcheck_on_non_contiguous_and_zero_dim_inputs():
    x = lumen.from_numpy(np.random.default_rng(0).uniform(-1, 1, (3, 4)).T).requires_grad_()
    assert not x.is_contiguous()
    assert gradcheck(lambda t: t.exp() * t, (x,))
    assert gradcheck(lambda t, s: t * s.tanh(), (rnd(2, 2), rnd()))


def test_gradcheck_requires_float64():
    with pytest.raises(ValueError, match="float64"):
        gradcheck(lambda t: t * 2, (lumen.ones(2, requires_grad=True),))
