"""set_default_dtype and set_default_device, honoured by every creation function as torch honours them."""
import subprocess
import sys

import pytest

import lumen
from lumen import backends, random
from lumen.backends.cpu import NumpyBackend

torch = pytest.importorskip("torch")


def creations(lib, **kw):
    return {"tensor(float)": lib.tensor([1.0], **kw), "tensor(0-d)": lib.tensor(1.0, **kw),
            "as_tensor": lib.as_tensor([1.0], **kw), "zeros": lib.zeros(2, **kw), "ones": lib.ones(2, **kw),
            "empty": lib.empty(2, **kw), "full(float)": lib.full((2,), 1.5, **kw), "full(int)": lib.full((2,), 1, **kw),
            "arange(float)": lib.arange(0, 1, 0.5, **kw), "arange(int)": lib.arange(3, **kw),
            "linspace": lib.linspace(0, 1, 3, **kw), "eye": lib.eye(2, **kw), "rand": lib.rand(2, **kw),
            "randn": lib.randn(2, **kw), "randint": lib.randint(3, (2,), **kw), "randperm": lib.randperm(3, **kw),
            "normal": lib.normal(0.0, 1.0, (2,), **kw)}


@pytest.fixture
def float64_default():
    lumen.set_default_dtype(lumen.float64)
    torch.set_default_dtype(torch.float64)
    yield
    lumen.set_default_dtype(lumen.float32)
    torch.set_default_dtype(torch.float32)


def name(dtype):
    return str(dtype).split(".")[-1]


def test_default_dtype_is_honoured_as_by_torch(float64_default):
    ours, theirs = creations(lumen), creations(torch)
    assert {k: name(v.dtype) for k, v in ours.items()} == {k: name(v.dtype) for k, v in theirs.items()}
    assert lumen.nn.Linear(2, 2).weight.dtype == lumen.float64
    assert lumen.zeros(1).new_zeros(2).dtype == lumen.float64


def test_default_dtype_must_be_floating():
    with pytest.raises(TypeError):
        torch.set_default_dtype(torch.int64)
    with pytest.raises(TypeError):
        lumen.set_default_dtype(lumen.int64)


@pytest.fixture
def fake_cuda(monkeypatch):
    """A 'cuda' device whose backend is the CPU one, to check device placement without a GPU; the default
    generators it creates go with it."""
    monkeypatch.setitem(backends._loaded, "cuda", NumpyBackend())
    monkeypatch.setattr(random, "_defaults", dict(random._defaults))
    yield
    lumen.set_default_device(None)


def test_default_device_is_honoured_by_every_creation_function(fake_cuda):
    assert lumen.get_default_device() == lumen.device("cpu") and str(torch.get_default_device()) == "cpu"
    lumen.set_default_device("cuda")
    assert lumen.get_default_device() == lumen.device("cuda:0")
    made = creations(lumen)
    assert {k: str(v.device) for k, v in made.items()} == {k: "cuda:0" for k in made}
    layer = lumen.nn.Conv2d(1, 2, 3)
    assert layer.weight.device == lumen.device("cuda:0") and layer.bias.device == lumen.device("cuda:0")
    assert lumen.zeros(2, device="cpu").device == lumen.device("cpu")  # an explicit device wins
    lumen.set_default_device(None)
    assert lumen.zeros(1).device == lumen.device("cpu")


def test_default_device_rejects_unknown_devices():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        lumen.set_default_device("tpu")
    assert lumen.get_default_device() == lumen.device("cpu")


def test_import_lumen_reaches_the_subpackages_without_loading_pillow_or_matplotlib():
    code = ("import sys, lumen\n"
            "assert lumen.nn.Linear and lumen.nn.functional.relu and lumen.nn.init.zeros_\n"
            "assert lumen.optim.SGD and lumen.optim.lr_scheduler.StepLR and lumen.autograd.grad\n"
            "assert lumen.data.DataLoader\n"
            "heavy = [m for m in ('PIL', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert lumen.vision.models.fcn8s and lumen.vision.datasets.VOCSegmentation\n")
    subprocess.run([sys.executable, "-c", code], check=True)
