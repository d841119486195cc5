"""FCN-32s/16s/8s: geometry, parameter counts, bilinear upsampling, fixed layers, staging, parity."""
import copy
import functools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
from lumen import nn, optim
from lumen.vision.models import fcn
from lumen.vision.models.backbones import CoordMap, VGG16Backbone, coord_map

NARROW = 1 / 32  # trunk channels 2, 4, 8, 16, 16; fc 128: same geometry, fast


@functools.lru_cache(maxsize=None)
def narrow(name, backbone="vgg16"):
    lumen.manual_seed(0)
    return getattr(fcn, name)(backbone=backbone, width=NARROW).eval()


def randomize_head(model, seed=0):
    """Non-zero scorers (a trained stage); the fresh nets' zero scorers would make every output 0."""
    rng = np.random.default_rng(seed)
    with lumen.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(("score_fr", "score_pool")):
                p.copy_(lumen.tensor(rng.normal(0, 0.1, p.shape).astype(np.float32)))
    return model


# ---- geometry ------------------------------------------------------------------------------
@pytest.mark.parametrize("name, backbone, offsets", [
    ("fcn32s", "vgg16", {"score": 19}),
    ("fcn16s", "vgg16", {"score_pool4c": 5, "score": 27}),
    ("fcn8s", "vgg16", {"score_pool4c": 5, "score_pool3c": 9, "score": 31}),
    ("fcn8s_atonce", "vgg16", {"score_pool4c": 5, "score_pool3c": 9, "score": 31}),
    ("fcn32s", "alexnet", {"score": 18}),
    ("fcn32s", "googlenet", {"score": 98}),
])
def test_crop_offsets_from_coordinate_maps(name, backbone, offsets):
    assert narrow(name, backbone).crop_offsets == offsets


def test_upscore_kernels_follow_the_reference():
    sizes = {n: (m.kernel_size, m.stride) for n, m in narrow("fcn8s").named_children()
             if isinstance(m, nn.ConvTranspose2d)}
    assert sizes == {"upscore2": ((4, 4), (2, 2)), "upscore_pool4": ((4, 4), (2, 2)),
                     "upscore8": ((16, 16), (8, 8))}
    assert narrow("fcn16s").upscore16.kernel_size == (32, 32)
    assert narrow("fcn32s").upscore.kernel_size == (64, 64)
    assert narrow("fcn32s", "alexnet").upscore.kernel_size == (63, 63)  # voc-fcn-alexnet


def test_coord_map_of_layers():
    assert coord_map(nn.Conv2d(1, 1, 3, padding=100)) == CoordMap(Fraction(1), Fraction(99))
    assert coord_map(nn.MaxPool2d(2, 2, ceil_mode=True)) == CoordMap(Fraction(1, 2), Fraction(-1, 4))
    assert coord_map(nn.ConvTranspose2d(1, 1, 64, stride=32)) == CoordMap(Fraction(32), Fraction(63, 2))
    assert VGG16Backbone(width=NARROW).coord_map("pool4") == CoordMap(Fraction(1, 16), Fraction(183, 32))
    with pytest.raises(TypeError, match="geometry of Flatten"):
        coord_map(nn.Flatten())


@settings(max_examples=20, deadline=None)
@given(h=st.integers(26, 90), w=st.integers(26, 90))
def test_trunk_of_a_96px_classifier_aligns_every_skip(h, w):
    """fc6 3x3 over the 3x3 pool5 of 96-px crops, floor-mode pools, conv1_1 padded 36: the heads take
    their offsets from that geometry and every input above 25 px gets scores on its own pixel grid."""
    lumen.manual_seed(0)
    trunk = VGG16Backbone(width=NARROW, pad=36, fc6_kernel=3, ceil_mode=False)
    assert trunk.fc6.kernel_size == (3, 3) and not trunk.pool1.ceil_mode
    model = randomize_head(fcn.FCN8s(backbone=trunk)).eval()
    assert model.crop_offsets == {"score_pool4c": 1, "score_pool3c": 1, "score": 31}
    with lumen.no_grad():
        assert tuple(model(lumen.randn(1, 3, h, w)).shape) == (1, 21, h, w)


