"""``Optimizer``: parameter groups, per-parameter state and exactly restorable state dicts."""
from __future__ import annotations

import copy
from collections import defaultdict

import lumen
from lumen.autograd import reset_grads

__all__ = ["Optimizer", "required", "implementation_options", "check_hyper"]

def implementation_options(name, **switches) -> dict:
    """Group entries for torch's switches that choose an implementation, not an update: ``foreach``
    (multi-tensor kernels), ``fused``, ``capturable`` (CUDA-graph capture). Any value gives the
    same numbers here, so they are stored, as torch stores them, and otherwise have no effect.
    ``differentiable=True`` (autograd through the step itself) is refused: steps run under no_grad."""
    if switches.get("differentiable"):
        raise NotImplementedError(f"{name}: differentiable=True (backpropagating through the optimizer "
                                  f"step) is not supported; the step runs under no_grad")
    return switches


def check_hyper(name, label, value, low=0.0, high=None):
    """torch's argument checks: ``low <= value`` (and ``value < high``), else ValueError."""
    if not low <= value or (high is not None and not value < high):
        bound = f">= {low}" if high is None else f"in [{low}, {high})"
        raise ValueError(f"{name}: invalid {label} {value} (must be {bound})")


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: holds ``param_groups`` (list of dicts with "params" and hyper-parameters)
    and ``state`` (parameter -> dict of tensors and numbers).

    ``params`` is an iterable of Tensors, or of dicts each with a "params" entry and
    any hyper-parameters that override ``defaults`` for that group.
    Subclasses implement ``_update_group(group)``, which runs under ``no_grad``.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, lumen.Tensor):
            raise TypeError(
                f"{type(self).__name__}: params argument given to the optimizer should be an "
                f"iterable of Tensors or dicts, but got a single Tensor of shape {tuple(params.shape)}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    def add_param_group(self, param_group: dict) -> None:
        """Append a group; missing hyper-parameters are taken from ``defaults``."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, lumen.Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but "
                            "the ordering of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        names = None
        if params and isinstance(params[0], tuple):  # model.named_parameters(), as torch accepts
            names = [name for name, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, lumen.Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor (shape {tuple(p.shape)}, "
                                 f"grad_fn {p.grad_fn})")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer parameter group contains the same parameter more than once")
        group = dict(param_group)
        group["params"] = params
        if names is not None:
            group["param_names"] = names
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter: to None, or to zeros in place."""
        reset_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure=None):
        """One update of every parameter that requires grad and has a ``.grad``.

        ``closure`` (optional) re-evaluates the model and returns the loss; it runs
        with gradients enabled and its result is returned.
        """
        loss = None
        if closure is not None:
            with lumen.enable_grad():
                loss = closure()
        with lumen.no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _update_group")

    @staticmethod
    def _params_with_grad(group):
        """The group's parameters that an update should touch (others get no state)."""
        for p in group["params"]:
            if p.requires_grad and p.grad is not None:
                yield p

    @staticmethod
    def _blocks(*tensors, size=1 << 18):
        """Matching flat views of at most ``size`` elements covering same-shape contiguous tensors
        (the tensors whole otherwise): a step's temporaries then take one block, not a parameter."""
        n = tensors[0].numel()
        if n <= size or not all(t.shape == tensors[0].shape and t.is_contiguous() for t in tensors):
            yield tensors
            return
        flat = [t.view(-1) for t in tensors]
        for i in range(0, n, size):
            yield tuple(f[i:i + size] for f in flat)

    @classmethod
    def _grad_blocks(cls, p, *state, maximize=False, weight_decay=0.0):
        """``_blocks`` of ``(p, g, *state)`` where ``g`` is the gradient an update rule sees: negated
        with ``maximize``, plus ``weight_decay * p`` (L2), computed from ``p`` before the block is
        updated. ``g`` is a view of ``p.grad`` (never to be written) when neither applies, else a
        block-sized temporary, so no step allocates a parameter-sized gradient."""
        for p_part, grad_part, *state_parts in cls._blocks(p, p.grad, *state):
            if maximize:
                g = grad_part.neg()
                if weight_decay != 0:
                    g.add_(p_part, alpha=weight_decay)
            elif weight_decay != 0:
                g = grad_part.add(p_part, alpha=weight_decay)
            else:
                g = grad_part
            yield (p_part, g, *state_parts)

    # ---- state dicts ----------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``.

        Parameters are referred to by their position across all groups, as in
        PyTorch, so the dict can be loaded into an optimizer over a fresh copy of
        the model. State tensors are shared with the optimizer, not copied.
        """
        index_of = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index_of[id(p)]: s for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore ``state_dict()``'s output; state tensors are copied and moved to each
        parameter's device (floating ones also to its dtype)."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, but the "
                             f"optimizer has {len(self.param_groups)}")
        for i, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group (#{i}) with {len(sg['params'])} "
                    f"parameters, which doesn't match the size of optimizer's group "
                    f"({len(g['params'])} parameters)")
        param_of = {}
        for g, sg in zip(self.param_groups, saved_groups):
            for p, idx in zip(g["params"], sg["params"]):
                param_of[idx] = p

        def cast(param, key, value):
            if isinstance(value, lumen.Tensor):
                value = value.detach()
                if key != "step" and value.dtype.is_floating_point:
                    value = value.to(dtype=param.dtype)
                value = value.to(device=param.device)
                return value.clone()
            if isinstance(value, dict):
                return {k: cast(param, k, v) for k, v in value.items()}
            return copy.deepcopy(value)

        state = defaultdict(dict)
        for idx, s in state_dict["state"].items():
            idx = int(idx)
            if idx not in param_of:
                raise ValueError(f"loaded optimizer state refers to parameter #{idx}, which no "
                                 f"parameter group contains")
            param = param_of[idx]
            state[param] = {k: cast(param, k, v) for k, v in s.items()}
        new_groups = []
        for g, sg in zip(self.param_groups, saved_groups):
            ng = copy.deepcopy({k: v for k, v in sg.items() if k != "params"})
            ng["params"] = g["params"]
            new_groups.append(ng)
        self.state = state
        self.param_groups = new_groups
