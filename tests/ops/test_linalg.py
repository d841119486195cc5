"""Norms, distances, matrix products and einsum: float64 gradchecks and comparisons with PyTorch."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
from lumen.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=15, deadline=None)
INF = math.inf


def arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def compare(lumen_fn, torch_fn, *arrays_, rtol=1e-10, atol=1e-12):
    """Values, shapes, dtypes and the gradients of a weighted sum (every input float64, requiring grad)."""
    ls = [lumen.tensor(a, requires_grad=True) for a in arrays_]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays_]
    lo, to = lumen_fn(*ls), torch_fn(*ts)
    assert tuple(lo.shape) == tuple(to.shape)
    assert lo.dtype.name == str(to.dtype).replace("torch.", "")
    np.testing.assert_allclose(lo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    w = np.random.default_rng(99).standard_normal(tuple(to.shape))
    (lo * lumen.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    for li, ti in zip(ls, ts):
        if ti.grad is None:
            assert li.grad is None or not li.grad.numpy().any()
        else:
            np.testing.assert_allclose(li.grad.numpy(), ti.grad.numpy(), rtol=rtol, atol=atol)


# ---- norms --------------------------------------------------------------------------------------
@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, 1.5, INF, -INF, -1, 0])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_vector_norm_matches_torch(ord, dim, keepdim):
    (a,) = arrays((2, 3, 4), seed=1)
    compare(lambda x: lumen.linalg.vector_norm(x, ord, dim, keepdim),
            lambda x: torch.linalg.vector_norm(x, ord, dim, keepdim), a)


@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, 1.5, -1])
def test_vector_norm_gradcheck(ord):
    (a,) = arrays((3, 4), seed=2)
    x = lumen.tensor(a, requires_grad=True)
    assert gradcheck(lambda t: lumen.linalg.vector_norm(t, ord, 1), (x,))
    assert gradgradcheck(lambda t: lumen.linalg.vector_norm(t, ord, 1), (x,))


@pytest.mark.parametrize("ord", [2, 3, 1.5, 1, 0.5, INF])
def test_norm_gradient_at_zero_matches_torch(ord):
    # a zero row and a row with zeros in it: PyTorch's subgradient (0 at the zero vector)
    a = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, -2.0]])
    compare(lambda x: lumen.linalg.vector_norm(x, ord, 1), lambda x: torch.linalg.vector_norm(x, ord, 1), a)
    compare(lambda x: x.norm(), lambda x: x.norm(), np.zeros((2, 2)))


@pytest.mark.parametrize("args", [
    {}, {"p": "fro"}, {"p": 2, "dim": 1}, {"p": 1, "dim": (0, 1)}, {"p": "fro", "dim": (1, 2), "keepdim": True},
    {"p": INF, "dim": 0}, {"p": 3}, {"dim": -1}, {"p": None, "dim": 2},
])
def test_tensor_norm_matches_torch(args):
    (a,) = arrays((2, 3, 4), seed=3)
    compare(lambda x: x.norm(**args), lambda x: x.norm(**args), a)
    compare(lambda x: lumen.norm(x, **args), lambda x: torch.norm(x, **args), a)


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, INF, -INF])
@pytest.mark.parametrize("dim", [(-2, -1), (0, 2), (2, 0)])
def test_matrix_norm_matches_torch(ord, dim):
    (a,) = arrays((3, 2, 4), seed=4)
    compare(lambda x: lumen.linalg.matrix_norm(x, ord, dim), lambda x: torch.linalg.matrix_norm(x, ord, dim), a)
    compare(lambda x: lumen.linalg.matrix_norm(x, ord, dim, keepdim=True),
            lambda x: torch.linalg.matrix_norm(x, ord, dim, keepdim=True), a)


@pytest.mark.parametrize("args", [{}, {"ord": 1}, {"ord": "fro"}, {"ord": "nuc"}, {"ord": 2}, {"ord": INF}, {"dim": 0},
                                  {"ord": 3, "dim": 1},
                                  {"ord": -INF, "dim": (0, 1)}, {"dim": (1, 0), "keepdim": True}])
def test_linalg_norm_matches_torch(args):
    (a,) = arrays((3, 4), seed=5)
    compare(lambda x: lumen.linalg.norm(x, **args), lambda x: torch.linalg.norm(x, **args), a)


def test_svdvals_matches_torch():
    (a,) = arrays((2, 4, 3), seed=16)
    compare(lumen.linalg.svdvals, torch.linalg.svdvals, a)
    compare(lambda x: x.norm("nuc", dim=(0, 2)), lambda x: x.norm("nuc", dim=(0, 2)), a)
    x = lumen.tensor(a, requires_grad=True)
    assert gradcheck(lumen.linalg.svdvals, (x,))
    assert gradcheck(lambda t: lumen.linalg.matrix_norm(t, 2), (x,))
    with pytest.raises(RuntimeError, match="double backward"):
        gradgradcheck(lumen.linalg.svdvals, (x,))
    with pytest.raises(RuntimeError, match="at least 2"):
        lumen.linalg.svdvals(lumen.ones(3))


def test_norm_errors():
    with pytest.raises(RuntimeError, match="floating point"):
        lumen.linalg.vector_norm(lumen.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="floating point"):
        lumen.tensor([1, 2]).norm()
    with pytest.raises(RuntimeError, match="order"):
        lumen.linalg.matrix_norm(lumen.ones(2, 2), 3)
    with pytest.raises(RuntimeError, match="at least 2"):
        lumen.linalg.matrix_norm(lumen.ones(2))
    with pytest.raises(RuntimeError, match="1-d or 2-d"):
        lumen.linalg.norm(lumen.ones(2, 2, 2), ord=2)
    assert lumen.linalg.vector_norm(lumen.tensor([3, 4]), dtype=lumen.float64).item() == 5.0
    assert lumen.linalg.norm is lumen.linalg.norm and lumen.linalg.matmul is lumen.matmul


def test_dist_matches_torch():
    a, b = arrays((3, 4), (4,), seed=6)
    for p in (2, 1, 3, INF):
        compare(lambda x, y: lumen.dist(x, y, p), lambda x, y: torch.dist(x, y, p), a, b)
        compare(lambda x, y: x.dist(y, p), lambda x, y: x.dist(y, p), a, b)


@pytest.mark.parametrize("p", [2, 1, 0.5, 3, INF])
@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                                  "donot_use_mm_for_euclid_dist"])
def test_cdist_matches_torch(p, mode):
    x1, x2 = arrays((2, 30, 3), (2, 4, 3), seed=7)  # 30 rows: 'if_necessary' takes the matmul form
    compare(lambda a, b: lumen.cdist(a, b, p, mode), lambda a, b: torch.cdist(a, b, p, mode), x1, x2,
            rtol=1e-7, atol=1e-9)
    compare(lambda a, b: lumen.cdist(a, b, p, mode), lambda a, b: torch.cdist(a, b, p, mode), x1[0, :5], x2[1],
            rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"])
def test_cdist_zero_distances_have_torch_gradient(mode):
    (x,) = arrays((5, 3), seed=8)
    compare(lambda a: lumen.cdist(a, a, compute_mode=mode), lambda a: torch.cdist(a, a, compute_mode=mode), x,
            rtol=1e-6, atol=1e-7)


def test_cdist_gradcheck_and_errors():
    x1, x2 = arrays((3, 2), (4, 2), seed=9)
    a, b = lumen.tensor(x1, requires_grad=True), lumen.tensor(x2, requires_grad=True)
    for p in (2, 1.5, 3):
        assert gradcheck(lambda s, t: lumen.cdist(s, t, p), (a, b))
    with pytest.raises(RuntimeError, match="columns"):
        lumen.cdist(lumen.ones(3, 2), lumen.ones(3, 3))
    with pytest.raises(RuntimeError, match="non-negative"):
        lumen.cdist(lumen.ones(3, 2), lumen.ones(3, 2), p=-1)
    with pytest.raises(ValueError, match="compute_mode"):
        lumen.cdist(lumen.ones(3, 2), lumen.ones(3, 2), compute_mode="fast")


# ---- matrix products ----------------------------------------------------------------------------
PRODUCTS = {
    "bmm": ((2, 3, 4), (2, 4, 5)),
    "mv": ((3, 4), (4,)),
    "dot": ((4,), (4,)),
    "outer": ((3,), (4,)),
    "ger": ((3,), (4,)),
}


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_products_match_torch(name):
    a, b = arrays(*PRODUCTS[name], seed=10)
    compare(getattr(lumen, name), getattr(torch, name), a, b)
    compare(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), a, b)
    x, y = lumen.tensor(a, requires_grad=True), lumen.tensor(b, requires_grad=True)
    assert gradcheck(getattr(lumen, name), (x, y))


ADDS = {
    "addmm": ((4,), (3, 2), (2, 4)),
    "baddbmm": ((2, 3, 4), (2, 3, 5), (2, 5, 4)),
    "addmv": ((3,), (3, 2), (2,)),
}


@pytest.mark.parametrize("name", sorted(ADDS))
@pytest.mark.parametrize("scale", [{}, {"beta": 0.5, "alpha": 2.0}, {"beta": 0}])
def test_scaled_products_match_torch(name, scale):
    a, b, c = arrays(*ADDS[name], seed=11)
    compare(lambda x, y, z: getattr(lumen, name)(x, y, z, **scale), lambda x, y, z: getattr(torch, name)(x, y, z, **scale),
            a, b, c)
    compare(lambda x, y, z: getattr(x, name)(y, z, **scale), lambda x, y, z: getattr(x, name)(y, z, **scale), a, b, c)


def test_beta_zero_ignores_nan_input_as_torch():
    nan = np.full((4,), np.nan)
    m1, m2 = arrays((3, 2), (2, 4), seed=12)
    compare(lambda x, y, z: lumen.addmm(x, y, z, beta=0), lambda x, y, z: torch.addmm(x, y, z, beta=0), nan, m1, m2)


def test_product_errors():
    with pytest.raises(RuntimeError, match="bmm"):
        lumen.bmm(lumen.ones(2, 3), lumen.ones(2, 3, 4))
    with pytest.raises(RuntimeError, match="bmm"):
        lumen.bmm(lumen.ones(2, 3, 4), lumen.ones(3, 4, 5))
    with pytest.raises(RuntimeError, match="dot"):
        lumen.dot(lumen.ones(3), lumen.ones(4))
    with pytest.raises(RuntimeError, match="dtype"):
        lumen.dot(lumen.ones(3), lumen.ones(3, dtype=lumen.float64))
    with pytest.raises(RuntimeError, match="outer"):
        lumen.outer(lumen.ones(3, 1), lumen.ones(3))
    with pytest.raises(RuntimeError, match="broadcast"):
        lumen.addmm(lumen.ones(5), lumen.ones(3, 2), lumen.ones(2, 4))


# ---- einsum -------------------------------------------------------------------------------------
EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,jk", [(3, 4), (4, 5)]), ("ij->ji", [(3, 4)]), ("ij->", [(3, 4)]),
    ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("iji->j", [(3, 4, 3)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,j->ij", [(3,), (4,)]), ("i,i", [(3,), (3,)]), ("ij,ij->ij", [(3, 4), (3, 4)]), ("Ba,ab", [(3, 4), (4, 5)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), ("...ij->ij", [(2, 3, 4)]), ("...ij->...", [(2, 3, 4)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]), ("ij,j->i", [(2, 1), (3,)]), ("...,...->...", [(2, 3), (3,)]),
    ("ab,cd->", [(3, 4), (4, 5)]), ("ij...,jk...->ik...", [(3, 4, 2), (4, 5, 2)]), ("i j , j k -> k i", [(2, 3), (3, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
]


@pytest.mark.parametrize("equation,shapes", EINSUM)
def test_einsum_matches_torch(equation, shapes):
    ops = arrays(*shapes, seed=13)
    compare(lambda *t: lumen.einsum(equation, *t), lambda *t: torch.einsum(equation, *t), *ops)


@pytest.mark.parametrize("equation,shapes", [EINSUM[i] for i in (0, 4, 7, 12, 15)])
def test_einsum_gradcheck(equation, shapes):
    ts = [lumen.tensor(a, requires_grad=True) for a in arrays(*shapes, seed=14)]
    assert gradcheck(lambda *t: lumen.einsum(equation, *t), tuple(ts))
    assert gradgradcheck(lambda *t: lumen.einsum(equation, *t), tuple(ts))


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 50))
def test_einsum_batched_matmul_shapes_match_torch(b, n, m, k, seed):
    x, y = arrays((b, n, m), (b, m, k), seed=seed)
    compare(lambda s, t: lumen.einsum("bnm,bmk->bkn", s, t), lambda s, t: torch.einsum("bnm,bmk->bkn", s, t), x, y)


def test_einsum_operand_list_and_integers():
    a, b = lumen.ones(2, 3), lumen.ones(3, 4)
    assert lumen.einsum("ij,jk", [a, b]).tolist() == torch.einsum("ij,jk", [torch.ones(2, 3), torch.ones(3, 4)]).tolist()
    got = lumen.einsum("i,i", lumen.tensor([1, 2]), lumen.tensor([3, 4]))
    assert got.dtype is lumen.int64 and got.item() == 11


@pytest.mark.parametrize("equation,shapes,match", [
    ("ij,jk", [(2, 3)], "operand"), ("ij", [(2, 3, 4)], "subscripts"), ("i1", [(2, 3)], "invalid"),
    ("ij,jk", [(2, 3), (4, 5)], "size"), ("ij->ik", [(2, 3)], "does not appear"), ("ij->ii", [(2, 3)], "more than once"),
    ("ii", [(2, 3)], "size"), ("....ij", [(2, 3)], "ellipsis"),
])
def test_einsum_errors(equation, shapes, match):
    with pytest.raises(RuntimeError, match=match):
        lumen.einsum(equation, *[lumen.ones(*s) for s in shapes])
    with pytest.raises(RuntimeError):
        torch.einsum(equation, *[torch.ones(*s) for s in shapes])


def test_einsum_dtype_mismatch_raises_as_torch():
    with pytest.raises(RuntimeError):
        torch.einsum("ij,jk", torch.ones(2, 2), torch.ones(2, 2, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="dtype"):
        lumen.einsum("ij,jk", lumen.ones(2, 2), lumen.ones(2, 2, dtype=lumen.float64))


@pytest.mark.parametrize("name", sorted(ADDS))
def test_scaled_products_inplace_match_torch(name):
    a, b, c = arrays(*ADDS[name], seed=15)
    a = np.broadcast_to(a, getattr(torch, name)(*(torch.tensor(v) for v in (a, b, c))).shape).copy()
    x = lumen.tensor(a)
    assert getattr(x, name + "_")(lumen.tensor(b), lumen.tensor(c), beta=0.5, alpha=2) is x
    expected = getattr(torch.tensor(a), name + "_")(torch.tensor(b), torch.tensor(c), beta=0.5, alpha=2)
    np.testing.assert_allclose(x.numpy(), expected.numpy(), rtol=1e-12)
    # under autograd, as the out-of-place op on the old values
    ls = [lumen.tensor(v, requires_grad=True) for v in (a, b, c)]
    ts = [torch.tensor(v, requires_grad=True) for v in (a, b, c)]
    for s, u, v in (ls, ts):
        y = s * 1.0
        getattr(y, name + "_")(u, v, beta=0.5, alpha=2)
        (y * y).sum().backward()
    for li, ti in zip(ls, ts):
        np.testing.assert_allclose(li.grad.numpy(), ti.grad.numpy(), rtol=1e-10)


@st.composite
def einsum_cases(draw):
    """A random equation (repeated labels, '...' with size-1 broadcasting, implicit or explicit output)
    and operand shapes that torch accepts."""
    size = {l: draw(st.integers(1, 3)) for l in "abcd"}
    ell = draw(st.lists(st.integers(1, 2), max_size=2)) if draw(st.booleans()) else None
    terms, shapes = [], []
    for _ in range(draw(st.integers(1, 3))):
        labels = draw(st.lists(st.sampled_from("abcd"), max_size=3))
        shape = [size[l] for l in labels]
        term = "".join(labels)
        if ell is not None:
            cut = draw(st.integers(0, len(labels)))
            dims = [n if draw(st.booleans()) else 1 for n in ell[draw(st.integers(0, len(ell))):]]
            term, shape = term[:cut] + "..." + term[cut:], shape[:cut] + dims + shape[cut:]
        terms.append(term)
        shapes.append(tuple(shape))
    equation = ",".join(terms)
    if draw(st.booleans()):
        seen = sorted(set("".join(terms).replace(".", "")))
        out = "".join(draw(st.permutations(seen))[:draw(st.integers(0, len(seen)))])
        equation += "->" + ("..." if ell is not None and draw(st.booleans()) else "") + out
    return equation, shapes


@settings(max_examples=25, deadline=None)
@given(einsum_cases(), st.integers(0, 20))
def test_einsum_random_equations_match_torch(case, seed):
    equation, shapes = case
    compare(lambda *t: lumen.einsum(equation, *t), lambda *t: torch.einsum(equation, *t), *arrays(*shapes, seed=seed))
