"""gather/scatter/index_*/masked_*/nonzero/take and diag/tril/triu/roll/flip/repeat/unfold/meshgrid:
each run as ``fn(lib, ...)`` with lib = lumen and lib = torch on the same data (values, dtypes and
input gradients must agree), float64 gradchecks, and PyTorch's errors."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
from lumen.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=15, deadline=None)
RNG = np.random.default_rng(0)


def outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def parity(fn, *arrays, grad=True):
    """``fn(lib, *tensors)`` agrees between Lumen and torch: every output's dtype and values, and the
    gradients of a weighted sum of the floating outputs with respect to the floating inputs."""
    made = {}
    for lib in (lumen, torch):
        ins = [lib.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
        made[lib] = ins, outputs(fn(lib, *ins))
    (li, lo), (ti, to) = made[lumen], made[torch]
    assert len(lo) == len(to)
    for a, b in zip(lo, to):
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], (a.dtype, b.dtype)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=0)
    floats = [i for i, b in enumerate(to) if b.dtype.is_floating_point and b.requires_grad]
    if not floats:
        return
    loss = {lumen: 0, torch: 0}
    for i in floats:
        w = RNG.standard_normal(tuple(to[i].shape))
        loss[lumen] = loss[lumen] + (lo[i] * lumen.tensor(w)).sum()
        loss[torch] = loss[torch] + (to[i] * torch.tensor(w)).sum()
    loss[lumen].backward()
    loss[torch].backward()
    for a, b in zip(li, ti):
        if b.grad is None:
            assert a.grad is None
        else:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-15)


def x64(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def leaf(*shape, seed=0):
    return lumen.tensor(x64(*shape, seed=seed), requires_grad=True)


# ---- gather / scatter -----------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_gather_scatter_family_match_torch_over_shapes(shape, data):
    dim = data.draw(st.integers(0, len(shape) - 1))
    ishape = [data.draw(st.integers(1, n)) if k != dim else data.draw(st.integers(1, 5))
              for k, n in enumerate(shape)]
    index = np.random.default_rng(len(shape)).integers(0, shape[dim], ishape)
    x, src = x64(*shape), x64(*ishape, seed=1)
    parity(lambda lib, x, i: lib.gather(x, dim, i), x, index)
    parity(lambda lib, x, i, s: x.scatter_add(dim, i, s), x, index, src)
    # src larger than index: only its leading part is read (torch's backward refuses this shape)
    parity(lambda lib, x, i, s: x.scatter_add(dim, i, s), x, index, x64(*[n + 1 for n in ishape], seed=2),
           grad=False)
    along = [ishape[dim] if k == dim else data.draw(st.sampled_from([1, n])) for k, n in enumerate(shape)]
    parity(lambda lib, x, i: x.take_along_dim(i, dim), x,
           np.random.default_rng(1).integers(-shape[dim], shape[dim], along))
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            parity(lambda lib, x, i, s: lib.scatter_reduce(x, dim, i, s, reduce, include_self=include_self),
                   x, index, src)


def test_scatter_with_unique_positions_matches_torch():
    # a permutation per column: no position written twice, so the result is fully specified
    index = np.argsort(RNG.standard_normal((4, 3)), axis=0)[:3]
    parity(lambda lib, x, i, s: lib.scatter(x, 0, i, s), x64(4, 3), index, x64(3, 3, seed=1))
    parity(lambda lib, x, i: x.scatter(0, i, 2.5), x64(4, 3), index)
    parity(lambda lib, x, i: x.scatter(0, i, -1.0, reduce="add"), x64(4, 3), index, grad=False)
    parity(lambda lib, x, i: x.scatter(0, i, 3.0, reduce="multiply"), x64(4, 3), index, grad=False)


def test_scatter_reduce_with_tensor_src_warns_as_torch():
    x, i, s = lumen.zeros(3), lumen.tensor([0, 0, 2]), lumen.tensor([1.0, 2.0, 3.0])
    with pytest.warns(UserWarning, match="deprecated"):
        out = x.scatter(0, i, s, reduce="add")
    np.testing.assert_array_equal(out.numpy(), [3.0, 0.0, 3.0])


def test_one_hot_by_scatter_in_place():
    labels = np.array([[2], [0], [1]])
    parity(lambda lib, i: lib.zeros(3, 4).scatter_(1, i, 1.0), labels, grad=False)


def test_integer_scatter_reduce_mean_rounds_down_as_torch():
    for include_self in (True, False):
        parity(lambda lib, x, i, s: x.scatter_reduce(0, i, s, "mean", include_self=include_self),
               np.array([1, -7, 4]), np.array([0, 0, 1, 2]), np.array([2, 5, -3, 8]))


def test_scatter_reduce_prod_gradient_with_zeros_matches_torch():
    x = np.array([2.0, 0.0, 3.0, 0.0, 1.5])
    src = np.array([0.0, 4.0, 0.0, 0.0, -2.0, 5.0])
    index = np.array([0, 1, 2, 2, 3, 4])
    for include_self in (True, False):
        parity(lambda lib, x, i, s: x.scatter_reduce(0, i, s, "prod", include_self=include_self), x, index, src)


def test_scatter_reduce_amax_amin_share_gradient_among_ties_as_torch():
    x, src, index = np.array([1.0, 2.0, 5.0]), np.array([2.0, 2.0, 1.0, 3.0, 5.0]), np.array([1, 1, 0, 0, 2])
    for reduce in ("amax", "amin"):
        for include_self in (True, False):
            parity(lambda lib, x, i, s: x.scatter_reduce(0, i, s, reduce, include_self=include_self), x, index, src)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_gradchecks(reduce):
    x, src = leaf(3, 4), lumen.tensor(x64(5, 4, seed=2) + 3.0, requires_grad=True)
    index = lumen.tensor(np.random.default_rng(3).integers(0, 3, (5, 4)))
    for include_self in (True, False):
        assert gradcheck(lambda a, s: a.scatter_reduce(0, index, s, reduce, include_self=include_self), (x, src))
    if reduce in ("sum", "mean"):
        assert gradgradcheck(lambda a, s: a.scatter_reduce(0, index, s, reduce), (x, src))


def test_gather_and_scatter_add_gradgradcheck():
    index = lumen.tensor([[0, 2, 2], [1, 0, 2]])
    x, src = leaf(3, 3), leaf(2, 3, seed=1)
    assert gradcheck(lambda a: a.gather(0, index), (x,))
    assert gradgradcheck(lambda a: a.gather(0, index) ** 2, (x,))
    assert gradcheck(lambda a, s: a.scatter_add(0, index, s), (x, src))
    assert gradcheck(lambda a, s: a.scatter(0, index[:1], s[:1]), (x, src))


def test_gather_errors_as_torch():
    x = lumen.ones(2, 3)
    with pytest.raises(RuntimeError, match=r"gather\(\): index 5 is out of bounds for dimension 1 with size 3"):
        x.gather(1, lumen.tensor([[5]]))
    with pytest.raises(RuntimeError, match="gather.*-1 is out of bounds"):
        x.gather(1, lumen.tensor([[-1]]))
    with pytest.raises(RuntimeError, match="int64"):
        x.gather(1, lumen.tensor([[0]], dtype=lumen.int32))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(1, lumen.tensor([0]))
    with pytest.raises(RuntimeError, match="must not exceed"):
        x.gather(1, lumen.zeros(3, 1, dtype=lumen.int64))
    with pytest.raises(RuntimeError, match="dtype"):
        x.scatter_add(0, lumen.tensor([[0]]), lumen.ones(1, 1, dtype=lumen.float64))


# ---- index_* / masked_* / nonzero / take ------------------------------------------------------

def test_index_ops_match_torch():
    x = x64(4, 3)
    index = np.array([2, 0, 2])
    parity(lambda lib, x, i: lib.index_select(x, 0, i), x, index)
    parity(lambda lib, x, i: x.index_select(1, i.to(lib.int32)), x, index)
    parity(lambda lib, x, i, s: lib.index_add(x, 0, i, s, alpha=-2.5), x, index, x64(3, 3, seed=1))
    parity(lambda lib, x, i, s: x.index_add(1, i, s), x, index, x64(4, 3, seed=1))
    parity(lambda lib, x, i, s: x.index_copy(0, i[:2], s), x, index, x64(2, 3, seed=1))
    parity(lambda lib, x, i: x.index_fill(1, i, -3.0), x, index)
    parity(lambda lib, x, i, v: x.index_fill(0, i, v), x, index, np.array(1.5))
    parity(lambda lib, x, i: x.clone().index_add_(0, i, x[:3] * 2), x, index)
    with pytest.raises(IndexError, match="index_select"):
        lumen.ones(2).index_select(0, lumen.tensor([2]))
    with pytest.raises(RuntimeError, match="index_add.*shape"):
        lumen.ones(2, 2).index_add(0, lumen.tensor([0]), lumen.ones(2, 2))


def test_setitem_at_repeated_positions_matches_torch():
    def put(lib, x, v):
        y = x.clone()
        y[lib.tensor([1, 1, 3])] = v
        return y
    parity(put, x64(4, 3), np.array(-0.5))
    parity(put, x64(4, 3), x64(3, seed=1))


def test_masked_ops_match_torch():
    x = x64(3, 4)
    mask = x64(3, 4, seed=1) > 0
    parity(lambda lib, x, m: lib.masked_select(x, m), x, mask)
    parity(lambda lib, x, m: x.masked_select(m), x, mask[1])  # the mask broadcasts
    parity(lambda lib, x, m, s: x.masked_scatter(m, s), x, mask, x64(20, seed=2))
    parity(lambda lib, x, m, s: x.masked_scatter(m, s), x, mask[0], x64(4, 3, seed=2))
    with pytest.raises(RuntimeError, match="masked_scatter"):
        lumen.ones(3).masked_scatter(lumen.tensor([True, True, False]), lumen.ones(1))
    with pytest.raises(RuntimeError, match="bool mask"):
        lumen.ones(3).masked_select(lumen.tensor([1, 0, 1]))


def test_nonzero_argwhere_where_match_torch():
    for a in (np.array([[0, 1.5], [2, 0]]), np.array([0, 3, 0, 0, 1]), np.array(3), np.array(0.0),
              np.zeros((2, 0))):
        parity(lambda lib, t: lib.nonzero(t), a, grad=False)
        parity(lambda lib, t: t.nonzero(as_tuple=True), a, grad=False)
        parity(lambda lib, t: lib.argwhere(t), a, grad=False)
        parity(lambda lib, t: lib.where(t), a, grad=False)
    with pytest.raises(TypeError):
        lumen.where(lumen.tensor([True]), lumen.ones(1))


def test_take_and_take_along_dim_match_torch():
    x = x64(3, 4)
    parity(lambda lib, x, i: lib.take(x, i), x, np.array([[0, -1], [11, 5]]))
    parity(lambda lib, x, i: lib.take_along_dim(x, i), x, np.array([7, 2, 0]))
    parity(lambda lib, x, i: x.take_along_dim(i, 1), x, np.array([[3, 0, -1]]))  # broadcast over dim 0
    parity(lambda lib, x, i: lib.take_along_dim(x, i, dim=0), x, np.array([[2], [0]]))
    with pytest.raises(IndexError, match="take"):
        lumen.ones(3).take(lumen.tensor([3]))


# ---- layout ---------------------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_layout_ops_match_torch_over_shapes(shape, data):
    x = x64(*shape, seed=len(shape))
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    shift = data.draw(st.integers(-5, 5))
    size = data.draw(st.integers(0, shape[dim]))
    step = data.draw(st.integers(1, 3))
    reps = tuple(data.draw(st.lists(st.integers(0, 3), min_size=nd, max_size=nd + 1)))
    index = np.random.default_rng(nd).integers(0, shape[dim], data.draw(st.integers(0, 5)))
    parity(lambda lib, t: t.roll(shift, dim), x)
    parity(lambda lib, t: t.flip(dim), x)
    parity(lambda lib, t: t.repeat(*reps), x)
    parity(lambda lib, t: t.repeat_interleave(step, dim), x)
    parity(lambda lib, t: t.unfold(dim, size, step), x)
    parity(lambda lib, t, i: t.index_select(dim, i), x, index)
    if nd >= 2:
        k = data.draw(st.integers(-4, 4))
        parity(lambda lib, t: t.diagonal(k, dim, (dim + 1) % nd), x)
        parity(lambda lib, t: t.tril(k), x)
        parity(lambda lib, t: t.triu(k), x)


@pytest.mark.parametrize("k", [0, 1, -2, 3])
def test_diag_tril_triu_match_torch(k):
    parity(lambda lib, v: lib.diag(v, k), x64(4))
    parity(lambda lib, m: m.diag(k), x64(4, 5))
    parity(lambda lib, m: lib.tril(m, k), x64(2, 4, 3))
    parity(lambda lib, m: m.triu(k), x64(4, 3))
    parity(lambda lib, m: lib.triu(m, k), np.arange(12).reshape(3, 4))
    parity(lambda lib, m: lib.tril(m, k), np.ones((3, 3), dtype=bool))
    parity(lambda lib, m: m.diagonal(k, 2, 0), x64(3, 2, 4))
    parity(lambda lib, v: lib.diag_embed(v, k), x64(2, 3))
    parity(lambda lib, v: v.diag_embed(k, 0, 2), x64(2, 3))
    parity(lambda lib, m: m.clone().tril_(k), x64(3, 3))
    with pytest.raises(RuntimeError, match="diag"):
        lumen.diag(lumen.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="tril"):
        lumen.tril(lumen.ones(3))


def test_layout_gradchecks():
    m = leaf(3, 4)
    for fn in (lambda t: t.diag(1), lambda t: t.triu(-1), lambda t: t.roll((1, -2), (0, 1)), lambda t: t.flip(0, 1),
               lambda t: t.repeat(2, 1, 3), lambda t: t.repeat_interleave(2, 1), lambda t: t.unfold(1, 2, 1),
               lambda t: t.flatten().diag(), lambda t: t.diag_embed(), lambda t: t.diagonal(0, 1, 0)):
        assert gradcheck(fn, (m,))
        assert gradgradcheck(lambda t: fn(t) ** 2, (m,))


def test_roll_flip_match_torch():
    x = x64(2, 3, 4)
    parity(lambda lib, t: lib.roll(t, 1), x)
    parity(lambda lib, t: lib.roll(t, -7), x)
    parity(lambda lib, t: t.roll((1, 5), (0, -1)), x)
    parity(lambda lib, t: t.roll(2, 1), x)
    parity(lambda lib, t: lib.flip(t, (0, 2)), x)
    parity(lambda lib, t: t.flip(-1), x)
    parity(lambda lib, t: lib.fliplr(t), x)
    parity(lambda lib, t: lib.flipud(t), x)
    parity(lambda lib, t: lib.flip(t, ()), x)
    y = lumen.tensor([1.0, 2.0, 3.0])
    flipped = y.flip(0)
    flipped[0] = 9.0  # a copy, as PyTorch's: writing to it leaves the input alone
    assert y.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(RuntimeError, match="roll"):
        y.roll((1, 2), 0)
    with pytest.raises(RuntimeError, match="flip"):
        y.flip(0, 0)


def test_repeat_and_repeat_interleave_match_torch():
    x = x64(2, 3)
    parity(lambda lib, t: t.repeat(2, 2), x)
    parity(lambda lib, t: t.repeat(3, 1, 2), x)
    parity(lambda lib, t: t.repeat(2, 0), x)
    parity(lambda lib, t: t.repeat_interleave(3), x)
    parity(lambda lib, t: lib.repeat_interleave(t, 2, dim=0), x)
    parity(lambda lib, t, r: t.repeat_interleave(r, dim=1), x, np.array([1, 0, 3]))
    parity(lambda lib, t, r: lib.repeat_interleave(t, r, 0), x, np.array(2))
    parity(lambda lib, r: lib.repeat_interleave(r), np.array([2, 0, 1]))
    with pytest.raises(RuntimeError, match="repeat"):
        lumen.ones(2, 2).repeat(2)
    with pytest.raises(RuntimeError, match="repeat_interleave"):
        lumen.ones(2, 2).repeat_interleave(lumen.tensor([1, 2, 3]), dim=0)


def test_unfold_matches_torch():
    x = x64(3, 7, 2)
    for dim, size, step in ((1, 3, 2), (1, 7, 1), (0, 1, 1), (-1, 2, 5), (1, 0, 3)):
        parity(lambda lib, t: t.unfold(dim, size, step), x)
    with pytest.raises(RuntimeError, match="unfold"):
        lumen.ones(3).unfold(0, 4, 1)


def test_meshgrid_matches_torch_and_warns_without_indexing():
    a, b, c = np.arange(3.0), np.array([0.5, -1.0]), np.array([1.0, 2.0, 3.0, 4.0])
    for indexing in ("ij", "xy"):
        parity(lambda lib, a, b, c: lib.meshgrid(a, b, c, indexing=indexing), a, b, c)
        parity(lambda lib, a, b: lib.meshgrid([a, b], indexing=indexing), a, b)
    with pytest.warns(UserWarning, match="indexing"):
        grids = lumen.meshgrid(lumen.tensor(a), lumen.tensor(b))
    assert [tuple(g.shape) for g in grids] == [(3, 2), (3, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lumen.meshgrid(lumen.tensor(a), indexing="ij")
    with pytest.raises(RuntimeError, match="meshgrid"):
        lumen.meshgrid(lumen.ones(2, 2), indexing="ij")


def test_expand_as_matches_torch():
    parity(lambda lib, t, o: t.expand_as(o), x64(3, 1), x64(2, 3, 4))


@pytest.mark.cuda
def test_cuda_matches_cpu():
    """The same ops on the CUDA backend (a GPU, or --cuda-emulator) give the CPU's values and gradients."""
    pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")
    x, src = x64(4, 3), x64(6, 3, seed=1)
    index = np.random.default_rng(2).integers(0, 4, (6, 3))
    cases = [lambda x, s, i, r=r, inc=inc: x.scatter_reduce(0, i, s, r, include_self=inc)
             for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)]
    cases += [lambda x, s, i: x.gather(0, i[:4]), lambda x, s, i: x.scatter_add(0, i, s),
              lambda x, s, i: s.sort(0, descending=True).values, lambda x, s, i: s.topk(2, 0).values,
              lambda x, s, i: s.median(0).values, lambda x, s, i: x.roll(1, 0).flip(1).triu(),
              lambda x, s, i: x.index_add(0, i[:, 0], s), lambda x, s, i: x.masked_select(x > 0),
              lambda x, s, i: x.unfold(0, 2, 1).repeat_interleave(2, 1),
              lambda x, s, i: s.quantile(x[0].detach().sigmoid(), 0), lambda x, s, i: s.nanmedian(1).values,
              lambda x, s, i: x.index_put((i[:2, 0],), s[0, 0], accumulate=True).rot90(),
              lambda x, s, i: s[:5].cummin(0).values + lumen.block_diag(x, x[:2]).diff(dim=0)[:, :3]]
    for case in cases:
        results = []
        for device in ("cpu", "cuda"):
            xs, ss = (lumen.tensor(a, device=device, requires_grad=True) for a in (x, src))
            out = case(xs, ss, lumen.tensor(index, device=device))
            out.sum().backward()
            results.append([t.detach().cpu().numpy() for t in (out, xs.grad, ss.grad) if t is not None])
        for a, b in zip(*results):
            np.testing.assert_allclose(b, a, rtol=1e-12)
    on_gpu = lumen.tensor(index, device="cuda")
    np.testing.assert_array_equal(on_gpu.nonzero().cpu().numpy(), np.argwhere(index))
    np.testing.assert_array_equal(on_gpu.flatten().bincount().cpu().numpy(), np.bincount(index.reshape(-1)))
    for t, ref in zip(on_gpu.unique(return_inverse=True, return_counts=True),
                      np.unique(index, return_inverse=True, return_counts=True)):
        np.testing.assert_array_equal(t.cpu().numpy().reshape(-1), ref.reshape(-1))
    for t, ref in zip(on_gpu.mode(0), lumen.tensor(index).mode(0)):
        np.testing.assert_array_equal(t.cpu().numpy(), ref.numpy())
    sorted_rows = on_gpu.sort(1).values
    for got, ref in ((lumen.searchsorted(sorted_rows, on_gpu), lumen.searchsorted(sorted_rows.cpu(), lumen.tensor(index))),
                     (on_gpu.flatten().unique_consecutive(return_counts=True)[1],
                      lumen.tensor(index).flatten().unique_consecutive(return_counts=True)[1]),
                     (lumen.tril_indices(4, 5, -1, device="cuda"), lumen.tril_indices(4, 5, -1))):
        assert got.device.type == "cuda"
        np.testing.assert_array_equal(got.cpu().numpy(), ref.numpy())