@settings(max_examples=25, deadline=None)
@given(net=st.sampled_from([("fcn32s", "vgg16"), ("fcn16s", "vgg16"), ("fcn8s", "vgg16"),
                            ("fcn8s_atonce", "vgg16"), ("fcn32s", "alexnet"), ("fcn32s", "googlenet")]),
       h=st.integers(1, 70), w=st.integers(1, 70))
def test_output_size_equals_input_size(net, h, w):
    model = narrow(*net)
    with lumen.no_grad():
        y = model(lumen.randn(1, 3, h, w))
    assert tuple(y.shape) == (1, 21, h, w)


def test_state_dict_keys_are_the_reference_layer_names():
    trunk = [f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for i in range(1, n + 1)]
    trunk += ["fc6", "fc7"]
    keys = [k for name in trunk for k in (f"{name}.weight", f"{name}.bias")]
    head = ["score_fr.weight", "score_fr.bias", "upscore2.weight", "score_pool4.weight",
            "score_pool4.bias", "upscore_pool4.weight", "score_pool3.weight", "score_pool3.bias",
            "upscore8.weight"]
    assert list(narrow("fcn8s").state_dict()) == keys + head
    assert list(narrow("fcn32s").state_dict())[-3:] == ["score_fr.weight", "score_fr.bias", "upscore.weight"]


# ---- parameter counts (full width) ------------------------------------------------------------
def counts(model):
    total = sum(p.numel() for p in model.parameters())
    return total, sum(p.numel() for p in model.trainable_parameters())


def test_parameter_counts_vgg16():
    m8 = fcn.fcn8s()
    # trunk 134,260,544 = convs 14,714,688 + fc6 102,764,544 + fc7 16,781,312.
    assert sum(p.numel() for p in m8.backbone.parameters()) == 134_260_544
    # + score_fr 86,037, score_pool4 10,773, score_pool3 5,397; upscore2 and upscore_pool4
    # 7,056 each (learned), upscore8 21*21*16*16 = 112,896 (fixed).
    assert counts(m8) == (134_489_759, 134_376_863)
    # The other heads on the same (full-width) trunk instance: upscore 1,806,336 fixed; the
    # paper's "134M" counts the learned parameters.
    assert counts(fcn.FCN32s(backbone=m8.backbone)) == (136_152_917, 134_346_581)
    assert counts(fcn.FCN16s(backbone=m8.backbone)) == (134_815_994, 134_364_410)


def test_alexnet_counts_and_transplant_from_caffenet():
    from lumen.vision.models import caffenet
    cnet = caffenet()
    m = fcn.fcn32s(backbone="alexnet", pretrained_backbone=cnet)
    # Paper: 57M. upscore 21*21*63*63 = 1,750,329 (fixed).
    assert counts(m) == (58_704_590, 56_954_261)
    np.testing.assert_array_equal(m.conv4.weight.detach().numpy(), cnet.conv4.weight.detach().numpy())
    assert m.fc6.weight.shape == (4096, 256, 6, 6)
    np.testing.assert_array_equal(m.fc6.weight.detach().numpy().reshape(4096, -1),
                                  cnet.fc6.weight.detach().numpy())


def test_googlenet_counts_and_transplant():
    from lumen.vision.models import googlenet
    g = googlenet()
    m = fcn.fcn32s(backbone="googlenet", pretrained_backbone=g.state_dict())
    assert counts(m) == (7_745_406, 5_995_077)  # paper: 6M
    np.testing.assert_array_equal(m.inception4e.conv5x5.weight.detach().numpy(),
                                  g.inception4e.conv5x5.weight.detach().numpy())
    with pytest.raises(KeyError, match="lacks"):
        m.backbone.transplant({"conv1.weight": g.conv1.weight})


