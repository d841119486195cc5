"""FCNs of any input channel count (early fusion), several heads (SIFT Flow's semantic + geometric),
and late fusion of two trunks (NYUDv2's RGB-HHA): sizes, reference layer names, initialisation,
and fusion as the weighted sum of the single-modality nets."""
import pytest

import lumen
from lumen.vision.models import fcn
from lumen.vision.models.fusion import LateFusionFCN

W = 1 / 16


def _randomise_scorers(model, seed=0):
    """Scorers start at zero (the paper); give them values so that the sums below can fail."""
    gen = lumen.Generator().manual_seed(seed)
    with lumen.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("score_"):
                p.copy_(lumen.randn(p.shape, generator=gen) * 0.1)


@pytest.mark.parametrize("make", [fcn.fcn32s, fcn.fcn16s, fcn.fcn8s])
@pytest.mark.parametrize("size", [(17, 23), (1, 1)])
def test_output_size_equals_input_for_channels_and_heads(make, size):
    x4 = lumen.randn(1, 4, *size)
    assert make(40, width=W, in_channels=4)(x4).shape == (1, 40, *size)
    out = make({"sem": 33, "geo": 3}, width=W, in_channels=1)(lumen.randn(2, 1, *size))
    assert set(out) == {"sem", "geo"} and out["sem"].shape == (2, 33, *size) and out["geo"].shape == (2, 3, *size)


def test_reference_layer_names():
    two = fcn.fcn16s({"sem": 33, "geo": 3}, width=W).state_dict()
    for key in ("score_fr_sem.weight", "upscore2_sem.weight", "score_pool4_sem.bias", "upscore16_geo.weight",
                "score_fr_geo.bias", "conv1_1.weight", "fc7.weight"):
        assert key in two
    assert "score_fr.weight" not in two and two["score_fr_geo.weight"].shape[0] == 3
    assert "conv1_1_bgrd.weight" in fcn.fcn32s(40, width=W, in_channels=4).state_dict()
    fused = LateFusionFCN("fcn32s", 40, width=W).state_dict()
    for key in ("conv1_1color.weight", "conv1_1hha.weight", "fc7hha.bias", "score_frcolor.weight",
                "score_frhha.weight", "upscore.weight"):
        assert key in fused
    assert not any(k.startswith(("upscorecolor", "upscorehha")) for k in fused)


def test_extra_channels_start_as_the_mean_of_the_colour_filters():
    lumen.manual_seed(0)
    rgb = fcn.fcn32s(40, width=W)
    rgbd = fcn.fcn32s(40, width=W, in_channels=4, pretrained_backbone=rgb.state_dict())
    w3, w4 = rgb.conv1_1.weight, rgbd.conv1_1_bgrd.weight
    assert tuple(w4.shape) == (w3.shape[0], 4, 3, 3)
    assert lumen.equal(w4[:, :3], w3) and lumen.allclose(w4[:, 3], w3.mean(1), atol=1e-7)
    assert lumen.equal(rgbd.conv1_1_bgrd.bias, rgb.conv1_1.bias) and lumen.equal(rgbd.fc6.weight, rgb.fc6.weight)
    depth_only = fcn.fcn32s(40, width=W, in_channels=1, pretrained_backbone=rgb.state_dict())
    assert lumen.allclose(depth_only.conv1_1.weight[:, 0], w3.mean(1), atol=1e-7)


def test_heads_share_the_trunk_and_carry_to_the_next_stage():
    lumen.manual_seed(1)
    two = fcn.fcn32s({"sem": 5, "geo": 3}, width=W).eval()
    _randomise_scorers(two)
    one = fcn.fcn32s(3, width=W).eval()
    state = two.state_dict()
    one.load_state_dict({k.replace("_geo", ""): v for k, v in state.items() if "_sem" not in k})
    x = lumen.randn(1, 3, 19, 21)
    assert lumen.allclose(two(x)["geo"], one(x), atol=1e-5)
    sixteen = fcn.FCN16s.from_fcn32s(two).eval()
    assert sixteen.heads == {"_sem": 5, "_geo": 3}
    assert lumen.equal(sixteen.score_fr_sem.weight, two.score_fr_sem.weight)
    rgbd16 = fcn.FCN16s.from_fcn32s(fcn.fcn32s(4, width=W, in_channels=4))
    assert rgbd16.in_channels == 4 and "conv1_1_bgrd.weight" in rgbd16.state_dict()


