"""Convolution, pooling, padding, upsampling, pixel-shuffle and fold layers against torch.nn: reprs, default
initialisation, forward values and gradients with torch's weights, output_size, errors."""
import math

import numpy as np
import pytest

import lumen
import lumen.nn as nn

torch = pytest.importorskip("torch")


def _copy_from(layer, tlayer):
    """layer with tlayer's parameters (as float64 if tlayer was made float64)."""
    layer.load_state_dict({k: lumen.tensor(v.detach().numpy()) for k, v in tlayer.state_dict().items()})
    return layer


def _same(build, shape, dtype=np.float64, rtol=1e-10, atol=1e-11, **forward):
    """build(nn) and build(torch.nn) print alike and, with torch's parameters, give its outputs and
    input/parameter gradients."""
    layer, tlayer = build(nn), build(torch.nn)
    assert repr(layer) == repr(tlayer)
    if dtype == np.float64:
        tlayer = tlayer.double()
        layer = layer.double()
    _copy_from(layer, tlayer)
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    lx, tx = lumen.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = layer(lx, **forward), tlayer(tx, **forward)
    if isinstance(ty, tuple):
        np.testing.assert_array_equal(y[1].numpy(), ty[1].numpy())
        y, ty = y[0], ty[0]
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)
    params = dict(layer.named_parameters())
    for name, p in tlayer.named_parameters():
        np.testing.assert_allclose(params[name].grad.numpy(), p.grad.numpy(), rtol=rtol, atol=atol)


CONVS = [
    (lambda m: m.Conv1d(2, 4, 3), (2, 2, 9)),
    (lambda m: m.Conv1d(4, 2, 2, stride=2, padding=1, dilation=2, groups=2, bias=False), (4, 9)),
    (lambda m: m.Conv1d(2, 3, 4, padding="same", dilation=1, padding_mode="reflect"), (1, 2, 7)),
    (lambda m: m.Conv1d(2, 3, 3, padding=2, padding_mode="circular"), (1, 2, 5)),
    (lambda m: m.Conv1d(2, 3, 3, padding="valid"), (1, 2, 5)),
    (lambda m: m.Conv2d(2, 3, (2, 3), padding="same", padding_mode="replicate"), (1, 2, 5, 6)),
    (lambda m: m.Conv3d(2, 4, 3), (1, 2, 4, 5, 5)),
    (lambda m: m.Conv3d(4, 4, (2, 3, 1), stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 2, 1), groups=4),
     (2, 4, 5, 6, 5)),
    (lambda m: m.Conv3d(2, 2, 2, padding="same", padding_mode="replicate"), (2, 4, 3, 5)),
    (lambda m: m.Conv3d(2, 2, 3, padding=1, padding_mode="reflect", bias=False), (1, 2, 3, 4, 5)),
    (lambda m: m.ConvTranspose1d(2, 4, 3, stride=2, padding=1, output_padding=1), (2, 2, 5)),
    (lambda m: m.ConvTranspose1d(4, 2, 2, groups=2, dilation=3, bias=False), (4, 5)),
    (lambda m: m.ConvTranspose3d(2, 4, (2, 3, 2), stride=(2, 1, 3), padding=(0, 1, 1), output_padding=(1, 0, 2)),
     (1, 2, 3, 4, 3)),
    (lambda m: m.ConvTranspose3d(4, 2, 2, groups=2, dilation=(2, 1, 1)), (4, 2, 3, 3)),
]


@pytest.mark.parametrize("build,shape", CONVS)
def test_conv_layers_match_torch(build, shape):
    _same(build, shape)


def test_conv_layers_float32_and_output_size():
    _same(lambda m: m.Conv3d(3, 4, 3, padding=1), (2, 3, 5, 6, 7), dtype=np.float32, rtol=1e-5, atol=1e-5)
    _same(lambda m: m.ConvTranspose1d(2, 3, 3, stride=3), (1, 2, 4), output_size=[13])
    _same(lambda m: m.ConvTranspose3d(2, 3, 3, stride=2, padding=1), (1, 2, 3, 3, 2), output_size=(1, 3, 6, 5, 4))
    with pytest.raises(ValueError, match=r"ConvTranspose3d: requested output size \(9, 5, 4\) is not reachable"):
        nn.ConvTranspose3d(2, 3, 3, stride=2, padding=1)(lumen.zeros((1, 2, 3, 3, 2)), output_size=(9, 5, 4))


@pytest.mark.parametrize("layer,fan_in", [(lambda: nn.Conv1d(6, 8, 5, groups=2), 15),
                                          (lambda: nn.Conv3d(4, 6, (2, 3, 3)), 72),
                                          (lambda: nn.ConvTranspose3d(4, 6, 2), 48),
                                          (lambda: nn.ConvTranspose1d(3, 8, 7, groups=1), 56)])
