"""The kernels that synchronise with ``__syncthreads`` give bitwise-identical results whatever order their
threads run in.

Emulated (``--cuda-emulator``), each case runs under the forward, the reverse and three seeded random thread
and block orders; a missing or misplaced barrier changes the result under some of them (and shared memory
starts as NaN, so reading a tile before it is written shows). On a GPU the hardware picks the schedule: the
case runs three times and must repeat bit for bit (these kernels use no atomics).
"""
import contextlib

import numpy as np
import pytest

from cuda_emu import emulated

pytestmark = pytest.mark.cuda
cupy = pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")

from lumen.backends.cuda import CupyBackend  # noqa: E402 (after the CuPy check)
from lumen.backends.cuda import conv as gconv  # noqa: E402

if emulated(cupy):
    from cuda_emu import build, runtime

    SCHEDULES = [("forward", 0), ("reverse", 0), ("random", 1), ("random", 2), ("random", 3)]
    if build.sanitizer() == "thread":  # OS threads in the OS's order: ThreadSanitizer judges one run of each
        SCHEDULES = SCHEDULES[:1]
else:
    SCHEDULES = [None] * 3


def _schedule(order):
    return contextlib.nullcontext() if order is None else runtime.thread_order(*order)


def _same_under_every_schedule(run):
    results = []
    for order in SCHEDULES:
        with _schedule(order):
            out = run()
        results.append([cupy.asnumpy(o) for o in (out if isinstance(out, tuple) else (out,))])
    first = results[0]
    assert not any(np.isnan(a).any() for a in first), "NaN in the result: a tile read before it was written"
    for order, result in zip(SCHEDULES[1:], results[1:]):
        for a, b in zip(first, result):
            assert a.tobytes() == b.tobytes(), f"{order} differs from {SCHEDULES[0]}"


# (N, C, H, W, O, kh, kw, stride, padding, groups): reductions of several BK slices with a partial last one,
# partial M and N tiles, more than one group, and a backward-filter reduction split over several blocks.
IGEMM_CASES = [
    (2, 5, 9, 7, 70, 3, 3, (1, 1), (1, 1), 1),
    (3, 6, 8, 8, 4, 3, 2, (2, 1), (1, 0), 2),
    (2, 3, 24, 24, 5, 3, 3, (1, 1), (1, 1), 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("case", IGEMM_CASES)
def test_implicit_gemm_is_order_independent(case, dtype):
    N, C, H, W, O, kh, kw, stride, padding, groups = case
    rng = np.random.default_rng(0)
    geo = (stride, padding, (1, 1), groups)
    x = cupy.asarray(rng.standard_normal((N, C, H, W)).astype(dtype))
    w = cupy.asarray((rng.standard_normal((O, C // groups, kh, kw)) * 0.3).astype(dtype))
    b = cupy.asarray(rng.standard_normal(O).astype(dtype))
    y = gconv.conv2d_forward(x, w, b, *geo, algo="implicit")
    gy = cupy.asarray(rng.standard_normal(y.shape).astype(dtype))
    _same_under_every_schedule(lambda: gconv.conv2d_forward(x, w, b, *geo, algo="implicit"))
    _same_under_every_schedule(lambda: gconv.conv2d_backward_data(gy, w, x.shape, *geo, algo="implicit"))
    _same_under_every_schedule(lambda: gconv.conv2d_backward_filter(x, gy, w.shape, *geo, algo="implicit"))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("classes", [3, 700])
def test_softmax_cross_entropy_rows_is_order_independent(classes, dtype):
    # One position per image: the block-per-row kernel with its shared-memory tree reduction.
    rng = np.random.default_rng(classes)
    be = CupyBackend()
    x = cupy.asarray((rng.standard_normal((5, classes)) * 3).astype(dtype))
    t = cupy.asarray(rng.integers(0, classes, 5).astype(np.int64))
    _same_under_every_schedule(lambda: be.softmax_cross_entropy_forward(x, t, -100))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_cross_entropy_rows_with_blocks_looping_over_rows(dtype):
    # The host launches one block per row up to 262,140 rows; beyond that each block loops over several rows,
    # and the barrier at the end of the loop body guards the shared arrays between rows. A grid of 2 blocks
    # for 7 rows reaches that loop at a small size.
    from lumen.backends.cpu import loss as cpu_loss
    from lumen.backends.cuda import _module as km

    rng = np.random.default_rng(7)
    x = (rng.standard_normal((7, 300)) * 3).astype(dtype)
    t = rng.integers(0, 300, 7).astype(np.int64)
    t[2] = -100
    loss_ref, logp_ref = cpu_loss.softmax_cross_entropy_forward(x, t, -100)
    fn = km.kernel("softmax_ce.cu", "sce_fwd_rows", dtype, "softmax_cross_entropy_forward")
    xd, td = cupy.asarray(x), cupy.asarray(t)

    def run():
        loss, logp, bad = cupy.empty(7, dtype), cupy.empty_like(xd), cupy.zeros((), np.int32)
        fn((2,), (256,), (xd, td, loss, logp, bad, np.int64(7), np.int32(300), np.int64(1), np.int64(-100)))
        return loss, logp, bad

    _same_under_every_schedule(run)
    loss, logp, bad = run()
    tol = dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(cupy.asnumpy(loss), loss_ref, **tol)
    np.testing.assert_allclose(cupy.asnumpy(logp), logp_ref, **tol)
    assert int(bad) == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_max_pool_backward_is_order_independent_when_deterministic(dtype):
    # Overlapping 3x3 windows at stride 1 route several outputs to one input. The default backward adds them
    # with atomics in whatever order the threads run (the emulator's orders change the last bits); the
    # deterministic switch takes the fixed-order kernel.
    from lumen.backends import conv as conv_settings
    from lumen.backends.cpu import pool as cpu_pool

    be = CupyBackend()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    geometry = ((3, 3), (1, 1), (1, 1), (1, 1), False)
    _, idx = be.max_pool2d_forward(cupy.asarray(x), *geometry)
    gy = rng.standard_normal(idx.shape).astype(dtype)
    with conv_settings.flags(deterministic=True):
        _same_under_every_schedule(lambda: be.max_pool2d_backward(cupy.asarray(gy), idx, x.shape))
        gx = cupy.asnumpy(be.max_pool2d_backward(cupy.asarray(gy), idx, x.shape))
    ref = cpu_pool.max_pool2d_backward(gy.astype(np.float32) if dtype == np.float16 else gy, cupy.asnumpy(idx),
                                       x.shape)
    tol = {np.float64: 1e-12, np.float32: 1e-5, np.float16: 3e-2}[dtype]
    np.testing.assert_allclose(gx.astype(np.float64), ref.astype(np.float64), rtol=tol, atol=tol)
