"""The losses of ``torch.nn.functional``, and the two distances two of them are built on.

``cross_entropy`` (fused log-softmax + NLL) and ``nll_loss`` take class indices over dim 1: input (N, C)
with target (N,), or dense input (N, C, d1, ...) with target (N, d1, ...) (per-pixel labels for
segmentation); (C,) with a 0-d target is one sample. ``cross_entropy`` also takes class probabilities
(a float target of the input's shape). The other losses are compositions of differentiable ops, with
PyTorch's formulas, so their backward passes are differentiable too; the logistic ones go through
the stable ``logsigmoid``.
"""
from __future__ import annotations

import math
import warnings

from .. import dtypes
from ..autograd.function import Function
from ._check import check_float, check_same, check_tensor
from ..tensor import Tensor  # defined before lumen.tensor imports the ops
from .activation import logsigmoid
from .arith import broadcast_shapes, where
from .linalg import vector_norm

__all__ = ["cross_entropy", "nll_loss", "l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss",
           "gaussian_nll_loss", "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss",
           "multilabel_soft_margin_loss", "cosine_embedding_loss", "multi_margin_loss", "multilabel_margin_loss",
           "triplet_margin_loss", "cosine_similarity", "pairwise_distance"]


def _labels(backend, target, ignore_index, dtype):
    """(safe: target with ignored entries as class 0, valid: 1 where not ignored, in ``dtype``)."""
    ignored = target == ignore_index
    return backend.where(ignored, 0, target), (~ignored).astype(dtype)


class _TargetFunction(Function):
    def __init__(self, ignore_index):
        self.ignore_index = ignore_index


class SoftmaxCrossEntropy(_TargetFunction):
    """(x (N,C,*), target (N,*)) -> per-element loss (N,*) = -log_softmax(x)[target], 0 where ignored.

    The backend raises ValueError for a target outside [0, C) that is not ``ignore_index``."""

    def forward(self, x, target):
        loss, self.log_prob = self.backend.softmax_cross_entropy_forward(x, target, self.ignore_index)
        self.save_inputs(0, 1)
        return loss

    def backward(self, gloss):
        x, target = self.saved_inputs
        return SoftmaxCrossEntropyGrad.apply(x, gloss, target, log_prob=self.log_prob,
                                             ignore_index=self.ignore_index), None


class SoftmaxCrossEntropyGrad(_TargetFunction):
    """(x, gloss, target) -> (softmax(x) - onehot(target)) * gloss, from the forward's ``log_prob``.

    Only the data of ``gloss`` is used in forward; ``x`` is an input so that double backward reaches it.
    """

    def __init__(self, log_prob, ignore_index):
        super().__init__(ignore_index)
        self.log_prob = log_prob

    def forward(self, x, gloss, target):
        self.save_inputs(0, 1, 2)
        return self.backend.softmax_cross_entropy_backward(self.log_prob, target, gloss, self.ignore_index)

    def backward(self, ggx):
        x, gloss, target = self.saved_inputs
        p = x.softmax(1)
        valid = (target != self.ignore_index).to(x.dtype)
        d_x = d_gloss = None
        if self.needs_input_grad[0]:
            u = ggx * (gloss * valid).unsqueeze(1)
            d_x = p * (u - (u * p).sum(1, keepdim=True))
        if self.needs_input_grad[1]:
            # sum_c ggx * (p - onehot): the onehot part picks ggx at the target (0 where ignored)
            d_gloss = (ggx * p).sum(1) * valid - PickTarget.apply(ggx, target, ignore_index=self.ignore_index)
        return d_x, d_gloss, None


class PickTarget(_TargetFunction):
    """(x (N,C,*), target (N,*)) -> x[n, target[n,*], *] (N,*), 0 where target is ignored."""

    def forward(self, x, target):
        self.n_classes = x.shape[1]
        self.save_inputs(1)
        safe, valid = _labels(self.backend, target, self.ignore_index, x.dtype)
        return self.backend.take_along_axis(x, safe[:, None], axis=1)[:, 0] * valid

    def backward(self, g):
        (target,) = self.saved_inputs
        return PlaceTarget.apply(g, target, ignore_index=self.ignore_index, n_classes=self.n_classes), None


