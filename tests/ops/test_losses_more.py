"""The losses of torch.nn.functional beyond cross_entropy/nll_loss (and the two distances they use):
values and gradients against torch for every reduction, float64 gradchecks, legacy arguments, errors."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
import lumen.nn as nn
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional
REDUCTIONS = ("none", "mean", "sum")


def _pm1(rng, shape):
    return rng.choice([-1.0, 1.0], shape)


# name -> (arrays from (rng, shape), indices of the differentiable arrays, kwargs variants)
CASES = {
    "l1_loss": (lambda r, s: [r.standard_normal(s), r.standard_normal(s)], (0, 1), [{}]),
    "mse_loss": (lambda r, s: [r.standard_normal(s), r.standard_normal(s)], (0, 1), [{}]),
    "smooth_l1_loss": (lambda r, s: [r.standard_normal(s), r.standard_normal(s)], (0, 1),
                       [{}, {"beta": 0.5}, {"beta": 0.0}]),
    "huber_loss": (lambda r, s: [2 * r.standard_normal(s), r.standard_normal(s)], (0, 1),
                   [{}, {"delta": 0.3}]),
    "binary_cross_entropy": (lambda r, s: [r.uniform(0.05, 0.95, s), r.random(s)], (0, 1), [{}]),
    "binary_cross_entropy_with_logits": (lambda r, s: [3 * r.standard_normal(s), r.random(s)], (0, 1), [{}]),
    "soft_margin_loss": (lambda r, s: [2 * r.standard_normal(s), _pm1(r, s)], (0,), [{}]),
    "hinge_embedding_loss": (lambda r, s: [r.standard_normal(s), _pm1(r, s)], (0,), [{}, {"margin": 0.5}]),
    "kl_div": (lambda r, s: [np.log(r.uniform(0.05, 1, s)), r.uniform(0.05, 1, s)], (0, 1),
               [{"reduction": "batchmean"}, {"log_target": False}]),
    "poisson_nll_loss": (lambda r, s: [r.standard_normal(s), r.poisson(2.0, s).astype(float)], (0,),
                         [{}, {"full": True}]),
    "margin_ranking_loss": (lambda r, s: [r.standard_normal(s), r.standard_normal(s), _pm1(r, s)], (0, 1),
                            [{}, {"margin": 0.5}]),
}


def _tensors(arrays, diff, lib):
    out = []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        if lib is lumen:
            out.append(lumen.tensor(a, requires_grad=i in diff))
        else:
            out.append(torch.tensor(a, requires_grad=i in diff))
    return out


def _compare(name, arrays, diff, kwargs, *, rtol=1e-10, atol=1e-12):
    """Values and gradients (of a random weighting of the output) of F.name and torch's, equal."""
    lx, tx = _tensors(arrays, diff, lumen), _tensors(arrays, diff, torch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # kl_div's 'mean' warning; tested on its own
        y = getattr(F, name)(*lx, **kwargs)
        ty = getattr(TF, name)(*tx, **kwargs)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(7).standard_normal(tuple(y.shape))
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for i in diff:
        np.testing.assert_allclose(lx[i].grad.numpy(), tx[i].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"{name} {kwargs}: gradient of argument {i}")
    return lx


def _gradcheck(name, arrays, diff, kwargs):
    lx = _tensors(arrays, diff, lumen)

    def fn(*d):
        args = list(lx)
        for i, t in zip(diff, d):
            args[i] = t
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return getattr(F, name)(*args, **kwargs)

    assert gradcheck(fn, tuple(lx[i] for i in diff))


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(CASES)), shape=st.sampled_from([(5,), (3, 4), (2, 3, 2)]),
       reduction=st.sampled_from(REDUCTIONS), variant=st.integers(0, 2), seed=st.integers(0, 999))
