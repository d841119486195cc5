"""AlexNet/CaffeNet, VGG, GoogLeNet: sizes, keys, shapes, modes, init, and convolutionalize()."""
import copy
import math

import numpy as np
import pytest

import lumen
from lumen import nn
from lumen.vision import models as M


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def arr(t):
    return t.detach().numpy()


# Full-size nets are costly to build (fc6 alone is 38M or 103M weights): build each once per file.
@pytest.fixture(scope="module")
def alex():
    return M.alexnet()


@pytest.fixture(scope="module")
def caffe():
    return M.caffenet()


@pytest.fixture(scope="module")
def vgg11():
    return M.vgg11()


# ---- parameter counts --------------------------------------------------------------------------
# Published figures (torchvision docs: AlexNet 61,100,840, VGG16 138,357,544, VGG16-BN 138,365,992)
# and, for the rest, the layer arithmetic of each paper's table, redone independently here.

def _vgg_count(cfg, bn, classes=1000):
    total, c_in = 0, 3
    for v in cfg:
        if v != "M":
            total += c_in * v * 9 + v + (2 * v if bn else 0)
            c_in = v
    return total + 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * classes + classes


def _googlenet_count(aux):
    rows = [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64),
            (480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64),
            (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
            (528, 256, 160, 320, 32, 128, 128), (832, 256, 160, 320, 32, 128, 128),
            (832, 384, 192, 384, 48, 128, 128)]

    def conv(i, o, k):
        return i * o * k * k + o
    total = conv(3, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3) + 1024 * 1000 + 1000
    for i, c1, r3, c3, r5, c5, pp in rows:
        total += conv(i, c1, 1) + conv(i, r3, 1) + conv(r3, c3, 3) + conv(i, r5, 1) + conv(r5, c5, 5) + conv(i, pp, 1)
    if aux:
        for i in (512, 528):
            total += conv(i, 128, 1) + 2048 * 1024 + 1024 + 1024 * 1000 + 1000
    return total


def test_alexnet_and_caffenet_counts(alex, caffe):
    assert n_params(alex) == 61_100_840
    # CaffeNet: grouped conv2/4/5 halve those layers' weights; 96 conv1 filters; no padding on conv1.
    expected = (96 * 3 * 121 + 96 + 256 * 48 * 25 + 256 + 384 * 256 * 9 + 384 + 384 * 192 * 9 + 384
                + 256 * 192 * 9 + 256 + 9216 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000)
    assert expected == 60_965_224
    assert n_params(caffe) == expected


@pytest.mark.parametrize("bn", [False, True])
@pytest.mark.parametrize("name,cfg", [("vgg11", "A"), ("vgg13", "B"), ("vgg16", "D"), ("vgg19", "E")])
def test_vgg_counts(name, cfg, bn, vgg11):
    if name == "vgg11" and not bn:
        model = vgg11
    else:
        model = getattr(M, name)(batch_norm=bn, init_weights=False)
    assert n_params(model) == _vgg_count(M.vgg.CFGS[cfg], bn)
    if name == "vgg16":
        check_vgg16_keys(model.state_dict(), bn)
    if name == "vgg11" and bn:  # torchvision's vgg11_bn ... vgg19_bn: the same nets by name
        named = M.vgg11_bn(num_classes=10, init_weights=False)
        assert [(k, v.shape) for k, v in named.state_dict().items()] == \
            [(k, v.shape) for k, v in M.vgg11(num_classes=10, batch_norm=True, init_weights=False).state_dict().items()]
        assert {M.vgg13_bn.__name__, M.vgg16_bn.__name__, M.vgg19_bn.__name__} == {"vgg13_bn", "vgg16_bn", "vgg19_bn"}


def test_vgg16_published_counts():
    assert _vgg_count(M.vgg.CFGS["D"], False) == 138_357_544
    assert _vgg_count(M.vgg.CFGS["D"], True) == 138_365_992


