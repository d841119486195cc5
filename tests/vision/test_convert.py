"""``python -m lumen.vision.convert`` and ``load_npz``: torchvision-layout weights into Lumen models."""
import os
import subprocess
import sys

import numpy as np
import pytest

import lumen
from lumen.vision import convert
from lumen.vision import models as M
from lumen.vision.models.googlenet import INCEPTION_CFGS

VGG11_CFG = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


def torch_net(torch, features, pool, classifier):
    """torchvision's AlexNet/VGG module tree (torchvision itself is not installed)."""
    tnn = torch.nn

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(*features)
            self.avgpool = tnn.AdaptiveAvgPool2d((pool, pool))
            self.classifier = tnn.Sequential(*classifier)

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
    return Net()


def torch_alexnet(torch, num_classes):
    tnn = torch.nn
    return torch_net(torch, [
        tnn.Conv2d(3, 64, 11, 4, 2), tnn.ReLU(True), tnn.MaxPool2d(3, 2),
        tnn.Conv2d(64, 192, 5, padding=2), tnn.ReLU(True), tnn.MaxPool2d(3, 2),
        tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(True), tnn.Conv2d(384, 256, 3, padding=1),
        tnn.ReLU(True), tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(True), tnn.MaxPool2d(3, 2)], 6, [
        tnn.Dropout(), tnn.Linear(9216, 4096), tnn.ReLU(True), tnn.Dropout(), tnn.Linear(4096, 4096),
        tnn.ReLU(True), tnn.Linear(4096, num_classes)])


def torch_vgg11_bn(torch, num_classes):
    tnn = torch.nn
    layers, c = [], 3
    for v in VGG11_CFG:
        if v == "M":
            layers.append(tnn.MaxPool2d(2, 2))
        else:
            layers += [tnn.Conv2d(c, v, 3, padding=1), tnn.BatchNorm2d(v), tnn.ReLU(True)]
            c = v
    return torch_net(torch, layers, 7, [
        tnn.Linear(25088, 4096), tnn.ReLU(True), tnn.Dropout(), tnn.Linear(4096, 4096), tnn.ReLU(True),
        tnn.Dropout(), tnn.Linear(4096, num_classes)])


def _randomise_bn(torch, net):
    # Non-trivial running statistics, so that eval-mode batch norm is really exercised.
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.num_batches_tracked.fill_(7)


