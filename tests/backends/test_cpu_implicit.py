"""The implicit-GEMM convolution and the BLAS binding under it, against im2col and NumPy."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lumen
import lumen.nn.functional as F
from lumen.backends import conv as conv_settings
from lumen.backends.cpu import blas, conv, implicit, parallel

BOUND = {np.float32: 1e-6, np.float64: 1e-13}  # relative to the largest sum of |x| * |w|
TABLES = {"numpy": blas._NUMPY_GEMM, "scipy": blas._scipy_blas()}


@pytest.fixture(autouse=True)
def _default_selector():
    with conv_settings.flags():
        yield


def _all_three(x, w, gy, padding, dilation, algo):
    conv_settings.algorithm = algo
    args = ((1, 1), padding, dilation, 1)
    return (conv.conv2d_forward(x, w, None, *args), conv.conv2d_backward_data(gy, w, x.shape, *args),
            conv.conv2d_backward_filter(x, gy, w.shape, *args))


geometry = st.tuples(st.integers(1, 2), st.integers(1, 6), st.integers(1, 6),  # n, c, o
                     st.integers(1, 12), st.integers(1, 12), st.integers(1, 4), st.integers(1, 4),  # h, w, kh, kw
                     st.integers(0, 3), st.integers(0, 3), st.integers(1, 2), st.integers(1, 2))  # ph, pw, dh, dw


@settings(max_examples=40, deadline=None)
@given(g=geometry, dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 16))
def test_implicit_matches_im2col(g, dtype, seed):
    n, c, o, h, wd, kh, kw, ph, pw, dh, dw = g
    ho, wo = h + 2 * ph - dh * (kh - 1), wd + 2 * pw - dw * (kw - 1)
    assume(ho >= 1 and wo >= 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, wd))
    w = rng.standard_normal((o, c, kh, kw))
    gy = rng.standard_normal((n, o, ho, wo))
    ref = _all_three(x, w, gy, (ph, pw), (dh, dw), "im2col")
    scale = [r.max() for r in _all_three(np.abs(x), np.abs(w), np.abs(gy), (ph, pw), (dh, dw), "im2col")]
    got = _all_three(*(a.astype(dtype) for a in (x, w, gy)), (ph, pw), (dh, dw), "implicit")
    for r, s, y in zip(ref, scale, got):
        assert y.dtype == dtype and y.shape == r.shape and y.flags.c_contiguous
        assert np.abs(y - r).max() <= BOUND[dtype] * s


def test_implicit_is_what_runs_and_bands_cover_the_grid(monkeypatch):
    calls = []
    for name in ("forward", "backward_filter"):
        fn = getattr(implicit, name)
        monkeypatch.setattr(implicit, name, lambda *a, fn=fn, name=name: calls.append(name) or fn(*a))
    monkeypatch.setattr(implicit, "_MIN_BAND", 7)  # 7-pixel bands that do not divide the grid
    monkeypatch.setattr(implicit, "_BAND_BYTES", 1)
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)  # the layout copies split over threads too
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 2))
    gy = rng.standard_normal((2, 4, 9, 9))
    ref = _all_three(x, w, gy, (1, 1), (1, 1), "im2col")
    assert not calls
    got = _all_three(x, w, gy, (1, 1), (1, 1), "implicit")
    assert calls == ["forward", "forward", "backward_filter"]  # backward-data is a forward convolution
    for r, y in zip(ref, got):
        np.testing.assert_allclose(y, r, rtol=1e-12, atol=1e-12)


def test_implicit_adds_the_bias_in_its_copy():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    conv_settings.algorithm = "im2col"
    ref = conv.conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1), 1)
    conv_settings.algorithm = "implicit"
    np.testing.assert_allclose(conv.conv2d_forward(x, w, b, (1, 1), (1, 1), (1, 1), 1), ref, rtol=1e-12, atol=1e-12)


def test_conv2d_gradcheck_through_implicit():
    conv_settings.algorithm = "implicit"
    x = lumen.randn(2, 3, 6, 5, dtype=lumen.float64, requires_grad=True)
    w = lumen.randn(4, 3, 3, 2, dtype=lumen.float64, requires_grad=True)
    b = lumen.randn(4, dtype=lumen.float64, requires_grad=True)
    assert lumen.autograd.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=(1, 2), dilation=(2, 1)), (x, w, b))


# ---- blas.gemm / blas.matmul -------------------------------------------------------------------

@pytest.mark.parametrize("table", [k for k, v in TABLES.items() if v is not None])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb,tc", [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)])
@pytest.mark.parametrize("m,k,n,split", [(5, 7, 4, False), (9, 6, 3, True), (3, 6, 11, True),
                                         (1, 7, 5, False), (1, 7, 9, True), (6, 7, 1, True), (1, 4, 1, False)])
def test_gemm_layouts_and_beta(monkeypatch, table, dtype, ta, tb, tc, m, k, n, split):
    monkeypatch.setattr(blas, "_GEMM", TABLES[table])
    if table == "scipy":
        monkeypatch.setattr(blas, "_THREADS", None)  # no thread control over SciPy's OpenBLAS
    if split:  # cut into blocks on two threads, by rows (m > n) or by columns
        monkeypatch.setattr(blas, "SPLIT_MIN_MACS", 1)
        monkeypatch.setattr(parallel, "WORKERS", 2)
    threads = blas._THREADS[1]() if blas._THREADS else None
    rng = np.random.default_rng(3)

    def stored(shape, transposed):  # a (shape) view with contiguous rows, or a transposed one
        a = rng.standard_normal(shape[::-1] if transposed else shape).astype(dtype)
        return a.T if transposed else a

    a, b, c0 = stored((m, k), ta), stored((k, n), tb), stored((m, n), tc)
    out = c0.copy(order="F" if tc else "C")
    assert blas.gemm(a, b, out, beta=0.5) is out
    np.testing.assert_allclose(out, a @ b + 0.5 * c0, rtol=1e-5)
    # A window of a wider array: its row stride is the leading dimension.
    wide = rng.standard_normal((k, 3 * n)).astype(dtype)
    np.testing.assert_allclose(blas.gemm(a, wide[:, n:2 * n], np.empty((m, n), dtype)), a @ wide[:, n:2 * n], rtol=1e-5)
    if threads is not None:  # OpenBLAS's own thread count is back to what it was
        assert blas._THREADS[1]() == threads


def test_gemm_errors_name_the_problem():
    a = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match="gemm: expected arrays of one dtype.*float32, float64, float32"):
        blas.gemm(a, np.ones((3, 2)), np.empty((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"gemm: shapes \(2, 3\) @ \(2, 2\) -> \(2, 2\) do not match"):
        blas.gemm(a, np.ones((2, 2), np.float32), np.empty((2, 2), np.float32))
    with pytest.raises(ValueError, match="gemm: out .* is not a writeable BLAS matrix"):
        blas.gemm(a, np.ones((3, 2), np.float32), np.empty((4, 4), np.float32)[::2, ::2])


def test_gemm_copies_operands_blas_cannot_read():
    a = np.arange(24, dtype=np.float64).reshape(4, 6)[::2, ::3]  # neither rows nor columns contiguous
    b = np.broadcast_to(np.arange(2.0), (2, 2))  # zero row stride
    np.testing.assert_array_equal(blas.gemm(a, b, np.empty((2, 2))), a @ b)


@settings(max_examples=30, deadline=None)
@given(batch_a=st.sampled_from([(), (1,), (3,), (2, 3)]), batch_b=st.sampled_from([(), (3,), (2, 1)]),
       mkn=st.tuples(st.integers(1, 5), st.integers(0, 4), st.integers(1, 5)),
       dtype=st.sampled_from([np.float32, np.float64, np.float16]), beta=st.sampled_from([0.0, 1.0]),
       through_gemm=st.booleans())
def test_matmul_broadcasts_like_numpy(batch_a, batch_b, mkn, dtype, beta, through_gemm):
    # through_gemm: every product, however small, takes the per-matrix GEMM loop (not NumPy).
    blas_small = (blas._SMALL_MACS, blas._MANY)
    if through_gemm:
        blas._SMALL_MACS, blas._MANY = 0, 1 << 30
    try:
        batch = np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        return
    m, k, n = mkn
    rng = np.random.default_rng(4)
    a = rng.standard_normal(batch_a + (m, k)).astype(dtype)
    b = rng.standard_normal(batch_b + (k, n)).astype(dtype)
    out = rng.standard_normal(batch + (m, n)).astype(dtype)
    expected = np.matmul(a, b) + beta * out
    if beta == 0:
        out[...] = np.nan  # an uninitialised out must not leak through beta = 0, even when k == 0
    try:
        got = blas.matmul(a, b, out=out, beta=beta)
    finally:
        blas._SMALL_MACS, blas._MANY = blas_small
    assert got.shape == expected.shape and got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=1e-2 if dtype == np.float16 else 1e-5, atol=1e-2)


@pytest.mark.skipif(blas._THREADS is None, reason="no thread control over this BLAS")
def test_concurrent_callers_leave_openblas_thread_count_as_found(monkeypatch):
    import threading
    monkeypatch.setattr(blas, "SPLIT_MIN_MACS", 1)
    before = blas._THREADS[1]()
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((64, 48)), rng.standard_normal((48, 80))
    errors = []

    def worker():
        try:
            for _ in range(200):
                np.testing.assert_allclose(blas.gemm(a, b, np.empty((64, 80))), a @ b, rtol=1e-12)
        except AssertionError as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert blas._THREADS[1]() == before


def test_gemm_copies_operands_that_overlap_out():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    expected = a @ b
    np.testing.assert_allclose(blas.gemm(a, b, a), expected, rtol=1e-12)  # out is a
    c = rng.standard_normal((6, 6))
    expected = c.T @ c
    np.testing.assert_allclose(blas.gemm(c.T, c, c), expected, rtol=1e-12)  # out is both, one transposed


def test_zero_channel_convolution_is_zero_on_every_algorithm():
    x, w = np.ones((1, 0, 5, 5), np.float32), np.ones((3, 0, 3, 3), np.float32)
    for algo in conv.ALGORITHMS:
        conv_settings.algorithm = algo
        np.testing.assert_array_equal(conv.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1), 0)
