"""Every primitive of the CUDA backend against the CPU backend (or a numpy formula where only CUDA has it), in
float16, float32 and float64, forward and backward; and the backward primitives fed the CPU's forward outputs,
so that each one is checked on its own.

Marked ``cuda``: a GPU run when CuPy sees one, an emulated run under ``--cuda-emulator`` (kernels and host
code checked, not cuBLAS numerics or speed). A primitive added to the CUDA backend without a case here fails
``test_every_primitive_has_a_case``.
"""
import numpy as np
import pytest

pytestmark = pytest.mark.cuda
cupy = pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")

from lumen.backends.base import ARRAY_PRIMITIVES  # noqa: E402 (after the CuPy check)
from lumen.backends.cpu import NumpyBackend  # noqa: E402
from lumen.backends.cuda import CupyBackend  # noqa: E402
from lumen.backends.cuda import conv as gconv  # noqa: E402

DTYPES = [np.float16, np.float32, np.float64]
TOL = {np.float16: dict(rtol=3e-2, atol=3e-2), np.float32: dict(rtol=2e-4, atol=2e-4),
       np.float64: dict(rtol=1e-9, atol=1e-10)}
CPU = NumpyBackend()
CONV_GEOMETRY = ((2, 1), (1, 2), (1, 2), 2)  # stride, padding, dilation, groups


@pytest.fixture(scope="module")
def gpu():
    return CupyBackend()


def _ref_dtype(dtype):
    # The CPU reference of a float16 computation is the float32 one (the kernels accumulate float16 in float32).
    return np.float32 if dtype == np.float16 else dtype


def _to(backend, args):
    return tuple(backend.asarray(a) if isinstance(a, np.ndarray) else a for a in args)


def _host(out):
    return tuple(cupy.asnumpy(o) for o in out) if isinstance(out, tuple) else cupy.asnumpy(out)


def _compare(got, want, dtype, case=None):
    if case in CANONICAL:
        got, want = CANONICAL[case](*got), CANONICAL[case](*want)
    got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        if np.issubdtype(w.dtype, np.integer):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
        else:
            assert g.dtype == dtype
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), **TOL[dtype])


def _conv_inputs(rng, dtype):
    x = rng.standard_normal((2, 4, 9, 8)).astype(dtype)
    w = (rng.standard_normal((6, 2, 3, 2)) * 0.5).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    y = CPU.conv2d_forward(x.astype(_ref_dtype(dtype)), w.astype(_ref_dtype(dtype)), None, *CONV_GEOMETRY)
    gy = rng.standard_normal(y.shape).astype(dtype)
    return x, w, b, gy


def _pool_inputs(rng, dtype):
    x = rng.standard_normal((2, 3, 9, 7)).astype(dtype)
    geometry = ((3, 2), (2, 2), (1, 1), (1, 1), True)  # kernel, stride, padding, dilation, ceil_mode
    y, idx = CPU.max_pool2d_forward(x.astype(_ref_dtype(dtype)), *geometry)
    return x, geometry, rng.standard_normal(y.shape).astype(dtype), idx


AVG = ((3, 3), (2, 2), (1, 1), True, False, None)  # kernel, stride, padding, ceil_mode, count_include_pad, div
LRN = (5, 1e-2, 0.75, 2.0)  # size, alpha, beta, k


def _lrn_inputs(rng, dtype):
    x = rng.standard_normal((2, 7, 3, 4)).astype(dtype)
    y, scale = CPU.lrn_forward(x.astype(_ref_dtype(dtype)), *LRN)
    return x, y.astype(dtype), scale.astype(dtype), rng.standard_normal(x.shape).astype(dtype)


def _bn_inputs(rng, dtype):
    x = (rng.standard_normal((3, 4, 10)) * 2 + 1).astype(dtype)
    w, b = rng.standard_normal(4).astype(dtype), rng.standard_normal(4).astype(dtype)
    _, mean, _, invstd = CPU.batch_norm_forward(x.astype(_ref_dtype(dtype)), w, b, 1e-5)
    return x, w, b, mean.astype(dtype), invstd.astype(dtype), rng.standard_normal(x.shape).astype(dtype)


def _sce_inputs(rng, dtype, shape):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    t = rng.integers(0, shape[1], (shape[0],) + shape[2:]).astype(np.int64)
    t.flat[::4] = -100
    _, logp = CPU.softmax_cross_entropy_forward(x.astype(_ref_dtype(dtype)), t, -100)
    return x, t, logp.astype(dtype), rng.random(t.shape).astype(dtype)


