"""lumen.linalg's inverses, determinants, solves and decompositions and torch's top-level aliases: values,
gradients (float64 gradchecks, and PyTorch's gradients compared), return types and errors against torch."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
import lumen.linalg as LA
from lumen.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=10, deadline=None)
RNG = np.random.default_rng(0)


def well_conditioned(*shape, seed=0):
    rng = np.random.default_rng(seed)
    n = shape[-1]
    return rng.standard_normal(shape) + 3 * np.eye(n)


def spd(*shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return a @ np.swapaxes(a, -1, -2) + np.eye(shape[-1])


def gauge(U):
    """Singular and eigen vectors are defined up to sign: make each column's first entry positive."""
    return U * U[..., :1, :].sign()


def as_tuple(x):
    return tuple(x) if isinstance(x, tuple) else (x,)


def compare(lumen_fn, torch_fn, *arrays, rtol=1e-8, atol=1e-10, gradgrad=False, numeric=True):
    ls = [lumen.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    lo, to = as_tuple(lumen_fn(*ls)), as_tuple(torch_fn(*ts))
    assert len(lo) == len(to)
    lsum, tsum = 0, 0
    for i, (x, y) in enumerate(zip(lo, to)):
        assert x.dtype.name == str(y.dtype).replace("torch.", "") and tuple(x.shape) == tuple(y.shape)
        np.testing.assert_allclose(x.detach().numpy(), y.detach().numpy(), rtol=rtol, atol=atol)
        if y.requires_grad:
            w = np.random.default_rng(i).standard_normal(tuple(y.shape))
            lsum, tsum = lsum + (x * lumen.tensor(w)).sum(), tsum + (y * torch.tensor(w)).sum()
    lsum.backward()
    tsum.backward()
    for x, y in zip(ls, ts):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=rtol, atol=atol)
    if numeric:
        fresh = tuple(lumen.tensor(a, requires_grad=True) for a in arrays)
        assert gradcheck(lumen_fn, fresh)
        if gradgrad:
            assert gradgradcheck(lumen_fn, fresh)


batch_shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


@given(batch_shapes, st.integers(1, 4))
@SETTINGS
def test_inv_det_slogdet_over_batches(batch, n):
    a = well_conditioned(*batch, n, n, seed=n)
    compare(LA.inv, torch.linalg.inv, a, gradgrad=True)
    compare(LA.det, torch.linalg.det, a)
    compare(lambda t: tuple(LA.slogdet(t)), lambda t: tuple(torch.linalg.slogdet(t)), a)
    compare(lumen.logdet, torch.logdet, spd(*batch, n, n, seed=n))


@given(batch_shapes, batch_shapes, st.integers(1, 4), st.integers(1, 3))
@SETTINGS
def test_solve_broadcasts_batches_and_vectors(ba, bb, n, k):
    try:
        np.broadcast_shapes(ba, bb)
    except ValueError:
        return
    a, b = well_conditioned(*ba, n, n, seed=n), RNG.standard_normal(bb + (n, k))
    compare(LA.solve, torch.linalg.solve, a, b, gradgrad=True)
    try:
        torch.linalg.solve(torch.tensor(a), torch.tensor(b).mT, left=False)
    except RuntimeError:  # a B that reads as a batch of vectors: refused for left=False by both
        with pytest.raises(RuntimeError, match="left=False"):
            LA.solve(lumen.tensor(a), lumen.tensor(b).mT, left=False)
    else:
        compare(lambda x, y: LA.solve(x, y.mT, left=False), lambda x, y: torch.linalg.solve(x, y.mT, left=False),
                a, b)
    compare(LA.solve, torch.linalg.solve, a, RNG.standard_normal((n,)))
    compare(LA.solve, torch.linalg.solve, a, RNG.standard_normal(ba + (n,)))


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("unitriangular", [True, False])
def test_solve_triangular(upper, unitriangular):
    a, b = well_conditioned(2, 3, 3), RNG.standard_normal((2, 3, 2))
    kwargs = {"upper": upper, "unitriangular": unitriangular}
    compare(lambda x, y: LA.solve_triangular(x, y, **kwargs),
            lambda x, y: torch.linalg.solve_triangular(x, y, **kwargs), a, b)
    compare(lambda x, y: LA.solve_triangular(x, y.mT, left=False, **kwargs),
            lambda x, y: torch.linalg.solve_triangular(x, y.mT, left=False, **kwargs), a, b)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(upper):
    a = spd(2, 4, 4)
    compare(lambda t: LA.cholesky(t, upper=upper), lambda t: torch.linalg.cholesky(t, upper=upper), a,
            numeric=False)
    # the gradient is symmetric: checked numerically on the symmetric part of a perturbation
    assert gradcheck(lambda t: LA.cholesky((t + t.mT) / 2, upper=upper), (lumen.tensor(a, requires_grad=True),))
    with pytest.warns(UserWarning, match="torch.cholesky is deprecated"):
        got = lumen.cholesky(lumen.tensor(a), upper=upper)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(got.numpy(), torch.cholesky(torch.tensor(a), upper=upper).numpy(), atol=1e-12)
        np.testing.assert_allclose(lumen.tensor(a).cholesky().numpy(), torch.tensor(a).cholesky().numpy(), atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (2, 4, 4)])