def test_pointwise_losses_match_torch_and_gradcheck(name, shape, reduction, variant, seed):
    make, diff, variants = CASES[name]
    kwargs = dict(variants[variant % len(variants)])
    kwargs.setdefault("reduction", reduction)
    arrays = make(np.random.default_rng(seed), shape)
    _compare(name, arrays, diff, kwargs)
    _gradcheck(name, arrays, diff, kwargs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_elementwise_and_class_weights(reduction):
    rng = np.random.default_rng(0)
    x, y, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.random((3, 4)) + 0.1
    for name in ("l1_loss", "mse_loss", "huber_loss"):
        lx = _tensors([x, y], (0,), lumen)
        tx = _tensors([x, y], (0,), torch)
        a = getattr(F, name)(*lx, reduction=reduction, weight=lumen.tensor(w))
        b = getattr(TF, name)(*tx, reduction=reduction, weight=torch.tensor(w))
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
    p, t = rng.uniform(0.05, 0.95, (3, 4)), rng.random((3, 4))
    cw = rng.random(4) + 0.5
    for name, inp in (("binary_cross_entropy", p), ("binary_cross_entropy_with_logits", x)):
        lx, tx = _tensors([inp, t], (0, 1), lumen), _tensors([inp, t], (0, 1), torch)
        a = getattr(F, name)(*lx, weight=lumen.tensor(cw), reduction=reduction)
        b = getattr(TF, name)(*tx, weight=torch.tensor(cw), reduction=reduction)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
        a.sum().backward()
        b.sum().backward()
        for i in (0, 1):
            np.testing.assert_allclose(lx[i].grad.numpy(), tx[i].grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_pos_weight_and_stability(reduction):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal((2, 3)) * 3, [[0.0, 800.0, -800.0]]])
    t = rng.random((3, 3))
    pw = rng.random(3) + 0.5
    lx = lumen.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    a = F.binary_cross_entropy_with_logits(lx, lumen.tensor(t), pos_weight=lumen.tensor(pw), reduction=reduction)
    b = TF.binary_cross_entropy_with_logits(tx, torch.tensor(t), pos_weight=torch.tensor(pw), reduction=reduction)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    small = lumen.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert gradgradcheck(lambda s: F.binary_cross_entropy_with_logits(s, lumen.tensor(t[:2]),
                                                                    pos_weight=lumen.tensor(pw)), (small,))


def test_bce_saturated_inputs_and_range():
    x = np.array([0.0, 1.0, 0.5, 1e-50])
    t = np.array([0.0, 1.0, 0.3, 1.0])
    for dtype in (np.float64, np.float32):
        lx = lumen.tensor(x.astype(dtype), requires_grad=True)
        tx = torch.tensor(x.astype(dtype), requires_grad=True)
        a = F.binary_cross_entropy(lx, lumen.tensor(t.astype(dtype)), reduction="none")
        b = TF.binary_cross_entropy(tx, torch.tensor(t.astype(dtype)), reduction="none")
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6)
        a.sum().backward()
        b.sum().backward()
        np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    for bad in (1.5, -0.1, math.nan):
        with pytest.raises(RuntimeError, match="between 0 and 1"):
            F.binary_cross_entropy(lumen.tensor([bad]), lumen.tensor([0.0]))
    with pytest.raises(ValueError, match="same size"):
        F.binary_cross_entropy(lumen.tensor([0.5, 0.5]), lumen.tensor([0.0]))


@pytest.mark.parametrize("reduction", ["none", "sum", "batchmean"])
def test_kl_div_log_target(reduction):
    rng = np.random.default_rng(2)
    inp = np.log(rng.dirichlet(np.ones(4), 3))
    tgt = np.log(rng.dirichlet(np.ones(4), 3))
    _compare("kl_div", [inp, tgt], (0, 1), {"reduction": reduction, "log_target": True})
    _gradcheck("kl_div", [inp, tgt], (0, 1), {"reduction": reduction, "log_target": True})


def test_kl_div_zero_targets_contribute_zero():
    rng = np.random.default_rng(12)
    inp, tgt = np.log(rng.uniform(0.05, 1, (3, 4))), rng.random((3, 4)) * (rng.random((3, 4)) > 0.4)
    _compare("kl_div", [inp, tgt], (0,), {"reduction": "none"})
    _gradcheck("kl_div", [inp, tgt], (0,), {"reduction": "sum"})


def test_kl_div_mean_warns_as_torch():
    x = lumen.tensor([[-1.0, -0.5]])
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(x, x.exp())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(x, x.exp(), reduction="batchmean")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poisson_nll_rates(reduction):
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0.1, 3, (3, 4)), rng.poisson(2.0, (3, 4)).astype(float)
    for full in (False, True):
        kw = {"log_input": False, "full": full, "reduction": reduction}
        _compare("poisson_nll_loss", [x, y], (0,), kw)
        _gradcheck("poisson_nll_loss", [x, y], (0,), kw)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", [(3, 4), (3,), (3, 1)])
