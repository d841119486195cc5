"""The CuPy backend against the NumPy backend, primitive by primitive.

Every test here is marked ``cuda``: it runs on a CUDA GPU when CuPy sees one, on the CPU emulator with
``pytest --cuda-emulator`` (tests/cuda_emu: kernels compiled as host C++, a strict CuPy double), and is skipped
with the reason otherwise (tests/conftest.py decides).
"""
import numpy as np
import pytest

pytestmark = pytest.mark.cuda
cupy = pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")

from lumen.backends.cpu import conv as cpu_conv  # noqa: E402 (after the CuPy check)
from lumen.backends.cpu import loss as cpu_loss  # noqa: E402
from lumen.backends.cpu import lrn as cpu_lrn  # noqa: E402
from lumen.backends.cpu import pool as cpu_pool  # noqa: E402
from lumen.backends.cuda import CupyBackend, available  # noqa: E402
from lumen.backends.cuda import conv as gconv  # noqa: E402

TOL = {np.float64: dict(rtol=1e-9, atol=1e-10), np.float32: dict(rtol=2e-4, atol=2e-4),
       np.float16: dict(rtol=2e-2, atol=2e-2)}


@pytest.fixture(scope="module")
def be():
    return CupyBackend()


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _close(gpu, ref, dtype, **kw):
    np.testing.assert_allclose(cupy.asnumpy(gpu).astype(np.float64),
                               np.asarray(ref).astype(np.float64), **{**TOL[dtype], **kw})


def test_available_and_arrays(be):
    assert available()
    a = np.arange(6.0).reshape(2, 3)
    g = be.asarray(a, dtype=np.float32)
    assert isinstance(g, cupy.ndarray) and g.dtype == np.float32
    np.testing.assert_array_equal(be.to_numpy(g), a.astype(np.float32))


