"""lumen.utils.summary: rows, shapes, parameter and multiply-add counts, timings, and its command line."""
import pytest

import lumen
from lumen import nn
from lumen.utils.summary import main, summary
from lumen.vision.models import fcn8s, googlenet


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 4, 3, groups=2))
        self.up = nn.ConvTranspose2d(4, 2, 4, stride=2)
        self.head = nn.Linear(2 * 10 * 10, 5)
        self.scale = nn.Parameter(lumen.ones(1))

    def forward(self, x):
        return self.head(self.up(self.features(x)).flatten(1)) * self.scale


def test_rows_shapes_params_and_mult_adds():
    net = Net()
    net.features[3].weight.requires_grad_(False)
    result = summary(net, (2, 3, 12, 12), verbose=0)
    assert [layer.name for layer in result.layers] == ["features.0", "features.1", "features.2", "features.3",
                                                      "up", "head", ""]
    assert [layer.output_shape for layer in result.layers] == [(2, 8, 12, 12), (2, 8, 12, 12), (2, 8, 6, 6),
                                                               (2, 4, 4, 4), (2, 2, 10, 10), (2, 5), (2, 5)]
    assert result.total_params == sum(p.numel() for p in net.parameters())
    assert result.trainable_params == sum(p.numel() for p in net.parameters() if p.requires_grad)
    mult_adds = [layer.mult_adds for layer in result.layers]
    assert mult_adds[0] == 2 * 8 * 12 * 12 * (3 * 3 * 3)
    assert mult_adds[3] == 2 * 4 * 4 * 4 * (4 * 3 * 3)  # groups=2: 8 / 2 input channels per output
    assert mult_adds[4] == 2 * 4 * 4 * 4 * (2 * 4 * 4)  # each input element meets C_out * k * k weights
    assert mult_adds[5] == 2 * 5 * 200
    assert (result.layers[3].params, result.layers[3].trainable_params, result.layers[1].params) == (148, 4, 0)
    text = str(result)
    assert "Partial" in text.splitlines()[6] and "features.0 (Conv2d)" in text and "Total params: " + f"{result.total_params:,}" in text


def test_shapes_equal_the_forward_pass_of_a_real_model():
    model = fcn8s(width=1 / 16).eval()
    seen = {}

    def shape_of(name):
        def hook(module, args, out):
            seen[name] = tuple(out.shape)
        return hook

    handles = [m.register_forward_hook(shape_of(name)) for name, m in model.named_modules() if not list(m.children())]
    with lumen.no_grad():
        model(lumen.zeros(1, 3, 40, 36))
    for h in handles:
        h.remove()
    result = summary(model, (1, 3, 40, 36), verbose=0)
    assert {layer.name: layer.output_shape for layer in result.layers} == seen
    assert result.total_params == sum(p.numel() for p in model.parameters())


def test_time_adds_forward_and_backward_ms_and_keeps_the_model_intact(capsys):
    net = Net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = summary(net, (1, 3, 12, 12), time=True, repeat=2)
    assert all(layer.forward_ms > 0 for layer in result.layers)
    assert all(layer.backward_ms is None or layer.backward_ms > 0 for layer in result.layers)
    assert result.layers[0].backward_ms is not None
    assert all(lumen.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())  # timing's backward passes leave no gradients
    assert "Forward ms" in capsys.readouterr().out


def test_googlenet_outputs_and_several_inputs():
    model = googlenet(num_classes=10)  # training mode: the net returns a namedtuple with the aux logits
    result = summary(model, (1, 3, 224, 224), verbose=0)
    assert result.layers[-1].output_shape == (1, 10) and result.total_params == sum(p.numel() for p in model.parameters())
    bil = summary(nn.Bilinear(3, 4, 2), [(5, 3), (5, 4)], verbose=0)
    assert bil.layers[0].mult_adds == 5 * 2 * 3 * 4 and bil.input_shapes == [(5, 3), (5, 4)]


def test_command_line(capsys):
    assert main(["fcn32s", "--input", "1,3,32,32", "--width", "0.0625"]) == 0
    assert "score_fr (Conv2d)" in capsys.readouterr().out
    assert main(["resnet50"]) == 2
    assert "unknown model 'resnet50'" in capsys.readouterr().err
    assert main(["vgg11", "--input", "1x3x32x32"]) == 2
    with pytest.raises(ValueError, match="input_size"):
        summary(Net())


def test_lumen_utils_summary_is_the_function():
    import subprocess
    import sys
    result = lumen.utils.summary(nn.Linear(3, 2), (4, 3), verbose=0)  # after `from lumen.utils.summary import`
    assert result.total_params == 8
    run = subprocess.run([sys.executable, "-W", "error", "-m", "lumen.utils.summary", "alexnet", "--input",
                          "1,3,64,64"], capture_output=True, text=True)
    assert run.returncode == 0 and "(Conv2d)" in run.stdout and "Total params" in run.stdout, run.stderr[-500:]
