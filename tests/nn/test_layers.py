"""Layers: output shapes, PyTorch's default initialisation, forward parity with torch, buffers, repr."""
import math

import numpy as np
import pytest

import lumen
import lumen.nn as nn


@pytest.fixture(autouse=True)
def _seed():
    lumen.manual_seed(0)


def _np(t):
    return t.detach().numpy()


def _check_uniform(values, bound):
    """Samples of U(-bound, bound): inside the bound, mean ~ 0 and std ~ bound/sqrt(3)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    assert np.abs(v).max() <= bound * (1 + 1e-6)
    assert np.abs(v).max() > 0.9 * bound
    sd = bound / math.sqrt(3)
    assert abs(v.mean()) < 5 * sd / math.sqrt(v.size)
    assert abs(v.std() / sd - 1) < 0.05


def test_conv2d_shape_and_default_init():
    conv = nn.Conv2d(16, 64, 3, stride=2, padding=1)
    assert conv.weight.shape == (64, 16, 3, 3) and conv.bias.shape == (64,)
    assert isinstance(conv.weight, nn.Parameter) and conv.weight.dtype == lumen.float32
    _check_uniform(_np(conv.weight), 1 / math.sqrt(16 * 9))  # kaiming_uniform_(a=sqrt(5))
    b = _np(conv.bias)
    assert np.abs(b).max() <= 1 / math.sqrt(16 * 9)
    y = conv(lumen.randn(2, 16, 9, 11))
    assert y.shape == (2, 64, 5, 6) and y.dtype == lumen.float32
    grouped = nn.Conv2d(8, 4, (3, 5), groups=2, bias=False, dilation=(1, 2))
    assert grouped.weight.shape == (4, 4, 3, 5) and grouped.bias is None
    assert grouped(lumen.randn(1, 8, 10, 12)).shape == (1, 4, 8, 4)


def test_conv2d_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"in_channels \(5\) must be divisible by groups \(2\)"):
        nn.Conv2d(5, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"conv2d: input of shape \(1, 5, 8, 8\) has 5 channels.*expects 3"):
        conv(lumen.zeros(1, 5, 8, 8))
    with pytest.raises(ValueError, match=r"4-d \(N, C, H, W\).*\(3, 8, 8\)"):
        conv(lumen.zeros(3, 8, 8))


def test_conv_transpose2d_shape_init_and_output_size():
    up = nn.ConvTranspose2d(21, 21, 4, stride=2, bias=False)
    assert up.weight.shape == (21, 21, 4, 4)
    _check_uniform(_np(up.weight), 1 / math.sqrt(21 * 16))  # PyTorch's fan_in uses dim 1 here too
    x = lumen.randn(1, 21, 16, 16)
    assert up(x).shape == (1, 21, 34, 34)  # (16-1)*2 + 4
    up2 = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert up2.weight.shape == (4, 3, 3, 3)
    assert up2(lumen.randn(2, 4, 5, 5)).shape == (2, 6, 10, 10)
    up3 = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)
    assert up3(lumen.randn(1, 2, 5, 5), output_size=(10, 9)).shape == (1, 2, 10, 9)
    with pytest.raises(ValueError, match="not reachable"):
        up3(lumen.randn(1, 2, 5, 5), output_size=(12, 12))
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(1, 1, 3, stride=1, output_padding=1)


def test_linear_shape_and_init():
    fc = nn.Linear(400, 30)
    assert fc.weight.shape == (30, 400) and fc.bias.shape == (30,)
    _check_uniform(_np(fc.weight), 1 / 20)
    assert np.abs(_np(fc.bias)).max() <= 1 / 20
    assert fc(lumen.randn(5, 7, 400)).shape == (5, 7, 30)
    with pytest.raises(ValueError, match=r"linear: input of shape \(5, 300\) does not match weight of shape \(30, 400\)"):
        fc(lumen.randn(5, 300))
    assert nn.Linear(3, 2, dtype=lumen.float64).weight.dtype == lumen.float64


def test_pooling_activation_flatten_shapes():
    x = lumen.randn(2, 3, 7, 9)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 3, 4)
    assert nn.MaxPool2d(2, stride=2, ceil_mode=True)(x).shape == (2, 3, 4, 5)  # Caffe rounding
    y, idx = nn.MaxPool2d(3, stride=2, padding=1, return_indices=True)(x)
    assert y.shape == idx.shape == (2, 3, 4, 5) and idx.dtype == lumen.int64
    assert nn.AvgPool2d(3, stride=2)(x).shape == (2, 3, 3, 4)
    assert nn.AdaptiveAvgPool2d((1, 1))(x).shape == (2, 3, 1, 1)
    assert nn.AdaptiveAvgPool2d(2)(x).shape == (2, 3, 2, 2)
    assert nn.LocalResponseNorm(5)(x).shape == x.shape
    assert nn.Flatten()(x).shape == (2, 189)
    assert nn.Flatten(0, 1)(x).shape == (6, 7, 9)
    assert nn.Identity(54, unused="x")(x) is x
    r = nn.ReLU()(x)
    assert (_np(r) >= 0).all() and np.array_equal(_np(r), np.maximum(_np(x), 0))
    z = x.clone()
    assert nn.ReLU(inplace=True)(z) is z and (_np(z) >= 0).all()


def test_dropout_train_and_eval():
    d = nn.Dropout(0.25)
    x = lumen.ones(200, 100)
    y = _np(d(x))
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    d.eval()
    assert np.array_equal(_np(d(x)), _np(x))
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_batchnorm2d_buffers_and_running_stats():
    bn = nn.BatchNorm2d(3)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert bn.num_batches_tracked.dtype == lumen.int64
    x = lumen.randn(8, 3, 4, 4) * 2 + 1
    y = bn(x)
    xn = _np(x)
    mean, var = xn.mean(axis=(0, 2, 3)), xn.var(axis=(0, 2, 3))
    np.testing.assert_allclose(_np(y).mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(_np(bn.running_mean), 0.1 * mean, rtol=1e-5)
    n = 8 * 4 * 4
    np.testing.assert_allclose(_np(bn.running_var), 0.9 + 0.1 * var * n / (n - 1), rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    y_eval = bn(x)
    expect = (xn - _np(bn.running_mean)[:, None, None]) / np.sqrt(_np(bn.running_var)[:, None, None] + 1e-5)
    np.testing.assert_allclose(_np(y_eval), expect, rtol=1e-4, atol=1e-5)
    assert bn.num_batches_tracked.item() == 1
    cumulative = nn.BatchNorm2d(3, momentum=None)
    cumulative(x)
    cumulative(x * 0 + 2)
    np.testing.assert_allclose(_np(cumulative.running_mean), (mean + 2) / 2, rtol=1e-5)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean of shape \(3,\) does not match the 4 channels"):
        bn(lumen.zeros(2, 4, 3, 3))


def test_losses():
    logits = lumen.randn(4, 5, 3, 3)
    target = lumen.randint(0, 5, (4, 3, 3))
    target[0, 0, 0] = 255
    loss = nn.CrossEntropyLoss(ignore_index=255, reduction="sum")(logits, target)
    ln = _np(logits)
    logp = ln - np.log(np.exp(ln).sum(axis=1, keepdims=True))
    t = _np(target)
    mask = t != 255
    picked = np.take_along_axis(logp, np.where(mask, t, 0)[:, None], axis=1)[:, 0]
    np.testing.assert_allclose(loss.item(), -(picked * mask).sum(), rtol=1e-5)
    nll = nn.NLLLoss()(lumen.tensor(logp[:, :, 0, 0]), lumen.tensor(np.where(mask, t, 0)[:, 0, 0]))
    np.testing.assert_allclose(nll.item(), -picked[:, 0, 0].mean(), rtol=1e-5)
    weight = lumen.tensor([1.0, 2.0, 1.0, 1.0, 1.0])
    ce = nn.CrossEntropyLoss(weight=weight)
    assert "weight" in dict(ce.named_buffers())
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.CrossEntropyLoss(reduction="avg")


def test_containers_hold_layers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 10))
    assert model(lumen.randn(2, 1, 8, 8)).shape == (2, 10)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "4.weight", "4.bias"]


def test_seeded_init_is_reproducible():
    lumen.manual_seed(123)
    a = _np(nn.Conv2d(3, 8, 3).weight)
    lumen.manual_seed(123)
    b = _np(nn.Conv2d(3, 8, 3).weight)
    np.testing.assert_array_equal(a, b)


# ---- parity with torch, where it is importable -----------------------------------------------

def _copy_params(dst, src):
    """Copy a torch module's parameters into a lumen module with the same names."""
    import torch  # noqa: F401
    sd = {k: lumen.tensor(v.detach().numpy()) for k, v in src.state_dict().items()}
    dst.load_state_dict(sd)


