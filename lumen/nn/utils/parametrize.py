"""Parametrizations, as ``torch.nn.utils.parametrize``: ``module.<name>`` becomes a property computed from
the stored tensor(s) by a chain of modules, so the stored tensors are what optimisers update.

As in torch, the module's class is swapped for a ``Parametrized<Class>`` subclass holding the properties,
and ``module.parametrizations[name]`` is a :class:`ParametrizationList` that keeps the stored tensor as
``original`` (or ``original0``, ``original1``, ... when the first parametrization's ``right_inverse``
returns several), so state-dict keys are torch's (``parametrizations.weight.original``). Assigning to
``module.<name>`` stores the chain's ``right_inverse`` of the value. Inside :func:`cached` each
parametrized tensor is computed once.
"""
from __future__ import annotations

import contextlib

import lumen
from lumen.nn.module import Module
from lumen.nn.modules.container import ModuleDict, ModuleList
from lumen.nn.parameter import Parameter

__all__ = ["ParametrizationList", "register_parametrization", "remove_parametrizations", "is_parametrized",
           "type_before_parametrizations", "cached"]

_cache_depth = 0
_cache: dict = {}


@contextlib.contextmanager
def cached():
    """Within this context each parametrized tensor is computed at its first use and then reused."""
    global _cache_depth
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if not _cache_depth:
            _cache.clear()


def _store(module, name, tensor, like):
    """``tensor`` registered on ``module`` as ``name``: a Parameter if ``like`` is one, else a buffer."""
    if isinstance(like, Parameter):
        module.register_parameter(name, Parameter(tensor, like.requires_grad))
    else:
        module.register_buffer(name, tensor.requires_grad_(like.requires_grad))


class ParametrizationList(ModuleList):
    """The chain of parametrizations of one tensor, with its stored tensor(s) ``original``/``original<i>``."""

    def __init__(self, modules, original, unsafe: bool = False):
        if not modules:
            raise ValueError("ParametrizationList requires one or more modules")
        super().__init__(modules)
        self.unsafe = unsafe
        with lumen.no_grad():
            new = original
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    new = module.right_inverse(new)
        self.is_tensor = isinstance(new, lumen.Tensor)
        if self.is_tensor:
            self.ntensors = 1
            _store(self, "original", new.detach(), original)
        else:
            new = tuple(new)
            if not all(isinstance(t, lumen.Tensor) for t in new):
                raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...)")
            self.ntensors = len(new)
            for i, tensor in enumerate(new):
                _store(self, f"original{i}", tensor.detach(), original)
        if not unsafe:
            _check_consistency(self[0], self(), original)

    def right_inverse(self, value) -> None:
        """Store the chain's inverse image of ``value`` in ``original`` (in place, under no_grad)."""
        with lumen.no_grad():
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    value = module.right_inverse(value)
                else:
                    raise RuntimeError(f"parametrization {type(module).__name__} does not implement right_inverse")
            if self.is_tensor:
                self.original.copy_(value)
            else:
                for i, tensor in enumerate(value):
                    getattr(self, f"original{i}").copy_(tensor)

    def forward(self):
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in list(self)[1:]:
            x = module(x)
        return x


def _check_consistency(where, value, original):
    if not isinstance(value, lumen.Tensor):
        raise ValueError(f"A parametrization must return a tensor, {where} returned {type(value).__name__}")
    if value.dtype != original.dtype or tuple(value.shape) != tuple(original.shape):
        raise ValueError(f"Registering a parametrization may not change the dtype or shape of the tensor, unless "
                         f"the `unsafe` flag is enabled: {type(where).__name__} maps {tuple(original.shape)} "
                         f"{original.dtype} to {tuple(value.shape)} {value.dtype}")


def _parametrized_property(name):
    def get(self):
        if _cache_depth:
            key = (id(self), name)
            if key not in _cache:
                _cache[key] = self.parametrizations[name]()
            return _cache[key]
        return self.parametrizations[name]()

    def set_(self, value):
        self.parametrizations[name].right_inverse(value)
    return property(get, set_)


def _inject_new_class(module) -> None:
    cls = module.__class__
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), {"__module__": __name__})


def is_parametrized(module, tensor_name=None) -> bool:
    """Whether ``module`` has any parametrization, or one on ``tensor_name``."""
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def type_before_parametrizations(module) -> type:
    """``module``'s class before any parametrization swapped it."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)


def register_parametrization(module, tensor_name: str, parametrization, *, unsafe: bool = False):
    """Make ``module.<tensor_name>`` equal to ``parametrization(stored)``; a second call on the same name
    appends to the chain. ``unsafe`` skips the check that the dtype and shape are kept. Returns module."""
    if not isinstance(parametrization, Module):
        raise TypeError(f"register_parametrization: the parametrization must be a Module, got "
                        f"{type(parametrization).__name__}")
    if is_parametrized(module, tensor_name):
        chain = module.parametrizations[tensor_name]
        if not unsafe:
            value = getattr(module, tensor_name)
            _check_consistency(parametrization, parametrization(value), value)
        chain.append(parametrization)
        chain.unsafe |= unsafe
        return module
    if tensor_name not in module._parameters and tensor_name not in module._buffers:
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{tensor_name}'")
    original = getattr(module, tensor_name)
    chain = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)
    if not is_parametrized(module):
        _inject_new_class(module)
        module.parametrizations = ModuleDict()
    setattr(type(module), tensor_name, _parametrized_property(tensor_name))
    module.parametrizations[tensor_name] = chain
    return module


def remove_parametrizations(module, tensor_name: str, leave_parametrized: bool = True):
    """Undo :func:`register_parametrization` on ``tensor_name``: the tensor is again a parameter (or buffer)
    holding its current parametrized value (``leave_parametrized``) or the stored original. Returns module."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    chain = module.parametrizations[tensor_name]
    if leave_parametrized:
        with lumen.no_grad():
            value = getattr(module, tensor_name).detach()
        like = chain.original if chain.is_tensor else chain.original0
    else:
        if not chain.is_tensor:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
                             "parametrized in terms of a sequence of tensors")
        value, like = chain.original.detach(), chain.original
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _store(module, tensor_name, value, like)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = type(module).__bases__[0]
    return module
