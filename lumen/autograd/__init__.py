"""Tape-based reverse-mode autodiff: Function nodes, ``grad``, ``backward``, ``gradcheck``, grad modes,
anomaly detection and :mod:`lumen.autograd.functional` (jacobian, hessian, vjp, jvp, hvp, vhp)."""
from __future__ import annotations

import warnings

from . import function, graph
from .anomaly_mode import detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly
from .function import Function, _store_leaf_grads, run_backward
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                        set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck


def _as_list(tensors):
    from ..tensor import Tensor
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None,
             inputs=None):
    """Accumulate the gradients of several outputs at once into the leaves' ``.grad`` (or, with
    ``inputs``, into those tensors' ``.grad`` only). ``grad_variables`` is PyTorch's deprecated name
    of ``grad_tensors``."""
    if grad_variables is not None:
        if grad_tensors is not None:
            raise RuntimeError("backward: pass grad_tensors or grad_variables (its deprecated name), not both")
        warnings.warn("backward: 'grad_variables' is deprecated, use 'grad_tensors' instead", FutureWarning,
                      stacklevel=2)
        grad_tensors = grad_variables
    tensors = _as_list(tensors)
    grads = _default_grads(tensors, grad_tensors)
    retain_graph = create_graph if retain_graph is None else retain_graph
    if inputs is None:
        run_backward(tensors, grads, retain_graph, create_graph)
        return
    inputs = _as_list(inputs)
    if not inputs:
        raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty")
    found = run_backward(tensors, grads, retain_graph, create_graph, inputs)
    # a non-leaf that retains its gradient has had it stored by its retain_grad hook already
    _store_leaf_grads([(t, g) for t, g in zip(inputs, found) if g is not None and not t._retains_grad],
                      [g._data for g in grads], create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned as a tuple (``.grad`` is left alone).

    As PyTorch: ``allow_unused`` defaults to ``materialize_grads``; an unused input gives None, or
    zeros with ``materialize_grads=True``. ``is_grads_batched=True`` treats the first dimension of
    every ``grad_outputs`` tensor as a batch of vectors (computed one by one, then stacked).
    ``only_inputs`` is ignored, as in PyTorch, where it is deprecated.
    """
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, but got: "
                         "allow_unused=False.")
    if allow_unused is None:
        allow_unused = materialize_grads
    if not only_inputs:
        warnings.warn("grad: only_inputs argument is deprecated and is ignored now (defaults to True)",
                      UserWarning, stacklevel=2)
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: one of the differentiated Tensors (index {i}, shape {tuple(t.shape)}) "
                               f"does not require grad")
    retain_graph = create_graph if retain_graph is None else retain_graph
    if is_grads_batched:
        result = _batched_grads(outputs, inputs, grad_outputs, retain_graph, create_graph)
    else:
        result = run_backward(outputs, _default_grads(outputs, grad_outputs), retain_graph, create_graph, inputs)
    for i, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: the differentiated Tensor at index {i} (shape {tuple(inputs[i].shape)}) "
                               f"was not used in the graph; set allow_unused=True if this is the desired "
                               f"behavior")
    if materialize_grads:
        result = [inputs[i].new_zeros(inputs[i].shape) if g is None else g for i, g in enumerate(result)]
    return tuple(result)


def _batched_grads(outputs, inputs, grad_outputs, retain_graph, create_graph):
    from ..ops.shape import stack
    grad_outputs = _as_list(grad_outputs)
    batch = grad_outputs[0].shape[0]
    columns = []
    for b in range(batch):
        keep = retain_graph or b < batch - 1
        columns.append(run_backward(outputs, [g[b] for g in grad_outputs], keep, create_graph, inputs))
    return [None if column[0] is None else stack(column) for column in zip(*columns)]


class _VariableMeta(type):
    def __instancecheck__(cls, other):
        from ..tensor import Tensor
        return isinstance(other, Tensor)


class Variable(metaclass=_VariableMeta):
    """PyTorch's deprecated wrapper: ``Variable(t)`` is a tensor sharing ``t``'s memory, with
    ``requires_grad`` as given (``volatile`` is accepted and, as in PyTorch, has no effect); every
    Tensor is an instance of it."""

    def __new__(cls, data, requires_grad=False, volatile=False):
        warnings.warn("lumen.autograd.Variable is deprecated (as torch.autograd.Variable): Tensors are "
                      "Variables; use the tensor itself, with requires_grad_() where needed", DeprecationWarning,
                      stacklevel=2)
        from ..tensor import Tensor
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        return data.detach().requires_grad_(requires_grad)


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
    from ..tensor import Tensor
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    out = []
    for i, (o, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; got output {i} of "
                                   f"shape {tuple(o.shape)}")
            g = o.new_ones(o.shape)
        elif g.shape != o.shape:
            raise RuntimeError(f"grad: Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and "
                               f"output[{i}] has a shape of {tuple(o.shape)}")
        out.append(g)
    return out


from . import functional  # noqa: E402  (builds on grad, defined above)

__all__ = ["Function", "Variable", "backward", "grad", "reset_grads", "gradcheck", "gradgradcheck",
           "GradcheckError", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled", "function", "functional", "graph"]