# ---- bilinear deconvolution ------------------------------------------------------------------
@pytest.mark.parametrize("k, s", [(4, 2), (16, 8), (32, 16), (64, 32), (63, 32)])
def test_bilinear_deconvolution_interpolates_in_the_interior(k, s):
    up = nn.ConvTranspose2d(3, 3, k, stride=s, bias=False, dtype=lumen.float64)
    nn.init.bilinear_(up.weight)
    nh, nw = 5, 7
    x = np.random.default_rng(k).normal(size=(1, 3, nh, nw))
    with lumen.no_grad():
        y = up(lumen.tensor(x, dtype=lumen.float64)).detach().numpy()[0]
    # Output pixel t sits at input coordinate u = (t - (k-1)/2) / s (the layer's coordinate
    # map); the interior is where u lies between the first and last input pixels.
    centre = (k - 1) / 2

    def interior(n):
        t = np.arange(int(np.ceil(centre)), int(np.floor(centre + (n - 1) * s)) + 1)
        return t, (t - centre) / s

    th, uh = interior(nh)
    tw, uw = interior(nw)
    for c in range(3):
        cols = np.stack([np.interp(uh, np.arange(nh), x[0, c, :, j]) for j in range(nw)], 1)
        want = np.stack([np.interp(uw, np.arange(nw), row) for row in cols])
        np.testing.assert_allclose(y[c][np.ix_(th, tw)], want, rtol=0, atol=1e-12)
    # Each class is upsampled on its own.
    assert not np.any(up.weight.detach().numpy()[0, 1:]) and not np.any(up.weight.detach().numpy()[1:, 0])


def test_bilinear_deconvolution_reproduces_a_ramp():
    up = narrow("fcn8s").upscore8
    i, j = np.meshgrid(np.arange(5.0), np.arange(7.0), indexing="ij")
    ramp = np.broadcast_to(2 * i - 3 * j + 1, (1, 21, 5, 7)).astype(np.float32)
    with lumen.no_grad():
        y = up(lumen.tensor(ramp)).detach().numpy()
    t = np.arange(8, 33)  # interior rows; pixel t at input coordinate (t - 7.5) / 8
    tw = np.arange(8, 49)
    want = 2 * (t[:, None] - 7.5) / 8 - 3 * (tw[None, :] - 7.5) / 8 + 1
    np.testing.assert_allclose(y[0, 4][np.ix_(t, tw)], want, atol=1e-5)


# ---- learned and fixed upsampling ------------------------------------------------------------
@pytest.mark.parametrize("mode, learned", [
    ("paper", {"upscore2", "upscore_pool4"}),
    ("learned", {"upscore2", "upscore_pool4", "upscore8"}),
    ("fixed", set()),
])
def test_upsampling_modes(mode, learned):
    m = fcn.fcn8s(width=NARROW, upsampling=mode)
    ups = {n for n, mod in m.named_children() if isinstance(mod, nn.ConvTranspose2d)}
    assert {n for n in ups if getattr(m, n).weight.requires_grad} == learned
    assert {id(p) for p in m.trainable_parameters()} == {id(p) for p in m.parameters() if p.requires_grad}
    with pytest.raises(ValueError, match="upsampling must be one of"):
        fcn.fcn8s(width=NARROW, upsampling="bilinear")


def test_fixed_deconvolutions_take_no_update():
    lumen.manual_seed(1)
    m = randomize_head(fcn.fcn8s(width=NARROW))  # "paper": upscore8 fixed, upscore2 learned
    fixed, learned = m.upscore8.weight, m.upscore2.weight
    before_fixed, before_learned = fixed.detach().numpy().copy(), learned.detach().numpy().copy()
    opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = lumen.randn(1, 3, 20, 24)
    label = lumen.randint(0, 21, (1, 20, 24))
    for _ in range(2):
        opt.zero_grad()
        nn.functional.cross_entropy(m(x), label).backward()
        opt.step()
    assert fixed.grad is None and fixed not in opt.state
    np.testing.assert_array_equal(fixed.detach().numpy(), before_fixed)
    assert not np.array_equal(learned.detach().numpy(), before_learned)


