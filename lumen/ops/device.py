"""Moving and casting: ``Tensor.to`` (device, dtype or both), differentiable both ways."""
from __future__ import annotations

from .. import backends, dtypes
from ..autograd.function import Function
from ..device import as_device
from .arith import cast


class ToDevice(Function):
    """Moves data between backends; the gradient moves back."""

    def __init__(self, device):
        self.device = device

    def forward(self, a):
        target = backends.get(self.device.type)
        self.source, self.out_device = self.backend, self.device
        return target.asarray(self.backend.to_numpy(a)) if target is not self.backend else a.copy()

    def backward(self, g):
        return g.to(self.source.name)


def to(tensor, *args, dtype=None, device=None, copy=False):
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``, as PyTorch."""
    from ..tensor import Tensor
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, (dtypes.dtype, type)) or (isinstance(a, str) and a in dtypes._NAMES):
            dtype = a
        elif a is not None:
            device = a
    out = tensor
    if dtype is not None:
        out = cast(out, dtype)
    if device is not None:
        dev = as_device(device)
        if dev != out._device:
            if dev.type == "cuda" and dev.index != 0:
                raise RuntimeError(f"to: device {dev} is not supported yet; Lumen drives cuda:0")
            out = ToDevice.apply(out, device=dev)
    if copy and out is tensor:
        out = out.clone()
    return out