def test_qr(shape):
    a = RNG.standard_normal(shape)
    compare(lambda t: tuple(LA.qr(t)), lambda t: tuple(torch.linalg.qr(t)), a, gradgrad=shape == (3, 3))
    lq, tq = LA.qr(lumen.tensor(a), mode="complete"), torch.linalg.qr(torch.tensor(a), mode="complete")
    np.testing.assert_allclose(lq.Q.numpy(), tq.Q.numpy(), atol=1e-12)
    np.testing.assert_allclose(lq.R.numpy(), tq.R.numpy(), atol=1e-12)
    assert LA.qr(lumen.tensor(a), mode="r").Q.shape == torch.linalg.qr(torch.tensor(a), mode="r").Q.shape
    with pytest.warns(UserWarning, match="torch.qr is deprecated"):
        q, r = lumen.qr(lumen.tensor(a), some=False)
    np.testing.assert_allclose((q @ r).numpy(), a, atol=1e-12)
    with pytest.raises(RuntimeError, match="unrecognized mode"):
        LA.qr(lumen.tensor(a), mode="full")


def test_qr_gradient_of_a_wide_matrix_is_refused():
    a = lumen.tensor(RNG.standard_normal((2, 4)), requires_grad=True)
    with pytest.raises(RuntimeError, match="derivative is not implemented"):
        LA.qr(a).R.sum().backward()


def test_eigh_and_eigvalsh():
    a = spd(2, 4, 4)
    compare(lambda t: (gauge(LA.eigh(t).eigenvectors), LA.eigh(t).eigenvalues),
            lambda t: (gauge(torch.linalg.eigh(t).eigenvectors), torch.linalg.eigh(t).eigenvalues), a,
            numeric=False)
    compare(LA.eigvalsh, torch.linalg.eigvalsh, a, numeric=False)
    sym = lambda f: lambda t: f((t + t.mT) / 2)  # noqa: E731 (perturbations kept symmetric)
    assert gradcheck(sym(lambda t: gauge(LA.eigh(t)[1])), (lumen.tensor(a, requires_grad=True),))
    assert gradcheck(sym(LA.eigvalsh), (lumen.tensor(a, requires_grad=True),))
    upper = np.triu(a[0]) + np.triu(a[0], 1).T * 0 + np.tril(RNG.standard_normal((4, 4)), -1)
    np.testing.assert_allclose(LA.eigvalsh(lumen.tensor(upper), UPLO="U").numpy(),
                               torch.linalg.eigvalsh(torch.tensor(upper), UPLO="U").numpy(), atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 3, 3)])