def test_conv_default_init_bounds(layer, fan_in):
    lumen.manual_seed(0)
    conv = layer()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) and the bias rule, as PyTorch
    for p in (conv.weight, conv.bias):
        v = p.detach().numpy()
        assert np.abs(v).max() <= bound * (1 + 1e-6) and np.abs(v).max() > 0.5 * bound


def test_conv_layer_errors():
    with pytest.raises(ValueError, match=r"Conv3d: padding='same' is not supported for strided convolutions"):
        nn.Conv3d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"ConvTranspose1d only supports padding_mode=\"zeros\""):
        nn.ConvTranspose1d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"kernel_size must be an int or 3 ints, got \(1, 2\)"):
        nn.Conv3d(1, 1, (1, 2))
    with pytest.raises(ValueError, match=r"Conv1d: padding must be an int or 1 ints, 'same' or 'valid', got 'full'"):
        nn.Conv1d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match=r"conv3d: expected a 4-d \(unbatched\) or 5-d \(batched\) input"):
        nn.Conv3d(1, 1, 1)(lumen.zeros((1, 1, 1)))


POOLS = [
    (lambda m: m.MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True), (2, 3, 9)),
    (lambda m: m.MaxPool1d(2, return_indices=True), (3, 8)),
    (lambda m: m.MaxPool3d((2, 3, 2), stride=(1, 2, 2), padding=1, return_indices=True), (1, 2, 4, 6, 5)),
    (lambda m: m.MaxPool3d(2, ceil_mode=True), (2, 5, 4, 3)),
    (lambda m: m.AvgPool1d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (2, 3, 8)),
    (lambda m: m.AvgPool2d(3, stride=2, padding=1, divisor_override=4), (1, 2, 7, 6)),
    (lambda m: m.AvgPool3d((2, 2, 3), stride=1, padding=(1, 0, 1), count_include_pad=False), (1, 2, 3, 4, 5)),
    (lambda m: m.AvgPool3d(2, ceil_mode=True, divisor_override=3), (2, 3, 5, 4)),
    (lambda m: m.AdaptiveAvgPool1d(4), (2, 3, 9)),
    (lambda m: m.AdaptiveAvgPool2d((None, 3)), (2, 3, 5, 7)),
    (lambda m: m.AdaptiveAvgPool3d((2, None, 3)), (1, 2, 5, 4, 7)),
    (lambda m: m.AdaptiveMaxPool1d(3, return_indices=True), (2, 3, 7)),
    (lambda m: m.AdaptiveMaxPool2d((3, 2)), (2, 3, 7, 5)),
    (lambda m: m.AdaptiveMaxPool2d(1, return_indices=True), (3, 5, 6)),
    (lambda m: m.AdaptiveMaxPool3d((2, None, 1), return_indices=True), (1, 2, 3, 4, 5)),
    (lambda m: m.LPPool1d(2, 3, stride=2), (2, 3, 9)),
    (lambda m: m.LPPool2d(3, (2, 3), ceil_mode=True), (1, 2, 7, 7)),
    (lambda m: m.LPPool3d(2, 2), (1, 2, 4, 4, 4)),
]


@pytest.mark.parametrize("build,shape", POOLS)
def test_pool_layers_match_torch(build, shape):
    # LPPool of a positive input: PyTorch's formula takes real powers
    _same(build, shape) if "LPPool" not in repr(build(nn)) else _same_positive(build, shape)