def test_googlenet_counts():
    assert n_params(M.googlenet(aux_logits=False)) == _googlenet_count(False) == 6_998_552
    assert n_params(M.googlenet()) == _googlenet_count(True) == 13_378_280


# ---- state_dict keys ---------------------------------------------------------------------------

ALEXNET_KEYS = [
    "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
    "features.6.weight", "features.6.bias", "features.8.weight", "features.8.bias",
    "features.10.weight", "features.10.bias", "classifier.1.weight", "classifier.1.bias",
    "classifier.4.weight", "classifier.4.bias", "classifier.6.weight", "classifier.6.bias"]


def test_alexnet_keys_are_torchvisions(alex):
    sd = alex.state_dict()
    assert list(sd) == ALEXNET_KEYS
    assert sd["features.0.weight"].shape == (64, 3, 11, 11)
    assert sd["classifier.1.weight"].shape == (4096, 9216)
    assert sd["classifier.6.weight"].shape == (1000, 4096)


def test_caffenet_keys_and_groups(caffe):
    sd = caffe.state_dict()
    names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    assert list(sd) == [f"{n}.{p}" for n in names for p in ("weight", "bias")]
    assert sd["conv1.weight"].shape == (96, 3, 11, 11)
    assert sd["conv2.weight"].shape == (256, 48, 5, 5)
    assert sd["conv4.weight"].shape == (384, 192, 3, 3)
    assert sd["fc8.weight"].shape == (1000, 4096)