# ---- staged training -------------------------------------------------------------------------
def record(model, names):
    out = {}
    for n in names:
        getattr(model, n).register_forward_hook(
            lambda mod, args, y, n=n: out.__setitem__(n, y.detach().numpy()))
    return out


def test_from_fcn32s_starts_with_unmodified_coarse_scores():
    lumen.manual_seed(2)
    m32 = randomize_head(fcn.fcn32s(width=NARROW)).eval()
    m16 = fcn.FCN16s.from_fcn32s(m32)
    assert fcn.fcn16s.from_fcn32s == fcn.FCN16s.from_fcn32s
    assert isinstance(m16, fcn.FCN16s) and not m16.training and m16.width == NARROW
    for k, v in m32.state_dict().items():
        if k in m16.state_dict():
            np.testing.assert_array_equal(m16.state_dict()[k].numpy(), v.numpy())
    assert not np.any(m16.state_dict()["score_pool4.weight"].numpy())
    assert not np.any(m16.state_dict()["score_pool4.bias"].numpy())
    s32, s16 = record(m32, ["score_fr"]), record(m16, ["score_fr", "upscore2"])
    seen = {}
    m16.upscore16.register_forward_hook(lambda mod, args, y: seen.update(fused=args[0].detach().numpy()))
    x = lumen.randn(1, 3, 45, 38)
    with lumen.no_grad():
        m32(x)
        y16 = m16(x).detach().numpy()
        up2 = m16.upscore2(lumen.tensor(s16["score_fr"])).detach().numpy()
        direct = m16.upscore16(lumen.tensor(up2)).detach().numpy()[:, :, 27:27 + 45, 27:27 + 38]
    np.testing.assert_array_equal(s16["score_fr"], s32["score_fr"])
    np.testing.assert_array_equal(s16["upscore2"], up2)
    # The zero skip adds exactly nothing: upscore16 sees upscore2's output unchanged.
    np.testing.assert_array_equal(seen["fused"], up2)
    np.testing.assert_allclose(y16, direct, rtol=1e-6, atol=1e-7)


def test_from_fcn16s_copies_the_trained_skip_and_adds_a_zero_one():
    lumen.manual_seed(3)
    m16 = randomize_head(fcn.fcn16s(width=NARROW)).eval()
    with lumen.no_grad():
        m16.upscore2.weight.mul_(1.5)  # a learned intermediate upsampling, carried forward
    m8 = fcn.fcn8s.from_fcn16s(m16)
    for k in ("conv3_1.weight", "fc7.bias", "score_fr.weight", "upscore2.weight", "score_pool4.weight"):
        np.testing.assert_array_equal(m8.state_dict()[k].numpy(), m16.state_dict()[k].numpy())
    assert not np.any(m8.score_pool3.weight.detach().numpy())
    s16, s8 = record(m16, ["upscore2"]), record(m8, ["upscore2", "upscore_pool4"])
    x = lumen.randn(1, 3, 33, 50)
    with lumen.no_grad():
        m16(x)
        m8(x)
    np.testing.assert_array_equal(s8["upscore2"], s16["upscore2"])
    # fuse_pool4 equals FCN-16s's, and the zero score_pool3 leaves it as upscore_pool4 saw it.
    with lumen.no_grad():
        sp4 = m16.score_pool4(m16.backbone(x)["pool4"])
        fuse = s16["upscore2"] + nn.functional.crop(sp4, lumen.tensor(s16["upscore2"]), 5).detach().numpy()
        np.testing.assert_array_equal(s8["upscore_pool4"], m8.upscore_pool4(lumen.tensor(fuse)).numpy())
    with pytest.raises(TypeError, match="expected a FCN16s"):
        fcn.FCN8s.from_fcn16s(m8)