def _same_positive(build, shape):
    layer, tlayer = build(nn), build(torch.nn)
    assert repr(layer) == repr(tlayer)
    x = np.random.default_rng(0).random(shape) + 0.5
    lx, tx = lumen.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = layer(lx), tlayer(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_unpool_layers_match_torch(dims):
    pool, tpool = getattr(nn, f"MaxPool{dims}d")(2, return_indices=True), \
        getattr(torch.nn, f"MaxPool{dims}d")(2, return_indices=True)
    unpool, tunpool = getattr(nn, f"MaxUnpool{dims}d")(2), getattr(torch.nn, f"MaxUnpool{dims}d")(2)
    assert repr(unpool) == repr(tunpool)
    x = np.random.default_rng(dims).standard_normal((1, 2) + (5, 4, 6)[:dims])
    y, idx = pool(lumen.tensor(x))
    ty, tidx = tpool(torch.tensor(x))
    size = x.shape[-dims:]
    np.testing.assert_array_equal(unpool(y, idx, output_size=size).numpy(),
                                  tunpool(ty, tidx, output_size=size).numpy())


PADS = [
    (lambda m: m.ZeroPad1d(2), (2, 3, 4)), (lambda m: m.ZeroPad2d((1, 0, 2, 3)), (1, 2, 3, 4)),
    (lambda m: m.ZeroPad3d(1), (1, 2, 2, 3, 2)), (lambda m: m.ZeroPad2d((-1, 2, 0, -1)), (1, 2, 3, 4)),
    (lambda m: m.ConstantPad1d((0, 3), 2.5), (2, 4)), (lambda m: m.ConstantPad2d(1, -1.0), (1, 2, 3, 4)),
    (lambda m: m.ConstantPad3d((1, 0, 0, 2, 1, 1), 0.5), (2, 2, 3, 2)),
    (lambda m: m.ReflectionPad1d((2, 1)), (2, 3, 4)), (lambda m: m.ReflectionPad2d(2), (1, 2, 3, 4)),
    (lambda m: m.ReflectionPad3d((1, 1, 2, 0, 1, 2)), (1, 2, 3, 3, 2)),
    (lambda m: m.ReplicationPad1d(3), (3, 2)), (lambda m: m.ReplicationPad2d((0, 2, 3, 1)), (1, 2, 3, 4)),
    (lambda m: m.ReplicationPad3d(2), (1, 1, 2, 3, 2)),
    (lambda m: m.CircularPad1d(2), (2, 3, 4)), (lambda m: m.CircularPad2d((1, 2, 0, 1)), (1, 2, 3, 4)),
    (lambda m: m.CircularPad3d(1), (1, 2, 2, 3, 2)),
]


@pytest.mark.parametrize("build,shape", PADS)
def test_padding_layers_match_torch(build, shape):
    _same(build, shape)


RESAMPLERS = [
    (lambda m: m.Upsample(scale_factor=2), (1, 2, 3, 4)),
    (lambda m: m.Upsample(size=(5, 7), mode="bilinear"), (1, 2, 3, 4)),
    (lambda m: m.Upsample(scale_factor=(1.5, 2.5), mode="bicubic", align_corners=True), (1, 2, 3, 4)),
    (lambda m: m.Upsample(size=7, mode="linear", align_corners=False), (2, 3, 4)),
    (lambda m: m.Upsample(scale_factor=1.5, mode="trilinear", recompute_scale_factor=True), (1, 1, 2, 3, 4)),
    (lambda m: m.Upsample(size=(2, 3), mode="area"), (1, 2, 5, 7)),
    (lambda m: m.Upsample(scale_factor=3, mode="nearest-exact"), (1, 2, 3)),
    (lambda m: m.UpsamplingNearest2d(scale_factor=2), (1, 2, 3, 4)),
    (lambda m: m.UpsamplingNearest2d(size=(5, 3)), (1, 2, 3, 4)),
    (lambda m: m.UpsamplingBilinear2d(scale_factor=2), (1, 2, 3, 4)),
    (lambda m: m.UpsamplingBilinear2d(size=(4, 9)), (1, 2, 3, 4)),
    (lambda m: m.PixelShuffle(2), (2, 8, 3, 2)),
    (lambda m: m.PixelUnshuffle(3), (1, 2, 6, 9)),
    (lambda m: m.Unfold((2, 3), dilation=(1, 2), padding=1, stride=(2, 1)), (2, 3, 5, 6)),
    (lambda m: m.Fold((4, 5), 2, padding=1, stride=2), (2, 12, 9)),
    (lambda m: m.Fold(3, 2, dilation=2, padding=1), (8, 9)),
]


@pytest.mark.parametrize("build,shape", RESAMPLERS)
def test_resampling_layers_match_torch(build, shape):
    _same(build, shape)


def test_padding_layer_errors_come_from_pad():
    with pytest.raises(RuntimeError, match=r"pad: reflect padding \(3, 3\) must be smaller than the padded dims"):
        nn.ReflectionPad1d(3)(lumen.zeros((1, 1, 3)))
    with pytest.raises(RuntimeError, match=r"pad: pad must be an even-length sequence"):
        nn.ZeroPad2d((1, 2, 3))(lumen.zeros((1, 1, 3, 3)))


def test_conv_forward_hook_point_as_torch():
    """A weight-standardised convolution written against PyTorch (forward calls ``self._conv_forward`` with its
    own weight) runs unchanged and gives torch's numbers."""
    def build(m):
        class WSConv(m.Conv2d):
            def forward(self, x):
                w = self.weight
                w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
                return self._conv_forward(x, w, self.bias)
        return WSConv(2, 3, 3, padding=1, padding_mode="reflect")
    layer, tlayer = build(nn), build(torch.nn)
    tlayer = tlayer.double()
    _copy_from(layer.double(), tlayer)
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 4))
    np.testing.assert_allclose(layer(lumen.tensor(x)).detach().numpy(), tlayer(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-11)