class PlaceTarget(_TargetFunction):
    """The adjoint of :class:`PickTarget`: (g (N,*), target) -> (N,C,*) with g at each target class."""

    def __init__(self, ignore_index, n_classes):
        super().__init__(ignore_index)
        self.n_classes = n_classes

    def forward(self, g, target):
        self.save_inputs(1)
        safe, valid = _labels(self.backend, target, self.ignore_index, g.dtype)
        classes = self.backend.arange(self.n_classes).reshape((1, self.n_classes) + (1,) * (safe.ndim - 1))
        return (classes == safe[:, None]).astype(g.dtype) * (valid * g)[:, None]

    def backward(self, gg):
        (target,) = self.saved_inputs
        return PickTarget.apply(gg, target, ignore_index=self.ignore_index), None


def _prepare(op, input, target, weight, ignore_index, reduction):
    """Validate; returns (input, target, unbatched) with a batch dim added to a single sample."""
    check_tensor(input, "input", op)
    check_tensor(target, "target", op)
    check_float(input, op)
    if not isinstance(ignore_index, int):
        raise TypeError(f"{op}: ignore_index must be an int, got {ignore_index!r}")
    if target.device != input.device:
        raise RuntimeError(f"{op}: input is on {input.device} but target is on {target.device}")
    if target.dtype.category != 1:
        raise TypeError(f"{op}: target must hold integer class indices, got {target.dtype} of shape "
                        f"{tuple(target.shape)} (input {tuple(input.shape)})")
    unbatched = input.ndim == 1 and target.ndim == 0
    if unbatched:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    expected = tuple(input.shape[:1] + input.shape[2:])
    if input.ndim < 2 or tuple(target.shape) != expected:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} needs target of shape "
                         f"{expected if input.ndim >= 2 else '(N, *) with input (N, C, *)'}, "
                         f"got {tuple(target.shape)}")
    n_classes = input.shape[1]
    if weight is not None:
        check_same(op, input, weight=weight)
        if tuple(weight.shape) != (n_classes,):
            raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} does not match the {n_classes} "
                             f"classes of input {tuple(input.shape)}")
    return input, target.to(dtypes.int64), unbatched


def _out_of_range(op, input, target, ignore_index):
    """The ValueError for the first target outside [0, C) that is not ``ignore_index``, or None.

    Reads the targets back from the device: cross_entropy calls it only once the backend has refused
    a target, nll_loss (whose gather has no such check) on every call."""
    n_classes = input.shape[1]
    bad = (target != ignore_index) & ((target < 0) | (target >= n_classes))
    if not bad.any().item():
        return None
    return ValueError(f"{op}: target value {target[bad].reshape(-1)[0].item()} is out of range for input of "
                      f"shape {tuple(input.shape)} with {n_classes} classes (expected 0 <= target < "
                      f"{n_classes} or ignore_index={ignore_index})")


def _reduce(loss, input, target, weight, ignore_index, reduction, unbatched):
    """Class-weight the per-element losses (N,*) and reduce as PyTorch: 'mean' divides by the
    total weight of the non-ignored targets (nan when every target is ignored)."""
    w = (target != ignore_index).to(input.dtype)
    if weight is not None:
        w = weight.detach()[target.masked_fill(target == ignore_index, 0)] * w
        loss = loss * w
    if reduction == "none":
        return loss.squeeze(0) if unbatched else loss
    total = loss.sum()
    if reduction == "sum":
        return total
    denom = float(w.sum())
    return total / denom if denom != 0 else total * float("nan")


