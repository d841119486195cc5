"""Per-coordinate adaptive step sizes (PyTorch's single-tensor update rules): RMSprop, Adagrad,
Adadelta. Temporaries are one block (``Optimizer._grad_blocks``), never a parameter.
``foreach``, ``fused`` and ``capturable`` select torch kernels and have no effect here."""
from __future__ import annotations

import lumen
from lumen.optim.optimizer import Optimizer, check_hyper, implementation_options

__all__ = ["RMSprop", "Adagrad", "Adadelta"]


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e): ``v = alpha v + (1-alpha) g^2``; ``centered`` subtracts the
    squared running mean of ``g``; the step is ``g / (sqrt(v) + eps)``, through a momentum buffer
    when ``momentum > 0``. ``weight_decay`` is L2."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach=None, maximize: bool = False,
                 differentiable: bool = False):
        for label, value in (("learning rate", lr), ("epsilon value", eps), ("momentum value", momentum),
                             ("weight_decay value", weight_decay), ("alpha value", alpha)):
            check_hyper("RMSprop", label, value)
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, maximize=maximize,
                                      **implementation_options("RMSprop", capturable=capturable,
                                                               foreach=foreach,
                                                               differentiable=differentiable)))

    def _update_group(self, group):
        lr, alpha, eps, momentum, centered = (group[k] for k in ("lr", "alpha", "eps", "momentum", "centered"))
        for p in self._params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["square_avg"] = lumen.zeros_like(p)
                if momentum > 0:
                    state["momentum_buffer"] = lumen.zeros_like(p)
                if centered:
                    state["grad_avg"] = lumen.zeros_like(p)
            state["step"] += 1
            extra = ((state["momentum_buffer"],) if momentum > 0 else ()) + ((state["grad_avg"],) if centered else ())
            for p_part, g, v, *rest in self._grad_blocks(p, state["square_avg"], *extra,
                                                         maximize=group["maximize"],
                                                         weight_decay=group["weight_decay"]):
                v.mul_(alpha).addcmul_(g, g, value=1 - alpha)
                if centered:
                    mean = rest[-1].lerp_(g, 1 - alpha)
                    avg = v.sub(mean.mul(mean)).sqrt_()
                else:
                    avg = v.sqrt()
                avg.add_(eps)
                if momentum > 0:
                    buf = rest[0].mul_(momentum).addcdiv_(g, avg)
                    p_part.add_(buf, alpha=-lr)
                else:
                    p_part.addcdiv_(g, avg, value=-lr)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011): ``s += g^2``, ``p -= clr * g / (sqrt(s) + eps)`` with
    ``clr = lr / (1 + (t - 1) lr_decay)``. The state (``sum`` from ``initial_accumulator_value``)
    is made at construction, as torch does. Dense gradients only (no sparse tensors here)."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach=None, *,
                 maximize: bool = False, differentiable: bool = False, fused=None):
        for label, value in (("learning rate", lr), ("lr_decay value", lr_decay),
                             ("weight_decay value", weight_decay),
                             ("initial_accumulator_value value", initial_accumulator_value),
                             ("epsilon value", eps)):
            check_hyper("Adagrad", label, value)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize,
                                      **implementation_options("Adagrad", foreach=foreach,
                                                               differentiable=differentiable, fused=fused)))

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            self.state[p] = {"step": 0, "sum": lumen.full_like(p, group["initial_accumulator_value"])}

    def _update_group(self, group):
        lr, eps = group["lr"], group["eps"]
        for p in self._params_with_grad(group):
            state = self.state[p]
            state["step"] += 1
            clr = lr / (1 + (state["step"] - 1) * group["lr_decay"])
            for p_part, g, s in self._grad_blocks(p, state["sum"], maximize=group["maximize"],
                                                  weight_decay=group["weight_decay"]):
                s.addcmul_(g, g, value=1)
                p_part.addcdiv_(g, s.sqrt().add_(eps), value=-clr)


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012): ``v = rho v + (1-rho) g^2``,
    ``delta = sqrt(u + eps) / sqrt(v + eps) * g``, ``u = rho u + (1-rho) delta^2``,
    ``p -= lr * delta``. ``weight_decay`` is L2."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach=None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False):
        check_hyper("Adadelta", "learning rate", lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho value {rho} (must be in [0, 1])")
        check_hyper("Adadelta", "epsilon value", eps)
        check_hyper("Adadelta", "weight_decay value", weight_decay)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      **implementation_options("Adadelta", capturable=capturable,
                                                               foreach=foreach,
                                                               differentiable=differentiable)))

    def _update_group(self, group):
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        for p in self._params_with_grad(group):
            state = self.state[p]
            if not state:
                state.update(step=0, square_avg=lumen.zeros_like(p), acc_delta=lumen.zeros_like(p))
            state["step"] += 1
            for p_part, g, v, u in self._grad_blocks(p, state["square_avg"], state["acc_delta"],
                                                     maximize=group["maximize"],
                                                     weight_decay=group["weight_decay"]):
                v.mul_(rho).addcmul_(g, g, value=1 - rho)
                delta = u.add(eps).sqrt_().div_(v.add(eps).sqrt_()).mul_(g)
                u.mul_(rho).addcmul_(delta, delta, value=1 - rho)
                p_part.add_(delta, alpha=-lr)
