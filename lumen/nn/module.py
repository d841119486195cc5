"""``Module``: the base class of layers and models, with PyTorch's semantics.

A module owns three kinds of named state, all registered by attribute
assignment (or the ``register_*`` methods):

- parameters (``Parameter``): trained by optimisers, saved in ``state_dict``;
- buffers (plain ``Tensor``): e.g. batch-norm running statistics, saved in
  ``state_dict`` unless registered with ``persistent=False``;
- submodules (``Module``): their state appears under ``"<name>."`` prefixes.
"""
from __future__ import annotations

import itertools
import warnings
from collections import OrderedDict, namedtuple

import lumen
from lumen.autograd import reset_grads
from lumen.autograd.function import Function, RemovableHandle
from lumen.nn.parameter import Parameter

__all__ = ["Module", "RemovableHandle"]

_EXTRA_STATE_KEY = "_extra_state"  # PyTorch's key for get_extra_state()'s value in a state dict


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns, as PyTorch's namedtuple."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class _GradientTap(Function):
    """Identity on a module's input (or output) tensors whose backward hands the gradients of those
    tensors to ``on_grads`` and passes on what it returns: how full backward hooks see them."""

    def __init__(self, on_grads):
        self.on_grads = on_grads

    def forward(self, *arrays):
        self.mark_non_differentiable(*(i for i, need in enumerate(self.needs_input_grad) if not need))
        return arrays

    def backward(self, *grads):
        return tuple(self.on_grads(grads))