def check_vgg16_keys(sd, bn):
    # torchvision's indices: each conv (+BN) + ReLU block and each pool takes consecutive slots.
    step = 3 if bn else 2
    convs, i = [], 0
    for v in M.vgg.CFGS["D"]:
        if v == "M":
            i += 1
        else:
            convs.append(i)
            i += step
    suffixes = ["weight", "bias"]
    expected = []
    for c in convs:
        expected += [f"features.{c}.{s}" for s in suffixes]
        if bn:
            expected += [f"features.{c + 1}.{s}" for s in
                         ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    expected += [f"classifier.{j}.{s}" for j in (0, 3, 6) for s in suffixes]
    assert list(sd) == expected
    if not bn:
        assert convs == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def test_googlenet_keys_use_true_5x5_branches():
    sd = M.googlenet(num_classes=7).state_dict()
    assert sd["conv1.weight"].shape == (64, 3, 7, 7)
    assert sd["inception3a.conv5x5.weight"].shape == (32, 16, 5, 5)
    assert sd["inception5b.pool_proj.weight"].shape == (128, 832, 1, 1)
    assert sd["aux1.fc.weight"].shape == (1024, 2048)
    assert sd["aux2.conv.weight"].shape == (128, 528, 1, 1)
    assert sd["fc.weight"].shape == (7, 1024)
    assert not any(k.startswith("aux") for k in M.googlenet(aux_logits=False).state_dict())


# ---- forward shapes, modes, ceil_mode ----------------------------------------------------------

def test_alexnet_forward_shapes(alex, caffe):
    lumen.manual_seed(0)
    with lumen.no_grad():
        assert alex.eval()(lumen.randn(2, 3, 224, 224)).shape == (2, 1000)
        # The adaptive pool lets torchvision's layout take a small input; CaffeNet needs pool5 = 6x6.
        assert alex(lumen.randn(1, 3, 64, 64)).shape == (1, 1000)
        assert caffe.eval()(lumen.randn(2, 3, 227, 227)).shape == (2, 1000)
        with pytest.raises(ValueError, match=r"CaffeNet: pool5 is \(256, 7, 7\).*227"):
            caffe(lumen.randn(1, 3, 259, 259))


def test_vgg_forward_shapes(vgg11):
    with lumen.no_grad():
        assert vgg11.eval()(lumen.randn(2, 3, 32, 32)).shape == (2, 1000)
        assert vgg11.features(lumen.randn(1, 3, 64, 64)).shape == (1, 512, 2, 2)
        bn = M.vgg.make_layers(M.vgg.CFGS["A"], batch_norm=True).eval()
        assert bn(lumen.randn(1, 3, 32, 32)).shape == (1, 512, 1, 1)


def test_ceil_mode(caffe):
    x = lumen.randn(1, 3, 227, 227)
    # torchvision's AlexNet pads conv1 by 2: 227 -> 56, and 56 pools to 27 (floor) or 28 (ceil).
    floor = M.AlexNet(num_classes=3)
    ceil = M.AlexNet(num_classes=3, ceil_mode=True)
    with lumen.no_grad():
        assert floor.features[:3](x).shape[-1] == 27
        assert ceil.features[:3](x).shape[-1] == 28
        assert ceil.features(x).shape[-1] == 7 and floor.features(x).shape[-1] == 6
    pools = [m for m in caffe.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all(m.ceil_mode for m in pools)
    v = lumen.randn(1, 3, 33, 33)
    with lumen.no_grad():
        assert M.vgg.make_layers(M.vgg.CFGS["A"])(v).shape[-1] == 1
        assert M.vgg.make_layers(M.vgg.CFGS["A"], ceil_mode=True)(v).shape[-1] == 2


def test_bad_variant():
    with pytest.raises(ValueError, match="variant must be 'torchvision' or 'caffe'"):
        M.alexnet(variant="caffe2")


def test_googlenet_aux_heads_train_only():
    lumen.manual_seed(0)
    model = M.googlenet(num_classes=6)
    x = lumen.randn(1, 3, 224, 224)
    out = model(x)
    assert isinstance(out, M.GoogLeNetOutputs)
    assert out._fields == ("logits", "aux1", "aux2")
    assert [o.shape for o in out] == [(1, 6)] * 3
    (out.logits.sum() + out.aux1.sum() + out.aux2.sum()).backward()
    assert model.aux1.classifier.weight.grad is not None and model.conv1.weight.grad is not None
    model.eval()
    y1, y2 = model(x), model(x)
    assert isinstance(y1, lumen.Tensor) and y1.shape == (1, 6)
    np.testing.assert_array_equal(arr(y1), arr(y2))  # dropout is off in eval
    plain = M.googlenet(num_classes=6, aux_logits=False)
    assert isinstance(plain(x), lumen.Tensor)


def test_googlenet_trunk_for_fcn():
    model = M.googlenet(num_classes=6, aux_logits=False).eval()
    x = lumen.randn(1, 3, 256, 320)
    with lumen.no_grad():
        maps = model.feature_maps(x, ("inception3b", "inception4e", "inception5b"))
        assert maps["inception3b"].shape == (1, 480, 32, 40)
        assert maps["inception4e"].shape == (1, 832, 16, 20)
        assert maps["inception5b"].shape == (1, 1024, 8, 10)
        np.testing.assert_array_equal(arr(model.features(x)), arr(maps["inception5b"]))
        block = M.Inception(16, 4, 4, 8, 2, 4, 4)
        assert block(lumen.randn(2, 16, 5, 5)).shape == (2, 20, 5, 5)
    with pytest.raises(ValueError, match="unknown stage"):
        model.feature_maps(x, ("inception6a",))


# ---- init ----------------------------------------------------------------------------------------

def test_vgg_init_is_torchvisions(vgg11):
    model = vgg11
    w = arr(model.features[0].weight)
    assert abs(w.std() - math.sqrt(2 / (64 * 9))) < 0.1 * math.sqrt(2 / (64 * 9))
    w = arr(model.features[-3].weight)
    assert abs(w.std() - math.sqrt(2 / (512 * 9))) < 0.02 * math.sqrt(2 / (512 * 9))
    assert abs(arr(model.classifier[0].weight).std() - 0.01) < 1e-4
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            assert not arr(m.bias).any()


def test_caffenet_and_googlenet_init_follow_bvlc_fillers(caffe):
    net = caffe
    assert abs(arr(net.fc6.weight).std() - 0.005) < 1e-4
    assert abs(arr(net.conv3.weight).std() - 0.01) < 5e-4
    for name, bias in dict(conv1=0, conv2=1, conv3=0, conv4=1, conv5=1, fc6=1, fc7=1, fc8=0).items():
        assert (arr(getattr(net, name).bias) == bias).all(), name
    g = M.googlenet(num_classes=10)
    w = arr(g.inception4c.conv3x3.weight)
    assert np.abs(w).max() <= math.sqrt(3 / (128 * 9)) and w.std() > 0.9 * math.sqrt(1 / (128 * 9))
    assert (arr(g.inception4c.conv3x3.bias) == np.float32(0.2)).all()
    assert not arr(g.fc.bias).any() and not arr(g.aux2.classifier.bias).any()
    assert (arr(g.aux2.fc.bias) == np.float32(0.2)).all()


# ---- convolutionalize ---------------------------------------------------------------------------

@pytest.mark.parametrize("which,size", [("alex", 224), ("alex_ceil", 224), ("caffe", 227)])
def test_convolutionalize_alexnets_float64(which, size, alex, caffe):
    lumen.manual_seed(1)
    source = {"alex": alex, "caffe": caffe}.get(which)
    if source is None:
        source = M.AlexNet(num_classes=10, ceil_mode=True)
    model = copy.deepcopy(source).double().eval()
    fcn = M.convolutionalize(model)
    assert not fcn.training
    convs = [m for m in fcn.classifier.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(6, 6), (1, 1), (1, 1)]
    assert convs[0].weight.dtype == lumen.float64
    x = lumen.randn(2, 3, size, size, dtype=lumen.float64)
    with lumen.no_grad():
        scores, logits = fcn(x), model(x)
        assert scores.shape == (2, logits.shape[1], 1, 1)
        # Same products, summed in another order: equal to float64 rounding.
        np.testing.assert_allclose(arr(scores)[:, :, 0, 0], arr(logits), rtol=1e-10, atol=1e-12)
        big = lumen.randn(1, 3, size + 64, size + 32, dtype=lumen.float64)
        assert fcn(big).shape == (1, logits.shape[1], 3, 2)


def test_convolutionalize_vgg_float32_and_windows(vgg11):
    lumen.manual_seed(2)
    model = vgg11.eval()
    fcn = M.convolutionalize(model)
    assert fcn.classifier[0].weight.shape == (4096, 512, 7, 7)
    assert list(fcn.state_dict()) == list(model.state_dict())
    x = lumen.randn(1, 3, 224, 224)
    with lumen.no_grad():
        np.testing.assert_allclose(arr(fcn(x))[:, :, 0, 0], arr(model(x)), rtol=1e-4, atol=1e-6)
        # On a larger image, score (i, j) is the classifier on the 7x7 feature window at (i, j).
        feats = model.features(lumen.randn(1, 3, 256, 256))
        scores = fcn.classifier(feats)
        assert scores.shape == (1, 1000, 2, 2)
        for i, j in [(0, 0), (1, 0), (1, 1)]:
            window = feats[:, :, i:i + 7, j:j + 7]
            np.testing.assert_allclose(arr(scores)[:, :, i, j], arr(model.classifier(window.flatten(1))),
                                       rtol=1e-4, atol=1e-6)


def test_convolutionalize_copies_and_rejects_others(caffe):
    model = caffe.train()
    fcn = M.convolutionalize(model)
    assert fcn.training and list(fcn.state_dict())[0] == "features.conv1.weight"
    assert list(fcn.state_dict())[-1] == "classifier.fc8.bias"
    with lumen.no_grad():
        fcn.classifier.fc8.weight.fill_(0.0)
        fcn.features.conv1.weight.fill_(0.0)
    assert arr(model.fc8.weight).any() and arr(model.conv1.weight).any()
    with pytest.raises(TypeError, match="GoogLeNet"):
        M.convolutionalize(M.googlenet(num_classes=3, aux_logits=False))