def test_atonce_scales_the_skips():
    lumen.manual_seed(4)
    once = randomize_head(fcn.fcn8s_atonce(width=NARROW)).eval()
    plain = fcn.fcn8s(width=NARROW).eval()
    state = dict(once.state_dict())
    state["score_pool4.weight"] = state["score_pool4.weight"] * 0.01
    state["score_pool3.weight"] = state["score_pool3.weight"] * 0.0001
    plain.load_state_dict(state)
    x = lumen.randn(1, 3, 30, 30)
    with lumen.no_grad():
        np.testing.assert_allclose(once(x).detach().numpy(), plain(x).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_deepcopy_and_train_mode_reach_the_trunk():
    m = narrow("fcn32s")
    c = copy.deepcopy(m)
    assert c.backbone.conv1_1 is c.conv1_1 and c.conv1_1 is not m.conv1_1
    c.train()
    assert c.drop6.training and c.backbone.drop6.training
    x = lumen.randn(1, 3, 9, 9)
    with lumen.no_grad():
        np.testing.assert_array_equal(c.eval()(x).detach().numpy(), m(x).detach().numpy())


def test_only_vgg16_has_skips():
    with pytest.raises(ValueError, match="no stride-.*skip features"):
        fcn.fcn16s(backbone="alexnet", width=NARROW)
    with pytest.raises(ValueError, match="unknown backbone"):
        fcn.fcn32s(backbone="resnet50")


# ---- net surgery -----------------------------------------------------------------------------
def test_transplant_torchvision_layout_reshapes_fc_layers():
    trunk = VGG16Backbone(width=NARROW)
    rng = np.random.default_rng(5)
    state, convs = {}, [n for n in VGG16Backbone.CONVS if n.startswith("conv")]
    idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    for i, name in zip(idx, convs):
        w = getattr(trunk, name).weight
        state[f"features.{i}.weight"] = rng.normal(size=w.shape).astype(np.float32)
        state[f"features.{i}.bias"] = rng.normal(size=w.shape[:1]).astype(np.float32)
    fc = trunk.fc6.weight.shape[0]
    for i, (o, n_in) in zip((0, 3, 6), ((fc, 16 * 49), (fc, fc), (1000, fc))):
        state[f"classifier.{i}.weight"] = rng.normal(size=(o, n_in)).astype(np.float32)
        state[f"classifier.{i}.bias"] = rng.normal(size=(o,)).astype(np.float32)
    m = fcn.fcn32s(width=NARROW, pretrained_backbone=state)
    np.testing.assert_array_equal(m.conv5_3.weight.detach().numpy(), state["features.28.weight"])
    np.testing.assert_array_equal(m.fc6.weight.detach().numpy().reshape(fc, -1), state["classifier.0.weight"])
    np.testing.assert_array_equal(m.fc7.bias.detach().numpy(), state["classifier.3.bias"])
    # fc6 on a 7x7 pool5 map is the classifier's Linear on the flattened map.
    pool5 = rng.normal(size=(1, 16, 7, 7)).astype(np.float32)
    with lumen.no_grad():
        conv = m.fc6(lumen.tensor(pool5)).detach().numpy().ravel()
    lin = state["classifier.0.weight"] @ pool5.ravel() + state["classifier.0.bias"]
    np.testing.assert_allclose(conv, lin, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="does not fit"):
        fcn.fcn32s(width=1 / 16, pretrained_backbone=state)
    # Caffe names, also under a prefix as convolutionalize(caffenet()) writes them.
    sources = [f"features.{i}" for i in idx] + ["classifier.0", "classifier.3"]
    caffe = {f"features.{name}.{kind}": state[f"{src}.{kind}"]
             for name, src in zip(VGG16Backbone.CONVS, sources) for kind in ("weight", "bias")}
    m2 = fcn.fcn32s(width=NARROW, pretrained_backbone=caffe)
    for a, b in zip(m2.backbone.parameters(), m.backbone.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    with pytest.raises(KeyError, match="neither Caffe layer names"):
        fcn.fcn32s(width=NARROW, pretrained_backbone={"foo.weight": state["features.0.weight"]})


@pytest.mark.parametrize("layout", ["torchvision", "caffe"])
def test_transplant_folds_a_batch_norm_classifier_into_the_trunk(layout):
    """vgg16_bn's features.N (conv, bn, relu) or vgg_trunk(batch_norm=True)'s conv1_1/bn1_1 names: each
    eval-mode batch norm is folded into its convolution, so the trunk computes the classifier's features."""
    from collections import OrderedDict

    from lumen.vision.models.layers import fc_head
    from lumen.vision.models.vgg import CFGS, vgg_trunk

    lumen.manual_seed(1)
    rng = np.random.default_rng(1)
    trunk_layers = vgg_trunk(CFGS["D"], batch_norm=True, width=NARROW)
    head = fc_head(16, 7, 128, 0.5, 10)
    if layout == "torchvision":
        classifier = nn.Module()
        classifier.features = nn.Sequential(*(layer for _, layer in trunk_layers))
        classifier.classifier = nn.Sequential(*(layer for _, layer in head))
    else:
        classifier = nn.Sequential(OrderedDict(trunk_layers + head))
    with lumen.no_grad():
        for module in classifier.modules():
            if isinstance(module, nn.BatchNorm2d):
                for buffer, values in ((module.running_mean, rng.normal(0, 0.5, module.num_features)),
                                       (module.running_var, rng.uniform(0.3, 2, module.num_features)),
                                       (module.weight, rng.uniform(0.5, 1.5, module.num_features)),
                                       (module.bias, rng.normal(0, 0.1, module.num_features))):
                    buffer.copy_(lumen.tensor(values.astype(np.float32)))
    trunk = VGG16Backbone(width=NARROW, pad=1, ceil_mode=False)
    trunk.transplant(classifier.state_dict())
    x = lumen.randn(1, 3, 224, 224)  # fc6 7x7 needs a 7x7 pool5
    with lumen.no_grad():
        expected = x
        for name, layer in trunk_layers:
            expected = layer.eval()(expected)
            if name == "pool4":
                break
        got = trunk.eval()(x)["pool4"]
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(trunk.fc7.bias.detach().numpy(), dict(head)["fc7"].bias.detach().numpy())


def test_transplant_refuses_batch_norms_it_cannot_fold():
    from lumen.vision.models.backbones import _indexed, _pick

    def features(*layers):
        holder = nn.Module()
        holder.features = nn.Sequential(*layers)
        return holder.state_dict()

    with pytest.raises(ValueError, match="features.2 is a batch norm that does not directly follow"):
        _indexed(features(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4)), "features")
    with pytest.raises(ValueError, match="features.1 has a 1-d weight, a batch norm without running statistics"):
        _indexed(features(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False)), "features")
    caffe = {"conv1_1.weight": lumen.ones(4, 3, 3, 3), "conv1_1.bias": lumen.zeros(4), "bn1_1.weight": lumen.ones(4)}
    with pytest.raises(ValueError, match="bn1_1 is a batch norm without running statistics"):
        _pick(caffe, ["conv1_1"])
    # a bias-less convolution and a batch norm without affine parameters fold as well
    folded = _indexed(features(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4, affine=False)), "features")
    assert [key for key, _, _ in folded] == ["features.0 + features.1"] and folded[0][2] is not None