class _BackwardHookCall:
    """One call of a module with full backward (pre-)hooks: taps its tensor arguments and outputs, and
    runs ``pre_hooks(module, grad_output)`` when the outputs' gradients arrive and
    ``hooks(module, grad_input, grad_output)`` when the inputs' do (at once when no input needs them).

    Both gradient tuples have one entry per positional argument / output, None for non-tensors (and
    for outputs that got no gradient)."""

    def __init__(self, module, hooks, pre_hooks):
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_output = None
        self.n_inputs, self.input_index, self.input_meta = 0, None, []

    @staticmethod
    def _tap(values, on_grads):
        """(values with their tensors tapped, the tapped positions), or (values, None) when no tensor
        needs a gradient."""
        index = [i for i, v in enumerate(values) if isinstance(v, lumen.Tensor)]
        if not (lumen.is_grad_enabled() and any(values[i].requires_grad for i in index)):
            return values, None
        tapped = _GradientTap.apply(*(values[i] for i in index), on_grads=on_grads)
        out = list(values)
        for i, t in zip(index, tapped):
            # the tapped tensor is its source's memory: an in-place write to it must invalidate what
            # backward saved of the source, as a write to the source would
            t._version_counter = values[i]._version_counter
            out[i] = t
        return tuple(out), index

    def tap_inputs(self, args):
        self.n_inputs = len(args)
        self.input_meta = [(a.shape, a.dtype) for a in args if isinstance(a, lumen.Tensor)]
        args, self.input_index = self._tap(args, self._on_input_grads)
        return args

    def tap_outputs(self, result):
        single = isinstance(result, lumen.Tensor)
        if not single and not isinstance(result, tuple):
            warnings.warn(f"For backward hooks to be called, module output should be a Tensor or a tuple of "
                          f"Tensors but received {type(result)}", stacklevel=3)
            return result
        outputs = (result,) if single else result
        n_outputs = len(outputs)
        outputs, index = self._tap(outputs, lambda grads: self._on_output_grads(grads, index, n_outputs))
        return outputs[0] if single else outputs

    @staticmethod
    def _pack(index, values, size):
        out = [None] * size
        for i, v in zip(index, values):
            out[i] = v
        return tuple(out)

    def _chain(self, hooks, kind, name, grads, *more):
        """Run ``hook(module, grads, *more)`` in turn, each result (if not None) replacing ``grads``."""
        for hook in hooks:
            new = hook(self.module, grads, *more)
            if new is None:
                continue
            if len(new) != len(grads):
                raise RuntimeError(f"{kind} returned an invalid number of {name}, got {len(new)}, but expected "
                                   f"{len(grads)}")
            grads = tuple(new)
        return grads

    def _on_output_grads(self, grads, index, n_outputs):
        grad_output = self._chain(self.pre_hooks, "Backward pre hook", "grad_output",
                                  self._pack(index, grads, n_outputs))
        if self.input_index is None:
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module "
                          "outputs since no inputs require gradients.", UserWarning, stacklevel=2)
            grad_input = (None,) * self.n_inputs
            for hook in self.hooks:
                new = hook(self.module, grad_input, grad_output)
                if new is not None and not all(g is None for g in new):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should "
                                       "always return None or None for all gradients.")
        else:
            self.grad_output = grad_output
        return [grad_output[i] for i in index]

    def _on_input_grads(self, grads):
        if self.grad_output is None:
            # the gradient reached the inputs without passing through the outputs (double backward)
            return grads
        # as PyTorch, a tensor argument that got no gradient (it needs none) shows zeros
        ref = next(g for g in grads if g is not None)
        grads = [ref.new_zeros(shape, dtype=dtype) if g is None else g
                 for g, (shape, dtype) in zip(grads, self.input_meta)]
        grad_input = self._chain(self.hooks, "Backward hook", "grad_input",
                                 self._pack(self.input_index, grads, self.n_inputs), self.grad_output)
        self.grad_output = None
        return [grad_input[i] for i in self.input_index]


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign parameters, buffers and
    submodules as attributes, and implement ``forward``.
    """

    training: bool

    def __init__(self):
        # object.__setattr__ because our own __setattr__ looks these dicts up.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        for name, default in self._HOOK_STATE:
            object.__setattr__(self, name, default())

    # hook registries newer than some pickled modules: filled in when such a module is loaded
    _HOOK_STATE = (("_forward_hooks_with_kwargs", set), ("_forward_hooks_always_called", set),
                   ("_forward_pre_hooks_with_kwargs", set), ("_backward_hooks", OrderedDict),
                   ("_backward_pre_hooks", OrderedDict))

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name, default in self._HOOK_STATE:
            if name not in self.__dict__:
                object.__setattr__(self, name, default())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__} is missing the required 'forward' method")

    # ---- calling ------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks
                or self._backward_pre_hooks):
            return self.forward(*args, **kwargs)
        output, ran = None, set()
        try:
            for key, hook in tuple(self._forward_pre_hooks.items()):
                if key in self._forward_pre_hooks_with_kwargs:
                    result = hook(self, args, kwargs)
                    if result is not None:
                        if not (isinstance(result, tuple) and len(result) == 2):
                            raise RuntimeError(f"forward pre-hook must return None or a tuple of (new_args, "
                                               f"new_kwargs), but got {result}.")
                        args, kwargs = result
                else:
                    result = hook(self, args)
                    if result is not None:
                        args = result if isinstance(result, tuple) else (result,)
            backward_call = None
            if self._backward_hooks or self._backward_pre_hooks:
                backward_call = _BackwardHookCall(self, tuple(self._backward_hooks.values()),
                                                  tuple(self._backward_pre_hooks.values()))
                args = backward_call.tap_inputs(args)
            output = self.forward(*args, **kwargs)
            for key, hook in tuple(self._forward_hooks.items()):
                ran.add(key)
                result = (hook(self, args, kwargs, output) if key in self._forward_hooks_with_kwargs
                          else hook(self, args, output))
                if result is not None:
                    output = result
            if backward_call is not None:
                output = backward_call.tap_outputs(output)
            return output
        except Exception:
            for key, hook in tuple(self._forward_hooks.items()):
                if key not in self._forward_hooks_always_called or key in ran:
                    continue
                try:
                    result = (hook(self, args, kwargs, output) if key in self._forward_hooks_with_kwargs
                              else hook(self, args, output))
                    output = output if result is None else result
                except Exception as error:
                    warnings.warn(f"module forward hook with ``always_call=True`` raised an exception that was "
                                  f"silenced as another error was raised in forward: {error}", stacklevel=2)
            raise

    @staticmethod
    def _add_hook(hooks, hook, prepend, flags=()):
        """Register ``hook`` in ``hooks``, first if ``prepend``; ``flags``: (set, on) pairs to mark it in."""
        handle = RemovableHandle(hooks, extra_dict=[flag_set for flag_set, _ in flags])
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        for flag_set, on in flags:
            if on:
                flag_set.add(handle.id)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args) -> None or new args`` run before ``forward`` (a non-tuple result is the one
        argument); with ``with_kwargs``, ``hook(module, args, kwargs) -> None or (new args, new kwargs)``."""
        return self._add_hook(self._forward_pre_hooks, hook, prepend,
                              [(self._forward_pre_hooks_with_kwargs, with_kwargs)])

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """``hook(module, args, output) -> None or new output`` run after ``forward`` (with ``with_kwargs``,
        ``hook(module, args, kwargs, output)``); ``always_call`` runs it even when forward raised."""
        return self._add_hook(self._forward_hooks, hook, prepend,
                              [(self._forward_hooks_with_kwargs, with_kwargs),
                               (self._forward_hooks_always_called, always_call)])

    def register_full_backward_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output) -> None or new grad_input``, run once the gradients of
        the module's positional tensor arguments are computed; both are tuples, None where an argument
        is not a tensor or needs no gradient. The module's forward must take and return tensors."""
        return self._add_hook(self._backward_hooks, hook, prepend)

    def register_full_backward_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_output) -> None or new grad_output``, run when the gradients of the module's
        outputs arrive, before they flow into it."""
        return self._add_hook(self._backward_pre_hooks, hook, prepend)

    # ---- registration -------------------------------------------------------
    def _check_new_name(self, name, kind):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name}')

    def register_parameter(self, name: str, param) -> None:
        """Add ``param`` (a ``Parameter`` or None) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_new_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(lumen.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add a buffer (a ``Tensor`` or None); ``persistent=False`` keeps it out of ``state_dict``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_new_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, lumen.Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(lumen.Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module) -> None:
        """Add a submodule (a ``Module`` or None) under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_new_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        """The submodule at dotted path ``target`` ("" is self)."""
        mod = self
        if target == "":
            return mod
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}` (looking up '{target}')")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module (looking up '{target}')")
        return mod

    def set_submodule(self, target: str, module: "Module", strict: bool = False) -> None:
        """Put ``module`` at dotted path ``target`` (its parent must exist); with ``strict`` the attribute
        must exist already."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if strict and not hasattr(parent, name):
            raise AttributeError(f"{parent._get_name()} has no attribute `{name}` (looking up '{target}')")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module (looking up '{target}')")
        setattr(parent, name, module)

    def _attribute_at(self, target: str):
        """(the module owning dotted path ``target``, the attribute's name), checking it exists."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}` (looking up '{target}')")
        return mod, name

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target``, e.g. ``"features.0.weight"``."""
        mod, name = self._attribute_at(target)
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter (looking up '{target}')")
        return param

    def get_buffer(self, target: str):
        """The buffer at dotted path ``target``, e.g. ``"bn.running_mean"``."""
        mod, name = self._attribute_at(target)
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer (looking up '{target}')")
        return mod._buffers[name]

    def __getattr__(self, name):
        # Only reached when normal lookup fails: look in the registries.
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name, value):
        def remove_from(*dicts_or_sets):
            for d in dicts_or_sets:
                if name in d:
                    if isinstance(d, dict):
                        del d[name]
                    else:
                        d.discard(name)

        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(self.__dict__, self._buffers, self._modules, self._non_persistent_buffers)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(lumen.nn.Parameter or None expected)")
            self.register_parameter(name, value)
        else:
            modules = self.__dict__.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                remove_from(self.__dict__, self._parameters, self._buffers,
                            self._non_persistent_buffers)
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(
                        f"cannot assign '{type(value).__name__}' as child module '{name}' "
                        "(lumen.nn.Module or None expected)")
                modules[name] = value
            else:
                buffers = self.__dict__.get("_buffers")
                if buffers is not None and name in buffers:
                    if value is not None and not isinstance(value, lumen.Tensor):
                        raise TypeError(
                            f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                            "(lumen.Tensor or None expected)")
                    buffers[name] = value
                else:
                    object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for store in ("_parameters", "_buffers", "_modules"):
            d = self.__dict__[store]
            if name in d:
                del d[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__())
        keys += list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(set(k for k in keys if not k[0].isdigit()))

    # ---- traversal ----------------------------------------------------------
    def _named_members(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or id(v) in memo:
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield (module_prefix + ("." if module_prefix else "") + k, v)

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """Yield ``(dotted_name, Parameter)``; a parameter shared by two modules appears once."""
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                       remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse,
                                       remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self):
        memo = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted_name, module)`` for self ("" or ``prefix``) and every descendant, pre-order."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub_prefix = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub_prefix, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    # ---- modes and gradients ------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode on self and every descendant (dropout, batch norm care)."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {type(mode).__name__}")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None, or to zeros in place."""
        reset_grads(self.parameters(), set_to_none)

    # ---- conversion ---------------------------------------------------------
    def _apply(self, fn, recurse: bool = True) -> "Module":
        """Replace every parameter's, gradient's and buffer's storage by ``fn(tensor)`` (descendants' too
        if ``recurse``).

        Parameters keep their identity (optimisers holding them stay valid).
        """
        if recurse:
            for module in self.children():
                module._apply(fn)
        with lumen.no_grad():
            for key, param in self._parameters.items():
                if param is None:
                    continue
                new = fn(param)
                if new is not param:
                    param._assign_storage(new)
                if param.grad is not None:
                    new_grad = fn(param.grad)
                    if new_grad is not param.grad:
                        param.grad = new_grad
            for key, buf in self._buffers.items():
                if buf is not None:
                    self._buffers[key] = fn(buf)
        return self

    def apply(self, fn) -> "Module":
        """Call ``fn(module)`` on every descendant (children first) and on self; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def to(self, *args, **kwargs) -> "Module":
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``, in place.

        A dtype change applies to floating-point parameters and buffers only
        (integer buffers such as ``num_batches_tracked`` keep their dtype). ``non_blocking`` and
        ``memory_format`` are accepted for PyTorch's signature: copies here are synchronous and every
        tensor is contiguous row-major.
        """
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"Module.to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, lumen.Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, lumen.dtype):
                dtype = a
            elif isinstance(a, (str, lumen.device)):
                device = lumen.device(a) if isinstance(a, str) else a
            elif isinstance(a, bool):
                continue  # non_blocking, positionally
            else:
                raise TypeError(
                    f"Module.to() expects a device, a lumen dtype or a Tensor, got {a!r}")
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(f"Module.to() only accepts floating point dtypes, but got desired dtype={dtype}")

        def convert(t):
            if dtype is not None and t.dtype.is_floating_point and t.dtype != dtype:
                t = t.to(dtype)
            if device is not None:
                t = t.to(device)
            return t

        return self._apply(convert)

    def cuda(self, device=None) -> "Module":
        return self.to(lumen.device("cuda" if device is None else
                                    device if not isinstance(device, int) else f"cuda:{device}"))

    def cpu(self) -> "Module":
        return self.to(lumen.device("cpu"))

    def float(self) -> "Module":
        return self.to(lumen.float32)

    def double(self) -> "Module":
        return self.to(lumen.float64)

    def half(self) -> "Module":
        return self.to(lumen.float16)

    def to_empty(self, *, device, recurse: bool = True) -> "Module":
        """Give every parameter and buffer new, uninitialised storage of its shape and dtype on ``device``
        (then initialise them, e.g. with ``reset_parameters`` or ``load_state_dict``)."""
        return self._apply(lambda t: lumen.empty_like(t, device=device), recurse)

    def type(self, dst_type) -> "Module":
        """Cast every parameter and buffer to ``dst_type`` (integer buffers too, unlike ``to(dtype)``)."""
        return self._apply(lambda t: t.type(dst_type))

    # ---- state --------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = buf if keep_vars else buf.detach()
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + _EXTRA_STATE_KEY] = self.get_extra_state()

    def get_extra_state(self):
        """Override (with :meth:`set_extra_state`) to save non-tensor state in ``state_dict``, under
        ``"<prefix>_extra_state"``; anything picklable."""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called. "
                           "Please override get_extra_state() in the module and set_extra_state() with it.")

    def set_extra_state(self, state) -> None:
        """Restore what :meth:`get_extra_state` returned; called by ``load_state_dict``."""
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called. "
                           "Please override set_extra_state() in the module and get_extra_state() with it.")

    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ``OrderedDict`` from dotted names to detached tensors sharing storage with the module.

        Holds every parameter and persistent buffer, e.g. ``"features.0.weight"``.
        """
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".",
                                  keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs, assign=False):
        """Load this module's own parameters and persistent buffers from ``state_dict[prefix + name]``
        (PyTorch's signature; ``local_metadata`` is unused here: Lumen's state dicts carry no versions)."""
        persistent_buffers = {k: v for k, v in self._buffers.items()
                              if k not in self._non_persistent_buffers}
        local_state = {k: v for k, v in itertools.chain(self._parameters.items(),
                                                        persistent_buffers.items())
                       if v is not None}
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, lumen.Tensor) and hasattr(value, "__array_interface__"):
                value = lumen.as_tensor(value)  # a numpy array
            if not isinstance(value, lumen.Tensor):
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected a Tensor or numpy array '
                    f"in the state dict, got {type(value).__name__}.")
                continue
            if tuple(value.shape) != tuple(param.shape):
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} "
                    f"from checkpoint, the shape in current model is {tuple(param.shape)}.")
                continue
            if assign:
                # the state dict's tensor itself (its dtype and device) becomes the module's
                if name in self._parameters:
                    value = value if isinstance(value, Parameter) else \
                        Parameter(value.detach(), requires_grad=param.requires_grad)
                    self._parameters[name] = value
                else:
                    self._buffers[name] = value
                continue
            with lumen.no_grad():
                param.copy_(value.detach().to(device=param.device, dtype=param.dtype))
        extra_key = prefix + _EXTRA_STATE_KEY
        has_extra_state = type(self).set_extra_state is not Module.set_extra_state
        if has_extra_state:
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            elif strict:
                missing_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if not key.startswith(prefix) or (has_extra_state and key == extra_key):
                    continue
                first, dot, _ = key[len(prefix):].partition(".")
                if (first not in self._modules) if dot else (first not in local_state):
                    unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy ``state_dict``'s values into this module's parameters and buffers, in place.

        Values are cast to each parameter's dtype and moved to its device; with ``assign=True`` the
        state dict's tensors replace them instead (a parameter keeps its ``requires_grad``).
        Returns ``_IncompatibleKeys(missing_keys, unexpected_keys)``. With ``strict=True``, missing
        keys, unexpected keys and shape mismatches raise one ``RuntimeError`` listing them all; with
        ``strict=False`` only shape mismatches raise.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing_keys, unexpected_keys, error_msgs = [], [], []

        def load(module, prefix=""):
            module._load_from_state_dict(state_dict, prefix, {}, True, missing_keys, unexpected_keys,
                                         error_msgs, assign)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")

        load(self)
        if strict:
            if unexpected_keys:
                error_msgs.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected_keys)))
            if missing_keys:
                error_msgs.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing_keys)))
        if error_msgs:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                self._get_name(), "\n\t".join(error_msgs)))
        return _IncompatibleKeys(missing_keys, unexpected_keys)

    # ---- repr ---------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr; override in layers."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for key, module in self._modules.items():
            mod_str = _addindent(repr(module), 2)
            lines.append("(" + key + "): " + mod_str)
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _addindent(s, num_spaces):
    first, *rest = s.split("\n")
    if not rest:
        return s
    return first + "\n" + "\n".join(" " * num_spaces + line for line in rest)
