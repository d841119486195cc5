"""Finite-difference checks of gradients (float64 central differences, PyTorch's tolerances)."""
from __future__ import annotations

import numpy as np


class GradcheckError(AssertionError):
    pass


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _projection(fn, inputs, weights):
    """sum_k <w_k, fn(inputs)_k>: a scalar whose gradient is the vector-Jacobian product."""
    outs = [o for o in _as_tuple(fn(*inputs)) if o is not None and o.dtype.is_floating_point]
    total = None
    for o, w in zip(outs, weights or [None] * len(outs)):
        term = (o * w).sum() if w is not None else o.sum()
        total = term if total is None else total + term
    return total, outs


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """Compare autograd's vector-Jacobian product with central differences.

    ``fn`` maps tensors to a tensor or tuple of tensors. Every floating input that
    requires grad must be float64. The output is projected on a fixed random vector,
    then each input element is perturbed by ``eps``: 2 * numel evaluations.
    """
    from ..tensor import Tensor
    from .function import run_backward
    from .grad_mode import no_grad

    inputs = _as_tuple(inputs)
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no input requires grad")
    for t in diff:
        if t.dtype.name != "float64":
            raise ValueError(f"gradcheck: inputs must be float64 for a meaningful check, got {t.dtype} for an "
                             f"input of shape {tuple(t.shape)}")
    rng = np.random.default_rng(seed)
    with no_grad():
        outs = [o for o in _as_tuple(fn(*inputs)) if o is not None and o.dtype.is_floating_point]
    weights = [o.new_tensor(rng.standard_normal(o.shape)) for o in outs]

    total, _ = _projection(fn, inputs, weights)
    if total is None or not total.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any input that requires grad")
    analytic = run_backward([total], [total.new_ones(())], inputs=diff)

    for k, t in enumerate(diff):
        data = t._data  # perturbed in place, element by element (works for non-contiguous inputs too)
        numeric = np.zeros(data.size)
        with no_grad():
            for i, idx in enumerate(np.ndindex(*data.shape)):
                old = data[idx].item()
                data[idx] = old + eps
                hi = _projection(fn, inputs, weights)[0].item()
                data[idx] = old - eps
                lo = _projection(fn, inputs, weights)[0].item()
                data[idx] = old
                numeric[i] = (hi - lo) / (2 * eps)
        got = (np.zeros(data.size) if analytic[k] is None else
               np.asarray(analytic[k].detach().numpy(), np.float64).reshape(-1))
        bad = np.abs(got - numeric) > atol + rtol * np.abs(numeric)
        if bad.any():
            i = int(np.argmax(bad))
            msg = (f"gradcheck: gradient of input {k} (shape {tuple(t.shape)}) disagrees with finite "
                   f"differences at {int(bad.sum())} of {data.size} positions; first at flat index {i}: "
                   f"analytic {got[i]:.8g} vs numeric {numeric[i]:.8g}")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=1):
    """gradcheck of the first-order gradients (built with create_graph=True).

    As in PyTorch, the output gradients are random float64 tensors that are themselves
    perturbed, so ops that are linear in their input (whose gradient depends only on
    the output gradient) are checked too.
    """
    from ..tensor import Tensor
    from .function import run_backward
    from .grad_mode import enable_grad

    inputs = _as_tuple(inputs)
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradgradcheck: no input requires grad")
    rng = np.random.default_rng(seed)
    probe = [o for o in _as_tuple(fn(*inputs)) if o is not None and o.dtype.is_floating_point]
    grad_outputs = [o.new_tensor(rng.standard_normal(o.shape)).requires_grad_() for o in probe]
    n = len(inputs)

    def first_grads(*args):
        ins, gos = args[:n], list(args[n:])
        with enable_grad():  # gradcheck evaluates under no_grad; the first-order graph is needed here
            total, _ = _projection(fn, ins, gos)
            own = [a for a in ins if isinstance(a, Tensor) and a.requires_grad]
            grads = run_backward([total], [total.new_ones(())], create_graph=True, retain_graph=True,
                                 inputs=own)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_grads, inputs + tuple(grad_outputs), eps, atol, rtol, raise_exception, seed + 1)
