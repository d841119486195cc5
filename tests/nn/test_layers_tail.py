"""ChannelShuffle, CosineSimilarity, PairwiseDistance, TripletMarginWithDistanceLoss, NLLLoss2d and the
functional channel_shuffle, pdist, triplet_margin_with_distance_loss and *_with_indices pools: torch
parity (values, gradients, repr), float64 gradchecks, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
import lumen.nn as nn
import lumen.nn.functional as F
from lumen.autograd import gradcheck

torch = pytest.importorskip("torch")


def _pair(array, requires_grad=True):
    return (lumen.tensor(array, requires_grad=requires_grad), torch.tensor(array, requires_grad=requires_grad))


def _check_grads(pairs):
    for lt, tt in pairs:
        np.testing.assert_allclose(lt.grad.numpy(), tt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_reprs_match_torch():
    for name, args, kwargs in [("ChannelShuffle", (3,), {}), ("CosineSimilarity", (), {"dim": 0}),
                               ("PairwiseDistance", (3.0,), {}), ("TripletMarginWithDistanceLoss", (), {}),
                               ("TripletMarginWithDistanceLoss", (), {"distance_function": nn.PairwiseDistance()})]:
        torch_kwargs = {k: torch.nn.PairwiseDistance() if k == "distance_function" else v for k, v in kwargs.items()}
        assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **torch_kwargs))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 3), groups=st.integers(1, 4), per_group=st.integers(1, 3),
       spatial=st.lists(st.integers(1, 3), min_size=1, max_size=3))
def test_channel_shuffle_matches_torch(n, groups, per_group, spatial):
    x = np.random.default_rng(n * 7 + groups).standard_normal([n, groups * per_group] + spatial)
    lx, tx = _pair(x)
    ly, ty = nn.ChannelShuffle(groups)(lx), torch.nn.ChannelShuffle(groups)(tx)
    np.testing.assert_array_equal(ly.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(F.native_channel_shuffle(lx, groups).detach().numpy(), ty.detach().numpy())
    w = np.random.default_rng(0).standard_normal(ty.shape)
    (ly * lumen.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    _check_grads([(lx, tx)])


def test_channel_shuffle_errors():
    with pytest.raises(RuntimeError, match="divisible by groups"):
        F.channel_shuffle(lumen.zeros(1, 6, 2), 4)
    with pytest.raises(RuntimeError, match="more than 2 dims"):
        F.channel_shuffle(lumen.zeros(1, 6), 2)
    with pytest.raises(RuntimeError, match="positive"):
        F.channel_shuffle(lumen.zeros(1, 6, 2), 0)


@pytest.mark.parametrize("p", [0, 0.5, 1, 2, 3, float("inf")])
def test_pdist_matches_torch(p):
    x = np.random.default_rng(1).standard_normal((5, 3))
    lx, tx = _pair(x)
    ly, ty = F.pdist(lx, p), torch.pdist(tx, p)
    np.testing.assert_allclose(ly.detach().numpy(), ty.detach().numpy(), rtol=1e-13)
    if p:  # torch's p=0 gradient is zero, and so is Lumen's count of nonzeros
        ly.sum().backward()
        ty.sum().backward()
        _check_grads([(lx, tx)])
        assert gradcheck(lambda x: F.pdist(x, p), (lumen.tensor(x, requires_grad=True),))


def test_pdist_edge_cases_and_errors():
    assert F.pdist(lumen.zeros(1, 3)).shape == (0,)
    x = lumen.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]], dtype=lumen.float64, requires_grad=True)
    F.pdist(x).sum().backward()  # a zero distance passes a zero gradient, as torch's
    t = torch.tensor(x.detach().numpy(), requires_grad=True)
    torch.pdist(t).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())
    with pytest.raises(RuntimeError, match="2-D"):
        F.pdist(lumen.zeros(2, 3, 4))
    with pytest.raises(RuntimeError, match="floating-point"):
        F.pdist(lumen.zeros(2, 3, dtype=lumen.int64))
    with pytest.raises(RuntimeError, match="non-negative"):
        F.pdist(lumen.zeros(2, 3), p=-1)


def test_distance_modules_match_torch():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    (la, ta), (lb, tb) = _pair(a), _pair(b)
    for lmod, tmod in [(nn.PairwiseDistance(3.0, 1e-3, True), torch.nn.PairwiseDistance(3.0, 1e-3, True)),
                       (nn.CosineSimilarity(0, 1e-6), torch.nn.CosineSimilarity(0, 1e-6))]:
        ly, ty = lmod(la, lb), tmod(ta, tb)
        np.testing.assert_allclose(ly.detach().numpy(), ty.detach().numpy(), rtol=1e-13)
        ly.sum().backward()
        ty.sum().backward()
        _check_grads([(la, ta), (lb, tb)])
        la.grad = lb.grad = ta.grad = tb.grad = None


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("custom", [False, True])
def test_triplet_margin_with_distance_loss_matches_torch(swap, reduction, custom):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((6, 4)) for _ in range(3)]
    pairs = [_pair(a) for a in arrays]

    def cosine_distance(lib):
        return lambda x, y: 1 - lib.nn.functional.cosine_similarity(x, y)
    lfn = cosine_distance(lumen) if custom else None
    tfn = cosine_distance(torch) if custom else None
    ly = nn.TripletMarginWithDistanceLoss(distance_function=lfn, margin=0.7, swap=swap, reduction=reduction)(
        *[p[0] for p in pairs])
    ty = torch.nn.TripletMarginWithDistanceLoss(distance_function=tfn, margin=0.7, swap=swap, reduction=reduction)(
        *[p[1] for p in pairs])
    np.testing.assert_allclose(ly.detach().numpy(), ty.detach().numpy(), rtol=1e-13)
    ly.sum().backward()
    ty.sum().backward()
    _check_grads(pairs)
    assert gradcheck(lambda *xs: F.triplet_margin_with_distance_loss(*xs, distance_function=lfn, swap=swap),
                     tuple(lumen.tensor(a, requires_grad=True) for a in arrays))


def test_triplet_margin_with_distance_loss_errors():
    x = lumen.zeros(2, 3)
    with pytest.raises(ValueError, match="margin"):
        nn.TripletMarginWithDistanceLoss(margin=0)
    with pytest.raises(ValueError, match="margin"):
        F.triplet_margin_with_distance_loss(x, x, x, margin=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        F.triplet_margin_with_distance_loss(x, x, x, reduction="avg")
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        F.triplet_margin_with_distance_loss(x, x, lumen.zeros(3))
    with pytest.raises(TypeError):
        F.triplet_margin_with_distance_loss(x, x, x, None)  # distance_function is keyword-only, as torch's


def test_nll_loss_2d_is_the_deprecated_nll_loss():
    rng = np.random.default_rng(4)
    x, target = rng.standard_normal((2, 3, 4, 5)), rng.integers(0, 3, (2, 4, 5))
    weight = np.array([0.2, 1.0, 3.0])
    with pytest.warns(FutureWarning, match="NLLLoss2d"):
        lmod = nn.NLLLoss2d(weight=lumen.tensor(weight), ignore_index=1)
    with pytest.warns(FutureWarning):
        tmod = torch.nn.NLLLoss2d(weight=torch.tensor(weight), ignore_index=1)
    assert isinstance(lmod, nn.NLLLoss) and repr(lmod) == repr(tmod) == "NLLLoss2d()"
    (lx, tx) = _pair(x)
    ly, ty = lmod(lx, lumen.tensor(target)), tmod(tx, torch.tensor(target))
    assert ly.item() == pytest.approx(ty.item(), rel=1e-13)
    ly.backward()
    ty.backward()
    _check_grads([(lx, tx)])


@pytest.mark.parametrize("name,args,shape", [("max_pool1d", (2,), (2, 3, 7)), ("max_pool2d", (2, 1), (2, 3, 5, 4)),
                                             ("max_pool3d", (2,), (1, 2, 4, 4, 5)),
                                             ("adaptive_max_pool1d", (3,), (2, 3, 7)),
                                             ("adaptive_max_pool2d", ((2, 3),), (2, 3, 5, 4)),
                                             ("adaptive_max_pool3d", (2,), (1, 2, 4, 4, 5))])
def test_pool_with_indices_always_return_indices_as_torch(name, args, shape):
    x = np.random.default_rng(5).standard_normal(shape)
    for return_indices in (False, True):
        lv, li = getattr(F, name + "_with_indices")(lumen.tensor(x), *args, return_indices=return_indices)
        tv, ti = getattr(torch.nn.functional, name + "_with_indices")(torch.tensor(x), *args)
        np.testing.assert_array_equal(lv.numpy(), tv.numpy())
        np.testing.assert_array_equal(li.numpy(), ti.numpy())


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 6), m=st.integers(1, 4), p=st.sampled_from([0.5, 1.0, 2.0, 3.0, float("inf")]),
       seed=st.integers(0, 2**16))
def test_pdist_shapes_hypothesis(n, m, p, seed):
    x = np.random.default_rng(seed).standard_normal((n, m))
    lx, tx = _pair(x)
    ly, ty = F.pdist(lx, p), torch.pdist(tx, p)
    assert ly.shape == tuple(ty.shape)
    np.testing.assert_allclose(ly.detach().numpy(), ty.detach().numpy(), rtol=1e-13)
    if ty.numel():
        ly.sum().backward()
        ty.sum().backward()
        _check_grads([(lx, tx)])
