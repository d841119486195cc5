"""Resilient backpropagation (Riedmiller & Braun 1993), PyTorch's single-tensor update rule."""
from __future__ import annotations

import lumen
from lumen.optim.optimizer import Optimizer, check_hyper, implementation_options

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """Only the gradient's sign is used: each coordinate's step size grows by ``etas[1]`` while its
    gradient keeps its sign and shrinks by ``etas[0]`` when it flips (clamped to ``step_sizes``), and the
    parameter moves ``-sign(g) * step_size``. After a flip the coordinate does not move and its remembered
    gradient is zero, so the next step neither grows nor shrinks it. Step sizes start at ``lr``.

    ``foreach`` and ``capturable`` select torch kernels and have no effect here.
    """

    def __init__(self, params, lr: float = 1e-2, etas: tuple = (0.5, 1.2), step_sizes: tuple = (1e-6, 50), *,
                 capturable: bool = False, foreach=None, maximize: bool = False, differentiable: bool = False):
        check_hyper("Rprop", "learning rate", lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Rprop: invalid eta values {etas[0]}, {etas[1]} (must be 0 < etaminus < 1 < etaplus)")
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize,
                                      **implementation_options("Rprop", foreach=foreach,
                                                               differentiable=differentiable,
                                                               capturable=capturable)))

    def _update_group(self, group):
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        for p in self._params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["prev"] = lumen.zeros_like(p)
                state["step_size"] = lumen.full_like(p, group["lr"])
            state["step"] += 1
            for p_part, g, prev, step_size in self._grad_blocks(p, state["prev"], state["step_size"],
                                                                maximize=group["maximize"]):
                agreement = g.mul(prev).sign()
                factor = lumen.ones_like(step_size).masked_fill_(agreement > 0, etaplus)
                step_size.mul_(factor.masked_fill_(agreement < 0, etaminus))
                step_size.clamp_(step_size_min, step_size_max)
                g = g.masked_fill(agreement < 0, 0.0)
                p_part.addcmul_(g.sign(), step_size, value=-1)
                prev.copy_(g)