def test_select_unbind_movedim_swap_tile_match_torch():
    x = x64(2, 3, 4)
    parity(lambda lib, t: lib.select(t, 1, -1), x)
    parity(lambda lib, t: t.select(2, 0), x)
    parity(lambda lib, t: lib.unbind(t, 1), x)
    parity(lambda lib, t: t.unbind(), x)
    parity(lambda lib, t: lib.movedim(t, (0, 1), (2, 0)), x)
    parity(lambda lib, t: t.moveaxis(-1, 0), x)
    parity(lambda lib, t: lib.swapaxes(t, 0, 2), x)
    parity(lambda lib, t: t.swapdims(1, -1), x)
    parity(lambda lib, t: lib.tile(t, (2,)), x)
    parity(lambda lib, t: t.tile(2, 1, 1, 2), x)
    parity(lambda lib, t: lib.ravel(t.transpose(0, 2)), x)
    for k in (-1, 0, 1, 2, 3, 5):
        parity(lambda lib, t: lib.rot90(t, k, (2, 0)), x)
    parity(lambda lib, t: t.rot90(), x)
    with pytest.raises(IndexError, match="select"):
        lumen.ones(2, 3).select(1, 3)
    with pytest.raises(RuntimeError, match="movedim"):
        lumen.ones(2, 3).movedim((0, 0), (1, 0))