# name -> rng, dtype -> (host arguments, numpy reference or None for "the CPU backend's primitive")
CASES = {
    "conv2d_forward": lambda r, d: ((lambda x, w, b, gy: (x, w, b, *CONV_GEOMETRY))(*_conv_inputs(r, d)), None),
    "conv2d_backward_data": lambda r, d: ((lambda x, w, b, gy: (gy, w, x.shape, *CONV_GEOMETRY))(
        *_conv_inputs(r, d)), None),
    "conv2d_backward_filter": lambda r, d: ((lambda x, w, b, gy: (x, gy, w.shape, *CONV_GEOMETRY))(
        *_conv_inputs(r, d)), None),
    "max_pool2d_forward": lambda r, d: ((lambda x, g, gy, idx: (x, *g))(*_pool_inputs(r, d)), None),
    "max_pool2d_backward": lambda r, d: ((lambda x, g, gy, idx: (gy, idx, x.shape))(*_pool_inputs(r, d)), None),
    "avg_pool2d_forward": lambda r, d: ((r.standard_normal((2, 3, 8, 7)).astype(d), *AVG), None),
    "avg_pool2d_backward": lambda r, d: ((r.standard_normal((2, 3, 5, 4)).astype(d), (2, 3, 8, 7), *AVG), None),
    "batch_norm_forward": lambda r, d: ((*_bn_inputs(r, d)[:3], 1e-5), None),
    "batch_norm_forward/no_affine": lambda r, d: ((_bn_inputs(r, d)[0], None, None, 1e-5), None),
    "batch_norm_backward": lambda r, d: ((lambda x, w, b, m, i, gy: (x, m, i, w, gy))(*_bn_inputs(r, d)), None),
    "lrn_forward": lambda r, d: ((_lrn_inputs(r, d)[0], *LRN), None),
    "lrn_backward": lambda r, d: ((*_lrn_inputs(r, d), *LRN), None),
    "softmax_cross_entropy_forward": lambda r, d: ((*_sce_inputs(r, d, (3, 5, 4, 2))[:2], -100), None),
    "softmax_cross_entropy_forward/rows": lambda r, d: ((*_sce_inputs(r, d, (6, 300))[:2], -100), None),
    "softmax_cross_entropy_backward": lambda r, d: ((lambda x, t, lp, gl: (lp, t, gl, -100))(
        *_sce_inputs(r, d, (3, 5, 4, 2))), None),
    "relu_backward": lambda r, d: ((r.standard_normal((4, 5)).astype(d), r.standard_normal((4, 5)).astype(d)), None),
    "matmul": lambda r, d: ((r.standard_normal((2, 3, 4)).astype(d), r.standard_normal((4, 5)).astype(d)), None),
    "svd": lambda r, d: ((r.standard_normal((2, 5, 3)).astype(d),), None),
    "lgamma": lambda r, d: ((r.uniform(0.2, 4, 7).astype(d),), None),
    "digamma": lambda r, d: ((r.uniform(0.2, 4, 7).astype(d),), None),
    "polygamma": lambda r, d: ((2, r.uniform(0.5, 4, 7).astype(d)), None),
    "erf": lambda r, d: ((r.standard_normal(7).astype(d),), None),
    "erfc": lambda r, d: ((r.standard_normal(7).astype(d),), None),
    "erfinv": lambda r, d: ((r.uniform(-0.9, 0.9, 7).astype(d),), None),
    "relu": lambda r, d: (lambda x: ((x,), np.maximum(x, 0)))(r.standard_normal((3, 4)).astype(d)),
    "bias_add": lambda r, d: (lambda x, b: ((x, b), x + b[None, :, None]))(
        r.standard_normal((2, 3, 5)).astype(d), r.standard_normal(3).astype(d)),
    "crop": lambda r, d: (lambda x: ((x, 1, 2, 3, 2), x[:, :, 1:4, 2:4]))(r.standard_normal((2, 3, 5, 6)).astype(d)),
}
def _spd(r, d, n=4):
    a = r.standard_normal((2, n, n))
    return (a @ a.transpose(0, 2, 1) + n * np.eye(n)).astype(d)


for _op, _args in {"inv": lambda r, d: (_spd(r, d),), "det": lambda r, d: (_spd(r, d),),
                   "slogdet": lambda r, d: (_spd(r, d),), "cholesky": lambda r, d: (_spd(r, d),),
                   "solve": lambda r, d: (_spd(r, d), r.standard_normal((2, 4, 3)).astype(d)),
                   "eigh": lambda r, d: (_spd(r, d),), "qr": lambda r, d: (r.standard_normal((2, 5, 3)).astype(d),)}.items():
    CASES[f"linalg/{_op}"] = lambda r, d, op=_op, args=_args: ((op, *args(r, d)), None)
