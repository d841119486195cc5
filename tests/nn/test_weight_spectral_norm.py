"""nn.utils.weight_norm / spectral_norm (the hook-based API), their removal, skip_init and the deprecated
clip_grad_norm: parameter and buffer names, values and gradients against torch from the same starting
values (torch's random u/v copied in), float64 gradchecks, errors and warnings."""
import types
import warnings

import numpy as np
import pytest

import lumen
import lumen.nn as nn
from lumen.autograd import gradcheck
from lumen.nn.utils.weight_norm import norm_except_dim

torch = pytest.importorskip("torch")


def _weight_normed(lib, make, **kw):
    with pytest.warns(FutureWarning, match="weight_norm` is deprecated"):
        return lib.nn.utils.weight_norm(make(lib), **kw)


def _compare_step(lmod, tmod, x):
    ly, ty = lmod(lumen.tensor(x)), tmod(torch.tensor(x))
    np.testing.assert_allclose(ly.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-13)
    w = np.random.default_rng(1).standard_normal(ty.shape)
    (ly * lumen.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    for (lname, lp), (tname, tp) in zip(lmod.named_parameters(), tmod.named_parameters()):
        assert lname == tname
        np.testing.assert_allclose(lp.grad.numpy(), tp.grad.numpy(), rtol=1e-11, atol=1e-12, err_msg=lname)


LAYERS = {"linear": (lambda lib: lib.nn.Linear(3, 4), (5, 3)),
          "conv2d": (lambda lib: lib.nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
          "conv_transpose2d": (lambda lib: lib.nn.ConvTranspose2d(2, 3, 3, stride=2), (2, 2, 3, 3))}


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("dim", [0, 1, -1, -2, None])
def test_weight_norm_matches_torch(layer, dim):
    make, shape = LAYERS[layer]
    torch.manual_seed(0)
    tmod = _weight_normed(torch, lambda lib: make(lib).double(), dim=dim)
    lmod = _weight_normed(lumen, lambda lib: make(lib).double(), dim=dim)
    assert [n for n, _ in lmod.named_parameters()] == [n for n, _ in tmod.named_parameters()]
    lmod.load_state_dict({k: lumen.tensor(v.detach().numpy()) for k, v in tmod.state_dict().items()})
    assert lmod.weight_g.shape == tuple(tmod.weight_g.shape)
    _compare_step(lmod, tmod, np.random.default_rng(2).standard_normal(shape))
    nn.utils.remove_weight_norm(lmod)
    torch.nn.utils.remove_weight_norm(tmod)
    assert [n for n, _ in lmod.named_parameters()] == [n for n, _ in tmod.named_parameters()] == ["bias", "weight"]
    assert isinstance(lmod.weight, nn.Parameter) and not lmod._forward_pre_hooks
    np.testing.assert_allclose(lmod.weight.detach().numpy(), tmod.weight.detach().numpy(), rtol=1e-13)


def test_weight_norm_starts_as_the_original_weight_and_is_gradchecked():
    layer = nn.Linear(3, 4).double()
    weight = layer.weight.detach().clone()
    with pytest.warns(FutureWarning):
        nn.utils.weight_norm(layer, dim=1)
    np.testing.assert_allclose(layer.weight.detach().numpy(), weight.numpy(), rtol=1e-14)
    g = lumen.tensor(np.random.default_rng(3).uniform(0.5, 2, (1, 3)), requires_grad=True)
    v = lumen.tensor(np.random.default_rng(4).standard_normal((4, 3)), requires_grad=True)
    assert gradcheck(lambda g, v: v * (g / norm_except_dim(v, 2, 1)), (g, v))
    assert gradcheck(lambda v: norm_except_dim(v, 2, -1), (v,))


def test_weight_norm_errors_as_torch():
    with pytest.warns(FutureWarning):
        layer = nn.utils.weight_norm(nn.Linear(3, 4))
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks on the same parameter weight"):
        with pytest.warns(FutureWarning):
            nn.utils.weight_norm(layer)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found in Linear"):
        nn.utils.remove_weight_norm(nn.Linear(3, 4))


def _spectral_twins(make, **kw):
    torch.manual_seed(5)
    tmod = torch.nn.utils.spectral_norm(make(torch).double(), **kw)
    lmod = nn.utils.spectral_norm(make(lumen).double(), **kw)
    assert sorted(lmod.state_dict()) == sorted(tmod.state_dict())
    assert [n for n, _ in lmod.named_parameters()] == [n for n, _ in tmod.named_parameters()]
    # torch's random starting u and v (and its weights) copied in
    lmod.load_state_dict({k: lumen.tensor(v.detach().numpy()) for k, v in tmod.state_dict().items()})
    return lmod, tmod


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("n_power_iterations", [1, 3])
def test_spectral_norm_matches_torch(layer, n_power_iterations):
    make, shape = LAYERS[layer]
    lmod, tmod = _spectral_twins(make, n_power_iterations=n_power_iterations, eps=1e-10)
    assert lmod.weight_u.shape == tuple(tmod.weight_u.shape)
    x = np.random.default_rng(6).standard_normal(shape)
    for step in range(3):  # training mode: u and v move at each forward
        _compare_step(lmod, tmod, x)
        for buffer in ("weight_u", "weight_v"):
            np.testing.assert_allclose(getattr(lmod, buffer).numpy(), getattr(tmod, buffer).numpy(), rtol=1e-12,
                                       atol=1e-13, err_msg=f"{buffer} after forward {step}")
        lmod.zero_grad()
        tmod.zero_grad()
    lmod.eval()
    tmod.eval()
    u = lmod.weight_u.clone()
    _compare_step(lmod, tmod, x)
    np.testing.assert_array_equal(lmod.weight_u.numpy(), u.numpy())  # eval: no power iteration
    nn.utils.remove_spectral_norm(lmod)
    torch.nn.utils.remove_spectral_norm(tmod)
    assert sorted(lmod.state_dict()) == sorted(tmod.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(lmod.weight.detach().numpy(), tmod.weight.detach().numpy(), rtol=1e-12)


def test_spectral_norm_divides_by_the_largest_singular_value():
    layer = nn.utils.spectral_norm(nn.Linear(6, 5).double(), n_power_iterations=50)
    layer(lumen.zeros(1, 6, dtype=lumen.float64))
    assert np.linalg.svd(layer.weight.detach().numpy(), compute_uv=False)[0] == pytest.approx(1.0, rel=1e-10)


def test_spectral_norm_weight_gradcheck():
    layer = nn.utils.spectral_norm(nn.Linear(3, 4).double())
    hook = next(iter(layer._forward_pre_hooks.values()))

    def normalised(weight):  # the hook's own computation, u and v held (as in eval mode)
        holder = types.SimpleNamespace(weight_orig=weight, weight_u=layer.weight_u, weight_v=layer.weight_v)
        return hook.compute_weight(holder, do_power_iteration=False)
    orig = lumen.tensor(layer.weight_orig.detach().numpy(), requires_grad=True)
    assert gradcheck(normalised, (orig,))


def test_spectral_norm_errors_as_torch():
    layer = nn.utils.spectral_norm(nn.Linear(3, 4))
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks on the same parameter weight"):
        nn.utils.spectral_norm(layer)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found in Linear"):
        nn.utils.remove_spectral_norm(nn.Linear(3, 4))
    with pytest.raises(ValueError, match="n_power_iterations to be positive, but got n_power_iterations=0"):
        nn.utils.spectral_norm(nn.Linear(3, 4), n_power_iterations=0)


def test_clip_grad_norm_is_the_deprecated_clip_grad_norm_():
    params = [nn.Parameter(lumen.ones(3)), nn.Parameter(lumen.ones(2))]
    for p in params:
        p.grad = lumen.full(p.shape, 3.0)
    with pytest.warns(FutureWarning, match="clip_grad_norm` is now deprecated"):
        total = nn.utils.clip_grad_norm(params, 1.0)
    assert total.item() == pytest.approx(np.sqrt(5 * 9.0))
    assert np.linalg.norm(np.concatenate([p.grad.numpy() for p in params])) == pytest.approx(1.0, rel=1e-6)


def test_skip_init():
    layer = nn.utils.skip_init(nn.Linear, 3, 4, bias=False, dtype=lumen.float64)
    assert layer.weight.shape == (4, 3) and layer.weight.dtype == lumen.float64 and layer.bias is None
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.device.type == "cpu"
    with pytest.raises(RuntimeError, match="Module class"):
        nn.utils.skip_init(object)
    with pytest.raises(RuntimeError, match="'device' arg"):
        nn.utils.skip_init(nn.ReLU)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.utils.skip_init(nn.Conv2d, 1, 2, 3, device="cpu")


# ---- torch.nn.utils.parametrize / parametrizations ------------------------------------------------------

def _parametrized_twins(make, apply):
    torch.manual_seed(7)
    tmod = apply(torch, make(torch).double())
    lmod = apply(lumen, make(lumen).double())
    assert sorted(lmod.state_dict()) == sorted(tmod.state_dict())
    assert [n for n, _ in lmod.named_parameters()] == [n for n, _ in tmod.named_parameters()]
    assert repr(lmod) == repr(tmod) and type(lmod).__name__ == type(tmod).__name__
    lmod.load_state_dict({k: lumen.tensor(v.detach().numpy()) for k, v in tmod.state_dict().items()})
    return lmod, tmod


APPLY = {"weight_norm": lambda lib, m: lib.nn.utils.parametrizations.weight_norm(m, dim=1),
         "spectral_norm": lambda lib, m: lib.nn.utils.parametrizations.spectral_norm(m, n_power_iterations=2)}


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("kind", sorted(APPLY))
def test_parametrizations_match_torch(layer, kind):
    make, shape = LAYERS[layer]
    lmod, tmod = _parametrized_twins(make, APPLY[kind])
    x = np.random.default_rng(8).standard_normal(shape)
    for _ in range(2):
        _compare_step(lmod, tmod, x)
        for (name, ours), (_, theirs) in zip(lmod.named_buffers(), tmod.named_buffers()):
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-13, err_msg=name)
        lmod.zero_grad()
        tmod.zero_grad()
    lumen.nn.utils.parametrize.remove_parametrizations(lmod, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(tmod, "weight")
    assert type(lmod) is make(lumen).__class__ and sorted(lmod.state_dict()) == sorted(tmod.state_dict())
    np.testing.assert_allclose(lmod.weight.detach().numpy(), tmod.weight.detach().numpy(), rtol=1e-12)


class _Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(-1, -2)

    def right_inverse(self, a):
        return a.triu()


class _Scale(nn.Module):
    def forward(self, x):
        return 2 * x

    def right_inverse(self, x):
        return x / 2


def test_register_parametrization_chain_setter_cache_and_removal():
    layer = nn.Linear(3, 3).double()
    parametrize = nn.utils.parametrize
    parametrize.register_parametrization(layer, "weight", _Symmetric())
    parametrize.register_parametrization(layer, "weight", _Scale())
    assert parametrize.is_parametrized(layer) and parametrize.is_parametrized(layer, "weight")
    assert not parametrize.is_parametrized(layer, "bias")
    assert parametrize.type_before_parametrizations(layer) is nn.Linear
    w = layer.weight.detach().numpy()
    np.testing.assert_allclose(w, w.T)
    target = np.array([[1.0, 2, 3], [2, 4, 5], [3, 5, 6]])
    layer.weight = lumen.tensor(target)  # stored through the chain's right_inverse
    np.testing.assert_allclose(layer.weight.detach().numpy(), target)
    np.testing.assert_allclose(layer.parametrizations.weight.original.detach().numpy(), np.triu(target) / 2)
    with parametrize.cached():
        assert layer.weight is layer.weight
    assert layer.weight is not layer.weight
    x = lumen.tensor(np.random.default_rng(9).standard_normal((2, 3)))
    layer(x).sum().backward()
    assert layer.parametrizations.weight.original.grad is not None
    parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
    assert type(layer) is nn.Linear and not hasattr(layer, "parametrizations")
    np.testing.assert_allclose(layer.weight.detach().numpy(), np.triu(target) / 2)
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        parametrize.remove_parametrizations(layer, "weight")
    with pytest.raises(ValueError, match="no parameter or buffer with name 'kernel'"):
        parametrize.register_parametrization(layer, "kernel", _Scale())

    class Shrink(nn.Module):
        def forward(self, x):
            return x[:1]
    with pytest.raises(ValueError, match="shape"):
        parametrize.register_parametrization(layer, "weight", Shrink())
    assert type(layer) is nn.Linear