def resolve_reduction(op, size_average, reduce, reduction, allowed=("none", "mean", "sum")):
    """The reduction to apply: the deprecated ``size_average``/``reduce`` pair, when either is given,
    overrides ``reduction`` with PyTorch's UserWarning (as ``torch.nn._reduction.legacy_get_string``)."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = ("mean" if size_average else "sum") if reduce else "none"
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
                      f"instead.", UserWarning, stacklevel=3)
    if reduction not in allowed:
        raise ValueError(f"{reduction} is not a valid value for reduction: {op}'s reduction must be one of "
                         f"{', '.join(map(repr, allowed))}")
    return reduction


def _apply_reduction(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy with class-index or class-probability targets, as
    ``torch.nn.functional.cross_entropy``.

    input (N, C, *) float logits, target (N, *) integer in [0, C) or ``ignore_index``, or target
    (N, C, *) class probabilities of input's dtype, weight (C,) optional class weights. reduction
    "mean" (weighted mean over non-ignored targets; over samples for probabilities), "sum" or "none"
    (returns (N, *)). ``label_smoothing`` in [0, 1] mixes in the uniform distribution over classes,
    with PyTorch's formula and normalisation.
    """
    op = "cross_entropy"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if isinstance(target, Tensor) and target.dtype.is_floating_point:
        return _cross_entropy_probabilities(input, target, weight, ignore_index, reduction, label_smoothing)
    input, target, unbatched = _prepare(op, input, target, weight, ignore_index, reduction)
    try:
        loss = SoftmaxCrossEntropy.apply(input, target, ignore_index=ignore_index)
    except ValueError as backend_error:
        raise _out_of_range(op, input, target, ignore_index) or backend_error
    loss = _reduce(loss, input, target, weight, ignore_index, reduction, unbatched)
    if label_smoothing == 0.0:
        return loss
    log_p = input.log_softmax(1)
    if weight is not None:
        log_p = log_p * weight.reshape((1, -1) + (1,) * (input.ndim - 2))
    kept = target != ignore_index
    smooth = -log_p.sum(1).masked_fill(~kept, 0.0)
    if reduction == "none":
        smooth = smooth.squeeze(0) if unbatched else smooth
    elif reduction == "sum":
        smooth = smooth.sum()
    else:
        total = weight.detach()[target[kept]].sum() if weight is not None else kept.sum().to(smooth.dtype)
        smooth = smooth.sum() / total
    return loss * (1 - label_smoothing) + smooth * (label_smoothing / input.shape[1])


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of log-probabilities, as ``torch.nn.functional.nll_loss``.

    input (N, C, *) float log-probabilities, target (N, *) integer, weight (C,) optional;
    loss = -input[n, target[n]] (times weight[target]), reduced like :func:`cross_entropy`.
    """
    op = "nll_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    input, target, unbatched = _prepare(op, input, target, weight, ignore_index, reduction)
    bad = _out_of_range(op, input, target, ignore_index)
    if bad is not None:
        raise bad
    loss = -PickTarget.apply(input, target, ignore_index=ignore_index)
    return _reduce(loss, input, target, weight, ignore_index, reduction, unbatched)


def _cross_entropy_probabilities(input, target, weight, ignore_index, reduction, label_smoothing):
    """Cross-entropy against class probabilities: -sum_c weight_c target_c log_softmax(input)_c per
    sample; 'mean' divides by the number of samples (not by the weights), as PyTorch."""
    op = "cross_entropy"
    check_tensor(input, "input", op)
    check_float(input, op)
    check_same(op, input, target=target)
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"{op}: a floating-point target holds class probabilities and needs input's shape "
                           f"{tuple(input.shape)}, got {tuple(target.shape)} {target.dtype} (class indices are "
                           f"an integer tensor)")
    if ignore_index != -100:
        raise RuntimeError(f"{op}: ignore_index is not supported for floating point target "
                           f"(got ignore_index={ignore_index})")
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    log_p = input.log_softmax(class_dim)
    if label_smoothing > 0.0:
        target = target * (1 - label_smoothing) + label_smoothing / n_classes
    if weight is not None:
        check_same(op, input, weight=weight)
        if tuple(weight.shape) != (n_classes,):
            raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} does not match the {n_classes} "
                             f"classes of input {tuple(input.shape)}")
        log_p = log_p * weight.reshape((-1,) + (1,) * (input.ndim - class_dim - 1))
    loss = -(log_p * target).sum(class_dim)
    if reduction == "mean":
        return loss.sum() / (input.numel() // n_classes)
    return _apply_reduction(loss, reduction)


# ---- regression --------------------------------------------------------------------------------
def _pointwise_inputs(op, input, target, weight=None):
    """input and target broadcast to one shape (PyTorch's UserWarning when their shapes differ)."""
    check_tensor(input, "input", op)
    check_tensor(target, "target", op)
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({tuple(target.shape)}) that is different to the input size "
                      f"({tuple(input.shape)}) in {op}. This will likely lead to incorrect results due to "
                      f"broadcasting. Please ensure they have the same size.", UserWarning, stacklevel=3)
        shape = broadcast_shapes(tuple(input.shape), tuple(target.shape))
        input, target = input.expand(shape), target.expand(shape)
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: weights and input must have the same size, got weight "
                         f"{tuple(weight.shape)} and input {tuple(input.shape)}")
    return input, target