@pytest.mark.parametrize("kind", ["conv", "conv_reflect", "conv_circular", "conv_replicate", "deconv",
                                  "linear", "bn", "lrn"])
def test_forward_matches_torch(kind):
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    make = {
        "conv": lambda m: m.Conv2d(3, 5, 3, stride=2, padding=2, dilation=2),
        "conv_reflect": lambda m: m.Conv2d(3, 4, 3, padding=2, padding_mode="reflect"),
        "conv_circular": lambda m: m.Conv2d(3, 4, (3, 5), padding=(1, 2), padding_mode="circular"),
        "conv_replicate": lambda m: m.Conv2d(3, 4, 3, padding=1, padding_mode="replicate"),
        "deconv": lambda m: m.ConvTranspose2d(3, 4, 4, stride=2, padding=1, output_padding=1),
        "linear": lambda m: m.Linear(7, 3),
        "bn": lambda m: m.BatchNorm2d(3),
        "lrn": lambda m: m.LocalResponseNorm(3, alpha=1e-2, beta=0.75, k=2.0),
    }[kind]
    ref, ours = make(tnn), make(nn)
    assert repr(ours) == repr(ref)
    _copy_params(ours, ref)
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7) if kind != "linear" else (4, 7))
    x = x.astype(np.float32)
    expect = ref(torch.from_numpy(x)).detach().numpy()
    got = _np(ours(lumen.tensor(x)))
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-5)
    if kind == "bn":
        for name in ("running_mean", "running_var"):
            np.testing.assert_allclose(_np(getattr(ours, name)), getattr(ref, name).numpy(), rtol=1e-5)


