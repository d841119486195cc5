"""Stochastic gradient descent with momentum (PyTorch's update rule)."""
from __future__ import annotations

from lumen.optim.optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """``g = grad (+ weight_decay * p)``; with momentum ``buf = momentum * buf + (1 - dampening) * g``
    (``buf = g`` on the first step), ``g = buf`` or, with nesterov, ``g + momentum * buf``;
    then ``p -= lr * g`` (``+=`` when ``maximize``).

    PyTorch's form: the learning rate multiplies the whole step. Caffe's SGD
    (``V = momentum * V + lr * g``) gives the same trajectory at a fixed lr.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        if lr < 0.0:
            raise ValueError(f"SGD: invalid learning rate {lr} (must be >= 0)")
        if momentum < 0.0:
            raise ValueError(f"SGD: invalid momentum value {momentum} (must be >= 0)")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: invalid weight_decay value {weight_decay} (must be >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update_group(self, group):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay, nesterov = group["weight_decay"], group["nesterov"]
        for p in self._params_with_grad(group):
            grad = -p.grad if group["maximize"] else p.grad
            if weight_decay != 0:
                grad = grad + p * weight_decay
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = grad.detach().clone()
                else:
                    buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                grad = grad + buf * momentum if nesterov else buf
            p.add_(grad, alpha=-lr)