def _weighted_reduction(loss, weight, reduction, mean_over_weights=True):
    """PyTorch's elementwise ``weight=``: 'mean' divides by the weights' sum (huber_loss: by the count)."""
    if weight is None:
        return _apply_reduction(loss, reduction)
    loss = loss * weight
    if reduction == "mean" and mean_over_weights:
        return loss.sum() / weight.sum()
    return _apply_reduction(loss, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean (or sum) absolute error, as ``torch.nn.functional.l1_loss``."""
    reduction = resolve_reduction("l1_loss", size_average, reduce, reduction)
    input, target = _pointwise_inputs("l1_loss", input, target, weight)
    return _weighted_reduction((input - target).abs(), weight, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean (or sum) squared error, as ``torch.nn.functional.mse_loss``."""
    reduction = resolve_reduction("mse_loss", size_average, reduce, reduction)
    input, target = _pointwise_inputs("mse_loss", input, target, weight)
    return _weighted_reduction((input - target).square(), weight, reduction)


def _check_positive(op, name, value, allow_zero):
    if value < 0 or (value == 0 and not allow_zero):
        raise RuntimeError(f"{op}: {name} must be {'non-negative' if allow_zero else 'positive'}, "
                           f"got {name}={value}")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = input - target); beta=0 is L1."""
    op = "smooth_l1_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    _check_positive(op, "beta", beta, allow_zero=True)
    input, target = _pointwise_inputs(op, input, target)
    d = (input - target).abs()
    if beta == 0.0:
        return _apply_reduction(d, reduction)
    return _apply_reduction(where(d < beta, d.square() * (0.5 / beta), d - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere: ``beta``-smooth L1 times delta."""
    op = "huber_loss"
    reduction = resolve_reduction(op, None, None, reduction)
    _check_positive(op, "delta", delta, allow_zero=False)
    input, target = _pointwise_inputs(op, input, target, weight)
    d = (input - target).abs()
    loss = where(d < delta, d.square() * 0.5, (d - 0.5 * delta) * delta)
    return _weighted_reduction(loss, weight, reduction, mean_over_weights=False)


# ---- logistic ----------------------------------------------------------------------------------
def _floored_log(b, a):
    """max(log(a), -100) for a >= 0, log 0 included: the floor of PyTorch's binary_cross_entropy."""
    positive = a > 0
    return b.where(positive, b.maximum(b.log(b.where(positive, a, 1)), -100), -100)


class BinaryCrossEntropy(Function):
    """(p, y) -> -(y log p + (1 - y) log(1 - p)), each log floored at -100; backward as PyTorch's:
    d/dp = (p - y) / max(p (1 - p), 1e-12), d/dy = log(1 - p) - log(p)."""

    def forward(self, p, y):
        self.save_inputs(0, 1)
        b = self.backend
        return (-(y * _floored_log(b, p) + (1 - y) * _floored_log(b, 1 - p))).astype(p.dtype, copy=False)

    def backward(self, g):
        p, y = self.saved_inputs
        gp = gy = None
        if self.needs_input_grad[0]:
            gp = g * (p - y) / (p * (1 - p)).clamp(min=1e-12)
        if self.needs_input_grad[1]:
            gy = g * ((1 - p).log() - p.log())
        return gp, gy


def _same_shape(op, input, target):
    check_tensor(input, "input", op)
    check_tensor(target, "target", op)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: target size ({tuple(target.shape)}) must be the same as input size "
                         f"({tuple(input.shape)}); please ensure they have the same size")


