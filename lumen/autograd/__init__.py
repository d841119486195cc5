"""Tape-based reverse-mode autodiff: Function nodes, ``grad``, ``gradcheck``."""
from __future__ import annotations

from .function import Function, run_backward
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate gradients of several outputs at once into the leaves."""
    from ..tensor import Tensor
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    grads = _default_grads(tensors, grad_tensors)
    run_backward(tensors, grads, create_graph if retain_graph is None else retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned as a tuple (``.grad`` is left alone)."""
    from ..tensor import Tensor
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"grad: an input of shape {tuple(t.shape)} does not require grad")
    grads = _default_grads(outputs, grad_outputs)
    result = run_backward(outputs, grads, create_graph if retain_graph is None else retain_graph,
                          create_graph, inputs)
    if not allow_unused:
        for i, g in enumerate(result):
            if g is None:
                raise RuntimeError(f"grad: input {i} (shape {tuple(inputs[i].shape)}) was not used in the "
                                   f"graph; pass allow_unused=True if this is expected")
    return tuple(result)


def reset_grads(params, set_to_none: bool = True) -> None:
    """Set each tensor's ``.grad`` to None, or zero it in place (detached from any graph)."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            if p.grad.grad_fn is not None:
                p.grad = p.grad.detach()
            with no_grad():
                p.grad.zero_()


def _default_grads(outputs, grad_outputs):
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    out = []
    for o, g in zip(outputs, grad_outputs):
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; got shape "
                                   f"{tuple(o.shape)}")
            g = o.new_ones(o.shape)
        out.append(g)
    return out


__all__ = ["Function", "backward", "grad", "reset_grads", "gradcheck", "gradgradcheck", "GradcheckError",
           "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]
