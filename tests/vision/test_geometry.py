"""coord_map: the built-in layers' maps against what the layers compute, and the registry."""
from fractions import Fraction

import numpy as np
import pytest

import lumen
from lumen import nn
from lumen.vision.models import CoordMap, coord_map, fcn, register_coord_map
from lumen.vision.models import geometry
from lumen.vision.models.backbones import VGG16Backbone
from lumen.vision.models.geometry import chain_coord_map


@pytest.fixture(autouse=True)
def own_registry(monkeypatch):
    """Registrations made by a test stay in that test."""
    monkeypatch.setattr(geometry, "_REGISTRY", dict(geometry._REGISTRY))


def ramp(n):
    """(1, 1, n, n) with distinct positive values, so a zero is padding."""
    return np.arange(1, n * n + 1, dtype=np.float32).reshape(1, 1, n, n)


def assert_map_matches(layer, m, x, picks_centre):
    """Output pixel j holds the input at coordinate m^-1(j) wherever that is an input pixel."""
    with lumen.no_grad():
        out = layer(lumen.tensor(x)).detach().numpy()[0, 0]
    inv, n, checked = m.inverse(), x.shape[-1], 0
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            r, c = inv.scale * i + inv.offset, inv.scale * j + inv.offset
            if r.denominator == 1 and c.denominator == 1 and 0 <= r < n and 0 <= c < n and picks_centre(i, j):
                assert np.isclose(out[i, j], x[0, 0, int(r), int(c)], rtol=1e-6), (i, j, r, c)
                checked += 1
    assert checked >= 4


def centre_tap(layer):
    """A 1-channel kernel that passes only its centre pixel."""
    k = layer.kernel_size[0]
    w = np.zeros((1, 1, k, k), np.float32)
    w[0, 0, k // 2, k // 2] = 1.0
    with lumen.no_grad():
        layer.weight.copy_(lumen.tensor(w))


@pytest.mark.parametrize("k, s, p, d", [(3, 1, 1, 1), (3, 2, 0, 1), (5, 3, 4, 1), (3, 1, 2, 2), (1, 2, 0, 1),
                                        (7, 1, 100, 1)])
def test_convolution_map_is_where_the_kernel_centre_reads(k, s, p, d):
    conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
    centre_tap(conv)
    m = coord_map(conv)
    assert m == CoordMap(Fraction(1, s), Fraction(2 * p - d * (k - 1), 2 * s))
    assert_map_matches(conv, m, ramp(12), lambda i, j: True)


@pytest.mark.parametrize("k, s, p", [(3, 2, 1), (4, 2, 1), (3, 1, 0), (64, 32, 0)])
def test_transposed_convolution_map_puts_each_input_pixel_under_the_kernel_centre(k, s, p):
    up = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, bias=False)
    m = coord_map(up)
    assert m == CoordMap(Fraction(s), Fraction(k - 1, 2) - p)
    if k % 2:  # an even kernel has no centre pixel to test with
        centre_tap(up)
        assert_map_matches(up, m, ramp(5), lambda i, j: True)


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_average_pooling_map_is_the_window_centre_with_and_without_ceil_mode(ceil_mode):
    pool = nn.AvgPool2d(3, stride=2, padding=0, ceil_mode=ceil_mode)
    m = coord_map(pool)
    assert m == CoordMap(Fraction(1, 2), Fraction(-1, 2))
    assert coord_map(nn.MaxPool2d(3, stride=2, ceil_mode=ceil_mode)) == m
    x = ramp(10)  # the mean of a full window of a linear ramp is its centre
    full = (x.shape[-1] - 3) // 2
    assert_map_matches(pool, m, x, lambda i, j: i <= full and j <= full)


def test_same_and_valid_padding():
    assert coord_map(nn.Conv2d(1, 1, 3, padding="same")) == CoordMap()
    # PyTorch pads an even 'same' kernel one less at the top/left: the centre moves up half a pixel.
    assert coord_map(nn.Conv2d(1, 1, 4, padding="same")) == CoordMap(Fraction(1), Fraction(-1, 2))
    assert coord_map(nn.Conv2d(1, 1, 3, padding="valid")) == CoordMap(Fraction(1), Fraction(-1))


@pytest.mark.parametrize("layer", [nn.Tanh(), nn.ReLU(), nn.Sigmoid(), nn.Dropout(0.3), nn.BatchNorm2d(4),
                                   nn.LocalResponseNorm(5), nn.Identity(), nn.Softmax(dim=1), nn.LogSoftmax()])
def test_pointwise_layers_keep_pixels_in_place(layer):
    assert coord_map(layer) == CoordMap()