def test_gaussian_nll(reduction, var_shape):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    var = rng.uniform(0.1, 2, var_shape)
    var.reshape(-1)[0] = 1e-9  # below eps: floored, with the gradient passed through
    for full in (False, True):
        kw = {"full": full, "reduction": reduction}
        _compare("gaussian_nll_loss", [x, y, var], (0, 1, 2), kw)
    _gradcheck("gaussian_nll_loss", [x, y, rng.uniform(0.1, 2, var_shape)], (0, 1, 2), {"reduction": reduction})
    a = F.gaussian_nll_loss(lumen.tensor(x), lumen.tensor(y), 0.5, reduction=reduction)
    b = TF.gaussian_nll_loss(torch.tensor(x), torch.tensor(y), 0.5, reduction=reduction)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def test_gaussian_nll_errors():
    x = lumen.zeros((3, 4))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, -lumen.ones((3, 4)))
    with pytest.raises(ValueError, match="incorrect size"):
        F.gaussian_nll_loss(x, x, lumen.ones((2, 4)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_soft_margin_and_multi_margin(reduction):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 5))
    y = (rng.random((4, 5)) > 0.5).astype(float)
    w = rng.random(5) + 0.5
    for kw in ({"reduction": reduction}, {"reduction": reduction, "weight": w}):
        lkw = {**kw, **({"weight": lumen.tensor(w)} if "weight" in kw else {})}
        lx, tx = lumen.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        a = F.multilabel_soft_margin_loss(lx, lumen.tensor(y), **lkw)
        b = TF.multilabel_soft_margin_loss(tx, torch.tensor(y), **{k: torch.tensor(v) if k == "weight" else v
                                                                   for k, v in kw.items()})
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
        a.sum().backward()
        b.sum().backward()
        np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    c = rng.integers(0, 5, 4)
    for p in (1, 2):
        for weighted in (False, True):
            lw, tw = (lumen.tensor(w), torch.tensor(w)) if weighted else (None, None)
            lx, tx = lumen.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            a = F.multi_margin_loss(lx, lumen.tensor(c), p=p, margin=0.7, weight=lw, reduction=reduction)
            b = TF.multi_margin_loss(tx, torch.tensor(c), p=p, margin=0.7, weight=tw, reduction=reduction)
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
            a.sum().backward()
            b.sum().backward()
            np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert gradcheck(lambda t: F.multi_margin_loss(t, lumen.tensor(c), p=2), (lumen.tensor(x, requires_grad=True),))
    one = F.multi_margin_loss(lumen.tensor(x[0]), lumen.tensor(c[0]), reduction=reduction)
    np.testing.assert_allclose(one.numpy(), TF.multi_margin_loss(torch.tensor(x[0]), torch.tensor(c[0]),
                                                                 reduction=reduction).numpy(), rtol=1e-12)
    with pytest.raises(IndexError):
        F.multi_margin_loss(lumen.tensor(x), lumen.tensor([0, 1, 2, 5]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_embedding_losses(reduction):
    rng = np.random.default_rng(6)
    a, p, n = (rng.standard_normal((4, 3)) for _ in range(3))
    y = _pm1(rng, 4)
    for margin in (0.0, 0.3):
        kw = {"margin": margin, "reduction": reduction}
        _compare("cosine_embedding_loss", [a, p, y], (0, 1), kw)
        _gradcheck("cosine_embedding_loss", [a, p, y], (0, 1), kw)
    _compare("cosine_embedding_loss", [a[0], p[0], y[0]], (0, 1), {"reduction": reduction})
    with pytest.raises(RuntimeError, match="target"):
        F.cosine_embedding_loss(lumen.tensor(a[0]), lumen.tensor(p[0]), lumen.tensor(y[:1]))
    for norm in (1, 2, 3, math.inf):
        for swap in (False, True):
            kw = {"margin": 1.5, "p": norm, "swap": swap, "reduction": reduction}
            _compare("triplet_margin_loss", [a, p, n], (0, 1, 2), kw)
    _gradcheck("triplet_margin_loss", [a, p, n], (0, 1, 2), {"margin": 1.5, "swap": True, "reduction": reduction})


@settings(max_examples=15, deadline=None)
@given(shape=st.sampled_from([((4, 3), (4, 3)), ((2, 3, 4), (2, 3, 4)), ((1, 3), (5, 3)), ((3,), (3,))]),
       norm=st.sampled_from([1.0, 2.0, 0.5, 3.0, math.inf]), seed=st.integers(0, 999))
def test_distances_match_torch(shape, norm, seed):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.standard_normal(shape[0]), rng.standard_normal(shape[1])
    keep = bool(seed % 2)
    _compare("pairwise_distance", [x1, x2], (0, 1), {"p": norm, "keepdim": keep})
    dim = -1 if len(shape[0]) == 1 else 1
    _compare("cosine_similarity", [x1, x2], (0, 1), {"dim": dim})
    _gradcheck("cosine_similarity", [x1, x2], (0, 1), {"dim": dim})
    if norm != math.inf:
        _gradcheck("pairwise_distance", [x1, x2], (0, 1), {"p": norm})


def test_cosine_similarity_near_zero_norms_as_torch():
    x1 = np.array([[0.0, 0.0, 0.0], [1e-9, 0, 0], [1.0, 2, 3]])
    x2 = np.array([[1.0, 2, 3], [1.0, 0, 0], [0, 0, 1e-10]])
    _compare("cosine_similarity", [x1, x2], (0, 1), {})
    _compare("pairwise_distance", [x1, x1], (0, 1), {})


def test_multilabel_soft_margin_gradcheck():
    rng = np.random.default_rng(14)
    x, y, w = rng.standard_normal((3, 4)), (rng.random((3, 4)) > 0.5).astype(float), rng.random(4)
    assert gradcheck(lambda t: F.multilabel_soft_margin_loss(t, lumen.tensor(y), lumen.tensor(w), reduction="none"),
                     (lumen.tensor(x, requires_grad=True),))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 2, 2), (5,)])
