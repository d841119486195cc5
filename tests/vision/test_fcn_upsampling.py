"""FCN's fixed bilinear deconvolutions run as the separable upsampling (``fix_bilinear_``), equal to the
deconvolution with their weight, after a move and a cast, and in a net staged from another."""
import numpy as np

import lumen
from lumen import nn
from lumen.vision.models import fcn

NARROW = 1 / 32


def _upsampling_paths(model, x):
    """{name: grad_fn name of its output} for every ConvTranspose2d of ``model`` on input ``x``."""
    paths, handles = {}, []
    for name, module in model.named_children():
        if isinstance(module, nn.ConvTranspose2d):
            handles.append(module.register_forward_hook(
                lambda m, args, out, name=name: paths.__setitem__(name, type(out.grad_fn).__name__)))
    model(x)
    for h in handles:
        h.remove()
    return paths


def test_fixed_upsampling_takes_the_separable_path():
    lumen.manual_seed(0)
    x = lumen.randn(1, 3, 20, 24, requires_grad=True)
    m8 = fcn.fcn8s(width=NARROW)  # "paper": upscore8 fixed, the 2x ones learned
    assert _upsampling_paths(m8, x) == {"upscore2": "Conv2dBackwardData", "upscore_pool4": "Conv2dBackwardData",
                                        "upscore8": "SeparableResample"}
    assert set(_upsampling_paths(fcn.fcn8s(width=NARROW, upsampling="fixed"), x).values()) == {"SeparableResample"}
    m32 = fcn.fcn32s(width=NARROW).to(lumen.float64)  # a cast replaces the weight's storage
    assert _upsampling_paths(m32, x.double()) == {"upscore": "SeparableResample"}
    m16 = fcn.FCN16s.from_fcn32s(fcn.fcn32s(width=NARROW))
    assert _upsampling_paths(m16, x)["upscore16"] == "SeparableResample"


def test_separable_path_equals_the_deconvolution_with_the_weight():
    up = fcn.fcn32s(width=NARROW).upscore
    score = lumen.randn(1, 21, 3, 4)
    with lumen.no_grad():
        fast = up(score)
        dense = nn.functional.conv_transpose2d(score, up.weight, stride=up.stride)
    assert fast.shape == dense.shape == (1, 21, 128, 160)  # (3 - 1) * 32 + 64
    np.testing.assert_allclose(fast.numpy(), dense.numpy(), rtol=1e-5, atol=1e-6)