def test_stacking_and_splitting_helpers_match_torch():
    a, b, c = x64(3), x64(3, seed=1), x64(2, 3, seed=2)
    parity(lambda lib, a, b: lib.hstack([a, b]), a, b)
    parity(lambda lib, c: lib.hstack([c, c]), c)
    parity(lambda lib, a, c: lib.vstack([a, c]), a, c)
    parity(lambda lib, a, c: lib.dstack([a.reshape(1, 3), c[:1]]), a, c)
    parity(lambda lib, a, c: lib.column_stack([a[:2], c]), a, c)
    parity(lambda lib, a, c: lib.concat([a, c[0]]), a, c)
    parity(lambda lib, a: lib.concatenate((a, a), dim=0), a)
    for fn in ("atleast_1d", "atleast_2d", "atleast_3d"):
        parity(lambda lib, s, a, c: getattr(lib, fn)(s, a, c), np.array(1.5), a, c)
        parity(lambda lib, s: getattr(lib, fn)(s), np.array(1.5))
    x = x64(7, 4)
    for sections in (3, 7, 9, [1, 5], [2, 2, 6], [-2], (0, 10)):
        parity(lambda lib, t: lib.tensor_split(t, sections), x)
    parity(lambda lib, t, i: t.tensor_split(i, dim=1), x, np.array([1, 3]))
    parity(lambda lib, t: lib.hsplit(t, 2), x)
    parity(lambda lib, t: t.vsplit([3]), x)
    parity(lambda lib, t: lib.dsplit(t.reshape(7, 2, 2), 2), x)
    parity(lambda lib, t: lib.hsplit(t[0], [1]), x)
    with pytest.raises(RuntimeError, match="divisible"):
        lumen.hsplit(lumen.ones(2, 3), 2)


