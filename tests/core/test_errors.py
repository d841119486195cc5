"""Bad input gets an error naming the op and the shapes, dtypes or devices involved."""
import re

import numpy as np
import pytest

import lumen
from lumen import backends
from lumen.backends.cpu import NumpyBackend


@pytest.mark.parametrize("fn,pattern", [
    (lambda: lumen.ones(2, 3) + lumen.ones(4), r"add: shapes \(2, 3\) and \(4,\)"),
    (lambda: lumen.ones(2, 3) - lumen.ones(3, 2), r"sub: shapes \(2, 3\) and \(3, 2\)"),
    (lambda: lumen.ones(2, 3) * lumen.ones(2), r"mul: shapes \(2, 3\) and \(2,\)"),
    (lambda: lumen.ones(2, 3) / lumen.ones(2), r"div: shapes \(2, 3\) and \(2,\)"),
    (lambda: lumen.ones(2, 3) ** lumen.ones(2), r"pow: shapes \(2, 3\) and \(2,\)"),
    (lambda: lumen.ones(2, 3).maximum(lumen.ones(3, 2)), r"maximum: shapes \(2, 3\) and \(3, 2\)"),
    (lambda: lumen.ones(2, 3) < lumen.ones(4), r"less: shapes \(2, 3\) and \(4,\)"),
    (lambda: lumen.ones(2, 3) @ lumen.ones(4, 2), r"matmul: shapes \(2, 3\) and \(4, 2\)"),
    (lambda: lumen.ones(3) @ lumen.tensor(2.0), r"matmul: .*at least 1 dimension.*\(3,\) and \(\)"),
    (lambda: lumen.where(lumen.ones(2) > 0, lumen.ones(3), 0.0), r"where: condition \(2,\), input \(3,\)"),
    (lambda: lumen.ones(2, 3).reshape(5), r"reshape: shape \(5,\) is invalid for input of size 6"),
    (lambda: lumen.ones(2, 3).reshape(-1, -1), r"reshape: only one dimension can be -1"),
    (lambda: lumen.ones(2, 3).expand(4, 3), r"expand: .*\(2, 3\).*\(4, 3\)"),
    (lambda: lumen.ones(2, 3).permute(0, 0), r"permute: \(0, 0\).*\(2, 3\)"),
    (lambda: lumen.cat([lumen.ones(2, 3), lumen.ones(3, 2)]), r"cat: .*\(2, 3\), \(3, 2\)"),
    (lambda: lumen.stack([lumen.ones(2), lumen.ones(3)]), r"stack: .*\(2,\), \(3,\)"),
    (lambda: lumen.split(lumen.ones(5), [2, 2]), r"split: .*\[2, 2\].*5"),
    (lambda: lumen.pad(lumen.ones(2), (1, 1, 1, 1)), r"pad: .*at most 2"),
    (lambda: lumen.ones(2, 3).t().view(6), r"view: .*\(6,\).*\(3, 2\).*reshape"),
    (lambda: lumen.ones(2, 2, 2).t(), r"t\(\): .*\(2, 2, 2\)"),
])
def test_shape_errors_name_op_and_shapes(fn, pattern):
    with pytest.raises(RuntimeError, match=pattern):
        fn()


@pytest.mark.parametrize("fn,pattern", [
    (lambda: lumen.ones(2, 3).sum(2), "sum: dim 2 is out of range for a tensor of 2 dimensions"),
    (lambda: lumen.ones(2, 3).max(-3), "max: dim -3 is out of range"),
    (lambda: lumen.ones(2, 3).squeeze(3), "squeeze: dim 3"),
    (lambda: lumen.ones(2).logsumexp(1), "logsumexp: dim 1"),
])
def test_dim_errors(fn, pattern):
    with pytest.raises(IndexError, match=pattern):
        fn()


def test_unknown_device_and_dtype_are_named():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        lumen.ones(2, device="tpu")
    with pytest.raises(ValueError, match="unknown device 'cuda:x'"):
        lumen.device("cuda:x")
    with pytest.raises(ValueError, match="'cpu:1'.*no index"):
        lumen.device("cpu:1")
    with pytest.raises(TypeError, match="unknown dtype 'float8'.*float32"):
        lumen.ones(2, dtype="float8")
    with pytest.raises(TypeError, match="unknown dtype"):
        lumen.ones(2).to(np.complex64)
    with pytest.raises(TypeError, match="device: expected a string"):
        lumen.device(3.5)


def test_reductions_on_bad_input():
    with pytest.raises(RuntimeError, match="mean: expected a floating tensor, got lumen.int64"):
        lumen.tensor([1, 2]).mean()
    with pytest.raises(RuntimeError, match=r"max: cannot reduce an empty tensor of shape \(0,\)"):
        lumen.zeros(0).max()
    with pytest.raises(RuntimeError, match="clamp: at least one"):
        lumen.ones(2).clamp()


def test_function_errors():
    class Two(lumen.autograd.Function):
        def forward(self, a):
            return a * 2

        def backward(self, g):
            return g, g

    class WrongShape(lumen.autograd.Function):
        def forward(self, a):
            return a.sum()

        def backward(self, g):
            return g

    x = lumen.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="Two.backward returned 2 gradients for 1 inputs"):
        Two.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"WrongShape.backward: gradient of shape \(\) for an input of shape "
                                           r"\(3,\)"):
        WrongShape.apply(x).backward()
    with pytest.raises(TypeError, match="Two: inputs must be Tensors or None, got ndarray"):
        Two.apply(np.ones(2))


class _FakeGpu(NumpyBackend):
    """A second device for the mixing checks: NumPy arrays that Lumen files under 'cuda'."""
    name = "cuda"


@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setitem(backends._loaded, "cuda", _FakeGpu())
    return lumen.device("cuda")


def test_mixing_devices_is_refused(fake_cuda):
    a = lumen.ones(2, 3)
    b = lumen.ones(2, 3, device="cuda")
    assert b.device == fake_cuda and b.is_cuda
    mixed = re.escape("Expected all tensors to be on the same device, but found at least two devices, cpu and "
                      "cuda:0!")  # PyTorch's TensorIterator's words, for every op
    for op in (lambda: a + b, lambda: a @ b.t(), lambda: lumen.cat([a, b]), lambda: a < b, lambda: a.add_(b)):
        with pytest.raises(RuntimeError, match=mixed):
            op()
    with pytest.raises(RuntimeError, match="__setitem__: value is on cuda:0, tensor on cpu"):
        a[0] = b[0]


def test_moving_between_devices_carries_gradient(fake_cuda):
    x = lumen.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("cuda")
    assert y.device == fake_cuda and y.requires_grad
    z = (y * 3).cpu()
    assert z.device == lumen.device("cpu")
    z.sum().backward()
    assert x.grad.device == lumen.device("cpu") and x.grad.tolist() == [3.0, 3.0]
