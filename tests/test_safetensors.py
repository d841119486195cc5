"""lumen.save / lumen.load in the safetensors format: round trips with Lumen and with PyTorch."""
import io

import numpy as np
import pytest

pytest.importorskip("safetensors")

import lumen  # noqa: E402
from lumen.serialization import CheckpointError  # noqa: E402
from lumen.vision.models import fcn8s  # noqa: E402


def _state():
    return {"conv.weight": lumen.randn(4, 3, 3, 3), "conv.bias": lumen.randn(4).double(),
            "bn.num_batches_tracked": lumen.tensor(7), "mask": lumen.tensor([True, False]),
            "ids": lumen.arange(5, dtype=lumen.int32).reshape(5, 1)[1:]}


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and tuple(a[key].shape) == tuple(b[key].shape), key
        np.testing.assert_array_equal(a[key].detach().numpy(), b[key].detach().numpy())


def test_round_trip_by_extension_and_by_format(tmp_path):
    state = _state()
    lumen.save(state, tmp_path / "w.safetensors")
    _assert_same(state, lumen.load(tmp_path / "w.safetensors"))
    lumen.save(state, tmp_path / "w.bin", format="safetensors")
    _assert_same(state, lumen.load(tmp_path / "w.bin", format="safetensors"))
    with pytest.raises(CheckpointError):  # not an npz: the format must be asked for
        lumen.load(tmp_path / "w.bin")
    buffer = io.BytesIO()
    lumen.save(state, buffer, format="safetensors")
    buffer.seek(0)
    _assert_same(state, lumen.load(buffer, format="safetensors"))


def test_model_state_dict_round_trip(tmp_path):
    model = fcn8s(num_classes=3, width=1 / 16)
    lumen.save(model.state_dict(), tmp_path / "fcn.safetensors")
    other = fcn8s(num_classes=3, width=1 / 16)
    other.load_state_dict(lumen.load(tmp_path / "fcn.safetensors"))
    _assert_same(model.state_dict(), other.state_dict())


def test_errors(tmp_path):
    with pytest.raises(TypeError, match="flat"):
        lumen.save({"a": [lumen.ones(2)]}, tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="format"):
        lumen.save(_state(), tmp_path / "x.bin", format="onnx")
    lumen.save(_state(), tmp_path / "x.safetensors")
    data = (tmp_path / "x.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        lumen.load(tmp_path / "cut.safetensors")


def test_pytorch_reads_and_writes_the_same_files(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file
    state = _state()
    lumen.save(state, tmp_path / "lumen.safetensors")
    theirs = load_file(str(tmp_path / "lumen.safetensors"))
    for key, value in state.items():
        np.testing.assert_array_equal(theirs[key].numpy(), value.detach().numpy())
    assert theirs["conv.bias"].dtype == torch.float64 and theirs["ids"].dtype == torch.int32
    save_file({k: v.clone() for k, v in theirs.items()}, str(tmp_path / "torch.safetensors"))
    _assert_same(state, lumen.load(tmp_path / "torch.safetensors"))