def test_index_put_count_nonzero_tril_indices_match_torch():
    x = x64(4, 3)
    rows, cols = np.array([0, 2, 0]), np.array([1, 1, 1])
    parity(lambda lib, t, r, c, v: t.index_put((r, c), v), x, rows, cols, x64(3, seed=1))
    parity(lambda lib, t, r, c, v: t.index_put((r, c), v, accumulate=True), x, rows, cols, x64(3, seed=1))
    parity(lambda lib, t, r, v: t.index_put((r,), v, True), x, rows, x64(3, seed=1))
    parity(lambda lib, t, m, v: t.clone().index_put_((m,), v), x, x64(4, 3, seed=3) > 0, np.array(2.0))
    ints = np.array([[0, 1, 0], [2, 0, 3]])
    for dim in (None, 0, 1, (0, 1)):
        parity(lambda lib, t: lib.count_nonzero(t, dim), ints)
    parity(lambda lib, t: t.count_nonzero(), x)
    for args in ((3, 4), (3, 4, 1), (4, 3, -1), (0, 3), (3, 3, 5), (2, 5, -4)):
        parity(lambda lib: lib.tril_indices(*args), )
        parity(lambda lib: lib.triu_indices(*args), )
    parity(lambda lib: lib.tril_indices(3, 3, dtype=lib.int32), )


