"""torch's top-level functional forms (torch.conv2d, torch.batch_norm, torch.embedding, torch.kl_div with an
int reduction, torch.dropout(input, p, train), ...): the same positional orders and argument names as
torch's schemas, the same values and gradients as torch, called the way torch is called."""
import inspect
import re

import numpy as np
import pytest

import lumen

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)


def _arrays(*shapes, positive=False):
    return [np.abs(RNG.standard_normal(s)) + 0.1 if positive else RNG.standard_normal(s) for s in shapes]


def _schema_arguments(name):
    """The argument names of torch's first schema for ``name`` (``self`` is ``input`` in Python)."""
    schema = str(torch._C._jit_get_schemas_for_operator(f"aten::{name}")[0])
    arguments = schema[schema.index("(") + 1:schema.rindex(") ->")]
    names = [re.split(r"\s+", a.strip().split("=")[0])[-1] for a in arguments.split(",") if a.strip() != "*"]
    return ["input" if n == "self" else n for n in names]


NATIVE = ["dropout", "dropout_", "alpha_dropout", "alpha_dropout_", "feature_alpha_dropout",
          "feature_alpha_dropout_", "layer_norm", "group_norm", "batch_norm", "instance_norm", "embedding",
          "binary_cross_entropy_with_logits", "cosine_embedding_loss", "hinge_embedding_loss", "kl_div",
          "margin_ranking_loss", "poisson_nll_loss", "triplet_margin_loss", "max_pool1d", "max_pool2d", "max_pool3d",
          "adaptive_max_pool1d", "rms_norm", "detach_"]


@pytest.mark.parametrize("name", NATIVE)
def test_argument_names_and_order_match_torch_schema(name):
    ours = [p for p in inspect.signature(getattr(lumen, name)).parameters]
    theirs = _schema_arguments(name)
    assert ours[:len(theirs)] == theirs and len(ours) == len(theirs)


def test_losses_reduce_nothing_by_default_as_torchs_bindings():
    """torch's schemas print reduction=1 (mean), but called without it, its top-level losses return the
    unreduced loss; Lumen's give the same numbers."""
    x, y = _arrays((4, 3), (4, 3))
    for lib in (lumen, torch):
        a, b = lib.tensor(x), lib.tensor(y)
        assert lib.kl_div(a, b.exp()).shape == (4, 3)
        assert lib.triplet_margin_loss(a, b, a + b).shape == (4,)
        assert lib.binary_cross_entropy_with_logits(a, b.sigmoid()).shape == (4, 3)


# name, input arrays (those after the first few may be non-differentiable), extra positional args
CASES = [
    ("conv1d", [(2, 4, 7), (6, 2, 3), (6,)], (1, 1, 1, 2)),
    ("conv2d", [(2, 3, 6, 5), (4, 3, 3, 2), (4,)], (2, 1)),
    ("conv3d", [(1, 2, 4, 4, 3), (3, 2, 2, 2, 2), None], (1, 0, 1, 1)),
    ("conv_transpose1d", [(2, 4, 5), (4, 3, 3), (3,)], (2, 1, 1)),
    ("conv_transpose2d", [(2, 4, 3, 3), (4, 2, 3, 3), (4,)], (2, 1, 0, 2)),
    ("conv_transpose3d", [(1, 2, 2, 3, 2), (2, 3, 2, 2, 2), None], (1, 0, 0, 1, 2)),
    ("max_pool1d", [(2, 3, 9)], (3, 2, 1)),
    ("max_pool2d", [(2, 3, 7, 6)], (3, (), 1, 1, True)),
    ("max_pool3d", [(1, 2, 5, 4, 4)], (2,)),
    ("avg_pool1d", [(2, 3, 9)], (3, 2, 1, True, False)),
    ("adaptive_avg_pool1d", [(2, 3, 9)], (4,)),
    ("adaptive_max_pool1d", [(2, 3, 9)], (4,)),
    ("pixel_shuffle", [(2, 8, 3, 2)], (2,)),
    ("pixel_unshuffle", [(2, 2, 4, 6)], (2,)),
    ("channel_shuffle", [(2, 6, 3)], (3,)),
    ("native_channel_shuffle", [(2, 6, 3)], (2,)),
    ("cosine_similarity", [(4, 5), (4, 5)], (0, 1e-6)),
    ("pairwise_distance", [(4, 5), (4, 5)], (1.5, 1e-5, True)),
    ("pdist", [(5, 3)], (3,)),
    ("layer_norm", [(2, 3, 4), (3, 4), (3, 4)], ((3, 4),), ),
    ("group_norm", [(2, 6, 3), (6,), (6,)], (3,)),
    ("rms_norm", [(2, 3, 4), (4,)], ((4,),)),
    ("hinge_embedding_loss", [(6,)], ()),
    ("triplet_margin_loss", [(4, 3), (4, 3), (4, 3)], (0.5, 3.0, 1e-6, True, 2)),
    ("cosine_embedding_loss", [(4, 3), (4, 3)], ()),
    ("margin_ranking_loss", [(5,), (5,)], ()),
]


