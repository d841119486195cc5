"""Adam and AdamW (PyTorch's update rules)."""
from __future__ import annotations

import math

import lumen
from lumen.optim.optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), PyTorch's single-tensor form.

    ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
    ``p -= lr / (1-b1^t) * m / (sqrt(v_hat) / sqrt(1-b2^t) + eps)`` where ``v_hat`` is
    ``v``, or its running maximum with ``amsgrad``. ``weight_decay`` adds
    ``weight_decay * p`` to the gradient (L2); AdamW decouples it instead.
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False):
        name = type(self).__name__
        if lr < 0.0:
            raise ValueError(f"{name}: invalid learning rate {lr} (must be >= 0)")
        if eps < 0.0:
            raise ValueError(f"{name}: invalid epsilon value {eps} (must be >= 0)")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {i}: {b} (must be in [0, 1))")
        if weight_decay < 0.0:
            raise ValueError(f"{name}: invalid weight_decay value {weight_decay} (must be >= 0)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _update_group(self, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, amsgrad = group["weight_decay"], group["amsgrad"]
        for p in self._params_with_grad(group):
            grad = -p.grad if group["maximize"] else p.grad
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = lumen.zeros_like(p)
                state["exp_avg_sq"] = lumen.zeros_like(p)
                if amsgrad:
                    state["max_exp_avg_sq"] = lumen.zeros_like(p)
            state["step"] += 1
            step = state["step"]
            if weight_decay != 0:
                if self._decoupled:
                    p.mul_(1 - lr * weight_decay)
                else:
                    grad = grad + p * weight_decay
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bias_correction1 = 1 - beta1 ** step
            bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
            tensors = (p, exp_avg, exp_avg_sq) + ((state["max_exp_avg_sq"],) if amsgrad else ())
            for p_part, m_part, v_part, *max_part in self._blocks(*tensors):
                if amsgrad:
                    max_part[0].copy_(max_part[0].maximum(v_part))
                    v_part = max_part[0]
                denom = v_part.sqrt().div_(bias_correction2_sqrt).add_(eps)
                p_part.addcdiv_(m_part, denom, value=-lr / bias_correction1)
                del denom  # before the next block's is made: one block of scratch at a time


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): ``p *= 1 - lr * weight_decay``
    before the Adam step. Default ``weight_decay=1e-2`` as PyTorch."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
