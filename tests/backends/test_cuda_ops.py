"""Lumen's ops on the ``cuda`` device against the same ops on the CPU device: values and input gradients.

The CUDA path of an op is its CPU path with another backend under it, so what differs is what the host code
does with device arrays: index tables, masks and constants built on the wrong device, numpy calls on device
arrays, dtype handling of CuPy's functions. Marked ``cuda``: a GPU run when CuPy sees one, an emulated run
under ``--cuda-emulator``.
"""
import numpy as np
import pytest

pytestmark = pytest.mark.cuda
pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")

import lumen  # noqa: E402 (after the CuPy check)
import lumen.nn.functional as F  # noqa: E402

# name -> (function of tensors, input shapes, input range)
OPS = {
    "add_broadcast": (lambda a, b: a + b, [(2, 3, 4), (3, 1)], (-1, 1)),
    "mul_div": (lambda a, b: a * b / (b.abs() + 1), [(2, 3), (2, 3)], (-1, 1)),
    "pow": (lambda a, b: a ** b, [(3, 4), (3, 4)], (0.5, 2)),
    "exp_log_sqrt": (lambda a: a.exp() + a.log() + a.sqrt(), [(5,)], (0.2, 2)),
    "tanh_sigmoid": (lambda a: a.tanh() * a.sigmoid(), [(2, 5)], (-3, 3)),
    "sin_cos": (lambda a: lumen.sin(a) + lumen.cos(a), [(6,)], (-3, 3)),
    "clamp_where": (lambda a: lumen.where(a > 0, a.clamp(max=0.5), a * 2), [(4, 4)], (-1, 1)),
    "maximum": (lambda a, b: lumen.maximum(a, b), [(3, 4), (3, 4)], (-1, 1)),
    "sum_mean_var": (lambda a: a.sum(0) + a.mean(1, keepdim=True) + a.var(), [(3, 4)], (-1, 1)),
    "max_min_dim": (lambda a: a.max(1)[0] + a.min(0)[0][:3], [(3, 4)], (-1, 1)),
    "logsumexp": (lambda a: a.logsumexp(1), [(3, 5)], (-5, 5)),
    "softmax": (lambda a: a.softmax(-1) * a.log_softmax(0), [(3, 5)], (-3, 3)),
    "cumsum": (lambda a: a.cumsum(1), [(3, 5)], (-1, 1)),
    "matmul": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)], (-1, 1)),
    "getitem": (lambda a: a[1:, ::2] + a[[0, 2]][:, :2], [(3, 4)], (-1, 1)),
    "gather": (lambda a: a.gather(1, lumen.tensor([[0, 2], [1, 1], [3, 0]], device=a.device)), [(3, 4)], (-1, 1)),
    "index_select": (lambda a: a.index_select(0, lumen.tensor([2, 0, 2], device=a.device)), [(3, 4)], (-1, 1)),
    "masked_fill": (lambda a: a.masked_fill(a > 0.3, 0.0), [(3, 4)], (-1, 1)),
    "cat_stack": (lambda a, b: lumen.cat([a, b], 0) * lumen.stack([a, b]).sum(0).repeat(2, 1), [(2, 3), (2, 3)],
                  (-1, 1)),
    "transpose_reshape": (lambda a: a.transpose(0, 1).reshape(-1).flip(0), [(3, 4)], (-1, 1)),
    "sort": (lambda a: a.sort(1)[0] + a.topk(4, 1)[0], [(3, 4)], (-1, 1)),
    "linear": (lambda x, w, b: F.linear(x, w, b), [(2, 5), (3, 5), (3,)], (-1, 1)),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2), [(2, 4, 7, 6), (6, 2, 3, 3), (6,)],
               (-1, 1)),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1), [(1, 3, 4, 5), (3, 2, 4, 4)],
                         (-1, 1)),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(2, 3, 7, 6)], (-1, 1)),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2, 2, count_include_pad=False), [(2, 3, 6, 6)], (-1, 1)),
    "relu_leaky": (lambda x: F.relu(x) + F.leaky_relu(x, 0.1), [(2, 3, 4)], (-1, 1)),
    "gelu": (lambda x: F.gelu(x), [(2, 5)], (-3, 3)),
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [(4, 3, 2, 2), (3,), (3,)],
                   (-1, 1)),
    "local_response_norm": (lambda x: F.local_response_norm(x, 3), [(2, 5, 3, 3)], (-1, 1)),
    "cross_entropy": (lambda x: F.cross_entropy(x, lumen.tensor([[[0, 2], [255, 1]]], device=x.device),
                                                ignore_index=255), [(1, 3, 2, 2)], (-2, 2)),
    "mse_nll": (lambda a, b: F.mse_loss(a, b) + F.nll_loss(a.log_softmax(1), lumen.tensor([1, 0], device=a.device)),
                [(2, 3), (2, 3)], (-1, 1)),
    "pad": (lambda x: F.pad(x, (1, 2, 0, 1)), [(1, 2, 3, 3)], (-1, 1)),
    "interpolate_bilinear": (lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
                             [(1, 2, 3, 4)], (-1, 1)),
}


def _inputs(shapes, low, high, dtype, device):
    rng = np.random.default_rng(len(shapes))
    return [lumen.tensor(rng.uniform(low, high, s), dtype=dtype, device=device, requires_grad=True) for s in shapes]


@pytest.mark.parametrize("dtype", [lumen.float64, lumen.float32])
@pytest.mark.parametrize("name", sorted(OPS))
def test_op_on_cuda_matches_cpu(name, dtype):
    fn, shapes, (low, high) = OPS[name]
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == lumen.float64 else dict(rtol=2e-4, atol=2e-5)
    results = {}
    for device in ("cpu", "cuda"):
        xs = _inputs(shapes, low, high, dtype, device)
        y = fn(*xs)
        assert y.device.type == device and y.dtype == dtype
        w = lumen.tensor(np.random.default_rng(9).standard_normal(tuple(y.shape)), dtype=dtype, device=device)
        (y * w).sum().backward()
        results[device] = [y.detach().cpu().numpy()] + [x.grad.cpu().numpy() for x in xs]
    for got, want in zip(results["cuda"], results["cpu"]):
        np.testing.assert_allclose(got, want, **tol)
