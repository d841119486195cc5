"""lumen.onnx.export: every shipped classifier and FCN, run in onnxruntime, equals Lumen's output."""
import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import lumen  # noqa: E402
from lumen import nn  # noqa: E402
from lumen.onnx import export  # noqa: E402
from lumen.vision.models import GoogLeNet, convolutionalize, fcn8s, fcn8s_atonce, fcn16s, fcn32s  # noqa: E402
from lumen.vision.models.alexnet import caffenet_trunk  # noqa: E402
from lumen.vision.models.googlenet import googlenet_trunk  # noqa: E402
from lumen.vision.models.layers import fc_head  # noqa: E402
from lumen.vision.models import caffenet  # noqa: E402

DYNAMIC = {"input": {0: "N", 2: "H", 3: "W"}, "output": {0: "N", 2: "H", 3: "W"}}


def _randomize(model, seed=0):
    gen = np.random.default_rng(seed)
    with lumen.no_grad():
        for p in model.parameters():
            if p.requires_grad:  # fixed bilinear deconvolutions keep their kernel
                p.copy_(lumen.tensor(gen.normal(0, 0.3, p.shape).astype(np.float32)))
    return model.eval()


def _check(model, path, sizes, dynamic_axes=DYNAMIC, batch=(1, 2)):
    gen = np.random.default_rng(1)
    example = lumen.tensor(gen.normal(size=(batch[0], 3, *sizes[0])).astype(np.float32))
    export(model, example, path, dynamic_axes=dynamic_axes)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n, size in zip(batch, sizes):
        x = gen.normal(size=(n, 3, *size)).astype(np.float32)
        with lumen.no_grad():
            expected = model(lumen.tensor(x)).numpy()
        (got,) = session.run(None, {"input": x})
        assert got.shape == expected.shape
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)
        assert np.abs(expected).max() > 0  # not the all-black output of a broken export


@pytest.mark.parametrize("make", [fcn32s, fcn16s, fcn8s, fcn8s_atonce], ids=lambda f: f.__name__)
def test_fcn_vgg16_any_size_from_one_export(tmp_path, make):
    model = _randomize(make(num_classes=4, width=1 / 16))
    _check(model, tmp_path / "fcn.onnx", [(37, 45), (52, 33)])


@pytest.mark.parametrize("backbone", ["alexnet", "googlenet"])
def test_fcn32s_other_backbones(tmp_path, backbone):
    model = _randomize(fcn32s(num_classes=3, backbone=backbone, width=1 / 16))
    _check(model, tmp_path / "fcn.onnx", [(35, 40), (48, 31)])


def test_caffenet_and_its_convolutional_twin(tmp_path):
    model = caffenet(num_classes=5, init_weights=False)
    for name, layer in caffenet_trunk(width=1 / 16) + fc_head(16, 6, 32, 0.5, 5):
        setattr(model, name, layer)
    _randomize(model)
    _check(model, tmp_path / "caffenet.onnx", [(227, 227), (227, 227)], dynamic_axes={"input": [0], "output": [0]})
    _check(convolutionalize(model), tmp_path / "fcn.onnx", [(227, 227), (260, 290)])


def test_googlenet_any_size(tmp_path):
    model = GoogLeNet(num_classes=6, aux_logits=False, init_weights=False)
    for name, layer in googlenet_trunk(width=1 / 16):
        setattr(model, name, layer)
    model.fc = nn.Linear(model.inception5b.out_channels, 6)
    _randomize(model)
    _check(model, tmp_path / "googlenet.onnx", [(64, 64), (96, 80)])


def test_vgg_and_alexnet_with_adaptive_pooling_at_two_sizes(tmp_path):
    from lumen.vision.models import alexnet
    from lumen.vision.models.vgg import CFGS, VGG, make_layers
    # The trunks as shipped (VGG's at 1/32 width), the 4096-wide heads shrunk to keep the test fast.
    vgg = VGG(make_layers([c if c == "M" else max(2, c // 32) for c in CFGS["D"]]), init_weights=False)
    vgg.classifier = nn.Sequential(nn.Linear(16 * 49, 16), nn.ReLU(), nn.Dropout(), nn.Linear(16, 3))
    _check(_randomize(vgg), tmp_path / "vgg.onnx", [(224, 224), (250, 199)])
    net = alexnet(num_classes=3)
    net.classifier = nn.Sequential(nn.Dropout(), nn.Linear(256 * 36, 16), nn.ReLU(), nn.Linear(16, 3))
    _check(_randomize(net), tmp_path / "alexnet.onnx", [(224, 224), (131, 300)])


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="example_input"):
        export(fcn32s(width=1 / 16), lumen.zeros(3, 8, 8), tmp_path / "x.onnx")
    with pytest.raises(NotImplementedError, match="GRU|has no ONNX"):
        export(nn.Sequential(nn.Conv2d(3, 2, 1), nn.PixelShuffle(1)), lumen.zeros(1, 3, 4, 4), tmp_path / "x.onnx")


class _Doubling(nn.Module):
    def forward(self, x):
        return x * 2


def test_a_rule_registered_for_a_new_module_type_exports_it(tmp_path):
    from lumen.onnx import register_export

    @register_export(_Doubling)
    def _doubling(g, m, x, name):
        return g.op("Mul", [x, g.const(lumen.tensor(2.0), f"{name}.factor")], name)

    model = _randomize(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), _Doubling(), nn.ReLU()))
    _check(model, tmp_path / "doubling.onnx", [(9, 7), (5, 12)])
    with pytest.raises(TypeError, match="must be a class"):
        register_export("Conv2d")
    with pytest.raises(TypeError, match="expected a function"):
        register_export(_Doubling, 3)


def test_lumen_onnx_does_not_import_the_vision_models():
    import subprocess
    import sys
    code = "import sys, lumen.onnx; print(sorted(m for m in sys.modules if m.startswith('lumen.vision.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
