"""The classic hook-based weight normalisation (Salimans & Kingma 2016), as ``torch.nn.utils.weight_norm``:
the parameter ``name`` becomes ``name_g`` (its norm) and ``name_v`` (its direction), and a forward
pre-hook recomputes ``name = name_v * name_g / ||name_v||`` before every forward, so gradients reach g
and v."""
from __future__ import annotations

import warnings

import lumen
from lumen.nn.parameter import Parameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm", "norm_except_dim"]


def norm_except_dim(v, pow: float = 2, dim: int = 0):
    """The ``pow``-norm of ``v`` over every dim but ``dim``, kept as size 1 (so it broadcasts against
    ``v``); ``dim=-1`` means the norm of the whole tensor (0-d), as torch's."""
    if dim == -1:
        return lumen.linalg.vector_norm(v, pow)
    dim = dim % v.ndim
    return lumen.linalg.vector_norm(v, pow, tuple(d for d in range(v.ndim) if d != dim), keepdim=True)


class WeightNorm:
    """The forward pre-hook that recomputes the weight from its ``_g`` and ``_v`` parameters."""

    def __init__(self, name: str, dim: int):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / norm_except_dim(v, 2, self.dim))

    @staticmethod
    def apply(module, name: str, dim: int) -> "WeightNorm":
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        if not isinstance(weight, Parameter):
            raise ValueError(f"weight_norm: '{name}' of {type(module).__name__} is not a parameter")
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, 2, fn.dim).detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module) -> None:
        with lumen.no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name: str = "weight", dim: int = 0):
    """Reparametrise ``module.<name>`` as ``<name>_g * <name>_v / ||<name>_v||``, the norm over every dim
    but ``dim`` (``None`` or -1: over the whole tensor); returns ``module``. Deprecated in torch in favour of
    ``torch.nn.utils.parametrizations.weight_norm``, with the same FutureWarning here."""
    warnings.warn("`torch.nn.utils.weight_norm` is deprecated in favor of "
                  "`torch.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=2)
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name: str = "weight"):
    """Undo :func:`weight_norm`: ``<name>`` is again one parameter, holding the current weight."""
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")
