"""local_response_norm and batch_norm: gradchecks, double backward, PyTorch parity, running stats, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck


def _t(seed, *shape, grad=True, offset=0.0):
    rng = np.random.default_rng(seed)
    return lumen.tensor(rng.standard_normal(shape) + offset, dtype=lumen.float64, requires_grad=grad)


@settings(max_examples=15, deadline=None)
@given(size=st.integers(1, 6), c=st.integers(1, 7), spatial=st.sampled_from([(3,), (2, 3), (1, 1)]),
       alpha=st.sampled_from([1e-4, 0.3]), beta=st.sampled_from([0.75, 1.5]), k=st.sampled_from([1.0, 2.0]),
       seed=st.integers(0, 999))
def test_lrn_gradcheck(size, c, spatial, alpha, beta, k, seed):
    x = _t(seed, 2, c, *spatial)
    assert gradcheck(lambda x: F.local_response_norm(x, size, alpha, beta, k), (x,))


@pytest.mark.parametrize("size", [2, 5])
def test_lrn_gradgradcheck(size):
    x = _t(1, 2, 6, 2, 3)
    assert gradgradcheck(lambda x: F.local_response_norm(x, size, alpha=0.5, beta=0.75, k=2.0), (x,))


def test_lrn_create_graph_gradient_equals_fused_gradient():
    x = _t(2, 2, 7, 3, 3)
    gy = _t(3, 2, 7, 3, 3, grad=False)
    plain = lumen.autograd.grad(F.local_response_norm(x, 5, 0.1), x, gy)[0]
    graph = lumen.autograd.grad(F.local_response_norm(x, 5, 0.1), x, gy, create_graph=True)[0]
    np.testing.assert_allclose(plain.numpy(), graph.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 1.0), (4, 0.2, 0.5, 2.0), (1, 1.0, 1.0, 1.0)])
def test_lrn_matches_torch(size, alpha, beta, k):
    torch = pytest.importorskip("torch")
    x = _t(4, 2, 6, 5, 3)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    y = F.local_response_norm(x, size, alpha, beta, k)
    ty = torch.nn.functional.local_response_norm(tx, size, alpha, beta, k)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(0).standard_normal(y.shape)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 3, 2)])
@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_train_gradcheck(shape, affine):
    x = _t(5, *shape)
    w, b = (_t(6, shape[1]), _t(7, shape[1])) if affine else (None, None)
    assert gradcheck(lambda *a: F.batch_norm(a[0], None, None, *a[1:], training=True),
                     (x, w, b) if affine else (x,))


def test_batch_norm_gradgradcheck():
    x, w, b = _t(8, 3, 2, 2, 2), _t(9, 2), _t(10, 2)
    assert gradgradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, w, b))
    rm, rv = _t(11, 2, grad=False), _t(12, 2, grad=False, offset=3.0)
    assert gradgradcheck(lambda x, w, b: F.batch_norm(x * x, rm, rv, w, b) ** 2, (x, w, b))


@pytest.mark.parametrize("training", [False, True])
def test_batch_norm_matches_torch_and_updates_running_stats(training):
    torch = pytest.importorskip("torch")
    x, w, b = _t(13, 4, 3, 5, 2), _t(14, 3), _t(15, 3)
    rm, rv = _t(16, 3, grad=False), _t(17, 3, grad=False, offset=3.0)
    trm, trv = (torch.tensor(a.numpy()) for a in (rm, rv))
    tx, tw, tb = (torch.tensor(a.detach().numpy(), requires_grad=True) for a in (x, w, b))
    v = rm._version
    y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.3, eps=1e-3)
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=training, momentum=0.3, eps=1e-3)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-12)
    assert (rm._version > v) == training
    g = np.random.default_rng(0).standard_normal(y.shape)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for a, ta in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_batch_norm_float32_training_stats():
    x = lumen.tensor(np.arange(12.0).reshape(3, 2, 2), dtype=lumen.float32)
    rm, rv = lumen.zeros(2), lumen.ones(2)
    y = F.batch_norm(x, rm, rv, training=True, momentum=1.0)
    data = np.arange(12.0).reshape(3, 2, 2).transpose(1, 0, 2).reshape(2, -1)
    np.testing.assert_allclose(rm.numpy(), data.mean(1), rtol=1e-6)
    np.testing.assert_allclose(rv.numpy(), data.var(1, ddof=1), rtol=1e-6)
    assert y.dtype is lumen.float32
    np.testing.assert_allclose(y.numpy().transpose(1, 0, 2).reshape(2, -1).mean(1), 0, atol=1e-6)


def test_errors():
    x = lumen.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"local_response_norm: expected input \(N, C, \*\) with at least 3 dims, got \(2, 3\)"):
        F.local_response_norm(lumen.zeros((2, 3)), 3)
    with pytest.raises(ValueError, match=r"local_response_norm: size must be a positive int, got 0"):
        F.local_response_norm(x, 0)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean of shape \(4,\) does not match the 3 channels of "
                                         r"input \(2, 3, 4, 4\)"):
        F.batch_norm(x, lumen.zeros(4), lumen.ones(4))
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel when training, got "
                                         r"input of shape \(1, 3\)"):
        F.batch_norm(lumen.zeros((1, 3)), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean and running_var are needed when training=False"):
        F.batch_norm(x, None, None)
    with pytest.raises(TypeError, match=r"batch_norm: input is lumen.float32 but weight is lumen.float64"):
        F.batch_norm(x, None, None, lumen.ones(3, dtype=lumen.float64), training=True)


# ---- instance, group and layer norm, normalize -------------------------------------------------------------
def _torch_pair(torch, *arrays):
    return [lumen.tensor(a, requires_grad=True) for a in arrays], \
        [torch.tensor(a, requires_grad=True) for a in arrays]


def _compare_grads(torch, y, ty, pairs, rtol=1e-9):
    g = np.random.default_rng(0).standard_normal(tuple(y.shape))
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for a, ta in pairs:
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=rtol, atol=1e-11)


@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 2, 4, 3), (2, 2, 2, 3, 2)])
@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_matches_torch_and_updates_running_stats(shape, use_input_stats):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    c = shape[1]
    (x, w, b), (tx, tw, tb) = _torch_pair(torch, rng.standard_normal(shape) * 2 + 1, rng.standard_normal(c),
                                          rng.standard_normal(c))
    rm, rv = lumen.tensor(rng.standard_normal(c)), lumen.tensor(rng.uniform(1, 2, c))
    trm, trv = torch.tensor(rm.numpy()), torch.tensor(rv.numpy())
    y = F.instance_norm(x, rm, rv, w, b, use_input_stats, 0.3, 1e-4)
    ty = torch.nn.functional.instance_norm(tx, trm, trv, tw, tb, use_input_stats, 0.3, 1e-4)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-12)
    _compare_grads(torch, y, ty, [(x, tx), (w, tw), (b, tb)])


@pytest.mark.parametrize("affine", [False, True])
def test_instance_group_layer_norm_gradcheck(affine):
    x = _t(20, 2, 4, 3)
    w, b = (_t(21, 4), _t(22, 4)) if affine else (None, None)
    extra = (w, b) if affine else ()
    assert gradcheck(lambda x, *wb: F.instance_norm(x, None, None, *wb), (x, *extra))
    assert gradgradcheck(lambda x, *wb: F.instance_norm(x, None, None, *wb), (x, *extra))
    assert gradcheck(lambda x, *wb: F.group_norm(x, 2, *wb), (x, *extra))
    assert gradgradcheck(lambda x, *wb: F.group_norm(x, 2, *wb), (x, *extra))
    lw, lb = (_t(23, 4, 3), _t(24, 4, 3)) if affine else (None, None)
    lextra = (lw, lb) if affine else ()
    assert gradcheck(lambda x, *wb: F.layer_norm(x, (4, 3), *wb), (x, *lextra))
    assert gradgradcheck(lambda x, *wb: F.layer_norm(x, (4, 3), *wb), (x, *lextra))


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 3), groups=st.sampled_from([1, 2, 3]), per_group=st.integers(1, 3),
       spatial=st.sampled_from([(), (3,), (2, 3)]), seed=st.integers(0, 99))
def test_group_norm_matches_torch(n, groups, per_group, spatial, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    c = groups * per_group
    if per_group * int(np.prod(spatial)) == 1:
        return  # one element per group: PyTorch's zero-variance normalisation, nothing to compare
    (x, w, b), (tx, tw, tb) = _torch_pair(torch, rng.standard_normal((n, c) + spatial), rng.standard_normal(c),
                                          rng.standard_normal(c))
    y = F.group_norm(x, groups, w, b, eps=1e-3)
    ty = torch.nn.functional.group_norm(tx, groups, tw, tb, eps=1e-3)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    _compare_grads(torch, y, ty, [(x, tx), (w, tw), (b, tb)])


@settings(max_examples=12, deadline=None)
@given(lead=st.lists(st.integers(1, 3), max_size=2), norm=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       affine=st.booleans(), seed=st.integers(0, 99))
def test_layer_norm_matches_torch(lead, norm, affine, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(tuple(lead) + tuple(norm))]
    if affine:
        arrays += [rng.standard_normal(norm), rng.standard_normal(norm)]
    ls, ts = _torch_pair(torch, *arrays)
    y = F.layer_norm(ls[0], norm, *ls[1:])
    ty = torch.nn.functional.layer_norm(ts[0], norm, *ts[1:])
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    _compare_grads(torch, y, ty, list(zip(ls, ts)))


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1), (float("inf"), 1)])
def test_normalize_matches_torch_including_zero_vectors(p, dim):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(2).standard_normal((3, 4, 2))
    a[0, :, 0] = 0  # a zero vector along dim 1: the eps floor, and a finite gradient
    (x,), (tx,) = _torch_pair(torch, a)
    y = F.normalize(x, p, dim)
    ty = torch.nn.functional.normalize(tx, p, dim)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    _compare_grads(torch, y, ty, [(x, tx)])
    assert gradcheck(lambda t: F.normalize(t, p, dim), (_t(3, 3, 4),))
    out = lumen.empty((3, 4, 2), dtype=lumen.float64)
    assert F.normalize(x.detach(), p, dim, out=out) is out


def test_normalization_errors():
    x = lumen.zeros((2, 4, 3))
    with pytest.raises(RuntimeError, match=r"group_norm: expected number of channels in input to be divisible by "
                                           r"num_groups, but got input of shape \(2, 4, 3\) and num_groups=3"):
        F.group_norm(x, 3)
    with pytest.raises(RuntimeError, match=r"layer_norm: given normalized_shape=\[4\], expected input with shape "
                                           r"\[\*, 4\], but got input of size \(2, 4, 3\)"):
        F.layer_norm(x, [4])
    with pytest.raises(RuntimeError, match=r"layer_norm: expected weight to be of same shape as normalized_shape"):
        F.layer_norm(x, 3, lumen.ones(4))
    with pytest.raises(ValueError, match=r"instance_norm: expected more than 1 spatial element when training, got "
                                         r"input of shape \(2, 4, 1\)"):
        F.instance_norm(lumen.zeros((2, 4, 1)))
    with pytest.raises(ValueError, match="normalize: p must be positive"):
        F.normalize(x, 0)


@pytest.mark.parametrize("norm,weighted,eps", [((4,), True, None), ((3, 4), False, 1e-3), ((4,), False, None)])
def test_rms_norm_matches_torch_and_gradchecks(norm, weighted, eps):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal((2, 3, 4))] + ([rng.standard_normal(norm)] if weighted else [])
    ls, ts = _torch_pair(torch, *arrays)
    y = F.rms_norm(ls[0], norm, *ls[1:], eps=eps)
    ty = torch.nn.functional.rms_norm(ts[0], norm, *ts[1:], eps=eps)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    _compare_grads(torch, y, ty, list(zip(ls, ts)))
    assert gradcheck(lambda *a: F.rms_norm(a[0], norm, *a[1:], eps=eps), tuple(ls))
    assert gradgradcheck(lambda *a: F.rms_norm(a[0], norm, *a[1:], eps=eps), tuple(ls))
    x32 = lumen.tensor(arrays[0], dtype=lumen.float32)
    np.testing.assert_allclose(F.rms_norm(x32, norm).numpy(),
                               torch.nn.functional.rms_norm(torch.tensor(arrays[0], dtype=torch.float32), norm).numpy(),
                               rtol=1e-6)
    m, tm = lumen.nn.RMSNorm(norm, eps=eps), torch.nn.RMSNorm(norm, eps=eps)
    assert repr(m) == repr(tm) and m.weight.tolist() == tm.weight.tolist()


def test_layer_and_group_norm_of_an_empty_batch():
    torch = pytest.importorskip("torch")
    for fn, args in ((F.layer_norm, ((4,),)), (F.group_norm, (2,))):
        y = fn(lumen.ones((0, 4, 2)) if fn is F.group_norm else lumen.ones((0, 4)), *args)
        ty = getattr(torch.nn.functional, fn.__name__)(torch.ones(tuple(y.shape)), *args)
        assert tuple(y.shape) == tuple(ty.shape)


def test_batch_norm_of_an_empty_batch_in_training_as_torch():
    """torch returns the empty output, leaves the running statistics, counts the batch, and gives the affine
    parameters zero gradients; one value per channel still raises."""
    torch = pytest.importorskip("torch")
    for lib in (lumen, torch):
        bn = lib.nn.BatchNorm2d(3)
        x = lib.ones((0, 3, 4, 4), requires_grad=True)
        y = bn(x)
        y.sum().backward()
        assert tuple(y.shape) == (0, 3, 4, 4) and tuple(x.grad.shape) == (0, 3, 4, 4)
        assert bn.running_mean.tolist() == [0.0] * 3 and bn.running_var.tolist() == [1.0] * 3
        assert int(bn.num_batches_tracked) == 1 and bn.weight.grad.tolist() == [0.0] * 3
        assert bn.bias.grad.tolist() == [0.0] * 3
        with pytest.raises(ValueError, match="(?i)expected more than 1 value per channel"):
            bn(lib.ones((1, 3, 1, 1)))
    assert tuple(F.batch_norm(lumen.ones((0, 2)), None, None, training=True).shape) == (0, 2)


@pytest.mark.parametrize("norm", ["batch", "batch_affine", "group", "layer", "instance"])
def test_normalization_plain_gradient_equals_create_graph_gradient(norm):
    """The backend's fused backward (a plain backward) and the Lumen-op formula (create_graph) agree."""
    x, w, b = _t(30, 3, 4, 5, 2), _t(31, 4), _t(32, 4)
    gy = _t(33, 3, 4, 5, 2, grad=False)
    run = {"batch": lambda: F.batch_norm(x, None, None, training=True),
           "batch_affine": lambda: F.batch_norm(x, None, None, w, b, training=True),
           "group": lambda: F.group_norm(x, 2), "layer": lambda: F.layer_norm(x, (5, 2)),
           "instance": lambda: F.instance_norm(x)}[norm]
    inputs = (x, w, b) if norm == "batch_affine" else (x,)
    plain = lumen.autograd.grad(run(), inputs, gy)
    graph = lumen.autograd.grad(run(), inputs, gy, create_graph=True)
    for p, g in zip(plain, graph):
        np.testing.assert_allclose(p.numpy(), g.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_batch_norm_gradient_of_the_affine_parameters_alone():
    x = _t(34, 4, 3, 6, grad=False)
    w, b = _t(35, 3), _t(36, 3)
    F.batch_norm(x, None, None, w, b, training=True).pow(2).sum().backward()
    xhat = (x.numpy() - x.numpy().mean((0, 2), keepdims=True)) / np.sqrt(x.numpy().var((0, 2), keepdims=True) + 1e-5)
    y = xhat * w.detach().numpy()[:, None] + b.detach().numpy()[:, None]
    np.testing.assert_allclose(w.grad.numpy(), (2 * y * xhat).sum((0, 2)), rtol=1e-10)
    np.testing.assert_allclose(b.grad.numpy(), (2 * y).sum((0, 2)), rtol=1e-10)
    assert x.grad is None


def test_eval_batch_norm_far_from_zero_keeps_precision():
    """Inputs near a running mean of 1000: the output and the weight's gradient in float32 stay at float32's
    precision of x - mean, and float16 gives no NaN (an x * scale + shift fold cancels in both)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 4, 8, 8)) + 1000
    gy = rng.standard_normal(x.shape)
    w = lumen.tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    y = F.batch_norm(lumen.tensor(x, dtype=lumen.float32), lumen.full((4,), 1000.0), lumen.ones(4), w)
    y.backward(lumen.tensor(gy, dtype=lumen.float32))
    xhat = (x.astype(np.float32).astype(np.float64) - 1000) / np.sqrt(1 + 1e-5)
    np.testing.assert_allclose(y.detach().numpy(), xhat * w.detach().numpy()[:, None, None], atol=2e-6)
    np.testing.assert_allclose(w.grad.numpy(), (gy * xhat).sum((0, 2, 3)), rtol=2e-6)
    half = F.batch_norm(lumen.tensor(np.full((2, 1, 3), 1000.5), dtype=lumen.float16),
                        lumen.tensor([1000.0], dtype=lumen.float16), lumen.tensor([1e-4], dtype=lumen.float16))
    np.testing.assert_allclose(half.numpy().astype(np.float64), 0.5 / np.sqrt(np.float16(1e-4) + 1e-5), rtol=2e-3)
