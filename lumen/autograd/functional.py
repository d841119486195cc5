"""Higher-order autodiff of whole functions, as ``torch.autograd.functional``: ``vjp``, ``jvp``,
``jacobian``, ``hessian``, ``vhp``, ``hvp``.

Each takes ``func`` (Tensors in, a Tensor or a tuple of Tensors out) and ``inputs`` (a Tensor or a
tuple of Tensors), runs ``func`` on fresh copies of the inputs that require grad, and answers
with PyTorch's structure: a Tensor where the inputs (or outputs) were a Tensor, a tuple where
they were a tuple. Results are detached unless ``create_graph=True``. With ``strict=True`` an
output independent of an input raises; otherwise that part of the result is zeros.

Lumen has no forward-mode AD and no vmap: ``jvp`` and ``hvp`` use the double-backward trick
(PyTorch's ``jvp`` does too), ``hvp`` is computed as ``vhp`` (equal, the Hessian being
symmetric), ``vectorize=True`` computes the same Jacobian row by row as ``vectorize=False``, and
``strategy="forward-mode"`` (which PyTorch allows only with ``vectorize=True``) is computed in
reverse mode, with the same result.
"""
from __future__ import annotations

from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

_STRATEGIES = ("forward-mode", "reverse-mode")


def _as_tuple(value, arg_name, fn_name):
    """(was it a tuple, the Tensors as a tuple), with PyTorch's TypeError for anything else."""
    from ..tensor import Tensor
    was_tuple = isinstance(value, tuple)
    values = value if was_tuple else (value,)
    for i, v in enumerate(values):
        if not isinstance(v, Tensor):
            where = f"the value at index {i}" if was_tuple else f"the given {arg_name}"
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of Tensors "
                            f"but {where} has type {type(v)}.")
    return was_tuple, values


def _unpack(result, was_tuple):
    """Undo :func:`_as_tuple`; ``was_tuple`` is one flag, or (outer, inner) for nested results."""
    if isinstance(was_tuple, tuple):
        outer, inner = was_tuple
        if not inner:
            result = tuple(r[0] for r in result)
        return result if outer else result[0]
    return result if was_tuple else result[0]


def _prepare(tensors, create_graph, need_graph):
    """New Tensor objects for ``func`` to take, so that what func captures from outside is told apart
    from its inputs; linked to the originals only when a graph through them is wanted."""
    return tuple(t.view_as(t) if create_graph and t.requires_grad else t.detach().requires_grad_(need_graph)
                 for t in tensors)


def _detached(result, create_graph):
    if create_graph:
        return result
    return tuple(None if r is None else r.detach() if not isinstance(r, tuple) else _detached(r, False)
                 for r in result)


def _validate_v(v, refs, refs_were_tuple):
    if len(v) != len(refs):
        if refs_were_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(refs)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (a, b) in enumerate(zip(v, refs)):
        if a.shape != b.shape:
            entry = f"Entry {i} in " if refs_were_tuple else ""
            raise RuntimeError(f"{entry}v has invalid size: should be {tuple(b.shape)} but got {tuple(a.shape)}.")


def _check_requires_grad(tensors, what, strict):
    if not strict:
        return
    for i, t in enumerate(tensors):
        if t is None or not t.requires_grad:
            if what == "outputs":
                raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The "
                                   f"outputs must be computed in a differentiable manner from the input when "
                                   f"running in strict mode.")
            raise RuntimeError(f"The {what} of the user-provided function with respect to input {i} is independent "
                               f"of the input. This is not allowed in strict mode.")


def _grads(outputs, inputs, grad_outputs=None, create_graph=False):
    """``autograd.grad`` over the outputs that require grad, keeping the graph; None where unused."""
    from . import grad
    grad_outputs = (None,) * len(outputs) if grad_outputs is None else grad_outputs
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return grad([o for o, _ in pairs], inputs, [g for _, g in pairs], retain_graph=True,
                create_graph=create_graph, allow_unused=True)


def _zeros_where_unused(grads, refs, strict, message):
    out = []
    for i, (g, ref) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(message.format(i))
            g = ref.new_zeros(ref.shape)
        out.append(g)
    return tuple(out)


def _last_pass(outputs, inputs, v, refs, create_graph, strict, message):
    """The final ``_grads`` (recorded only if ``create_graph``), zeros where unused."""
    with set_grad_enabled(create_graph or is_grad_enabled()):
        return _zeros_where_unused(_grads(outputs, inputs, v, create_graph), refs, strict, message)


def _single_scalar(out, fn_name, strict):
    """The one-element Tensor a hessian-type function must return, checked as PyTorch does."""
    out_was_tuple, outs = _as_tuple(out, "outputs of the user-provided function", fn_name)
    _check_requires_grad(outs, "outputs", strict)
    if out_was_tuple:
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if out.numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should contain a single element")
    return out


_INDEPENDENT = "The output of the user-provided function is independent of input {}. This is not allowed in strict mode."