def test_cross_entropy_probability_targets(reduction, shape):
    rng = np.random.default_rng(8)
    class_dim = 0 if len(shape) == 1 else 1
    x = rng.standard_normal(shape)
    t = rng.random(shape)
    t /= t.sum(class_dim, keepdims=True)
    w = rng.random(shape[class_dim]) + 0.5
    for smoothing in (0.0, 0.2):
        for weighted in (False, True):
            lx, tx = _tensors([x, t], (0, 1), lumen), _tensors([x, t], (0, 1), torch)
            a = F.cross_entropy(*lx, weight=lumen.tensor(w) if weighted else None, reduction=reduction,
                                label_smoothing=smoothing)
            b = TF.cross_entropy(*tx, weight=torch.tensor(w) if weighted else None, reduction=reduction,
                                 label_smoothing=smoothing)
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
            a.sum().backward()
            b.sum().backward()
            for i in (0, 1):
                np.testing.assert_allclose(lx[i].grad.numpy(), tx[i].grad.numpy(), rtol=1e-10, atol=1e-14)
    assert gradgradcheck(lambda s: F.cross_entropy(s, lumen.tensor(t), label_smoothing=0.1),
                         (lumen.tensor(x, requires_grad=True),))
    with pytest.raises(RuntimeError, match="ignore_index"):
        F.cross_entropy(lumen.tensor(x), lumen.tensor(t), ignore_index=1)


@pytest.mark.parametrize("size_average,reduce,expected", [(None, False, "none"), (False, None, "sum"),
                                                          (True, True, "mean"), (False, False, "none")])
def test_legacy_size_average_reduce(size_average, reduce, expected):
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    with pytest.warns(UserWarning, match=f"reduction='{expected}'"):
        a = F.mse_loss(lumen.tensor(x), lumen.tensor(y), size_average=size_average, reduce=reduce)
    np.testing.assert_allclose(a.numpy(), TF.mse_loss(torch.tensor(x), torch.tensor(y),
                                                      reduction=expected).numpy(), rtol=1e-12)
    with pytest.warns(UserWarning, match=f"reduction='{expected}'"):
        loss = nn.L1Loss(size_average=size_average, reduce=reduce)
    assert loss.reduction == expected