def test_svd(shape):
    a = RNG.standard_normal(shape)
    for full in (False, True):
        lu, ls, lvh = LA.svd(lumen.tensor(a), full_matrices=full)
        tu, ts, tvh = torch.linalg.svd(torch.tensor(a), full_matrices=full)
        assert tuple(lu.shape) == tuple(tu.shape) and tuple(lvh.shape) == tuple(tvh.shape)
        np.testing.assert_allclose(ls.numpy(), ts.numpy(), atol=1e-12)
        np.testing.assert_allclose(np.abs(lu.numpy()), np.abs(tu.numpy()), atol=1e-10)
    compare(lambda t: (gauge(LA.svd(t, False).U), LA.svd(t, False).S, gauge(LA.svd(t, False).Vh.mT)),
            lambda t: (gauge(torch.linalg.svd(t, False).U), torch.linalg.svd(t, False).S,
                       gauge(torch.linalg.svd(t, False).Vh.mT)), a)
    lU, lS, lV = lumen.svd(lumen.tensor(a))
    tU, tS, tV = torch.svd(torch.tensor(a))
    np.testing.assert_allclose((lU * lS.unsqueeze(-2) @ lV.mT).numpy(), a, atol=1e-12)
    assert tuple(lV.shape) == tuple(tV.shape)
    lU, lS, lV = lumen.tensor(a).svd(some=False, compute_uv=False)
    tU, tS, tV = torch.tensor(a).svd(some=False, compute_uv=False)
    assert tuple(lU.shape) == tuple(tU.shape) and tuple(lV.shape) == tuple(tV.shape) and not lU.numpy().any()


@pytest.mark.parametrize("shape", [(5, 3), (3, 5)])
def test_pinv_lstsq_matrix_rank(shape):
    a = RNG.standard_normal(shape)
    compare(LA.pinv, torch.linalg.pinv, a)
    compare(lumen.pinverse, torch.pinverse, a)
    low_rank = a[:, :1] @ a[:1, :]
    np.testing.assert_allclose(LA.pinv(lumen.tensor(low_rank)).numpy(),
                               torch.linalg.pinv(torch.tensor(low_rank)).numpy(), atol=1e-10)
    for m in (a, low_rank):
        for kwargs in ({}, {"atol": 0.5}, {"rtol": 0.3}):
            assert int(LA.matrix_rank(lumen.tensor(m), **kwargs)) == int(torch.linalg.matrix_rank(torch.tensor(m),
                                                                                                    **kwargs))
    b = RNG.standard_normal((shape[0], 2))
    if shape[0] > shape[1]:
        compare(lambda x, y: LA.lstsq(x, y).solution, lambda x, y: torch.linalg.lstsq(x, y).solution, a, b)
        got, want = LA.lstsq(lumen.tensor(a), lumen.tensor(b)), torch.linalg.lstsq(torch.tensor(a), torch.tensor(b))
        assert int(got.rank) == int(want.rank) and got.residuals.shape == want.residuals.shape


@pytest.mark.parametrize("n", [-3, -1, 0, 1, 2, 5])
def test_matrix_power(n):
    a = well_conditioned(2, 3, 3) / 3
    if n:  # A^0 is the identity, a constant in both
        compare(lambda t: LA.matrix_power(t, n), lambda t: torch.linalg.matrix_power(t, n), a)
    np.testing.assert_allclose(lumen.tensor(a).matrix_power(n).numpy(), torch.tensor(a).matrix_power(n).numpy(),
                               rtol=1e-10)


@pytest.mark.parametrize("scale", [0.1, 1.0, 6.0])
def test_matrix_exp(scale):
    a = RNG.standard_normal((2, 3, 3)) * scale
    # entries near e^18 at scale 6: finite differences are too coarse there, torch's gradient is the check
    compare(LA.matrix_exp, torch.linalg.matrix_exp, a, rtol=1e-9, atol=1e-9, numeric=scale < 6)
    np.testing.assert_allclose(lumen.matrix_exp(lumen.tensor(a)).numpy(), torch.matrix_exp(torch.tensor(a)).numpy(),
                               rtol=1e-9, atol=1e-9)