@pytest.mark.parametrize("name,size", [("alexnet", 80), ("vgg11_bn", 32)])
def test_torch_checkpoint_round_trip(tmp_path, name, size):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    with torch.no_grad():
        if name == "alexnet":
            net, ours = torch_alexnet(torch, 10), M.alexnet(num_classes=10)
        else:
            net, ours = torch_vgg11_bn(torch, 10), M.vgg11(num_classes=10, batch_norm=True, init_weights=False)
            _randomise_bn(torch, net)
        net.eval()
        pth, npz = tmp_path / f"{name}.pth", tmp_path / f"{name}.npz"
        torch.save(net.state_dict(), pth)
        assert convert.main([str(pth), str(npz)]) == 0
        arrays = np.load(npz)
        assert sorted(arrays.files) == sorted(net.state_dict())
        assert sorted(arrays.files) == sorted(ours.state_dict())
        float_keys = [k for k in arrays.files if not k.endswith("num_batches_tracked")]
        assert all(arrays[k].dtype == np.float32 for k in float_keys)
        missing, unexpected = M.load_npz(ours, npz)
        assert missing == [] and unexpected == []
        ours.eval()
        x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
        expected = net(torch.from_numpy(x)).numpy()
        with lumen.no_grad():
            got = ours(lumen.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    if name == "vgg11_bn":
        assert ours.features[1].num_batches_tracked.item() == 7


def test_wrapped_and_dataparallel_checkpoints(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    conv = torch.nn.Conv2d(3, 2, 3)
    sd = {f"module.{k}": v for k, v in conv.state_dict().items()}
    pth, npz = tmp_path / "ckpt.pth", tmp_path / "out.npz"
    torch.save({"state_dict": sd, "epoch": 3}, pth)
    assert convert.main([str(pth), str(npz)]) == 0
    assert "2 arrays, 56 values" in capsys.readouterr().out
    ours = lumen.nn.Conv2d(3, 2, 3)
    M.load_npz(ours, npz)
    np.testing.assert_array_equal(ours.weight.detach().numpy(), conv.weight.detach().numpy())
    torch.save([1, 2], tmp_path / "list.pth")
    assert convert.main([str(tmp_path / "list.pth"), str(npz)]) == 1
    assert "expected a non-empty state dict" in capsys.readouterr().err


def test_cli_reports_errors(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "x.npz"
    proc = subprocess.run([sys.executable, "-m", "lumen.vision.convert", str(tmp_path / "nope.pth"), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "nope.pth" in proc.stderr
    assert not out.exists() and os.listdir(tmp_path) == []


def test_missing_torch_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    assert convert.main([str(tmp_path / "a.pth"), str(tmp_path / "a.npz")]) == 1
    assert "needs PyTorch" in capsys.readouterr().err


def test_load_npz_plain_numpy_and_lumen_checkpoints(tmp_path):
    src = M.googlenet(num_classes=5, aux_logits=False)
    plain = tmp_path / "plain.npz"
    np.savez(plain, **{k: v.numpy() for k, v in src.state_dict().items()})
    dst = M.googlenet(num_classes=5, aux_logits=False)
    assert M.load_npz(dst, plain) == ([], [])
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), src.state_dict()[k].numpy())
    saved = tmp_path / "lumen.npz"
    from lumen.serialization import save
    save(src.state_dict(), saved)
    other = M.googlenet(num_classes=5, aux_logits=False)
    M.load_npz(other, saved)
    np.testing.assert_array_equal(other.fc.weight.detach().numpy(), src.fc.weight.detach().numpy())
    # Loading into a net with aux heads: their keys are missing, which strict mode reports.
    with pytest.raises(RuntimeError, match="aux1"):
        M.load_npz(M.googlenet(num_classes=5), plain)
    missing, _ = M.load_npz(M.googlenet(num_classes=5), plain, strict=False)
    assert "aux1.fc.weight" in missing


def test_googlenet_matches_a_torch_functional_forward():
    """Our Inception-v1 against the same net written with torch.nn.functional from its state dict."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    lumen.manual_seed(3)
    model = M.googlenet(num_classes=10, aux_logits=False).eval()
    w = {k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()}

    def conv(x, name, **kw):
        return F.relu(F.conv2d(x, w[name + ".weight"], w[name + ".bias"], **kw))

    def pool(x):
        return F.max_pool2d(x, 3, 2, ceil_mode=True)

    def lrn(x):
        return F.local_response_norm(x, 5, 1e-4, 0.75, 1.0)

    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    h = lrn(pool(conv(torch.from_numpy(x), "conv1", stride=2, padding=3)))
    h = pool(lrn(conv(conv(h, "conv2_reduce"), "conv2", padding=1)))
    for name in INCEPTION_CFGS:
        if name in ("inception4a", "inception5a"):
            h = pool(h)
        b = name + "."
        h = torch.cat([conv(h, b + "conv1x1"),
                       conv(conv(h, b + "conv3x3_reduce"), b + "conv3x3", padding=1),
                       conv(conv(h, b + "conv5x5_reduce"), b + "conv5x5", padding=2),
                       conv(F.max_pool2d(h, 3, 1, 1, ceil_mode=True), b + "pool_proj")], 1)
    expected = F.linear(h.mean((2, 3)), w["fc.weight"], w["fc.bias"]).numpy()
    with lumen.no_grad():
        got = model(lumen.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