def test_softmax_across_pixels_has_no_map():
    with pytest.raises(ValueError, match=r"Softmax\(dim=2\) normalises across pixels"):
        coord_map(nn.Softmax(dim=2))


def test_containers_chain_their_layers():
    conv, pool, up = nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2, 2, ceil_mode=True), nn.ConvTranspose2d(1, 1, 4, 2)
    expected = coord_map(conv).then(coord_map(pool)).then(coord_map(up))
    assert expected == CoordMap(Fraction(1), Fraction(1))  # pool: x/2 - 1/4; up: 2y + 3/2
    assert coord_map(nn.Sequential(conv, nn.ReLU(), pool, up)) == expected
    assert coord_map(nn.ModuleList([conv, pool, up])) == expected
    assert coord_map(nn.Sequential(nn.Sequential(conv, pool), nn.Sequential(up))) == expected
    assert chain_coord_map([conv, pool, up]) == expected
    assert coord_map(nn.Sequential()) == CoordMap()


class Shift(nn.Module):
    """A user layer moving the map by a fixed amount (as a crop would)."""

    def __init__(self, by):
        super().__init__()
        self.by = by

    def forward(self, x):
        return x


def test_user_module_registered_by_decorator_and_its_subclasses():
    @register_coord_map(Shift)
    def shift_map(module):
        return CoordMap(Fraction(1), Fraction(-module.by))

    assert shift_map(Shift(2)) == CoordMap(Fraction(1), Fraction(-2))
    assert coord_map(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), Shift(3))) == CoordMap(Fraction(1), Fraction(-3))

    class HalfShift(Shift):
        pass

    assert coord_map(HalfShift(4)) == CoordMap(Fraction(1), Fraction(-4))  # found through the MRO
    register_coord_map(HalfShift, lambda module: CoordMap(Fraction(1), Fraction(-module.by, 2)))
    assert coord_map(HalfShift(4)) == CoordMap(Fraction(1), Fraction(-2))  # the nearest class wins
    assert coord_map(Shift(4)) == CoordMap(Fraction(1), Fraction(-4))


def test_coord_map_method_comes_before_a_registration():
    class Upsample2(nn.Module):
        def forward(self, x):
            return x

        def coord_map(self):
            return CoordMap(Fraction(2), Fraction(1, 2))

    class Registered(Upsample2):
        pass

    register_coord_map(Registered, lambda module: CoordMap())
    assert coord_map(Upsample2()) == CoordMap(Fraction(2), Fraction(1, 2))
    assert coord_map(Registered()) == CoordMap(Fraction(2), Fraction(1, 2))


def test_unknown_module_error_names_it_and_how_to_register():
    class Mystery(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"geometry of Mystery \(.*test_geometry.Mystery\) is unknown; "
                                        r"register it with @lumen.vision.models.register_coord_map\(Mystery\)"):
        coord_map(nn.Sequential(nn.ReLU(), Mystery()))
    for layer in (nn.Flatten(), nn.Linear(2, 2), nn.AdaptiveAvgPool2d(1)):
        with pytest.raises(TypeError, match=f"geometry of {type(layer).__name__}"):
            coord_map(layer)


def test_bad_registrations():
    with pytest.raises(TypeError, match="module_type must be a class"):
        register_coord_map(nn.ReLU(), lambda m: CoordMap())
    with pytest.raises(TypeError, match=r"register_coord_map\(Shift\): expected a function"):
        register_coord_map(Shift, 3)

    class Wrong(nn.Module):
        pass

    register_coord_map(Wrong, lambda m: (1, 0.5))
    with pytest.raises(TypeError, match="registered for Wrong returned a tuple, expected a CoordMap"):
        coord_map(Wrong())


class Swish(nn.Module):
    def forward(self, x):
        return x * lumen.sigmoid(x)


register_coord_map(Swish, lambda module: CoordMap())


def test_fcn_over_a_trunk_of_user_layers_keeps_the_reference_crops():
    trunk = VGG16Backbone(width=1 / 32)
    for name in [n for n in trunk._modules if n.startswith("relu")]:
        setattr(trunk, name, Swish())
    assert list(trunk._modules).index("relu1_1") == 1  # replaced in place, the order kept
    model = fcn.fcn8s(backbone=trunk)
    assert model.crop_offsets == {"score_pool4c": 5, "score_pool3c": 9, "score": 31}
    assert fcn.fcn32s(backbone=VGG16Backbone(width=1 / 32)).crop_offsets == {"score": 19}
    assert fcn.fcn16s(backbone=VGG16Backbone(width=1 / 32)).crop_offsets == {"score_pool4c": 5, "score": 27}
    with lumen.no_grad():
        assert tuple(model.eval()(lumen.randn(1, 3, 37, 41)).shape) == (1, 21, 37, 41)
