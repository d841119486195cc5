"""Classification losses: ``cross_entropy`` (fused log-softmax + NLL) and ``nll_loss``.

Both take class indices over dim 1: input (N, C) with target (N,), or dense input (N, C, d1, ...)
with target (N, d1, ...) (per-pixel labels for segmentation); (C,) with a 0-d target is one sample.
"""
from __future__ import annotations

from ... import dtypes
from ...autograd.function import Function
from ._util import check_float, check_same, check_tensor, const, needs_grad
from .activation import Softmax

__all__ = ["cross_entropy", "nll_loss"]


class _Labels:
    """Target bookkeeping on the backend: ``safe`` (ignored -> class 0), ``valid`` (x's dtype)."""

    def __init__(self, xp, target, ignore_index, dtype):
        self.xp = xp
        self.valid = (target != ignore_index).astype(dtype)
        self.safe = xp.where(target == ignore_index, 0, target)

    def onehot(self, n_classes, dtype):
        xp = self.xp
        classes = xp.arange(n_classes).reshape((1, n_classes) + (1,) * (self.safe.ndim - 1))
        return (classes == self.safe[:, None]).astype(dtype) * self.valid[:, None]


class SoftmaxCrossEntropy(Function):
    """x (N,C,*) -> per-element loss (N,*) = -log_softmax(x)[target], 0 where target is ignored."""

    def forward(self, x):
        loss, self.log_prob = self.backend.softmax_cross_entropy_forward(x, self.target, self.ignore_index)
        self.save_inputs(0)
        return loss

    def backward(self, gloss):
        (x,) = self.saved_inputs
        return SoftmaxCrossEntropyGrad.apply(x, gloss, log_prob=self.log_prob, target=self.target,
                                             ignore_index=self.ignore_index)


class SoftmaxCrossEntropyGrad(Function):
    """(x, gloss) -> (softmax(x) - onehot(target)) * gloss, from the saved ``log_prob``.

    Only the data of ``gloss`` is used in forward; ``x`` is an input so that double backward reaches it.
    """

    def forward(self, x, gloss):
        self.save_inputs(0, 1)
        return self.backend.softmax_cross_entropy_backward(self.log_prob, self.target, gloss,
                                                           self.ignore_index)

    def backward(self, ggx):
        x, gloss = self.saved_inputs
        labels = _Labels(self.xp, self.target, self.ignore_index, self.log_prob.dtype)
        p = Softmax.apply(x, dim=1)
        valid = const(labels.valid, x)
        d_x = d_gloss = None
        if needs_grad(self, 0):
            u = ggx * (gloss * valid).unsqueeze(1)
            d_x = p * (u - (u * p).sum(1, keepdim=True))
        if needs_grad(self, 1):
            d_gloss = (ggx * (p - const(labels.onehot(x.shape[1], self.log_prob.dtype), x))).sum(1) * valid
        return d_x, d_gloss


class PickTarget(Function):
    """x (N,C,*) -> x[n, target[n,*], *] (N,*), 0 where target is ignored."""

    def forward(self, x):
        self.n_classes = x.shape[1]
        labels = _Labels(self.xp, self.target, self.ignore_index, x.dtype)
        return self.xp.take_along_axis(x, labels.safe[:, None], axis=1)[:, 0] * labels.valid

    def backward(self, g):
        return PlaceTarget.apply(g, target=self.target, ignore_index=self.ignore_index,
                                 n_classes=self.n_classes)


class PlaceTarget(Function):
    """The adjoint of :class:`PickTarget`: g (N,*) -> (N,C,*) with g at each target class."""

    def forward(self, g):
        labels = _Labels(self.xp, self.target, self.ignore_index, g.dtype)
        return labels.onehot(self.n_classes, g.dtype) * g[:, None]

    def backward(self, gg):
        return PickTarget.apply(gg, target=self.target, ignore_index=self.ignore_index)


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
    t = target._data
    bad = (t != ignore_index) & ((t < 0) | (t >= n_classes))
    if bool(bad.any()):
        raise ValueError(f"{op}: target value {int(t[bad].ravel()[0])} is out of range for input of shape "
                         f"{tuple(input.shape)} with {n_classes} classes (expected 0 <= target < "
                         f"{n_classes} or ignore_index={ignore_index})")
    return input, target.to(dtypes.int64), unbatched


def _reduce(loss, input, target, weight, ignore_index, reduction, unbatched):
    """Class-weight the per-element losses (N,*) and reduce as PyTorch: 'mean' divides by the
    total weight of the non-ignored targets (nan when every target is ignored)."""
    labels = _Labels(input.backend.xp, target._data, ignore_index, input.dtype.np)
    if weight is not None:
        w = weight.detach()._data[labels.safe] * labels.valid
        loss = loss * const(w, input)
    else:
        w = labels.valid
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
    loss = SoftmaxCrossEntropy.apply(input, target=target._data, ignore_index=ignore_index)
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
    loss = -PickTarget.apply(input, target=target._data, ignore_index=ignore_index)
    return _reduce(loss, input, target, weight, ignore_index, reduction, unbatched)