def _call(lib, name, arrays, extra, post=None):
    tensors = [None if a is None else lib.tensor(a, requires_grad=True) for a in arrays]
    if name == "layer_norm":
        args = (tensors[0], extra[0], tensors[1], tensors[2])
    elif name == "group_norm":
        args = (tensors[0], extra[0], tensors[1], tensors[2])
    elif name == "rms_norm":
        args = (tensors[0], extra[0], tensors[1])
    else:
        args = (*tensors, *(post(lib) if post else ()), *extra)
    out = getattr(lib, name)(*args)
    return out, [t for t in tensors if t is not None]


def _labels(name):
    if name == "hinge_embedding_loss":
        return lambda lib: (lib.tensor([1.0, -1, -1, 1, 1, -1], dtype=lib.float64),)
    if name == "cosine_embedding_loss":
        return lambda lib: (lib.tensor([1.0, -1, 1, -1], dtype=lib.float64), 0.2, 2)
    if name == "margin_ranking_loss":
        return lambda lib: (lib.tensor([1.0, -1, 1, 1, -1], dtype=lib.float64), 0.1, 0)
    return None


def _compare(name, arrays, extra, post=None):
    ours, ltensors = _call(lumen, name, arrays, extra, post)
    theirs, ttensors = _call(torch, name, arrays, extra, post)
    ours, theirs = (ours, theirs) if isinstance(theirs, tuple) else ((ours,), (theirs,))
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=name)
    if name == "native_channel_shuffle":
        return  # torch has no derivative for it (Lumen's is channel_shuffle's, tested there)
    weights = np.random.default_rng(1).standard_normal(theirs[0].shape)
    (ours[0] * lumen.tensor(weights)).sum().backward()
    (theirs[0] * torch.tensor(weights)).sum().backward()
    for lt, tt in zip(ltensors, ttensors):
        np.testing.assert_allclose(lt.grad.numpy(), tt.grad.numpy(), rtol=1e-11, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name,shapes,extra", CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients_match_torch(name, shapes, extra):
    arrays = [None if s is None else a for s, a in zip(shapes, _arrays(*[s or (1,) for s in shapes]))]
    _compare(name, arrays, extra, _labels(name))


@pytest.mark.parametrize("reduction", [0, 1, 2, 5])
def test_losses_take_atens_int_reduction(reduction):
    x, y = _arrays((3, 4), (3, 4))
    rate = _arrays((3, 4), positive=True)[0]
    target01 = (y > 0).astype(np.float64)
    weight, pos_weight = _arrays((4,), (4,), positive=True)
    cases = [("binary_cross_entropy_with_logits", [x], lambda lib: (lib.tensor(target01), lib.tensor(weight),
                                                                     lib.tensor(pos_weight), reduction)),
             ("kl_div", [x], lambda lib: (lib.tensor(rate), reduction)),
             ("poisson_nll_loss", [x], lambda lib: (lib.tensor(rate), True, True, 1e-8, reduction)),
             ("poisson_nll_loss", [rate], lambda lib: (lib.tensor(rate), False, False, 1e-6, reduction)),
             ("hinge_embedding_loss", [x[0]], lambda lib: (lib.tensor([1.0, -1, -1, 1], dtype=lib.float64), 0.5,
                                                          reduction)),
             ("triplet_margin_loss", [x, y, rate], lambda lib: (1.0, 2.0, 1e-6, False, reduction))]
    for name, arrays, post in cases:
        _compare(name, arrays, (), post)
    lx, tx = lumen.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    np.testing.assert_allclose(lumen.kl_div(lx, lumen.tensor(x), reduction, log_target=True).detach().numpy(),
                               torch.kl_div(tx, torch.tensor(x), reduction, log_target=True).detach().numpy())
    with pytest.raises(TypeError, match="reduction"):
        lumen.kl_div(lx, lumen.tensor(x), "mean")


@pytest.mark.parametrize("training", [False, True])
def test_batch_and_instance_norm_in_atens_order(training):
    x, weight, bias = _arrays((4, 3, 5), (3,), (3,))
    mean, var = _arrays((3,), (3,), positive=True)
    for name in ("batch_norm", "instance_norm"):
        stats = {lib: (lib.tensor(mean), lib.tensor(var)) for lib in (lumen, torch)}
        _compare(name, [x, weight, bias], (),
                 lambda lib: (*stats[lib], training, 0.3, 1e-4, False))
        np.testing.assert_allclose(stats[lumen][0].numpy(), stats[torch][0].numpy(), rtol=1e-12)
        np.testing.assert_allclose(stats[lumen][1].numpy(), stats[torch][1].numpy(), rtol=1e-12)
    with pytest.raises(TypeError):
        lumen.batch_norm(lumen.tensor(x), None, None, None, None, True, 0.1, 1e-5)  # every argument is required


@pytest.mark.parametrize("padding_idx", [-1, -2, 2])
def test_embedding_takes_weight_first(padding_idx):
    weight = _arrays((5, 3))[0]
    indices = np.array([[0, 2, 4], [2, 2, 1]])
    lw, tw = lumen.tensor(weight, requires_grad=True), torch.tensor(weight, requires_grad=True)
    ly = lumen.embedding(lw, lumen.tensor(indices), padding_idx)
    ty = torch.embedding(tw, torch.tensor(indices), padding_idx)
    np.testing.assert_array_equal(ly.detach().numpy(), ty.detach().numpy())
    ly.sum().backward()
    ty.sum().backward()
    np.testing.assert_array_equal(lw.grad.numpy(), tw.grad.numpy())  # a negative padding_idx means none


@pytest.mark.parametrize("name", ["dropout", "alpha_dropout", "feature_alpha_dropout"])
def test_dropout_forms(name):
    x = lumen.randn(4, 6, 5)
    assert getattr(lumen, name)(x, 0.5, False) is x
    assert getattr(torch, name)(torch.tensor(x.numpy()), 0.5, False) is not None
    y = getattr(lumen, name)(x, 0.5, True)
    assert y.shape == x.shape and not np.array_equal(y.numpy(), x.numpy())
    z = x.clone()
    assert getattr(lumen, name + "_")(z, 0.5, True) is z and not np.array_equal(z.numpy(), x.numpy())
    with pytest.raises(TypeError):
        getattr(lumen, name)(x, 0.5)  # train is required, as in torch
    with pytest.raises(TypeError):
        getattr(torch, name)(torch.zeros(2), 0.5)


def test_dropout_scales_the_kept_elements_as_torch():
    x = lumen.ones(2000, dtype=lumen.float64)
    y = lumen.dropout(x, 0.25, True).numpy()
    assert set(np.unique(y)) <= {0.0, 1 / 0.75} and 0.2 < (y == 0).mean() < 0.3


def test_detach_():
    t = lumen.randn(3, requires_grad=True)
    u = t * 2
    assert lumen.detach_(u) is u and not u.requires_grad and u.grad_fn is None


def test_max_pools_do_not_take_return_indices_as_torch():
    with pytest.raises(TypeError):
        lumen.max_pool2d(lumen.zeros(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(TypeError):
        torch.max_pool2d(torch.zeros(1, 1, 4, 4), 2, return_indices=True)
