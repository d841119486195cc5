"""A full training step of a small FCN-8s on the ``cuda`` device matches the same step on the CPU device:
loss, every gradient and every updated parameter (SGD with momentum, two steps so the momentum buffers count).

Marked ``cuda``: a GPU run when CuPy sees one, an emulated run under ``--cuda-emulator``.
"""
import copy

import numpy as np
import pytest

pytestmark = pytest.mark.cuda
pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")

import lumen  # noqa: E402 (after the CuPy check)
import lumen.nn.functional as F  # noqa: E402
from lumen import optim  # noqa: E402
from lumen.backends import conv as conv_settings  # noqa: E402
from lumen.vision.models import fcn  # noqa: E402

NARROW = 1 / 32  # trunk channels 2, 4, 8, 16, 16; fc 128: the paper's geometry at a fraction of the cost


def _steps(model, images, labels, steps=2):
    opt = optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(images), labels, ignore_index=255)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    grads = {n: p.grad.cpu().numpy() for n, p in model.named_parameters() if p.grad is not None}
    return losses, grads, {n: p.detach().cpu().numpy() for n, p in model.named_parameters()}


@pytest.mark.parametrize("algorithm", ["gemm", "implicit"])
def test_fcn8s_training_step_matches_cpu(algorithm):
    lumen.manual_seed(0)
    cpu_model = fcn.fcn8s(num_classes=3, width=NARROW, dropout=0.0, upsampling="learned").double()
    # score_fr and the skip scorers start at zero; random heads make every gradient nonzero.
    for name, p in cpu_model.named_parameters():
        if name.startswith("score"):
            p.data = lumen.randn(*p.shape, dtype=lumen.float64) * 0.1
    cuda_model = copy.deepcopy(cpu_model).cuda()
    rng = np.random.default_rng(0)
    images = lumen.tensor(rng.standard_normal((1, 3, 12, 10)), dtype=lumen.float64)
    labels = lumen.tensor(rng.integers(0, 3, (1, 12, 10)), dtype=lumen.int64)
    labels[0, :2] = 255
    want = _steps(cpu_model, images, labels)
    with conv_settings.flags(algorithm=algorithm):
        got = _steps(cuda_model, images.cuda(), labels.cuda())
    np.testing.assert_allclose(got[0], want[0], rtol=1e-9)
    for part in (1, 2):
        assert got[part].keys() == want[part].keys()
        for name in want[part]:
            np.testing.assert_allclose(got[part][name], want[part][name], rtol=1e-8, atol=1e-11, err_msg=name)
    assert any(np.abs(g).max() > 0 for g in want[1].values())