def test_errors_and_broadcast_warning():
    x = lumen.zeros((2, 3))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.warns(UserWarning, match="different to the input size"):
        out = F.mse_loss(x, lumen.zeros((3,)))
    assert out.shape == ()
    with pytest.raises(ValueError, match="same size"):
        F.l1_loss(x, x, weight=lumen.ones((3,)))
    with pytest.raises(ValueError, match="target size"):
        F.binary_cross_entropy_with_logits(x, lumen.zeros((3,)))
    with pytest.raises(RuntimeError, match="beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match="margin"):
        F.triplet_margin_loss(x, x, x, margin=0.0)


MODULES = [
    ("L1Loss", {}, "l1_loss"), ("MSELoss", {"reduction": "sum"}, "mse_loss"),
    ("SmoothL1Loss", {"beta": 0.5}, "smooth_l1_loss"), ("HuberLoss", {"delta": 0.4}, "huber_loss"),
    ("BCEWithLogitsLoss", {}, "binary_cross_entropy_with_logits"),
    ("SoftMarginLoss", {"reduction": "none"}, "soft_margin_loss"),
    ("HingeEmbeddingLoss", {"margin": 0.5}, "hinge_embedding_loss"),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, "kl_div"),
    ("PoissonNLLLoss", {"full": True}, "poisson_nll_loss"),
    ("MultiLabelSoftMarginLoss", {}, "multilabel_soft_margin_loss"),
]


@pytest.mark.parametrize("cls,kwargs,fn", MODULES)
def test_modules_match_torch(cls, kwargs, fn):
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((3, 4)), _pm1(rng, (3, 4)) if "Margin" in cls or "Hinge" in cls else rng.random((3, 4))
    a = getattr(nn, cls)(**kwargs)(lumen.tensor(x), lumen.tensor(y))
    b = getattr(torch.nn, cls)(**kwargs)(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert repr(getattr(nn, cls)(**kwargs)) == repr(getattr(torch.nn, cls)(**kwargs))


def test_modules_with_more_arguments_match_torch():
    rng = np.random.default_rng(11)
    x1, x2, x3 = (rng.standard_normal((4, 3)) for _ in range(3))
    y, c = _pm1(rng, 4), rng.integers(0, 3, 4)
    p = rng.uniform(0.1, 0.9, (4, 3))
    w = rng.random(3) + 0.5
    var = rng.uniform(0.5, 1.5, (4, 3))
    pairs = [
        (nn.BCELoss(weight=lumen.tensor(w)), torch.nn.BCELoss(weight=torch.tensor(w)), (p, p)),
        (nn.BCEWithLogitsLoss(pos_weight=lumen.tensor(w)), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w)),
         (x1, p)),
        (nn.GaussianNLLLoss(full=True), torch.nn.GaussianNLLLoss(full=True), (x1, x2, var)),
        (nn.MarginRankingLoss(0.2), torch.nn.MarginRankingLoss(0.2), (x1[:, 0], x2[:, 0], y)),
        (nn.CosineEmbeddingLoss(0.1), torch.nn.CosineEmbeddingLoss(0.1), (x1, x2, y)),
        (nn.TripletMarginLoss(p=1, swap=True), torch.nn.TripletMarginLoss(p=1, swap=True), (x1, x2, x3)),
        (nn.MultiMarginLoss(p=2, weight=lumen.tensor(w)), torch.nn.MultiMarginLoss(p=2, weight=torch.tensor(w)),
         (x1, c)),
        (nn.CrossEntropyLoss(label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1),
         (x1, np.abs(x2) / np.abs(x2).sum(1, keepdims=True))),
    ]
    for mine, theirs, args in pairs:
        a = mine(*(lumen.tensor(v) for v in args))
        b = theirs(*(torch.tensor(v) for v in args))
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, err_msg=repr(mine))
        assert repr(mine) == repr(theirs)
    assert "weight" in dict(nn.BCELoss(weight=lumen.tensor(w)).state_dict())
    assert "pos_weight" in dict(nn.BCEWithLogitsLoss(pos_weight=lumen.tensor(w)).state_dict())


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_loss(reduction):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((3, 5))
    y = np.array([[3, 0, -1, 1, 2], [4, 4, 1, -1, -1], [0, 1, 2, 3, 4]])  # a repeat, classes after -1, all
    _compare("multilabel_margin_loss", [x, y], (0,), {"reduction": reduction})
    _gradcheck("multilabel_margin_loss", [x, y], (0,), {"reduction": reduction})
    _compare("multilabel_margin_loss", [x[0], y[0]], (0,), {"reduction": reduction})
    a = nn.MultiLabelMarginLoss(reduction=reduction)(lumen.tensor(x), lumen.tensor(y))
    b = torch.nn.MultiLabelMarginLoss(reduction=reduction)(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="target values must be in"):
        F.multilabel_margin_loss(lumen.tensor(x), lumen.tensor(np.full((3, 5), 5)))