def test_seed_reproducible_and_scatter_add(be):
    a = be.to_numpy(be.random.uniform(be.random.generator(3), (5,), np.float32))
    np.testing.assert_array_equal(a, be.to_numpy(be.random.uniform(be.random.generator(3), (5,), np.float32)))
    t = cupy.zeros(4)
    be.scatter_add(t, cupy.asarray([0, 2, 0, 0]), cupy.asarray([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(be.to_numpy(t), [8.0, 0.0, 2.0, 0.0])


# (N, C, H, W, O, kh, kw, stride, padding, dilation, groups): odd sizes, groups,
# strides, asymmetric padding/dilation, pointwise, depthwise, more than one tile.
CONV_CASES = [
    (2, 3, 7, 9, 5, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    (1, 4, 11, 6, 6, 3, 2, (2, 1), (1, 0), (1, 2), 2),
    (3, 6, 9, 9, 6, 3, 3, (2, 2), (2, 1), (2, 1), 6),
    (2, 8, 5, 5, 70, 1, 1, (1, 1), (0, 0), (1, 1), 1),
    (2, 8, 6, 7, 4, 1, 1, (2, 2), (0, 1), (1, 1), 2),
    (1, 3, 17, 13, 67, 5, 5, (3, 2), (2, 2), (1, 1), 1),
    (4, 66, 8, 8, 65, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    (1, 2, 4, 4, 3, 4, 4, (1, 1), (0, 0), (1, 1), 1),
]


@pytest.mark.parametrize("algo", ["gemm", "implicit"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_numpy(case, dtype, algo):
    N, C, H, W, O, kh, kw, stride, padding, dilation, groups = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = _rand(rng, (N, C, H, W), dtype)
    w = _rand(rng, (O, C // groups, kh, kw), dtype)
    b = _rand(rng, (O,), dtype)
    geo = (stride, padding, dilation, groups)
    y_ref = cpu_conv.conv2d_forward(x, w, b, *geo)
    y = gconv.conv2d_forward(cupy.asarray(x), cupy.asarray(w), cupy.asarray(b), *geo, algo=algo)
    assert y.shape == y_ref.shape and y.dtype == dtype
    _close(y, y_ref, dtype)
    gy = _rand(rng, y_ref.shape, dtype)
    gx = gconv.conv2d_backward_data(cupy.asarray(gy), cupy.asarray(w), x.shape, *geo, algo=algo)
    _close(gx, cpu_conv.conv2d_backward_data(gy, w, x.shape, *geo), dtype)
    gw = gconv.conv2d_backward_filter(cupy.asarray(x), cupy.asarray(gy), w.shape, *geo,
                                      algo=algo)
    _close(gw, cpu_conv.conv2d_backward_filter(x, gy, w.shape, *geo), dtype)


@pytest.mark.parametrize("algo", ["gemm", "implicit"])
def test_conv_float16(algo):
    rng = np.random.default_rng(0)
    x = _rand(rng, (2, 5, 9, 8), np.float16)
    w = (_rand(rng, (7, 5, 3, 3), np.float16) * 0.3).astype(np.float16)
    geo = ((1, 2), (1, 1), (1, 1), 1)
    y = gconv.conv2d_forward(cupy.asarray(x), cupy.asarray(w), None, *geo, algo=algo)
    assert y.dtype == np.float16
    ref = cpu_conv.conv2d_forward(x.astype(np.float32), w.astype(np.float32), None, *geo)
    _close(y, ref, np.float16)
    gy = _rand(rng, ref.shape, np.float16)
    gw = gconv.conv2d_backward_filter(cupy.asarray(x), cupy.asarray(gy), w.shape, *geo, algo=algo)
    ref_w = cpu_conv.conv2d_backward_filter(x.astype(np.float32), gy.astype(np.float32),
                                            w.shape, *geo)
    _close(gw, ref_w, np.float16, rtol=3e-2, atol=5e-2)


def test_gemm_chunks_the_batch(monkeypatch):
    rng = np.random.default_rng(1)
    x = _rand(rng, (5, 3, 10, 9), np.float64)
    w = _rand(rng, (4, 3, 3, 3), np.float64)
    geo = ((1, 1), (1, 1), (1, 1), 1)
    # Room for the columns of about two images: chunks of 2, 2, 1.
    monkeypatch.setattr(gconv, "workspace_limit", 2 * 3 * 9 * 90 * 8)
    y = gconv.conv2d_forward(cupy.asarray(x), cupy.asarray(w), None, *geo, algo="gemm")
    _close(y, cpu_conv.conv2d_forward(x, w, None, *geo), np.float64)
    gy = _rand(rng, y.shape, np.float64)
    gx = gconv.conv2d_backward_data(cupy.asarray(gy), cupy.asarray(w), x.shape, *geo,
                                    algo="gemm")
    _close(gx, cpu_conv.conv2d_backward_data(gy, w, x.shape, *geo), np.float64)
    gw = gconv.conv2d_backward_filter(cupy.asarray(x), cupy.asarray(gy), w.shape, *geo,
                                      algo="gemm")
    _close(gw, cpu_conv.conv2d_backward_filter(x, gy, w.shape, *geo), np.float64)


def test_benchmark_mode_caches_a_winner(be):
    from lumen.backends import conv as conv_settings
    conv_settings.clear_cache()
    rng = np.random.default_rng(2)
    x = _rand(rng, (2, 8, 12, 12), np.float32)
    w = _rand(rng, (16, 8, 3, 3), np.float32)
    geo = ((1, 1), (1, 1), (1, 1), 1)
    with conv_settings.flags(benchmark=True):
        y = be.conv2d_forward(cupy.asarray(x), cupy.asarray(w), None, *geo)
    _close(y, cpu_conv.conv2d_forward(x, w, None, *geo), np.float32)
    [(key, choice)] = conv_settings.CUDA.cache.items()
    assert key[0] == "forward" and choice in gconv.ALGORITHMS
    conv_settings.clear_cache()


def test_conv_bad_input_raises():
    x = cupy.zeros((1, 3, 5, 5), np.float32)
    with pytest.raises(ValueError, match="groups"):
        gconv.conv2d_forward(x, cupy.zeros((4, 2, 3, 3), np.float32), None, (1, 1), (0, 0),
                             (1, 1), 1)
    with pytest.raises(TypeError, match="dtype"):
        gconv.conv2d_forward(x, cupy.zeros((4, 3, 3, 3), np.float64), None, (1, 1), (0, 0),
                             (1, 1), 1)


# (shape, kernel, stride, padding, dilation, ceil_mode)
POOL_CASES = [
    ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 2, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((2, 2, 10, 7), (3, 2), (2, 3), (1, 0), (2, 1), True),
    ((1, 4, 5, 6), (3, 3), (3, 3), (0, 1), (1, 1), True),
]


@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool_matches_numpy(case, be):
    shape, k, s, p, d, ceil = case
    rng = np.random.default_rng(len(str(case)))
    x = _rand(rng, shape, np.float32)
    y_ref, i_ref = cpu_pool.max_pool2d_forward(x, k, s, p, d, ceil)
    y, idx = be.max_pool2d_forward(cupy.asarray(x), k, s, p, d, ceil)
    assert idx.dtype == np.int64
    _close(y, y_ref, np.float32)
    np.testing.assert_array_equal(cupy.asnumpy(idx), i_ref)
    gy = _rand(rng, y_ref.shape, np.float32)
    gx = be.max_pool2d_backward(cupy.asarray(gy), idx, shape)
    _close(gx, cpu_pool.max_pool2d_backward(gy, i_ref, shape), np.float32)


@pytest.mark.parametrize("count_include_pad,divisor", [(True, None), (False, None), (True, 5)])
@pytest.mark.parametrize("case", POOL_CASES)
def test_avg_pool_matches_numpy(case, count_include_pad, divisor, be):
    shape, k, s, p, _, ceil = case
    rng = np.random.default_rng(7)
    x = _rand(rng, shape, np.float64)
    args = (k, s, p, ceil, count_include_pad, divisor)
    y_ref = cpu_pool.avg_pool2d_forward(x, *args)
    y = be.avg_pool2d_forward(cupy.asarray(x), *args)
    _close(y, y_ref, np.float64)
    gy = _rand(rng, y_ref.shape, np.float64)
    gx = be.avg_pool2d_backward(cupy.asarray(gy), shape, *args)
    _close(gx, cpu_pool.avg_pool2d_backward(gy, shape, *args), np.float64)


@pytest.mark.parametrize("size", [1, 2, 5, 6])
@pytest.mark.parametrize("shape", [(2, 7, 3, 5), (3, 4, 2)])
def test_lrn_matches_numpy(size, shape, be):
    rng = np.random.default_rng(size)
    x = _rand(rng, shape, np.float64)
    args = (size, 1e-2, 0.75, 2.0)
    y_ref, s_ref = cpu_lrn.lrn_forward(x, *args)
    y, s = be.lrn_forward(cupy.asarray(x), *args)
    _close(y, y_ref, np.float64)
    _close(s, s_ref, np.float64)
    gy = _rand(rng, shape, np.float64)
    gx = be.lrn_backward(cupy.asarray(x), y, s, cupy.asarray(gy), *args)
    _close(gx, cpu_lrn.lrn_backward(x, y_ref, s_ref, gy, *args), np.float64)


@pytest.mark.parametrize("shape", [(5, 7), (3, 1000), (2, 5, 3, 4), (2, 21, 9)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_cross_entropy_matches_numpy(shape, dtype, be):
    rng = np.random.default_rng(shape[1])
    x = (_rand(rng, shape, dtype) * 4).astype(dtype)
    tshape = (shape[0],) + shape[2:]
    t = rng.integers(0, shape[1], tshape).astype(np.int64)
    t.flat[::3] = 255
    loss_ref, lp_ref = cpu_loss.softmax_cross_entropy_forward(x, t, 255)
    loss, lp = be.softmax_cross_entropy_forward(cupy.asarray(x), cupy.asarray(t), 255)
    _close(loss, loss_ref, dtype)
    _close(lp, lp_ref, dtype)
    assert not cupy.asnumpy(loss)[t == 255].any()
    gl = rng.random(tshape).astype(dtype)
    gx = be.softmax_cross_entropy_backward(lp, cupy.asarray(t), cupy.asarray(gl), 255)
    _close(gx, cpu_loss.softmax_cross_entropy_backward(lp_ref, t, gl, 255), dtype)


def test_softmax_cross_entropy_rejects_bad_target(be):
    x = cupy.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        be.softmax_cross_entropy_forward(x, cupy.asarray([1, 3]), -100)
    loss, _ = be.softmax_cross_entropy_forward(x, cupy.asarray([1, -100]), -100)
    assert float(loss[1]) == 0.0


def test_extras(be):
    rng = np.random.default_rng(4)
    y = _rand(rng, (2, 3, 4, 5), np.float32)
    b = _rand(rng, (3,), np.float32)
    expected = np.maximum(y + b[None, :, None, None], 0)
    g = cupy.asarray(y)
    assert be.bias_relu_(g, cupy.asarray(b)) is g
    _close(g, expected, np.float32)
    _close(be.bias_add(cupy.asarray(y), cupy.asarray(b)), y + b[None, :, None, None],
           np.float32)
    _close(be.relu(cupy.asarray(y)), np.maximum(y, 0), np.float32)
    _close(be.crop(cupy.asarray(y), 1, 2, 2, 3), y[:, :, 1:3, 2:5], np.float32)
    with pytest.raises(ValueError, match="crop"):
        be.crop(cupy.asarray(y), 3, 0, 2, 2)
    m = cupy.asnumpy(be.dropout_mask((400, 500), 0.3, np.float32, be.random.generator(0)))
    assert set(np.unique(m)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((m == 0).mean() - 0.3) < 0.01
