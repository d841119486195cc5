"""Averaged SGD (Polyak & Juditsky 1992), PyTorch's single-tensor update rule."""
from __future__ import annotations

import lumen
from lumen.optim.optimizer import Optimizer, check_hyper, implementation_options

__all__ = ["ASGD"]


class ASGD(Optimizer):
    """``p *= 1 - lambd * eta``, ``p -= eta * g``, then the average ``ax += mu (p - ax)``
    (``ax = p`` while ``mu == 1``), with ``eta = lr / (1 + lambd lr t)^alpha`` and
    ``mu = 1 / max(1, t - t0)``. ``weight_decay`` is L2.

    ``eta`` and ``mu`` are default-dtype (float32) 0-d tensors, as torch keeps them, so trajectories match torch's.
    ``foreach`` and ``capturable`` select torch kernels and have no effect here.
    """

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
                 weight_decay: float = 0, foreach=None, maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False):
        check_hyper("ASGD", "learning rate", lr)
        check_hyper("ASGD", "weight_decay value", weight_decay)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      maximize=maximize,
                                      **implementation_options("ASGD", foreach=foreach,
                                                               differentiable=differentiable,
                                                               capturable=capturable)))

    def _update_group(self, group):
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        for p in self._params_with_grad(group):
            state = self.state[p]
            if not state:
                state.update(step=0, eta=lumen.tensor(lr), mu=lumen.ones(()), ax=lumen.zeros_like(p))
            state["step"] += 1
            eta, mu = state["eta"].item(), state["mu"].item()
            for p_part, g, ax in self._grad_blocks(p, state["ax"], maximize=group["maximize"],
                                                   weight_decay=group["weight_decay"]):
                p_part.mul_(1 - lambd * eta)
                p_part.add_(g, alpha=-eta)
                if mu != 1:
                    ax.add_(p_part.sub(ax).mul_(mu))
                else:
                    ax.copy_(p_part)
            step = state["step"]
            # through a default-dtype tensor, as torch's as_tensor: the values round to float32
            # even once a loaded state holds them in the parameter's dtype
            state["eta"].copy_(lumen.tensor(lr / ((1 + lambd * lr * step) ** alpha)))
            state["mu"].copy_(lumen.tensor(1 / max(1, step - t0)))
