"""Stochastic gradient descent with momentum (PyTorch's update rule)."""
from __future__ import annotations

import lumen
from lumen.optim.optimizer import Optimizer, check_hyper, implementation_options

__all__ = ["SGD"]


class SGD(Optimizer):
    """``g = grad (+ weight_decay * p)``; with momentum ``buf = momentum * buf + (1 - dampening) * g``
    (``buf = g`` on the first step), ``g = buf`` or, with nesterov, ``g + momentum * buf``;
    then ``p -= lr * g`` (``+=`` when ``maximize``).

    PyTorch's form: the learning rate multiplies the whole step. Caffe's SGD
    (``V = momentum * V + lr * g``) gives the same trajectory at a fixed lr.
    ``foreach``, ``fused`` select torch kernels: accepted, no effect here.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach=None, differentiable: bool = False, fused=None):
        check_hyper("SGD", "learning rate", lr)
        check_hyper("SGD", "momentum value", momentum)
        check_hyper("SGD", "weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                                      **implementation_options("SGD", foreach=foreach,
                                                               differentiable=differentiable,
                                                               fused=fused)))

    def _update_group(self, group):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        nesterov = group["nesterov"]
        for p in self._params_with_grad(group):
            buf, first = (), False
            if momentum != 0:  # torch keeps no state for plain SGD
                state = self.state[p]
                first = "momentum_buffer" not in state
                if first:
                    state["momentum_buffer"] = lumen.empty_like(p)
                buf = (state["momentum_buffer"],)
            for p_part, g, *buf_part in self._grad_blocks(p, *buf, maximize=group["maximize"],
                                                           weight_decay=group["weight_decay"]):
                if momentum != 0:
                    if first:
                        buf_part[0].copy_(g)
                    else:
                        buf_part[0].mul_(momentum).add_(g, alpha=1 - dampening)
                    g = g.add(buf_part[0], alpha=momentum) if nesterov else buf_part[0]
                p_part.add_(g, alpha=-lr)