# ---- parity with a hand-built PyTorch FCN ----------------------------------------------------
def torch_fcn(torch, kind, width):
    tnn = torch.nn
    c = [max(1, round(n * width)) for n in (64, 128, 256, 512, 512)]
    fc = round(4096 * width)

    class FCN(tnn.Module):
        def __init__(self):
            super().__init__()
            in_c = 3
            for b, (n, out_c) in enumerate(zip((2, 2, 3, 3, 3), c), 1):
                for i in range(1, n + 1):
                    pad = 100 if (b, i) == (1, 1) else 1
                    setattr(self, f"conv{b}_{i}", tnn.Conv2d(in_c, out_c, 3, padding=pad))
                    in_c = out_c
            self.fc6, self.fc7 = tnn.Conv2d(c[4], fc, 7), tnn.Conv2d(fc, fc, 1)
            self.score_fr = tnn.Conv2d(fc, 21, 1)
            if kind == "fcn32s":
                self.upscore = tnn.ConvTranspose2d(21, 21, 64, 32, bias=False)
            else:
                self.upscore2 = tnn.ConvTranspose2d(21, 21, 4, 2, bias=False)
                self.score_pool4 = tnn.Conv2d(c[3], 21, 1)
                self.upscore_pool4 = tnn.ConvTranspose2d(21, 21, 4, 2, bias=False)
                self.score_pool3 = tnn.Conv2d(c[2], 21, 1)
                self.upscore8 = tnn.ConvTranspose2d(21, 21, 16, 8, bias=False)

        def forward(self, x):
            h, pools = x, {}
            for b, n in enumerate((2, 2, 3, 3, 3), 1):
                for i in range(1, n + 1):
                    h = torch.relu(getattr(self, f"conv{b}_{i}")(h))
                h = pools[b] = torch.nn.functional.max_pool2d(h, 2, 2, ceil_mode=True)
            h = self.score_fr(torch.relu(self.fc7(torch.relu(self.fc6(h)))))
            H, W = x.shape[2:]
            if kind == "fcn32s":
                return self.upscore(h)[:, :, 19:19 + H, 19:19 + W]
            h = self.upscore2(h)
            h = h + self.score_pool4(pools[4])[:, :, 5:5 + h.shape[2], 5:5 + h.shape[3]]
            h = self.upscore_pool4(h)
            h = h + self.score_pool3(pools[3])[:, :, 9:9 + h.shape[2], 9:9 + h.shape[3]]
            return self.upscore8(h)[:, :, 31:31 + H, 31:31 + W]

    return FCN()