IN_PLACE = {  # name -> rng, dtype -> (host arguments, index of the updated argument, numpy reference or None)
    "bias_relu_": lambda r, d: (lambda y, b: ((y, b), 0, np.maximum(y + b[None, :, None, None], 0)))(
        r.standard_normal((2, 3, 4, 2)).astype(d), r.standard_normal(3).astype(d)),
    "scatter_add": lambda r, d: (((np.zeros(5, d), (np.array([0, 3, 3, 1, 0]),), r.standard_normal(5).astype(d)),
                                  0, None)),
}
for _reduce in ("sum", "prod", "amax", "amin"):
    IN_PLACE[f"scatter_reduce/{_reduce}"] = lambda r, d, how=_reduce: (
        (r.uniform(0.5, 1.5, (3, 4)).astype(d), (np.array([0, 2, 2, 0, 2]), np.array([1, 1, 1, 3, 1])),
         r.uniform(0.5, 1.5, 5).astype(d), how), 0, None)
# Outputs defined up to a choice the library makes (the signs of singular vectors), made comparable.
CANONICAL = {"svd": lambda u, s, vh: (s, (u * s[..., None, :]) @ vh), "linalg/eigh": lambda w, v: (w, abs(v)),
             "linalg/qr": lambda q, r: (abs(q), abs(r))}
# numpy.linalg and cuSOLVER have no float16.
NO_FLOAT16 = {"svd", "linalg"}
# Not compared value for value: random draws (checked by their distribution), the array plumbing (addresses:
# test_array_addresses), the error type.
NOT_COMPARED = {"LinAlgError", "data_ptr", "storage_offset", "asarray", "to_numpy", "owns", "format_array", "name", "random", "xp", "dropout_mask"}


def test_every_primitive_has_a_case():
    primitives = {n for n in dir(CupyBackend) if not n.startswith("_")} - set(ARRAY_PRIMITIVES) - NOT_COMPARED
    covered = {n.split("/")[0] for n in (*CASES, *IN_PLACE)}
    assert not primitives - covered, f"CUDA primitives without a parity case: {sorted(primitives - covered)}"


@pytest.mark.parametrize("case,dtype", [(c, d) for c in sorted(CASES) for d in DTYPES
                                        if not (d == np.float16 and c.split("/")[0] in NO_FLOAT16)])
def test_primitive_matches_the_cpu_backend(case, dtype, gpu):
    name = case.split("/")[0]
    host_args, reference = CASES[case](np.random.default_rng(len(case)), dtype)
    if reference is None:
        ref_args = tuple(a.astype(_ref_dtype(dtype)) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
                         for a in host_args)
        reference = getattr(CPU, name)(*ref_args)
    if name.startswith("conv2d_"):
        for algo in gconv.ALGORITHMS:
            _compare(_host(getattr(gconv, name)(*_to(gpu, host_args), algo=algo)), reference, dtype)
    else:
        _compare(_host(getattr(gpu, name)(*_to(gpu, host_args))), reference, dtype, case)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(IN_PLACE))
def test_in_place_primitive_matches_the_cpu_backend(case, dtype, gpu):
    name = case.split("/")[0]
    host_args, updated, reference = IN_PLACE[case](np.random.default_rng(len(case)), dtype)
    if reference is None:
        ref_args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in host_args)
        getattr(CPU, name)(*ref_args)
        reference = ref_args[updated]
    device_args = tuple(gpu.asarray(a) if isinstance(a, np.ndarray) else
                        tuple(gpu.asarray(i) for i in a) if isinstance(a, tuple) else a for a in host_args)
    getattr(gpu, name)(*device_args)
    _compare(cupy.asnumpy(device_args[updated]), reference, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_mask(dtype, gpu):
    m = cupy.asnumpy(gpu.dropout_mask((200, 50), 0.25, dtype, gpu.random.generator(1)))
    assert m.dtype == dtype and set(np.unique(m)) == {dtype(0), dtype(1 / 0.75)}
    assert abs((m == 0).mean() - 0.25) < 0.03
    assert not cupy.asnumpy(gpu.dropout_mask((3,), 1.0, dtype, gpu.random.generator(1))).any()


def test_array_addresses(gpu):
    x = np.arange(24.0).reshape(4, 6)
    for backend, a in ((CPU, x), (gpu, gpu.asarray(x))):
        view = a[1:, 2:]
        assert backend.storage_offset(a) == 0 and backend.storage_offset(view) == 8
        assert backend.data_ptr(view) - backend.data_ptr(a) == 8 * x.itemsize
