"""Moving and casting: ``Tensor.to`` (device, dtype or both), differentiable both ways."""
from __future__ import annotations

from .. import backends, dtypes
from ..autograd.function import Function
from ..device import as_device, placed
from .arith import cast


class ToDevice(Function):
    """Moves data between backends; the gradient moves back."""

    def __init__(self, device, source_device):
        self.device, self.source_device = device, source_device

    def forward(self, a):
        target = backends.get(self.device.type)
        self.out_device = self.device
        with placed(self.device):  # the copy lands on the current device
            return target.asarray(self.backend.to_numpy(a)) if target is not self.backend else a.copy()

    def backward(self, g):
        return g.to(self.source_device)


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
            out = ToDevice.apply(out, device=dev, source_device=out._device)
    if copy and out is tensor:
        out = out.clone()
    return out
