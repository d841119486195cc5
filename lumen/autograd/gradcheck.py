"""Finite-difference checks of gradients (float64 central differences, PyTorch's tolerances)."""
from __future__ import annotations

import numpy as np


class GradcheckError(AssertionError):
    pass


def _as_tuple(x):
    # a tuple or list of inputs (torch takes both), or one tensor
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _projection(fn, inputs, weights):
    """sum_k <w_k, fn(inputs)_k>: a scalar whose gradient is the vector-Jacobian product."""
    outs = [o for o in _as_tuple(fn(*inputs)) if o is not None and o.dtype.is_floating_point]
    total = None
    for o, w in zip(outs, weights or [None] * len(outs)):
        term = (o * w).sum() if w is not None else o.sum()
        total = term if total is None else total + term
    return total, outs


_NOT_AVAILABLE = {  # torch's checks that need forward-mode AD or vmap, which Lumen does not have
    "check_batched_grad": False, "check_batched_forward_grad": False, "check_forward_ad": False,
    "check_fwd_over_rev": False}


def _check_options(name, check_backward_ad=True, masked=None, **unavailable):
    for option, value in unavailable.items():
        if value:
            raise NotImplementedError(f"{name}: {option}=True needs forward-mode AD or vmap, which Lumen does not "
                                      f"have")
    if not check_backward_ad:
        raise NotImplementedError(f"{name}: check_backward_ad=False leaves nothing Lumen can check")
    if masked:
        raise NotImplementedError(f"{name}: masked=True is for sparse tensors, which Lumen does not have")


def gradcheck(func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0, *, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True, fast_mode=False,
              masked=None):
    """Compare autograd's vector-Jacobian product with central differences.

    ``func`` maps tensors to a tensor or tuple of tensors. Every floating input that
    requires grad must be float64. The output is projected on a fixed random vector,
    then each input element is perturbed by ``eps``: 2 * numel evaluations.

    PyTorch's keywords: ``nondet_tol`` bounds how far two backward passes may differ (they are run
    twice and compared, as PyTorch's reentrancy check); ``check_grad_dtypes`` also requires each
    gradient in its input's dtype. ``fast_mode`` is accepted and the full check runs (it is the
    stronger one); ``check_undefined_grad`` is accepted: the engine hands a backward None only for
    outputs it has no gradient for, and PyTorch-style Functions get zeros unless they asked
    otherwise. The checks that need forward-mode AD or vmap raise NotImplementedError when asked for.
    """
    from ..tensor import Tensor
    from .function import run_backward
    from .grad_mode import no_grad

    _check_options("gradcheck", check_backward_ad, masked, check_batched_grad=check_batched_grad,
                   check_batched_forward_grad=check_batched_forward_grad, check_forward_ad=check_forward_ad)
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
        outs = [o for o in _as_tuple(func(*inputs)) if o is not None and o.dtype.is_floating_point]
    weights = [o.new_tensor(rng.standard_normal(o.shape)) for o in outs]

    def fail(msg):
        if raise_exception:
            raise GradcheckError(msg)
        return False

    total, _ = _projection(func, inputs, weights)
    if total is None or not total.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any input that requires grad")
    analytic = run_backward([total], [total.new_ones(())], inputs=diff)
    again, _ = _projection(func, inputs, weights)
    for k, (first, second) in enumerate(zip(analytic, run_backward([again], [again.new_ones(())], inputs=diff))):
        if (first is None) != (second is None) or first is not None and \
                np.abs(first.detach().numpy() - second.detach().numpy()).max(initial=0.0) > nondet_tol:
            return fail(f"gradcheck: backward is not reentrant: two runs with the same input and grad_output "
                        f"give different gradients of input {k} (shape {tuple(diff[k].shape)}); the tolerance "
                        f"for nondeterminism was {nondet_tol}")
        if check_grad_dtypes and first is not None and first.dtype != diff[k].dtype:
            return fail(f"gradcheck: the gradient of input {k} is {first.dtype}, its input is {diff[k].dtype}")

    for k, t in enumerate(diff):
        data = t._data  # perturbed in place, element by element (works for non-contiguous inputs too)
        numeric = np.zeros(data.size)
        with no_grad():
            for i, idx in enumerate(np.ndindex(*data.shape)):
                old = data[idx].item()
                data[idx] = old + eps
                hi = _projection(func, inputs, weights)[0].item()
                data[idx] = old - eps
                lo = _projection(func, inputs, weights)[0].item()
                data[idx] = old
                numeric[i] = (hi - lo) / (2 * eps)
        got = (np.zeros(data.size) if analytic[k] is None else
               np.asarray(analytic[k].detach().numpy(), np.float64).reshape(-1))
        bad = np.abs(got - numeric) > atol + rtol * np.abs(numeric)
        if bad.any():
            i = int(np.argmax(bad))
            return fail(f"gradcheck: gradient of input {k} (shape {tuple(t.shape)}) disagrees with finite "
                        f"differences at {int(bad.sum())} of {data.size} positions; first at flat index {i}: "
                        f"analytic {got[i]:.8g} vs numeric {numeric[i]:.8g}")
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, seed=1, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
                  check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False, masked=False):
    """gradcheck of the first-order gradients (built with create_graph=True).

    As in PyTorch, the output gradients (``grad_outputs``, random by default, non-contiguous with
    ``gen_non_contig_grad_outputs``) are themselves perturbed when they require grad, so ops that
    are linear in their input (whose gradient depends only on the output gradient) are checked too.
    The other keywords are gradcheck's.
    """
    from ..tensor import Tensor
    from .function import run_backward
    from .grad_mode import enable_grad

    _check_options("gradgradcheck", check_rev_over_rev, masked, check_batched_grad=check_batched_grad,
                   check_fwd_over_rev=check_fwd_over_rev)
    inputs = _as_tuple(inputs)
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradgradcheck: no input requires grad")
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        probe = [o for o in _as_tuple(func(*inputs)) if o is not None and o.dtype.is_floating_point]
        grad_outputs = tuple(_random_like(o, rng, gen_non_contig_grad_outputs) for o in probe)
    grad_outputs = _as_tuple(grad_outputs)
    n = len(inputs)

    def first_grads(*args):
        ins, gos = args[:n], list(args[n:])
        with enable_grad():  # gradcheck evaluates under no_grad; the first-order graph is needed here
            total, _ = _projection(func, ins, gos)
            own = [a for a in ins if isinstance(a, Tensor) and a.requires_grad]
            grads = run_backward([total], [total.new_ones(())], create_graph=True, retain_graph=True,
                                 inputs=own)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_grads, inputs + grad_outputs, eps, atol, rtol, raise_exception, seed + 1,
                     nondet_tol=nondet_tol, check_grad_dtypes=check_grad_dtypes, fast_mode=fast_mode)


def _random_like(out, rng, non_contiguous):
    """A standard-normal tensor of ``out``'s shape that requires grad; with ``non_contiguous`` a strided view
    (every other element of a buffer twice as long in the last dimension)."""
    if not non_contiguous or out.ndim == 0:
        return out.new_tensor(rng.standard_normal(out.shape)).requires_grad_()
    wide = out.new_tensor(rng.standard_normal(tuple(out.shape[:-1]) + (2 * out.shape[-1],)))
    return wide[..., ::2].requires_grad_()