def test_multi_dot_chain_matmul_vecdot_diagonal_vander_cross():
    shapes = [(4,), (4, 2), (2, 6), (6, 3), (3,)]
    arrays = [RNG.standard_normal(s) for s in shapes]
    compare(lambda *t: LA.multi_dot(list(t)), lambda *t: torch.linalg.multi_dot(list(t)), *arrays)
    compare(lambda *t: LA.multi_dot(list(t)), lambda *t: torch.linalg.multi_dot(list(t)), *arrays[1:4])
    with pytest.warns(UserWarning, match="chain_matmul is deprecated"):
        got = lumen.chain_matmul(*(lumen.tensor(x) for x in arrays[1:4]))
    np.testing.assert_allclose(got.numpy(), arrays[1] @ arrays[2] @ arrays[3], atol=1e-12)
    x, y = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((3, 4))
    compare(LA.vecdot, torch.linalg.vecdot, x, y)
    compare(lambda p, q: LA.vecdot(p, q, dim=1), lambda p, q: torch.linalg.vecdot(p, q, dim=1), x, y[:, :1])
    compare(lambda t: LA.diagonal(t, offset=1), lambda t: torch.linalg.diagonal(t, offset=1), x)
    compare(LA.vander, torch.linalg.vander, y[0])
    compare(lambda t: LA.vander(t, N=6), lambda t: torch.linalg.vander(t, N=6), y)
    u, v = RNG.standard_normal((1, 2, 3)), RNG.standard_normal((4, 1, 3))
    compare(LA.cross, torch.linalg.cross, u, v)
    w = u[0]
    compare(lambda p, q: lumen.cross(p.mT, q.mT, dim=0), lambda p, q: torch.cross(p.mT, q.mT, dim=0), w, w[::-1].copy())
    with pytest.warns(UserWarning, match="without specifying the dim"):
        lumen.tensor(w).cross(lumen.tensor(w[::-1].copy()))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        LA.cross(lumen.tensor(w), lumen.tensor(u))
    with pytest.raises(RuntimeError, match="length 3"):
        LA.cross(lumen.tensor(x), lumen.tensor(x))


def test_ex_variants():
    good, singular = lumen.tensor(well_conditioned(3, 3)), lumen.zeros(2, 3, 3, dtype=lumen.float64)
    r = LA.inv_ex(good)
    assert type(r).__name__ == "linalg_inv_ex" and int(r.info) == 0 and r.info.dtype is lumen.int32
    np.testing.assert_allclose(r.inverse.numpy(), np.linalg.inv(good.numpy()))
    bad = LA.inv_ex(singular)
    assert bad.info.shape == (2,) and bool((bad.info != 0).all())
    with pytest.raises(LA.LinAlgError):
        LA.inv_ex(singular, check_errors=True)
    assert int(LA.solve_ex(good, lumen.ones(3, dtype=lumen.float64)).info) == 0
    assert bool((LA.solve_ex(singular, lumen.ones(2, 3, 1, dtype=lumen.float64)).info != 0).all())
    assert int(LA.cholesky_ex(lumen.tensor(spd(3, 3))).info) == 0
    assert int(LA.cholesky_ex(-lumen.eye(3)).info) != 0


def test_errors_match_torch():
    assert issubclass(LA.LinAlgError, RuntimeError) and issubclass(torch.linalg.LinAlgError, RuntimeError)
    singular = np.zeros((3, 3))
    for lf, tf in ((LA.inv, torch.linalg.inv), (lambda a: LA.solve(a, a), lambda a: torch.linalg.solve(a, a))):
        with pytest.raises(LA.LinAlgError, match="singular"):
            lf(lumen.tensor(singular))
        with pytest.raises(torch.linalg.LinAlgError):
            tf(torch.tensor(singular))
    with pytest.raises(LA.LinAlgError, match="positive-definite"):
        LA.cholesky(-lumen.eye(3))
    for fn in (LA.inv, LA.det, LA.slogdet, LA.cholesky, LA.eigh, LA.matrix_exp):
        with pytest.raises(RuntimeError, match="square"):
            fn(lumen.ones(2, 3))
        with pytest.raises(RuntimeError, match="floating point"):
            fn(lumen.ones(3, 3, dtype=lumen.int64))
    with pytest.raises(RuntimeError, match="same dtype"):
        LA.solve(lumen.eye(3), lumen.ones(3, dtype=lumen.float64))
    with pytest.raises(RuntimeError, match="incompatible shapes"):
        LA.solve(lumen.eye(3), lumen.ones(2, 3))
    with pytest.raises(RuntimeError):
        torch.linalg.solve(torch.eye(3), torch.ones(2, 3))