@pytest.mark.parametrize("arch", ["fcn32s", "fcn16s"])
def test_late_fusion_is_the_weighted_sum_of_the_single_nets(arch):
    lumen.manual_seed(2)
    color, hha = (fcn.CONSTRUCTORS[arch](6, width=W).eval() for _ in range(2))
    _randomise_scorers(color, 1)
    _randomise_scorers(hha, 2)
    xc, xh = lumen.randn(1, 3, 21, 18), lumen.randn(1, 3, 21, 18)
    fused = LateFusionFCN.from_nets({"color": color, "hha": hha}).eval()
    assert fused.weights == (0.5, 0.5)
    expected = color(xc) * 0.5 + hha(xh) * 0.5
    assert lumen.allclose(fused(xc, xh), expected, atol=1e-5)
    assert lumen.allclose(fused((xc, xh)), expected, atol=1e-5)
    summed = LateFusionFCN.from_nets({"color": color, "hha": hha}, weights=(1, 1)).eval()
    assert lumen.allclose(summed(xc, xh), color(xc) + hha(xh), atol=1e-5)
    loss = summed(xc, xh).sum()
    loss.backward()
    assert summed.conv1_1color.weight.grad is not None and summed.conv1_1hha.weight.grad is not None


def test_errors():
    with pytest.raises(ValueError, match="num_classes must be a positive int or a non-empty dict"):
        fcn.fcn32s({"sem": 0}, width=W)
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        fcn.fcn32s(3, width=W, in_channels=0)
    with pytest.raises(ValueError, match=r"expected a 4-d \(N, 4, H, W\) Tensor, got \(1, 3, 8, 8\)"):
        fcn.fcn32s(3, width=W, in_channels=4)(lumen.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="expected 2 inputs"):
        LateFusionFCN("fcn32s", 4, width=W)(lumen.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="must share N, H and W"):
        LateFusionFCN("fcn32s", 4, width=W)(lumen.randn(1, 3, 8, 8), lumen.randn(1, 3, 9, 8))
    with pytest.raises(TypeError, match="FCNs of one kind"):
        LateFusionFCN.from_nets({"a": fcn.fcn32s(4, width=W), "b": fcn.fcn16s(4, width=W)})


def test_a_fusion_upgraded_to_16s_keeps_its_layers_and_is_the_sum_of_the_single_16s_nets():
    lumen.manual_seed(3)
    color, hha = (fcn.fcn32s(6, width=W).eval() for _ in range(2))
    _randomise_scorers(color, 1)
    _randomise_scorers(hha, 2)
    fused32 = LateFusionFCN.from_nets({"color": color, "hha": hha}).eval()
    fused16 = LateFusionFCN.from_fusion(fused32, "fcn16s")
    assert fused16.arch == "fcn16s" and not fused16.training and fused16.weights == (0.5, 0.5)
    state16 = fused16.state_dict()
    for key, value in fused32.state_dict().items():
        if key in state16:
            assert lumen.equal(state16[key], value), key
    for modality in ("color", "hha"):
        assert not state16[f"score_pool4{modality}.weight"].any() and not state16[f"score_pool4{modality}.bias"].any()
    # Each modality's FCN-16s carried forward alone, summed, is the upgraded fusion.
    xc, xh = lumen.randn(1, 3, 37, 30), lumen.randn(1, 3, 37, 30)
    expected = fcn.FCN16s.from_fcn32s(color)(xc) * 0.5 + fcn.FCN16s.from_fcn32s(hha)(xh) * 0.5
    assert lumen.allclose(fused16(xc, xh), expected, atol=1e-5)
    with pytest.raises(ValueError, match="one stride coarser than 'fcn8s'"):
        LateFusionFCN.from_fusion(fused32, "fcn8s")


def test_fusions_keep_their_nets_dropout_and_frozen_layers():
    color, hha = (fcn.fcn32s(6, width=W, dropout=0.25) for _ in range(2))
    color.conv1_1.weight.requires_grad_(False)
    fused = LateFusionFCN.from_nets({"color": color, "hha": hha})
    sixteen = LateFusionFCN.from_fusion(fused, "fcn16s")
    for net in (fused, sixteen):
        assert not net.conv1_1color.weight.requires_grad and net.conv1_1hha.weight.requires_grad
        assert net.drop6color.p == net.drop7hha.p == 0.25
    assert fused.conv1_1color is not color.conv1_1  # copies: training the fusion leaves the single nets alone