def _expand_weight(op, weight, shape):
    if weight is None:
        return None
    check_tensor(weight, "weight", op)
    return weight.expand(broadcast_shapes(tuple(weight.shape), tuple(shape)))


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary cross-entropy of probabilities ``input`` in [0, 1], as ``torch.nn.functional``'s."""
    op = "binary_cross_entropy"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    _same_shape(op, input, target)
    if not ((input >= 0) & (input <= 1)).all().item():
        raise RuntimeError(f"{op}: all elements of input should be between 0 and 1 (input of shape "
                           f"{tuple(input.shape)})")
    loss = BinaryCrossEntropy.apply(input, target.to(input.dtype))
    weight = _expand_weight(op, weight, input.shape)
    return _apply_reduction(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable formula, as ``torch.nn.functional``'s:
    (1 - y) x - (1 + (pos_weight - 1) y) logsigmoid(x), times ``weight``."""
    op = "binary_cross_entropy_with_logits"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    _same_shape(op, input, target)
    log_sigmoid = logsigmoid(input)
    if pos_weight is not None:
        check_tensor(pos_weight, "pos_weight", op)
        log_sigmoid = log_sigmoid * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input - log_sigmoid
    return _apply_reduction(loss if weight is None else loss * weight, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-y x)) for targets y in {1, -1}, as ``torch.nn.functional.soft_margin_loss``."""
    reduction = resolve_reduction("soft_margin_loss", size_average, reduce, reduction)
    return _apply_reduction(-logsigmoid(input * target), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """One-vs-all logistic loss over the last dim, averaged over classes: (N, C) -> (N,) before reduction."""
    reduction = resolve_reduction("multilabel_soft_margin_loss", size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    return _apply_reduction(loss.sum(input.ndim - 1) / input.shape[-1], reduction)


# ---- distributions ----------------------------------------------------------------------------
def _xlogy_self(t):
    """t log t with 0 log 0 = 0."""
    positive = t > 0
    return (t * t.masked_fill(~positive, 1.0).log()).masked_fill(~positive, 0.0)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: target (log target - input); 'batchmean' divides the sum by
    the batch size (the KL divergence), 'mean' by the element count (with PyTorch's warning)."""
    op = "kl_div"
    if size_average is None and reduce is None and reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    reduction = resolve_reduction(op, size_average, reduce, reduction, ("none", "batchmean", "mean", "sum"))
    check_tensor(input, "input", op)
    check_tensor(target, "target", op)
    loss = target.exp() * (target - input) if log_target else _xlogy_self(target) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim != 0 else loss.sum()
    return _apply_reduction(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """Poisson negative log-likelihood: exp(x) - y x for log-rate inputs, x - y log(x + eps) for rates;
    ``full`` adds Stirling's term y log y - y + log(2 pi y) / 2 where y > 1."""
    reduction = resolve_reduction("poisson_nll_loss", size_average, reduce, reduction)
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        beyond_one = target > 1
        safe = target.masked_fill(~beyond_one, 1.0)
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + stirling.masked_fill(~beyond_one, 0.0)
    return _apply_reduction(loss, reduction)


def _floor_passing_gradient(t, floor):
    """max(t, floor) whose gradient is t's (PyTorch's clamp under no_grad, as gaussian_nll_loss's variance
    and cosine_similarity's norms have)."""
    return t + (t.clamp(min=floor) - t).detach()


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Gaussian negative log-likelihood (log var + (input - target)^2 / var) / 2, with var floored at
    ``eps`` by :func:`_floor_passing_gradient`."""
    op = "gaussian_nll_loss"
    check_tensor(input, "input", op)
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError(f"{op}: var has negative entry/entries (var={var})")
        var = input.new_full(input.shape, float(var))
    else:
        check_tensor(var, "var", op)
        if (var < 0).any().item():
            raise ValueError(f"{op}: var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and
                  sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"{op}: var is of incorrect size: {tuple(var.shape)} for input "
                             f"{tuple(input.shape)} (expected input's shape, its shape without the last "
                             f"dim, or one dim of size 1)")
    reduction = resolve_reduction(op, None, None, reduction)
    var = _floor_passing_gradient(var, eps)
    loss = 0.5 * (var.log() + (input - target).square() / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _apply_reduction(loss, reduction)


# ---- margins and embeddings -------------------------------------------------------------------
def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -y (x1 - x2) + margin) for y in {1, -1}."""
    op = "margin_ranking_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(f"{op}: all input tensors should have the same number of dims, got input1 "
                           f"{tuple(input1.shape)}, input2 {tuple(input2.shape)}, target {tuple(target.shape)}")
    return _apply_reduction((-target * (input1 - input2) + margin).clamp(min=0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """x where y = 1, max(0, margin - x) where y = -1 (both terms elsewhere, as PyTorch)."""
    reduction = resolve_reduction("hinge_embedding_loss", size_average, reduce, reduction)
    below_margin = (margin - input).clamp(min=0).masked_fill(target == 1, 0.0)
    return _apply_reduction(below_margin + input.masked_fill(target == -1, 0.0), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1, cos over the last dim
    with PyTorch's 1e-12 added to each squared magnitude."""
    op = "cosine_embedding_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    if input1.ndim not in (1, 2) or tuple(input1.shape) != tuple(input2.shape):
        raise RuntimeError(f"{op}: expected input1 and input2 of one shape (N, D) or (D,), got "
                           f"{tuple(input1.shape)} and {tuple(input2.shape)}")
    if target.ndim != input1.ndim - 1:
        raise RuntimeError(f"{op}: target of shape {tuple(target.shape)} needs {input1.ndim - 1} dims for "
                           f"inputs of shape {tuple(input1.shape)}")
    dim = input1.ndim - 1
    magnitudes = ((input1 * input1).sum(dim) + 1e-12) * ((input2 * input2).sum(dim) + 1e-12)
    cos = (input1 * input2).sum(dim) / magnitudes.sqrt()
    loss = (1 - cos).masked_fill(target != 1, 0.0) + (cos - margin).clamp(min=0).masked_fill(target != -1, 0.0)
    return _apply_reduction(loss, reduction)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim, as ``torch.nn.functional.pairwise_distance``."""
    op = "pairwise_distance"
    check_tensor(x1, "x1", op)
    check_tensor(x2, "x2", op)
    if p < 0:
        raise RuntimeError(f"{op}: p must be non-negative, got p={p}")
    dim = max(x1.ndim, x2.ndim, 1) - 1
    return vector_norm(x1 - x2 + eps, p, dim, keepdim)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum((x1 / max(||x1||, eps)) (x2 / max(||x2||, eps))) over ``dim``, x1 and x2 broadcast; the floors
    pass the norms' gradients through, as PyTorch's."""
    op = "cosine_similarity"
    check_tensor(x1, "x1", op)
    check_tensor(x2, "x2", op)
    shape = broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    x1, x2 = x1.expand(shape), x2.expand(shape)
    norm1 = _floor_passing_gradient(vector_norm(x1, 2, dim, keepdim=True), eps)
    norm2 = _floor_passing_gradient(vector_norm(x2, 2, dim, keepdim=True), eps)
    return ((x1 / norm1) * (x2 / norm2)).sum(dim)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)) with the pairwise p-norm distance d; ``swap`` uses
    min(d(a, n), d(p, n)) as the negative distance."""
    op = "triplet_margin_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise RuntimeError(f"{op}: the anchor, positive and negative tensors are expected to have the same "
                           f"number of dimensions, got {tuple(anchor.shape)}, {tuple(positive.shape)} and "
                           f"{tuple(negative.shape)}")
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _apply_reduction((margin + d_pos - d_neg).clamp(min=0), reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """Multi-class hinge: sum over i != y of weight_y max(0, margin - x_y + x_i)^p, divided by C."""
    op = "multi_margin_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 supported, got p={p}")
    check_tensor(input, "input", op)
    check_tensor(target, "target", op)
    unbatched = input.ndim == 1
    if unbatched:
        input, target = input.unsqueeze(0), target.reshape(1)
    if input.ndim != 2 or tuple(target.shape) != (input.shape[0],) or target.dtype.category != 1:
        raise ValueError(f"{op}: expected input (N, C) or (C,) with integer target (N,) or (), got input "
                         f"{tuple(input.shape)} and target {tuple(target.shape)} {target.dtype}")
    n_classes = input.shape[1]
    target = target.to(dtypes.int64)
    if ((target < 0) | (target >= n_classes)).any().item():
        raise IndexError(f"{op}: target values must be in [0, {n_classes}) for input {tuple(input.shape)}")
    unused = n_classes + 1  # an ignore_index no target can equal
    picked = PickTarget.apply(input, target, ignore_index=unused)
    at_target = PlaceTarget.apply(picked.new_ones(picked.shape), target, ignore_index=unused, n_classes=n_classes)
    hinge = (margin - picked.unsqueeze(1) + input).clamp(min=0)
    if p == 2:
        hinge = hinge.square()
    if weight is not None:
        hinge = hinge * weight[target].unsqueeze(1)
    loss = (hinge * (1 - at_target)).sum(1) / n_classes
    return _apply_reduction(loss.squeeze(0) if unbatched else loss, reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Multi-label hinge: target (N, C) lists each sample's classes, ended by the first -1; the loss sums
    max(0, 1 - (x_j - x_i)) over listed j (repeats count again) and unlisted i, divided by C."""
    op = "multilabel_margin_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    check_tensor(input, "input", op)
    check_tensor(target, "target", op)
    unbatched = input.ndim == 1
    if unbatched:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    if input.ndim != 2 or tuple(target.shape) != tuple(input.shape) or target.dtype.category != 1:
        raise RuntimeError(f"{op}: expected input (N, C) or (C,) and an integer target of its shape, got input "
                           f"{tuple(input.shape)} and target {tuple(target.shape)} {target.dtype}")
    n_classes = input.shape[1]
    target = target.to(dtypes.int64)
    listed = (target != -1).to(dtypes.int64).cumprod(1) > 0
    if (listed & ((target < 0) | (target >= n_classes))).any().item():
        raise RuntimeError(f"{op}: target values must be in [0, {n_classes}) or -1 for input {tuple(input.shape)}")
    target = target.masked_fill(~listed, -1)
    classes = target.new_tensor(list(range(n_classes))).reshape(1, 1, n_classes)
    is_target = (target.unsqueeze(2) == classes).any(1)
    x_listed = PickTarget.apply(input.unsqueeze(2).expand(input.shape + (n_classes,)), target, ignore_index=-1)
    hinge = (1 - x_listed.unsqueeze(2) + input.unsqueeze(1)).clamp(min=0)
    mask = listed.unsqueeze(2) & ~is_target.unsqueeze(1)
    loss = hinge.masked_fill(~mask, 0.0).sum((1, 2)) / n_classes
    return _apply_reduction(loss.squeeze(0) if unbatched else loss, reduction)


def pdist(input, p=2):
    """The p-norm distance between every pair of rows i < j of (N, M) ``input``, in row-major order of
    the pairs: shape (N*(N-1)/2,), as ``torch.pdist``. No eps is added (unlike :func:`pairwise_distance`);
    a zero distance has a zero gradient, as torch's."""
    op = "pdist"
    check_tensor(input, "input", op)
    if input.ndim != 2:
        raise RuntimeError(f"{op}: expected a 2-D input (N, M), got shape {tuple(input.shape)}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{op}: expected a floating-point input, got {input.dtype}")
    if p < 0:
        raise RuntimeError(f"{op}: p must be non-negative, got p={p}")
    if input.shape[0] < 2:  # no pairs: an empty result still on the graph, as torch's
        return input[:0].sum(1)
    from .shape import triu_indices
    first, second = triu_indices(input.shape[0], input.shape[0], 1, device=input.device)
    return vector_norm(input.index_select(0, first) - input.index_select(0, second), p, 1)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)) with any distance ``d`` (default :func:`pairwise_distance`);
    ``swap`` takes min(d(a, n), d(p, n)) as the negative distance, as
    ``torch.nn.functional.triplet_margin_with_distance_loss``."""
    op = "triplet_margin_with_distance_loss"
    reduction = resolve_reduction(op, None, None, reduction)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise RuntimeError(f"{op}: the anchor, positive and negative tensors are expected to have the same "
                           f"number of dimensions, got {tuple(anchor.shape)}, {tuple(positive.shape)} and "
                           f"{tuple(negative.shape)}")
    distance = pairwise_distance if distance_function is None else distance_function
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = d_neg.minimum(distance(positive, negative))
    return _apply_reduction((margin + d_pos - d_neg).clamp(min=0), reduction)


__all__ += ["pdist", "triplet_margin_with_distance_loss"]
