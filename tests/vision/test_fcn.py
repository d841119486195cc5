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


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 260), w=st.integers(1, 260))
def test_the_default_pad_of_a_3x3_fc6_floor_mode_trunk_scores_and_aligns_every_size(h, w):
    """VGG16Backbone's default pad: 16k + 1 = 49 for floor-mode pools (36 leaves sizes below 26 px
    unscored), 16k - 12 = 100 for the reference's ceil-mode 7x7 (there every size is scored)."""
    assert VGG16Backbone(width=1 / 64).conv1_1.padding == (100, 100)
    trunk = VGG16Backbone(width=1 / 64, fc6_kernel=3, ceil_mode=False)
    assert trunk.conv1_1.padding == (49, 49)
    model = fcn.FCN8s(backbone=trunk).eval()
    with lumen.no_grad():
        assert tuple(model(lumen.zeros(1, 3, h, w)).shape) == (1, 21, h, w)


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


# ---- the fc head with batch norm, trunks from classifiers --------------------------------------
def test_fc_head_with_batch_norm_names_and_order():
    from lumen.vision.models.layers import fc_head

    head = fc_head(8, 3, 16, 0.25, 5, batch_norm=True)
    assert [name for name, _ in head] == ["fc6", "bn6", "relu6", "drop6", "fc7", "bn7", "relu7", "drop7", "fc8"]
    layers = dict(head)
    assert isinstance(layers["fc6"], nn.Linear) and layers["fc6"].in_features == 8 * 3 * 3
    for i in (6, 7):
        bn = layers[f"bn{i}"]
        assert type(bn) is nn.BatchNorm1d and bn.num_features == 16 and bn.track_running_stats
    assert layers["fc8"].out_features == 5
    assert [name for name, _ in fc_head(8, 3, 16, 0.25, batch_norm=True)][-1] == "drop7"  # no fc8
    assert [name for name, _ in fc_head(8, 3, 16, 0.25, 5)] == [
        "fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"]
    with pytest.raises(ValueError, match="batch_norm"):
        fc_head(8, 3, 16, 0.25, 5, convolutional=True, batch_norm=True)
    lumen.manual_seed(0)
    with lumen.no_grad():  # a classifier with this head runs on a batch of (8, 3, 3) maps
        y = nn.Sequential(nn.Flatten(), *(layer for _, layer in head))(lumen.randn(4, 8, 3, 3))
    assert tuple(y.shape) == (4, 5)


def randomize_batch_norms(model, seed):
    """Random running statistics and affine parameters in every batch norm, so folding them matters."""
    rng = np.random.default_rng(seed)
    with lumen.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = module.num_features
                for tensor, values in ((module.running_mean, rng.normal(0, 0.5, n)),
                                       (module.running_var, rng.uniform(0.3, 2, n)),
                                       (module.weight, rng.uniform(0.5, 1.5, n)),
                                       (module.bias, rng.normal(0, 0.1, n))):
                    tensor.copy_(lumen.tensor(values.astype(np.float32)))
    return model


@functools.lru_cache(maxsize=None)
def small_classifier():
    """recipes.imagenet's ``build_classifier("vgg16_bn", 20, width=1/16, dropout=0.0, head_batch_norm=True,
    fc6_kernel=3)``, built here from the same layers (the recipe first builds the full-width net, which
    takes seconds): features.N = vgg_trunk(batch_norm=True), avgpool to 3x3 (the pool5 of 96-px crops),
    classifier.N = fc_head(batch_norm=True) scoring 20 classes. Batch norms randomised, eval mode."""
    from lumen.vision.models.layers import fc_head
    from lumen.vision.models.vgg import CFGS, vgg_trunk

    lumen.manual_seed(7)
    model = nn.Module()
    model.features = nn.Sequential(*(layer for _, layer in vgg_trunk(CFGS["D"], batch_norm=True, width=1 / 16)))
    model.avgpool = nn.AdaptiveAvgPool2d((3, 3))
    model.classifier = nn.Sequential(*(layer for _, layer in fc_head(32, 3, 256, 0.0, 20, batch_norm=True)))
    return randomize_batch_norms(model, 7).eval()