def allclose(got, want, rtol):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * float(np.abs(want).max()))


@pytest.mark.parametrize("kind", ["fcn32s", "fcn8s"])
def test_matches_hand_built_torch_fcn(kind):
    torch = pytest.importorskip("torch")
    lumen.manual_seed(6)
    m = randomize_head(getattr(fcn, kind)(width=NARROW, upsampling="learned")).eval()
    t = torch_fcn(torch, kind, NARROW).eval()
    t.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in m.state_dict().items()})
    x = np.random.default_rng(6).normal(size=(1, 3, 27, 35)).astype(np.float32)
    with lumen.no_grad(), torch.no_grad():
        want = t(torch.tensor(x)).numpy()
        assert np.abs(want).max() > 0
        allclose(m(lumen.tensor(x)).detach().numpy(), want, 1e-4)
    # Gradients in float64: in float32 the two libraries' summation orders differ by ~1% on the
    # input gradient, which is tiny after 16 layers of cancellation; float64 agrees to ~1e-15.
    m.double()
    t.double()
    g = np.random.default_rng(7).normal(size=(1, 21, 27, 35))
    xl = lumen.tensor(x.astype(np.float64), requires_grad=True)
    (m(xl) * lumen.tensor(g)).sum().backward()
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    (t(xt) * torch.tensor(g)).sum().backward()
    allclose(xl.grad.detach().numpy(), xt.grad.numpy(), 1e-10)
    tparams = dict(t.named_parameters())
    for name, p in m.named_parameters():
        allclose(p.grad.detach().numpy(), tparams[name].grad.numpy(), 1e-10)
