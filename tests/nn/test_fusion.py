"""lumen.nn.utils.fusion: batch norm folded into the convolution or Linear before it, as torch's."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
from lumen import nn
from lumen.nn.utils import fusion

torch = pytest.importorskip("torch")


def _bn_stats(bn, rng):
    with lumen.no_grad():
        bn.running_mean.copy_(lumen.tensor(rng.normal(size=bn.num_features).astype(np.float32)))
        bn.running_var.copy_(lumen.tensor(rng.uniform(0.2, 3.0, bn.num_features).astype(np.float32)))
        if bn.affine:
            bn.weight.copy_(lumen.tensor(rng.normal(size=bn.num_features).astype(np.float32)))
            bn.bias.copy_(lumen.tensor(rng.normal(size=bn.num_features).astype(np.float32)))
    return bn


def _to_torch(module, torch_module):
    torch_module.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                                  for k, v in module.state_dict().items()})
    return torch_module.eval()


@settings(max_examples=20, deadline=None)
@given(bias=st.booleans(), affine=st.booleans(), transpose=st.booleans(), seed=st.integers(0, 100))
def test_fuse_conv_bn_eval_matches_the_pair_and_torch(bias, affine, transpose, seed):
    rng = np.random.default_rng(seed)
    lumen.manual_seed(seed)
    conv = (nn.ConvTranspose2d if transpose else nn.Conv2d)(3, 5, 3, padding=1, bias=bias).eval()
    bn = _bn_stats(nn.BatchNorm2d(5, affine=affine, eps=1e-3), rng).eval()
    fused = fusion.fuse_conv_bn_eval(conv, bn, transpose=transpose)
    x = lumen.tensor(rng.normal(size=(2, 3, 6, 7)).astype(np.float32))
    with lumen.no_grad():
        np.testing.assert_allclose(fused(x).numpy(), bn(conv(x)).numpy(), rtol=1e-5, atol=1e-5)
    assert isinstance(fused.weight, nn.Parameter) and fused.bias is not None
    assert (conv.bias is None) == (not bias)  # the original is left as it was
    t_conv = _to_torch(conv, (torch.nn.ConvTranspose2d if transpose else torch.nn.Conv2d)(3, 5, 3, padding=1,
                                                                                          bias=bias))
    t_bn = _to_torch(bn, torch.nn.BatchNorm2d(5, affine=affine, eps=1e-3))
    t_fused = torch.nn.utils.fusion.fuse_conv_bn_eval(t_conv, t_bn, transpose=transpose)
    np.testing.assert_allclose(fused.weight.detach().numpy(), t_fused.weight.detach().numpy(), rtol=1e-6, atol=1e-7)
    # torch rounds (b - mean) * rsqrt(var + eps) before multiplying by the bn weight, Lumen (b - mean) by their
    # product: a few float32 roundings of that intermediate apart, which the bias's own size does not bound.
    intermediate = np.abs((t_conv.bias.detach().numpy() if bias else 0) - t_bn.running_mean.numpy()) * \
        np.abs(t_bn.weight.detach().numpy() if affine else 1) / np.sqrt(t_bn.running_var.numpy() + 1e-3)
    np.testing.assert_allclose(fused.bias.detach().numpy(), t_fused.bias.detach().numpy(), rtol=1e-6,
                               atol=4 * np.finfo(np.float32).eps * max(intermediate.max(), 1e-7))


def test_fuse_linear_bn_eval_and_float64_weights():
    rng = np.random.default_rng(3)
    linear = nn.Linear(6, 4).double().eval()
    bn = _bn_stats(nn.BatchNorm1d(4), rng).double().eval()
    fused = fusion.fuse_linear_bn_eval(linear, bn)
    x = lumen.tensor(rng.normal(size=(5, 6)))
    with lumen.no_grad():
        np.testing.assert_allclose(fused(x).numpy(), bn(linear(x)).numpy(), rtol=1e-12, atol=1e-12)
    assert fused.weight.dtype == lumen.float64
    t_fused = torch.nn.utils.fusion.fuse_linear_bn_eval(_to_torch(linear, torch.nn.Linear(6, 4).double()),
                                                       _to_torch(bn, torch.nn.BatchNorm1d(4).double()))
    np.testing.assert_allclose(fused.weight.detach().numpy(), t_fused.weight.detach().numpy(), rtol=1e-12)


def test_fusion_refuses_training_mode_and_mismatched_features():
    conv, bn = nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)
    with pytest.raises(AssertionError, match="Fusion only for eval"):
        fusion.fuse_conv_bn_eval(conv, bn)
    with pytest.raises(AssertionError, match="out_features == bn.num_features"):
        fusion.fuse_linear_bn_eval(nn.Linear(3, 4).eval(), nn.BatchNorm1d(5).eval())
    with pytest.raises(AssertionError, match="running_mean and bn.running_var must not be None"):
        fusion.fuse_conv_bn_eval(conv.eval(), nn.BatchNorm2d(4, track_running_stats=False).eval())
    assert lumen.nn.utils.fusion is fusion and lumen.nn.utils.fuse_conv_bn_eval is fusion.fuse_conv_bn_eval
    assert {"fuse_conv_bn_eval", "fuse_linear_bn_weights"} <= set(lumen.nn.utils.__all__) & set(torch.nn.utils.__all__)