def test_singular_values_of_a_singular_matrix_and_logdet_signs():
    s = lumen.tensor(np.diag([2.0, 0.0, 1.0]))
    sign, lad = LA.slogdet(s)
    ts, tl = torch.linalg.slogdet(torch.tensor(np.diag([2.0, 0.0, 1.0])))
    assert float(sign) == float(ts) and float(lad) == float(tl)
    neg = np.diag([-1.0, 2.0, 3.0])
    assert np.isnan(float(lumen.logdet(lumen.tensor(neg)))) and np.isnan(float(torch.logdet(torch.tensor(neg))))
    assert float(LA.det(s)) == 0.0


def test_tensor_methods_and_top_level_aliases():
    a = well_conditioned(3, 3)
    la, ta = lumen.tensor(a), torch.tensor(a)
    for name in ("inverse", "det", "logdet", "pinverse", "matrix_exp"):
        np.testing.assert_allclose(getattr(la, name)().numpy(), getattr(ta, name)().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(getattr(lumen, name)(la).numpy(), getattr(torch, name)(ta).numpy(), rtol=1e-10,
                                   atol=1e-12)
    np.testing.assert_allclose(la.slogdet()[1].numpy(), ta.slogdet()[1].numpy())
    np.testing.assert_allclose(lumen.slogdet(la).logabsdet.numpy(), torch.slogdet(ta).logabsdet.numpy())


@pytest.mark.parametrize("dims", [2, 1, 0, ([1, 0], [0, 1]), ([2], [0])])
def test_tensordot(dims):
    a = RNG.standard_normal((2, 3, 4))
    b = RNG.standard_normal((3, 2, 5)) if dims == ([1, 0], [0, 1]) else RNG.standard_normal((4, 5)) \
        if dims == ([2], [0]) else RNG.standard_normal((3, 4, 5)) if dims == 2 else RNG.standard_normal((4, 3)) \
        if dims == 1 else RNG.standard_normal((2,))
    compare(lambda x, y: lumen.tensordot(x, y, dims), lambda x, y: torch.tensordot(x, y, dims), a, b)
    with pytest.raises(RuntimeError, match="contracted dimensions need to match"):
        lumen.tensordot(lumen.tensor(a), lumen.tensor(a), 1)


def test_inner_vdot_kron_renorm():
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((4, 3))
    compare(lumen.inner, torch.inner, a, b)
    compare(lumen.inner, torch.inner, np.array(1.5), b)
    compare(lambda x, y: x.inner(y), lambda x, y: x.inner(y), a[0], b[1])
    compare(lumen.vdot, torch.vdot, a[0], b[0])
    with pytest.raises(RuntimeError, match="1D tensors expected"):
        lumen.vdot(lumen.tensor(a), lumen.tensor(a[0]))
    compare(lumen.kron, torch.kron, a, b)
    compare(lumen.kron, torch.kron, a, b[0])
    compare(lambda x, y: x.kron(y), lambda x, y: x.kron(y), RNG.standard_normal((2, 1, 2)), a)
    x = RNG.standard_normal((3, 4, 2)) * 2
    for p, dim, maxnorm in ((2, 0, 1.0), (1, 2, 2.0), (3, 1, 100.0)):
        compare(lambda t: lumen.renorm(t, p, dim, maxnorm), lambda t: torch.renorm(t, p, dim, maxnorm), x)
        np.testing.assert_allclose(lumen.tensor(x).renorm_(p, dim, maxnorm).numpy(),
                                   torch.tensor(x).renorm_(p, dim, maxnorm).numpy(), rtol=1e-12)


@pytest.mark.parametrize("fn", ["trapezoid", "trapz", "cumulative_trapezoid"])
def test_trapezoid_family(fn):
    y = RNG.standard_normal((3, 5))
    lf, tf = getattr(lumen, fn), getattr(torch, fn)
    compare(lf, tf, y)
    compare(lambda t: lf(t, dx=0.5, dim=0), lambda t: tf(t, dx=0.5, dim=0), y)
    x = np.sort(RNG.standard_normal(5))
    compare(lambda t, s: lf(t, s), lambda t, s: tf(t, s), y, x)
    compare(lambda t, s: lf(t, s, dim=1), lambda t, s: tf(t, s, dim=1), y, np.sort(RNG.standard_normal((3, 5)), 1))
    with pytest.raises(TypeError, match="dx="):
        lf(lumen.tensor(y), 0.25)
    with pytest.raises(TypeError):
        tf(torch.tensor(y), 0.25)


def test_cov_and_corrcoef():
    x = RNG.standard_normal((3, 6))
    compare(lumen.cov, torch.cov, x)
    compare(lambda t: lumen.cov(t, correction=0), lambda t: torch.cov(t, correction=0), x)
    compare(lumen.cov, torch.cov, x[0])
    fw, aw = np.array([1, 2, 1, 3, 1, 2]), RNG.uniform(0.1, 1, 6)
    for kwargs in ({"fweights": fw}, {"aweights": aw}, {"fweights": fw, "aweights": aw, "correction": 2}):
        lk = {k: lumen.tensor(v) for k, v in kwargs.items() if k != "correction"}
        tk = {k: torch.tensor(v) for k, v in kwargs.items() if k != "correction"}
        c = kwargs.get("correction", 1)
        compare(lambda t: lumen.cov(t, correction=c, **lk), lambda t: torch.cov(t, correction=c, **tk), x)
    compare(lumen.corrcoef, torch.corrcoef, x)
    compare(lambda t: t.corrcoef(), lambda t: t.corrcoef(), x[:2], numeric=False)
    np.testing.assert_allclose(lumen.tensor(x).cov().numpy(), torch.tensor(x).cov().numpy(), rtol=1e-12)
    ints = np.array([[1, 2, 4], [3, 1, 0]])
    lc, tc = lumen.cov(lumen.tensor(ints)), torch.cov(torch.tensor(ints))
    assert lc.dtype.name == str(tc.dtype).split(".")[1]
    np.testing.assert_allclose(lc.numpy(), tc.numpy(), rtol=1e-6)


# name -> (function of tensors, input shapes, input range): this file's ops and those of test_math_more on the
# cuda device against the CPU
CUDA_OPS = {
    "inv_det_slogdet": (lambda a: LA.inv(a).sum(-1) + LA.det(a).unsqueeze(-1) + LA.slogdet(a)[1].unsqueeze(-1),
                        [(2, 3, 3)], (1.0, 2.0)),
    "solve_cholesky": (lambda a, b: LA.solve(a @ a.mT + 3 * lumen.eye(3, dtype=a.dtype, device=a.device), b)
                       + LA.cholesky(a @ a.mT + lumen.eye(3, dtype=a.dtype, device=a.device))[..., :1],
                       [(2, 3, 3), (2, 3, 1)], (-1.0, 1.0)),
    "qr_svdvals_eigvalsh": (lambda a: LA.qr(a).R.sum(0) + LA.svd(a, False).S + LA.eigvalsh(a.mT @ a),
                            [(4, 3)], (-1.0, 1.0)),
    "pinv_matrix_exp": (lambda a: LA.pinv(a).sum(1) + LA.matrix_exp(a[:3] / 3).sum(0), [(4, 3)], (-1.0, 1.0)),
    "products": (lambda a, b: lumen.kron(a, b).sum(0)[:3] + lumen.tensordot(a, b, ([1], [1])).sum(0)
                 + lumen.renorm(a, 2, 0, 0.5).sum(0), [(3, 3), (3, 3)], (-1.0, 1.0)),
    "cov_trapezoid": (lambda a: lumen.cov(a).sum(0) + lumen.trapezoid(a) + lumen.cumulative_trapezoid(a).sum(-1)[:3],
                      [(3, 5)], (-1.0, 1.0)),
    "math_more": (lambda a, b: lumen.xlogy(a, b) + lumen.logaddexp(a, b) + lumen.copysign(a, b - 1.5)
                  + lumen.fmax(a, b) + lumen.sinc(a) + lumen.lgamma(b) + lumen.digamma(b) + lumen.logit(a.sigmoid()),
                  [(3, 4), (3, 4)], (0.2, 2.0)),
    "reductions_more": (lambda a: lumen.nansum(a, 1) + lumen.nanmean(a, 1) + lumen.std_mean(a, 1)[0]
                        + lumen.logcumsumexp(a, 1)[:, -1] + lumen.aminmax(a, dim=1).max, [(3, 5)], (-2.0, 2.0)),
}


@pytest.mark.cuda
@pytest.mark.parametrize("name", sorted(CUDA_OPS))
def test_ops_on_cuda_match_cpu(name):
    pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")
    fn, shapes, (low, high) = CUDA_OPS[name]
    results = {}
    for device in ("cpu", "cuda"):
        rng = np.random.default_rng(len(shapes))
        xs = [lumen.tensor(rng.uniform(low, high, s), dtype=lumen.float64, device=device, requires_grad=True)
              for s in shapes]
        y = fn(*xs)
        assert y.device.type == device
        w = lumen.tensor(np.random.default_rng(9).standard_normal(tuple(y.shape)), dtype=lumen.float64, device=device)
        (y * w).sum().backward()
        results[device] = [y.detach().cpu().numpy()] + [x.grad.cpu().numpy() for x in xs]
    for got, want in zip(results["cuda"], results["cpu"]):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)


