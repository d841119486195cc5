"""nn.init: gains, fan rules, distribution statistics, in-place semantics, the FCN bilinear kernel."""
import math

import numpy as np
import pytest

import lumen
import lumen.nn as nn
from lumen.nn import init


def _stats(t):
    v = t.detach().numpy().astype(np.float64).ravel()
    return v, v.mean(), v.std()


@pytest.mark.parametrize("name,param,expect", [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("conv_transpose2d", None, 1.0), ("sigmoid", None, 1.0),
    ("tanh", None, 5 / 3), ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)), ("selu", None, 0.75)])
def test_calculate_gain(name, param, expect):
    assert init.calculate_gain(name, param) == pytest.approx(expect, rel=1e-12)


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name, param in [("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("leaky_relu", None), ("selu", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_uniform_normal_constant_in_place():
    lumen.manual_seed(1)
    t = lumen.empty(200, 300)
    v0 = t._version
    assert init.uniform_(t, -2.0, 3.0) is t and t._version > v0
    v, mean, std = _stats(t)
    assert v.min() >= -2 and v.max() <= 3 and abs(mean - 0.5) < 0.02 and abs(std - 5 / math.sqrt(12)) < 0.02
    init.normal_(t, 1.0, 0.5)
    _, mean, std = _stats(t)
    assert abs(mean - 1) < 0.01 and abs(std - 0.5) < 0.01
    init.constant_(t, 0.3)
    assert np.all(t.numpy() == np.float32(0.3))
    init.zeros_(t)
    assert not t.numpy().any()
    init.ones_(t)
    assert np.all(t.numpy() == 1)


def test_parameters_are_filled_without_recording_a_graph():
    p = nn.Parameter(lumen.empty(4, 5))
    for fn in (init.xavier_uniform_, init.kaiming_normal_, init.zeros_):
        assert fn(p) is p
        assert p.grad_fn is None and p.is_leaf and p.requires_grad


@pytest.mark.parametrize("shape", [(64, 32), (128, 64, 3, 3)])
def test_xavier_and_kaiming_statistics(shape):
    lumen.manual_seed(2)
    fan_in = shape[1] * int(np.prod(shape[2:]))
    fan_out = shape[0] * int(np.prod(shape[2:]))
    t = lumen.empty(*shape, dtype=lumen.float64)
    cases = [
        (lambda: init.xavier_uniform_(t, gain=2.0), 2.0 * math.sqrt(2.0 / (fan_in + fan_out)), True),
        (lambda: init.xavier_normal_(t), math.sqrt(2.0 / (fan_in + fan_out)), False),
        (lambda: init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2.0 / fan_in), True),
        (lambda: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2.0 / fan_out), False),
        (lambda: init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(3 * fan_in), True),
    ]
    for fill, std, bounded in cases:
        fill()
        v, mean, sd = _stats(t)
        assert t.dtype == lumen.float64
        assert abs(sd / std - 1) < 0.05, (fill, sd, std)
        assert abs(mean) < 5 * std / math.sqrt(v.size)
        if bounded:
            assert np.abs(v).max() <= std * math.sqrt(3) * (1 + 1e-12)


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions.*\\(5,\\)"):
        init.xavier_uniform_(lumen.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(lumen.empty(3, 3), mode="fan_avg")
    with pytest.raises(TypeError, match="floating point"):
        init.uniform_(lumen.zeros(3, dtype=lumen.int64))


def test_seeded_reproducibility():
    a, b = lumen.empty(10, 10), lumen.empty(10, 10)
    lumen.manual_seed(7)
    init.kaiming_normal_(a)
    lumen.manual_seed(7)
    init.kaiming_normal_(b)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def _fcn_upsample_filt(size):
    """FCN's surgery.upsample_filt, transcribed from its published definition."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.ogrid[:size, :size]
    return (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)


@pytest.mark.parametrize("k", [3, 4, 5, 16, 64])
def test_bilinear_matches_fcn_interp(k):
    w = nn.Parameter(lumen.randn(5, 5, k, k))
    init.bilinear_(w)
    got = w.detach().numpy()
    filt = _fcn_upsample_filt(k)
    for i in range(5):
        for j in range(5):
            np.testing.assert_allclose(got[i, j], filt if i == j else 0, rtol=1e-6, atol=0)
    assert w.requires_grad and w.grad_fn is None


def test_bilinear_values_for_k4():
    # factor 2, center 1.5: the 1-d taps are 0.25, 0.75, 0.75, 0.25.
    np.testing.assert_allclose(init.bilinear_kernel(4)[0], [0.0625, 0.1875, 0.1875, 0.0625])


def test_bilinear_depthwise_and_upsamples_a_constant():
    w = lumen.empty(3, 1, 4, 4, dtype=lumen.float64)
    init.bilinear_(w)
    for c in range(3):
        np.testing.assert_allclose(w.numpy()[c, 0], _fcn_upsample_filt(4))
    up = nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1, bias=False)
    init.bilinear_(up.weight)
    x = lumen.ones(1, 2, 5, 5)
    y = up(x).detach().numpy()
    # interior pixels of a 2x bilinear upsampling of a constant image keep the constant
    np.testing.assert_allclose(y[:, :, 1:-1, 1:-1], 1.0, rtol=1e-6)


def test_bilinear_rejects_mismatched_channels():
    with pytest.raises(ValueError, match=r"got weight shape \(4, 3, 4, 4\)"):
        init.bilinear_(lumen.empty(4, 3, 4, 4))
    with pytest.raises(ValueError, match="4-d"):
        init.bilinear_(lumen.empty(4, 4))


@pytest.mark.parametrize("fn", [init.uniform_, init.normal_, init.xavier_uniform_, init.xavier_normal_,
                                init.kaiming_uniform_, init.kaiming_normal_])
def test_init_takes_a_generator_as_pytorch(fn):
    draws = [fn(lumen.empty(8, 4), generator=lumen.Generator().manual_seed(5)) for _ in range(2)]
    assert draws[0].equal(draws[1])
    assert not draws[0].equal(fn(lumen.empty(8, 4), generator=lumen.Generator().manual_seed(6)))