def _check_v_may_be_omitted(v, refs, what):
    if v is None and (len(refs) != 1 or refs[0].numel() != 1):
        raise RuntimeError(f"The vector v can only be None if the {what} a single Tensor with a single element.")


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product at ``inputs``."""
    with enable_grad():
        inputs_were_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_were_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "vjp")
        _check_requires_grad(outputs, "outputs", strict)
        if v is not None:
            _, v = _as_tuple(v, "v", "vjp")
            v = _prepare(v, create_graph, need_graph=False)
            _validate_v(v, outputs, outputs_were_tuple)
        _check_v_may_be_omitted(v, outputs, "user-provided function returns")
    result = _last_pass(outputs, inputs, v, inputs, create_graph, strict, _INDEPENDENT)
    return (_unpack(_detached(outputs, create_graph), outputs_were_tuple),
            _unpack(_detached(result, create_graph), inputs_were_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product, by the double-backward trick (the backward of
    ``v -> v^T J`` taken with respect to the vector)."""
    with enable_grad():
        inputs_were_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        if v is not None:
            _, v = _as_tuple(v, "v", "jvp")
            v = _prepare(v, create_graph, need_graph=False)
            _validate_v(v, inputs, inputs_were_tuple)
        _check_v_may_be_omitted(v, inputs, "input to the user-provided function is")
        outputs_were_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jvp")
        _check_requires_grad(outputs, "outputs", strict)
        probes = tuple(o.new_zeros(o.shape).requires_grad_() for o in outputs)
        grad_inputs = _grads(outputs, inputs, probes, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
    result = _last_pass(grad_inputs, probes, v, outputs, create_graph, strict,
                        "The gradient with respect to the input is independent of entry {} in the grad_outputs "
                        "when using the double backward trick to compute forward mode gradients. This is not "
                        "allowed in strict mode.")
    return (_unpack(_detached(outputs, create_graph), outputs_were_tuple),
            _unpack(_detached(result, create_graph), outputs_were_tuple))


def _check_strategy(strategy, vectorize, strict, create_graph, fn_name):
    if strategy not in _STRATEGIES:
        raise ValueError(f"{fn_name}: expected strategy to be either \"forward-mode\" or \"reverse-mode\", got "
                         f"{strategy!r}.")
    if strategy == "forward-mode":
        if not vectorize:
            raise NotImplementedError(f"{fn_name}: computing Jacobian using forward-AD or forward-over-reverse "
                                      f"Hessian is only implemented for `vectorize=True`.")
        if create_graph:
            raise NotImplementedError(f"{fn_name}: `create_graph=True` and `strategy=\"forward-mode\"` are not "
                                      f"supported together (yet). Please either set `create_graph=False` or "
                                      f"`strategy=\"reverse-mode\"`.")
    if strict and vectorize:
        raise RuntimeError(f"{fn_name}: `strict=True` and `vectorized=True` are not supported together. Please "
                           f"either set `strict=False` or `vectorize=False`.")


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for output i and input j a Tensor of shape
    ``outputs[i].shape + inputs[j].shape``, nested as the outputs and inputs are."""
    _check_strategy(strategy, vectorize, strict, create_graph, "jacobian")
    with enable_grad():
        inputs_were_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_were_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function",
                                                "jacobian")
        _check_requires_grad(outputs, "outputs", strict)
        from ..ops.shape import stack
        result = []
        for i, out in enumerate(outputs):
            rows = [[] for _ in inputs]  # rows[j][k]: d out.flat[k] / d inputs[j]
            for k in range(out.numel()):
                basis = out.new_zeros(out.numel())
                basis[k] = 1
                grads = _grads((out,), inputs, (basis.reshape(out.shape),), create_graph)
                for j, (g, inp) in enumerate(zip(grads, inputs)):
                    if g is None:
                        if strict and create_graph and not inp.requires_grad:
                            raise RuntimeError(f"The jacobian of the user-provided function is independent of "
                                               f"input {j}. This is not allowed in strict mode when "
                                               f"create_graph=True.")
                        if strict:
                            raise RuntimeError(f"Output {i} of the user-provided function is independent of input "
                                               f"{j}. This is not allowed in strict mode.")
                        g = inp.new_zeros(inp.shape)
                    rows[j].append(g)
            result.append(tuple(
                (stack(r) if r else inp.new_zeros((0,) + tuple(inp.shape))).reshape(tuple(out.shape) + tuple(inp.shape))
                for r, inp in zip(rows, inputs)))
        result = _detached(tuple(result), create_graph)
    return _unpack(result, (outputs_were_tuple, inputs_were_tuple))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar ``func`` at ``inputs``: for inputs i and j a Tensor of shape
    ``inputs[i].shape + inputs[j].shape`` (a nested tuple when ``inputs`` is a tuple)."""
    inputs_were_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in _STRATEGIES:
        raise ValueError(f"hessian: expected outer_jacobian_strategy to be either \"forward-mode\" or "
                         f"\"reverse-mode\", got {outer_jacobian_strategy!r}.")

    def scalar_output(*args):
        return _single_scalar(func(*args), "hessian", strict).reshape(())

    def jacobian_of_func(*args):
        jac = jacobian(scalar_output, args, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    result = jacobian(jacobian_of_func, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize,
                      strategy=outer_jacobian_strategy)
    return _unpack(result, (inputs_were_tuple, inputs_were_tuple))


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a scalar ``func``: the vector-Hessian product at ``inputs``."""
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a scalar ``func``; computed as v^T H, the Hessian being symmetric."""
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


def _hessian_product(func, inputs, v, create_graph, strict, fn_name):
    with enable_grad():
        inputs_were_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
        inputs = _prepare(inputs, create_graph, need_graph=True)
        if v is not None:
            _, v = _as_tuple(v, "v", fn_name)
            v = _prepare(v, create_graph, need_graph=False)
            _validate_v(v, inputs, inputs_were_tuple)
        _check_v_may_be_omitted(v, inputs, "input to the user-provided function is")
        outputs = (_single_scalar(func(*inputs), fn_name, strict),)
        jac = _grads(outputs, inputs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
    result = _last_pass(jac, inputs, v, inputs, create_graph, strict,
                        "The hessian of the user-provided function is independent of entry {} in the grad_jacobian. "
                        "This is not allowed in strict mode as it prevents from using the double backward trick.")
    return (_unpack(_detached(outputs, create_graph), False),
            _unpack(_detached(result, create_graph), inputs_were_tuple))