@pytest.mark.cuda
def test_logic_and_predicates_on_cuda_match_cpu():
    pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")
    data = np.array([[0.0, -0.0, 1.0, -2.5], [np.inf, -np.inf, np.nan, 3.0]])
    ints = np.array([[0, 1, -3, 12], [7, -8, 5, 2]])
    checks = (lambda x, i: lumen.isinf(x) | lumen.isposinf(x) ^ lumen.signbit(x),
              lambda x, i: lumen.isin(i, i[0]) & lumen.logical_xor(x, i),
              lambda x, i: (i << 2) + (i >> 1) + lumen.gcd(i, i.flip(1)) + lumen.bitwise_not(i),
              lambda x, i: lumen.nan_to_num(x, posinf=7.0) + lumen.heaviside(x, x.new_ones(())),
              lambda x, i: lumen.frexp(lumen.nan_to_num(x)).mantissa + lumen.eq(x, 1.0))
    for check in checks:
        got = check(lumen.tensor(data, device="cuda"), lumen.tensor(ints, device="cuda"))
        want = check(lumen.tensor(data), lumen.tensor(ints))
        assert got.device.type == "cuda"
        np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())


@pytest.mark.parametrize("rank", [0, 1, 2])
def test_det_gradient_of_singular_matrices_is_torchs(rank):
    rng = np.random.default_rng(rank)
    a = np.zeros((3, 3)) if rank == 0 else rng.standard_normal((3, rank)) @ rng.standard_normal((rank, 3))
    a = np.stack([a, rng.standard_normal((3, 3))])
    compare(LA.det, torch.linalg.det, a, numeric=False)
    lx = lumen.tensor(a, requires_grad=True)
    LA.det(lx).sum().backward()
    assert np.isfinite(lx.grad.numpy()).all()