def test_reprs_match_torch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    for build in (lambda m: m.MaxPool2d(2, stride=2, ceil_mode=True),
                  lambda m: m.AvgPool2d(3, stride=1, padding=1),
                  lambda m: m.AdaptiveAvgPool2d((6, 6)),
                  lambda m: m.Dropout(0.5),
                  lambda m: m.ReLU(inplace=True),
                  lambda m: m.Flatten(),
                  lambda m: m.Conv2d(3, 8, 1, bias=False, groups=1),
                  lambda m: m.ConvTranspose2d(21, 21, 64, stride=32, bias=False),
                  lambda m: m.Sequential(m.Linear(2, 3), m.ReLU()),
                  lambda m: m.CrossEntropyLoss()):
        assert repr(build(nn)) == repr(build(tnn))


def test_conv2d_string_padding():
    conv = nn.Conv2d(3, 4, 3, padding="same")
    assert conv(lumen.randn(1, 3, 7, 9)).shape == (1, 4, 7, 9) and "padding=same" in repr(conv)
    assert nn.Conv2d(3, 4, 3, padding="valid")(lumen.randn(1, 3, 7, 9)).shape == (1, 4, 5, 7)
    with pytest.raises(ValueError, match="'same' or 'valid', got 'full'"):
        nn.Conv2d(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match="ConvTranspose2d: padding must be an int or a pair"):
        nn.ConvTranspose2d(3, 4, 3, padding="same")
