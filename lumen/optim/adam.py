"""The Adam family (PyTorch's single-tensor update rules): Adam, AdamW, Adamax, NAdam, RAdam.

Every rule works through ``Optimizer._grad_blocks``: its temporaries are one block, never a
parameter. ``foreach``, ``fused`` and ``capturable`` select torch kernels and have no effect here.
"""
from __future__ import annotations

import lumen
from lumen.optim.optimizer import Optimizer, check_hyper, implementation_options

__all__ = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"]


def _check_adam_like(name, lr, betas, eps, weight_decay):
    check_hyper(name, "learning rate", lr)
    check_hyper(name, "epsilon value", eps)
    for i, b in enumerate(betas):
        check_hyper(name, f"beta parameter at index {i}:", b, 0.0, 1.0)
    check_hyper(name, "weight_decay value", weight_decay)


def _step_state(optimizer, p, *moments, **scalars):
    """``p``'s state with its step counted: made on the first step (``step`` 0, the named zero
    moments, the given scalars)."""
    state = optimizer.state[p]
    if not state:
        state["step"] = 0
        state.update(scalars)
        state.update({name: lumen.zeros_like(p) for name in moments})
    state["step"] += 1
    return state, state["step"]


def _weight_decay(p, group):
    """Apply AdamW's decoupled decay to ``p`` when the group asks for it; return the L2
    coefficient left for the gradient."""
    if not group["decoupled_weight_decay"]:
        return group["weight_decay"]
    if group["weight_decay"] != 0:
        p.mul_(1 - group["lr"] * group["weight_decay"])
    return 0


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), PyTorch's single-tensor form.

    ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
    ``p -= lr / (1-b1^t) * m / (sqrt(v_hat) / sqrt(1-b2^t) + eps)`` where ``v_hat`` is
    ``v``, or its running maximum with ``amsgrad``. ``weight_decay`` adds
    ``weight_decay * p`` to the gradient (L2), or with ``decoupled_weight_decay`` (AdamW)
    multiplies ``p`` by ``1 - lr * weight_decay`` before the step.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False, fused=None,
                 decoupled_weight_decay: bool = False):
        name = type(self).__name__
        _check_adam_like(name, lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      **implementation_options(name, foreach=foreach, capturable=capturable,
                                                               differentiable=differentiable, fused=fused),
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update_group(self, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        amsgrad = group["amsgrad"]
        for p in self._params_with_grad(group):
            state, step = _step_state(self, p, "exp_avg", "exp_avg_sq", *(("max_exp_avg_sq",) if amsgrad else ()))
            l2 = _weight_decay(p, group)
            step_size = lr / (1 - beta1 ** step)
            bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
            moments = (state["exp_avg"], state["exp_avg_sq"]) + ((state["max_exp_avg_sq"],) if amsgrad else ())
            for p_part, g, m, v, *v_max in self._grad_blocks(p, *moments, maximize=group["maximize"],
                                                             weight_decay=l2):
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                if amsgrad:
                    v_max[0].copy_(v_max[0].maximum(v))
                    v = v_max[0]
                denom = v.sqrt().div_(bias_correction2_sqrt).add_(eps)
                p_part.addcdiv_(m, denom, value=-step_size)
                del denom  # before the next block's is made: one block of scratch at a time


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): ``p *= 1 - lr * weight_decay``
    before the Adam step. Default ``weight_decay=1e-2`` as PyTorch."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach=None, capturable: bool = False, differentiable: bool = False, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused, decoupled_weight_decay=True)


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, sec. 7): ``m = b1 m + (1-b1) g``, ``u = max(b2 u, |g| + eps)``,
    ``p -= lr / (1 - b1^t) * m / u``; ``weight_decay`` is L2 (added to the gradient)."""

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach=None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        _check_adam_like("Adamax", lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize,
                                      **implementation_options("Adamax", foreach=foreach,
                                                               differentiable=differentiable,
                                                               capturable=capturable)))

    def _update_group(self, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        for p in self._params_with_grad(group):
            state, step = _step_state(self, p, "exp_avg", "exp_inf")
            clr = lr / (1 - beta1 ** step)
            for p_part, g, m, u in self._grad_blocks(p, state["exp_avg"], state["exp_inf"],
                                                     maximize=group["maximize"],
                                                     weight_decay=group["weight_decay"]):
                m.lerp_(g, 1 - beta1)
                u.copy_(u.mul_(beta2).maximum(g.abs().add_(eps)))
                p_part.addcdiv_(m, u, value=-clr)


class NAdam(Optimizer):
    """Adam with Nesterov momentum (Dozat 2016) and PyTorch's momentum schedule
    ``mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay))``; ``decoupled_weight_decay`` as AdamW.

    ``mu_product`` is a default-dtype (float32) 0-d tensor, as torch keeps it, so trajectories match torch's.
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False,
                 *, foreach=None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        _check_adam_like("NAdam", lr, betas, eps, weight_decay)
        check_hyper("NAdam", "momentum_decay value", momentum_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                                      **implementation_options("NAdam", foreach=foreach, capturable=capturable,
                                                               differentiable=differentiable)))

    def _update_group(self, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        for p in self._params_with_grad(group):
            state, step = _step_state(self, p, "exp_avg", "exp_avg_sq", mu_product=lumen.ones(()))
            bias_correction2 = 1 - beta2 ** step
            l2 = _weight_decay(p, group)
            mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * group["momentum_decay"])))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * group["momentum_decay"])))
            mu_product = state["mu_product"].mul_(mu).item()
            mu_product_next = mu_product * mu_next
            grad_scale = -lr * (1.0 - mu) / (1.0 - mu_product)
            avg_scale = (-lr * mu_next) / (1.0 - mu_product_next)
            for p_part, g, m, v in self._grad_blocks(p, state["exp_avg"], state["exp_avg_sq"],
                                                     maximize=group["maximize"], weight_decay=l2):
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                denom = v.div(bias_correction2).sqrt_().add_(eps)
                p_part.addcdiv_(g, denom, value=grad_scale)
                p_part.addcdiv_(m, denom, value=avg_scale)


class RAdam(Optimizer):
    """Rectified Adam (Liu et al. 2020): the Adam step scaled by the variance rectification term
    while the approximated SMA length ``rho_t`` exceeds 5, plain momentum SGD before;
    ``decoupled_weight_decay`` as AdamW."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *, foreach=None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False):
        _check_adam_like("RAdam", lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize,
                                      **implementation_options("RAdam", foreach=foreach, capturable=capturable,
                                                               differentiable=differentiable),
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update_group(self, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        for p in self._params_with_grad(group):
            state, step = _step_state(self, p, "exp_avg", "exp_avg_sq")
            l2 = _weight_decay(p, group)
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            rho_inf = 2 / (1 - beta2) - 1
            rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
            rect = None
            if rho_t > 5.0:
                rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            for p_part, g, m, v in self._grad_blocks(p, state["exp_avg"], state["exp_avg_sq"],
                                                     maximize=group["maximize"], weight_decay=l2):
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                update = m.div(bias_correction1).mul_(lr)
                if rect is not None:
                    update.mul_((bias_correction2 ** 0.5) / v.sqrt().add_(eps)).mul_(rect)
                p_part.sub_(update)