def test_svd_full_matrices_ignores_the_extra_columns_gradient_as_torch():
    a = RNG.standard_normal((4, 3))
    lx, tx = lumen.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    w = RNG.standard_normal((4, 4))
    w[:, 3] = 0  # the extra column's sign is arbitrary; with or without its gradient the rest must agree
    (gauge(LA.svd(lx).U) * lumen.tensor(w)).sum().backward()
    (gauge(torch.linalg.svd(tx).U) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    ly = lumen.tensor(a, requires_grad=True)
    LA.svd(ly).U[:, 3].sum().backward()
    assert not ly.grad.numpy().any()


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_and_inverse(upper):
    factor = np.linalg.cholesky(spd(2, 3, 3))
    factor = np.swapaxes(factor, -1, -2) if upper else factor
    b = RNG.standard_normal((2, 3, 2))
    compare(lambda f, y: lumen.cholesky_solve(y, f, upper), lambda f, y: torch.cholesky_solve(y, f, upper), factor, b)
    compare(lambda f: lumen.cholesky_inverse(f[0], upper), lambda f: torch.cholesky_inverse(f[0], upper), factor)
    np.testing.assert_allclose(lumen.tensor(b).cholesky_solve(lumen.tensor(factor), upper).numpy(),
                               torch.tensor(b).cholesky_solve(torch.tensor(factor), upper).numpy(), rtol=1e-10)
