"""lumen.nn.utils: clip_grad_norm_ (every norm type, error_if_nonfinite), clip_grad_value_,
get_total_norm, parameters_to_vector / vector_to_parameters, against torch."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen

torch = pytest.importorskip("torch")


def test_reachable_after_import_lumen():
    import lumen.nn.utils as utils

    assert lumen.nn.utils is utils
    assert utils.clip_grad_norm_ is lumen.nn.utils.clip_grad.clip_grad_norm_


def _params_with_grads(seed, shapes, with_none=False):
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for i, shape in enumerate(shapes):
        value, grad = rng.standard_normal(shape), rng.standard_normal(shape) * 3
        p, q = lumen.nn.Parameter(lumen.tensor(value)), torch.nn.Parameter(torch.tensor(value))
        if not (with_none and i == 1):
            p.grad, q.grad = lumen.tensor(grad), torch.tensor(grad)
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@settings(max_examples=20, deadline=None)
@given(shapes=st.sampled_from([[(3,)], [(2, 3), (4,)], [(2, 2), (3,), (1, 2, 2)]]),
       norm_type=st.sampled_from([2.0, 1.0, 3.0, 0.5, math.inf, "inf"]),
       max_norm=st.sampled_from([0.1, 1.0, 1e3]), seed=st.integers(0, 99), with_none=st.booleans())
def test_clip_grad_norm_matches_torch(shapes, norm_type, max_norm, seed, with_none):
    ours, theirs = _params_with_grads(seed, shapes, with_none)
    a = lumen.nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    b = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(a, lumen.Tensor) and a.shape == () and a.dtype is lumen.float64
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)
    for p, q in zip(ours, theirs):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_single_tensor_in_place_and_empty():
    p = lumen.nn.Parameter(lumen.ones(4))
    p.grad = lumen.full((4,), 2.0)
    grad = p.grad
    total = lumen.nn.utils.clip_grad_norm_(p, max_norm=1.0)
    assert p.grad is grad  # scaled in place
    np.testing.assert_allclose(total.item(), 4.0)
    np.testing.assert_allclose(p.grad.numpy(), 2.0 / (4.0 + 1e-6))
    empty = lumen.nn.utils.clip_grad_norm_([lumen.nn.Parameter(lumen.ones(2))], 1.0)
    assert empty.item() == 0.0 and empty.shape == ()
    assert lumen.nn.utils.get_total_norm([]).item() == 0.0


def test_clip_grad_norm_nonfinite():
    p = lumen.nn.Parameter(lumen.ones(2))
    p.grad = lumen.tensor([1.0, math.inf])
    with pytest.raises(RuntimeError, match="non-finite"):
        lumen.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's for inf * 0, which torch gives silently
        assert math.isinf(lumen.nn.utils.clip_grad_norm_([p], 1.0).item())
    assert np.isnan(p.grad.numpy()[1])


def test_get_total_norm_and_clip_grads_with_norm_match_torch():
    ours, theirs = _params_with_grads(3, [(2, 3), (5,)])
    a = lumen.nn.utils.get_total_norm([p.grad for p in ours], 3.0)
    b = torch.nn.utils.get_total_norm([p.grad for p in theirs], 3.0)
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)
    lumen.nn.utils.clip_grads_with_norm_(ours, 0.5, a)
    torch.nn.utils.clip_grads_with_norm_(theirs, 0.5, b)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("clip_value", [0.5, 2])
def test_clip_grad_value_matches_torch(clip_value):
    ours, theirs = _params_with_grads(4, [(3, 2), (4,)], with_none=True)
    assert lumen.nn.utils.clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, q in zip(ours, theirs):
        if q.grad is not None:
            np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
            assert np.abs(p.grad.numpy()).max() <= clip_value


def test_parameters_to_vector_and_back():
    model = lumen.nn.Sequential(lumen.nn.Linear(3, 2), lumen.nn.Linear(2, 1))
    vec = lumen.nn.utils.parameters_to_vector(model.parameters())
    expected = np.concatenate([p.detach().numpy().reshape(-1) for p in model.parameters()])
    np.testing.assert_array_equal(vec.detach().numpy(), expected)
    assert vec.shape == (11,) and vec.requires_grad
    vec.sum().backward()  # differentiable: every parameter gets a gradient of ones
    assert all((p.grad.numpy() == 1).all() for p in model.parameters())
    new = lumen.arange(11, dtype=lumen.float32)
    lumen.nn.utils.vector_to_parameters(new, model.parameters())
    np.testing.assert_array_equal(lumen.nn.utils.parameters_to_vector(model.parameters()).detach().numpy(),
                                  np.arange(11))
    assert model[0].weight.shape == (2, 3) and isinstance(model[0].weight, lumen.nn.Parameter)
    with pytest.raises(TypeError, match="expected lumen.Tensor"):
        lumen.nn.utils.vector_to_parameters(np.arange(11.0), model.parameters())
    with pytest.raises(RuntimeError, match="too short"):
        lumen.nn.utils.vector_to_parameters(lumen.zeros(5), model.parameters())