def test_from_classifier_reads_fc6_kernel_and_folds_every_batch_norm():
    model = small_classifier()
    head = list(model.classifier)
    assert [type(layer).__name__ for layer in head] == [
        "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    trunk = VGG16Backbone.from_classifier(model.state_dict(), width=1 / 16, dropout=0, pad=1, ceil_mode=False)
    assert trunk.fc6.kernel_size == (3, 3) and trunk.geometry() == {"pad": 1, "fc6_kernel": 3, "ceil_mode": False}
    x = lumen.tensor(np.random.default_rng(8).normal(size=(2, 3, 96, 96)).astype(np.float32))
    with lumen.no_grad():
        h = model.avgpool(model.features(x))
        want = model.classifier[:7](lumen.flatten(h, 1))  # fc6, bn6, relu6, drop6, fc7, bn7, relu7
        got = trunk.eval()(x)["fc7"]
    assert tuple(got.shape) == (2, want.shape[1], 1, 1)
    assert float(want.abs().max()) > 0
    np.testing.assert_allclose(got.numpy()[:, :, 0, 0], want.numpy(), rtol=1e-4, atol=1e-5)


def test_from_classifier_refuses_an_fc6_of_another_grid():
    state = dict(small_classifier().state_dict())
    w = state["classifier.0.weight"]
    state["classifier.0.weight"] = w[:, :-1]  # 287 inputs: not 32 channels over a square grid
    with pytest.raises(ValueError, match=r"from_classifier: fc6 \(classifier\.0.* reads 287 inputs"):
        VGG16Backbone.from_classifier(state, width=1 / 16, pad=1, ceil_mode=False)
    caffe = caffe_named(small_classifier())
    caffe["fc6.weight"] = caffe["fc6.weight"][:, :-1]
    with pytest.raises(ValueError, match=r"fc6.* reads 287 inputs"):
        VGG16Backbone.from_classifier(caffe, width=1 / 16, pad=1, ceil_mode=False)


def caffe_named(model):
    """The classifier's state dict under Caffe names (conv1_1/bn1_1 ... fc6/bn6, fc7/bn7, fc8)."""
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    head = model.classifier
    named = list(zip(VGG16Backbone.CONVS[:13], convs)) + [("fc6", head[0]), ("fc7", head[4]), ("fc8", head[8])]
    named += [(n.replace("conv", "bn"), bn) for n, bn in zip(VGG16Backbone.CONVS[:13], norms)]
    named += [("bn6", head[1]), ("bn7", head[5])]
    return {f"{name}.{k}": v for name, layer in named for k, v in layer.state_dict().items()}


def test_caffe_named_fc6_and_fc7_take_their_batch_norms_folded_in():
    from lumen.nn.utils import fuse_linear_bn_weights

    model = small_classifier()
    state = caffe_named(model)
    assert {"bn6.running_mean", "bn7.running_var", "conv5_3.weight", "bn5_3.weight"} <= set(state)
    trunk = VGG16Backbone.from_classifier(state, width=1 / 16, dropout=0, pad=1, ceil_mode=False)
    for fc, bn, conv in ((model.classifier[0], model.classifier[1], trunk.fc6),
                         (model.classifier[4], model.classifier[5], trunk.fc7)):
        w, b = fuse_linear_bn_weights(fc.weight, fc.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
        np.testing.assert_allclose(conv.weight.detach().numpy().reshape(w.shape), w.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(conv.bias.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-7)
        assert not np.allclose(conv.bias.detach().numpy(), fc.bias.detach().numpy())  # the fold did something
    # the Caffe-named and the torchvision-layout classifier give the same trunk
    other = VGG16Backbone.from_classifier(model.state_dict(), width=1 / 16, dropout=0, pad=1, ceil_mode=False)
    for (name, a), b in zip(trunk.named_parameters(), other.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-7, err_msg=name)


def test_init_weights_is_he_normal_fan_out_with_zero_biases():
    lumen.manual_seed(0)
    trunk = VGG16Backbone(width=1 / 16, fc6_kernel=3)
    with lumen.no_grad():
        for p in trunk.parameters():
            p.fill_(1.0)
    trunk.init_weights()
    convs = [m for m in trunk.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 15
    normalised = []
    for conv in convs:
        w = conv.weight.detach().numpy()
        assert not np.any(conv.bias.detach().numpy())
        fan_out = w.shape[0] * w.shape[2] * w.shape[3]
        normalised.append(w.ravel() / np.sqrt(2 / fan_out))
        if w.size >= 5000:  # enough samples for one layer's std alone
            assert 0.9 < w.std() / np.sqrt(2 / fan_out) < 1.1, conv
    normalised = np.concatenate(normalised)
    assert abs(normalised.std() - 1) < 0.03 and abs(normalised.mean()) < 0.03


def test_classifier_output_layer_finds_fc8():
    from lumen.vision.models.backbones import classifier_output_layer

    model = small_classifier()
    key, w, b = classifier_output_layer(model.state_dict())
    assert key == "classifier.8" and tuple(w.shape) == (20, 256) and tuple(b.shape) == (20,)
    np.testing.assert_array_equal(np.asarray(w), model.classifier[8].weight.detach().numpy())
    key, w, b = classifier_output_layer(caffe_named(model))
    assert key == "fc8"
    np.testing.assert_array_equal(np.asarray(b), model.classifier[8].bias.detach().numpy())
    rng = np.random.default_rng(0)
    prefixed = {"net.fc8.weight": rng.normal(size=(3, 4)), "net.fc8.bias": rng.normal(size=3)}
    assert classifier_output_layer(prefixed)[0] == "fc8"
    assert classifier_output_layer({}) is None
    assert classifier_output_layer({"fc.weight": lumen.ones(2, 3), "fc.bias": lumen.ones(2)}) is None


def test_build_backbone_forwards_geometry():
    from lumen.vision.models.backbones import AlexNetBackbone, build_backbone

    trunk = build_backbone("vgg16", NARROW, 0.0, fc6_kernel=3, pad=36, ceil_mode=False)
    assert isinstance(trunk, VGG16Backbone)
    assert trunk.geometry() == {"pad": 36, "fc6_kernel": 3, "ceil_mode": False}
    assert trunk.drop6.p == 0.0 and trunk.conv5_3.out_channels == 16
    alex = build_backbone("alexnet", NARROW, pad=50)
    assert isinstance(alex, AlexNetBackbone) and alex.conv1.padding == (50, 50)
    assert build_backbone("vgg16", NARROW).geometry() == {"pad": 100, "fc6_kernel": 7, "ceil_mode": True}
    with pytest.raises(TypeError):
        build_backbone("alexnet", NARROW, fc6_kernel=3)


@settings(max_examples=8, deadline=None)
@given(pad=st.integers(0, 100), fc6_kernel=st.integers(1, 7), ceil_mode=st.booleans())
def test_geometry_rebuilds_the_same_layers(pad, fc6_kernel, ceil_mode):
    trunk = VGG16Backbone(width=NARROW, dropout=0.1, pad=pad, fc6_kernel=fc6_kernel, ceil_mode=ceil_mode)
    geometry = trunk.geometry()
    assert geometry == {"pad": pad, "fc6_kernel": fc6_kernel, "ceil_mode": ceil_mode}
    again = VGG16Backbone(width=NARROW, dropout=0.1, **geometry)
    assert [(k, tuple(v.shape)) for k, v in again.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in trunk.state_dict().items()]
    assert [repr(m) for m in again.children()] == [repr(m) for m in trunk.children()]


# ---- score_fr from the classifier's fc8, background calibrated ----------------------------------
@functools.lru_cache(maxsize=None)
def small_fcn():
    lumen.manual_seed(9)
    return fcn.fcn32s(width=1 / 16)


def test_init_score_from_classifier_copies_fc8_after_a_zero_background():
    model = copy.deepcopy(small_fcn())
    classifier = small_classifier()
    fc8 = classifier.classifier[8]
    for state in (classifier.state_dict(), caffe_named(classifier)):
        randomize_head(model)
        model.init_score_from_classifier_(state)
        w, b = model.score_fr.weight.detach().numpy(), model.score_fr.bias.detach().numpy()
        assert w.shape == (21, 256, 1, 1)
        assert not np.any(w[0]) and b[0] == 0
        np.testing.assert_array_equal(w[1:, :, 0, 0], fc8.weight.detach().numpy())
        np.testing.assert_array_equal(b[1:], fc8.bias.detach().numpy())
    # numpy arrays do as well
    rng = np.random.default_rng(1)
    arrays = {"fc8.weight": rng.normal(size=(20, 256)).astype(np.float32),
              "fc8.bias": rng.normal(size=20).astype(np.float32)}
    model.init_score_from_classifier_(arrays)
    np.testing.assert_array_equal(model.score_fr.bias.detach().numpy()[1:], arrays["fc8.bias"])


def test_init_score_from_classifier_refuses_what_does_not_fit():
    model = copy.deepcopy(small_fcn())
    rng = np.random.default_rng(2)

    def fc8(n, c):
        return {"fc8.weight": rng.normal(size=(n, c)).astype(np.float32), "fc8.bias": np.zeros(n, np.float32)}

    with pytest.raises(ValueError, match=r"fc8 is \(21, 256\); score_fr needs \(20, 256\)"):
        model.init_score_from_classifier_(fc8(21, 256))  # one class too many (background counted)
    with pytest.raises(ValueError, match=r"fc8 is \(20, 128\)"):
        model.init_score_from_classifier_(fc8(20, 128))  # another trunk width
    with pytest.raises(ValueError, match=r"classifier\.8"):
        fcn.fcn32s(num_classes=11, width=1 / 16).init_score_from_classifier_(small_classifier().state_dict())
    with pytest.raises(KeyError, match="no fc8"):
        model.init_score_from_classifier_({"conv1_1.weight": lumen.ones(4, 3, 3, 3)})
    heads = fcn.fcn32s(num_classes={"a": 21, "b": 5}, width=NARROW)
    with pytest.raises(ValueError, match="several heads"):
        heads.init_score_from_classifier_(fc8(20, 128))
    assert not np.any(model.score_fr.weight.detach().numpy())  # nothing was written


def calibration_samples(seed, n=3, size=48):
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n):
        image = rng.normal(0, 1, (3, size, size)).astype(np.float32)
        label = rng.choice(np.array([0, 0, 0, 3, 7, 15, 255], np.uint8), size=(size, size))
        samples.append((image, label))
    return samples


def predicted_background(model, samples, ignore_index=255):
    background = scored = 0
    with lumen.no_grad():
        for image, label in samples:
            pred = model(lumen.tensor(image[None]))[0].numpy().argmax(0)
            keep = label != ignore_index
            background += int((pred[keep] == 0).sum())
            scored += int(keep.sum())
    return background, scored


def calibrated(samples, training=False):
    model = copy.deepcopy(small_fcn())
    model.init_score_from_classifier_(small_classifier().state_dict())
    model.train(training)
    return model, model.calibrate_background_(samples)


@pytest.mark.parametrize("training", [True, False])
def test_calibrate_background_returns_the_labelled_fraction_and_restores_the_mode(training):
    samples = calibration_samples(3)
    labelled = sum(int((label == 0).sum()) for _, label in samples)
    scored = sum(int((label != 255).sum()) for _, label in samples)
    model, (bias, fraction) = calibrated(samples, training)
    assert model.training is training and model.drop6.training is training  # the mode is restored
    assert fraction == labelled / scored and 0.3 < fraction < 0.7
    assert bias == pytest.approx(float(model.score_fr.bias[0])) and bias != 0
    assert not np.any(model.score_fr.weight.detach().numpy()[0])  # only the bias moves
    # the predicted background moves towards the labelled amount
    base = copy.deepcopy(small_fcn())
    base.init_score_from_classifier_(small_classifier().state_dict())
    after, before = predicted_background(model.eval(), samples)[0], predicted_background(base.eval(), samples)[0]
    assert abs(after - labelled) < abs(before - labelled), (before, after, labelled)


def test_calibrate_background_predicts_the_labelled_fraction():
    samples = calibration_samples(3)
    labelled = sum(int((label == 0).sum()) for _, label in samples)
    model, _ = calibrated(samples)
    predicted, scored = predicted_background(model.eval(), samples)
    assert scored == sum(int((label != 255).sum()) for _, label in samples)
    assert abs(predicted - labelled) <= 2, (predicted, labelled, scored)


def test_calibrate_background_ignore_index_and_no_scored_pixel():
    model = copy.deepcopy(small_fcn())
    model.init_score_from_classifier_(small_classifier().state_dict())
    samples = calibration_samples(4, n=2)
    relabelled = [(image, np.where(label == 7, 99, label)) for image, label in samples]
    _, fraction = model.calibrate_background_(relabelled, ignore_index=99)
    labels = np.stack([label for _, label in relabelled])
    assert fraction == (labels == 0).sum() / (labels != 99).sum()
    with pytest.raises(ValueError, match="no scored pixel"):
        model.calibrate_background_([(image, np.full(label.shape, 255, np.uint8)) for image, label in samples])