def test_put_and_masked_fill_in_place_match_torch():
    x = x64(3, 4)
    index = np.array([[0, -1], [5, 11]])
    parity(lambda lib, t, i, s: t.put(i, s), x, np.array([0, -1, 5]), x64(3, seed=1))
    parity(lambda lib, t, i, s: lib.put(t, i, s, accumulate=True), x, np.array([0, 0, 5]), x64(3, seed=1))
    parity(lambda lib, t, i, s: t.clone().put_(i, s, accumulate=True), x, index, x64(2, 2, seed=1))
    parity(lambda lib, t, m: t.clone().masked_fill_(m, -2.0), x, x64(3, 4, seed=3) > 0)
    parity(lambda lib, t, m, v: t.clone().masked_fill_(m, v), x, x64(4, seed=3) > 0, np.array(0.5))
    with pytest.raises(IndexError, match="put"):
        lumen.ones(3).put(lumen.tensor([3]), lumen.ones(1))


def test_broadcast_block_products_diff_match_torch():
    a, b = x64(2, 1), x64(3, seed=1)
    assert tuple(lumen.broadcast_shapes((2, 1), (3, 1, 4), 4)) == tuple(torch.broadcast_shapes((2, 1), (3, 1, 4), 4))
    with pytest.raises(RuntimeError, match="broadcast_shapes"):
        lumen.broadcast_shapes((2,), (3,))
    parity(lambda lib, a, b: lib.broadcast_tensors(a, b), a, b)
    parity(lambda lib, b: lib.broadcast_to(b, (2, -1)), b)
    parity(lambda lib, b: b.broadcast_to((4, 2, 3)), b)
    parity(lambda lib, m: lib.trace(m), x64(3, 4))
    parity(lambda lib, m: m.trace(), np.arange(9).reshape(3, 3))
    parity(lambda lib, m: lib.diagflat(m, -1), x64(2, 2))
    parity(lambda lib, a, b, s: lib.block_diag(a, b, s), a, b, np.array(2.5))
    parity(lambda lib, a, i: lib.block_diag(a, i), a, np.array([[1, 2], [3, 4]]))
    parity(lambda lib, a, b: lib.cartesian_prod(a, b, b), a[:, 0], b)
    parity(lambda lib, b: lib.cartesian_prod(b), b)
    for r, rep in ((2, False), (2, True), (3, False), (4, False), (1, True), (0, False)):
        parity(lambda lib, b: lib.combinations(b, r, rep), b)
    parity(lambda lib, i: lib.unravel_index(i, (2, 3, 4)), np.array([[0, 23], [-1, 7]]))
    parity(lambda lib, i: lib.unravel_index(i, (2, 4)), np.array(5))
    x = x64(3, 5)
    parity(lambda lib, t: lib.diff(t), x)
    parity(lambda lib, t: t.diff(n=2, dim=0), x)
    parity(lambda lib, t, p, q: lib.diff(t, 3, 1, prepend=p, append=q), x, x64(3, 2, seed=1), x64(3, 1, seed=2))
    parity(lambda lib, t: lib.diff(t, 9), x)
    parity(lambda lib, t: lib.diff(t), np.array([True, False, False, True]))
    parity(lambda lib, t: lib.diff(t), np.array([3, 1, 4, 1, 5]))


def test_cummax_cummin_match_torch_with_ties_and_nan():
    x = np.array([[1.0, 3.0, 2.0, 3.0, 5.0, np.nan, 7.0, np.nan], [4.0, 4.0, 1.0, 1.0, 0.0, 2.0, 0.0, -1.0]])
    for op in ("cummax", "cummin"):
        parity(lambda lib, t: getattr(lib, op)(t, 1), x, grad=False)
        parity(lambda lib, t: getattr(t, op)(0), x, grad=False)
        parity(lambda lib, t: getattr(lib, op)(t, -1), np.array([[3, 1, 1, 5, 3], [0, 0, 2, 2, 1]]))
        parity(lambda lib, t: getattr(lib, op)(t, 0), np.array(2.5))
        parity(lambda lib, t: getattr(lib, op)(t, 2), x64(2, 3, 9))
        assert gradcheck(lambda t: getattr(t, op)(1).values, (leaf(3, 7),))
