"""Classification losses: ``cross_entropy`` (fused log-softmax + NLL) and ``nll_loss``.

Both take class indices over dim 1: input (N, C) with target (N,), or dense input (N, C, d1, ...)
with target (N, d1, ...) (per-pixel labels for segmentation); (C,) with a 0-d target is one sample.
"""
from __future__ import annotations

from .. import dtypes
from ..autograd.function import Function
from ._check import check_float, check_same, check_tensor

__all__ = ["cross_entropy", "nll_loss"]


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
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
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


def _refuse_legacy(op, size_average, reduce):
    if size_average is not None or reduce is not None:
        raise ValueError(f"{op}: size_average and reduce are deprecated in PyTorch and not supported; "
                         f"use reduction='mean', 'sum' or 'none'")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy with integer targets, as ``torch.nn.functional.cross_entropy``.

    input (N, C, *) float logits, target (N, *) integer in [0, C) or ``ignore_index``,
    weight (C,) optional class weights. reduction "mean" (weighted mean over non-ignored
    targets), "sum" or "none" (returns (N, *)). ``label_smoothing`` in [0, 1] mixes in the
    uniform distribution over classes, with PyTorch's formula and normalisation.
    """
    op = "cross_entropy"
    _refuse_legacy(op, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
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
    _refuse_legacy(op, size_average, reduce)
    input, target, unbatched = _prepare(op, input, target, weight, ignore_index, reduction)
    bad = _out_of_range(op, input, target, ignore_index)
    if bad is not None:
        raise bad
    loss = -PickTarget.apply(input, target, ignore_index=ignore_index)
    return _reduce(loss, input, target, weight, ignore_index, reduction, unbatched)
