"""Lookup tables: ``embedding``, ``embedding_bag`` and ``one_hot``, as ``torch.nn.functional``'s.

Gradients are dense (PyTorch's ``sparse=False``): rows of the weight that no index picked get zeros.
"""
from __future__ import annotations

from .. import dtypes
from ..device import on_input_device
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from ..creation import arange
from .index import IndexAdd
from ._check import check_float, check_same, check_tensor
from .arith import where
from .reduce import amax

__all__ = ["embedding", "embedding_bag", "one_hot"]


class Embedding(Function):
    """y = weight[indices]: weight (num, *) -> indices.shape + (*)."""

    def __init__(self, indices, padding_idx, scale_grad_by_freq):
        self.indices, self.padding_idx, self.scale_grad_by_freq = indices, padding_idx, scale_grad_by_freq

    def forward(self, weight):
        self.num = weight.shape[0]
        return weight[self.indices]

    def backward(self, g):
        return EmbeddingBackward.apply(g, indices=self.indices, num=self.num, padding_idx=self.padding_idx,
                                       scale_grad_by_freq=self.scale_grad_by_freq)


class EmbeddingBackward(Function):
    """The weight's gradient: each row the sum of the gradients of the positions that picked it, divided
    by how often it was picked when ``scale_grad_by_freq``; the padding row gets none. Linear in g."""

    def __init__(self, indices, num, padding_idx, scale_grad_by_freq):
        self.indices, self.num = indices, num
        self.padding_idx, self.scale_grad_by_freq = padding_idx, scale_grad_by_freq

    def row_scale(self, dtype):
        """(num, 1) factor on each row of the gradient: 0 for padding_idx, 1/count with scale_grad_by_freq."""
        b = self.backend
        scale = b.ones((self.num, 1), dtype=dtype)
        if self.scale_grad_by_freq:
            counts = b.bincount(self.indices.reshape(-1), minlength=self.num).reshape(self.num, 1)
            scale = scale / b.maximum(counts, 1).astype(dtype)
        if self.padding_idx is not None:
            scale[self.padding_idx] = 0
        return scale

    def forward(self, g):
        b = self.backend
        rows = g.shape[self.indices.ndim:]
        out = b.zeros((self.num,) + rows, dtype=g.dtype)
        b.scatter_add(out, self.indices.reshape(-1), g.reshape((-1,) + rows))
        if self.scale_grad_by_freq or self.padding_idx is not None:
            out *= self.row_scale(g.dtype).reshape((self.num,) + (1,) * len(rows))
        return out

    def backward(self, gg):
        if self.scale_grad_by_freq or self.padding_idx is not None:
            rows = gg.shape[1:]
            gg = gg * gg._like(self.row_scale(gg._data.dtype).reshape((self.num,) + (1,) * len(rows)))
        return Embedding.apply(gg, indices=self.indices, padding_idx=None, scale_grad_by_freq=False)


def _check_indices(op, input, num):
    check_tensor(input, "input", op)
    if input.dtype not in (dtypes.int64, dtypes.int32):
        raise RuntimeError(f"{op}: expected indices of dtype int64 or int32, got {input.dtype} of shape "
                           f"{tuple(input.shape)}")
    if input.numel():
        low, high = int(input.min().item()), int(input.max().item())
        if low < 0 or high >= num:
            raise IndexError(f"{op}: index out of range in self: indices span [{low}, {high}] but the weight "
                             f"has {num} rows")


def _padding_idx(op, padding_idx, num):
    if padding_idx is None:
        return None
    if not -num <= padding_idx < num:
        raise ValueError(f"{op}: padding_idx {padding_idx} must be within num_embeddings ({num})")
    return padding_idx % num


def _norm(x, p, dim):
    a = x.abs()
    return amax(a, dim) if p == float("inf") else (a ** p).sum(dim) ** (1.0 / p)


def embedding_renorm_(weight, input, max_norm, norm_type=2.0):
    """Scale in place (no grad) each row of ``weight`` that ``input`` picks and whose ``norm_type``-norm
    exceeds ``max_norm`` down to norm ``max_norm`` (PyTorch's ``embedding_renorm_``, same 1e-7 guard)."""
    num = weight.shape[0]
    with no_grad():
        picked = weight._like(weight._backend.bincount(input._data.reshape(-1), minlength=num) > 0)
        norms = _norm(weight, norm_type, tuple(range(1, weight.ndim)))
        scale = where(picked & (norms > max_norm), max_norm / (norms + 1e-7), 1.0).to(weight.dtype)
        weight.mul_(scale.reshape((num,) + (1,) * (weight.ndim - 1)))
    return weight


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` (num, embedding_dim) at integer ``input`` (any shape) -> input.shape + (dim,).

    ``padding_idx``: that row gets no gradient. ``max_norm``: rows picked are first renormalised in
    place (see ``embedding_renorm_``). ``scale_grad_by_freq``: each row's gradient is divided by how
    often the batch picks it. ``sparse=True`` (sparse gradients) is not supported: a ValueError.
    """
    op = "embedding"
    check_tensor(weight, "weight", op)
    check_float(weight, op, "weight")
    if sparse:
        raise ValueError(f"{op}: sparse=True (sparse gradients) is not supported by Lumen; use sparse=False, "
                         f"whose dense gradient every optimiser takes")
    if weight.ndim != 2:
        raise RuntimeError(f"{op}: weight must be 2-d (num_embeddings, embedding_dim), got {tuple(weight.shape)}")
    num = weight.shape[0]
    _check_indices(op, input, num)
    if input.device != weight.device:
        raise RuntimeError(f"{op}: input is on {input.device} but weight is on {weight.device}")
    padding_idx = _padding_idx(op, padding_idx, num)
    if max_norm is not None:
        embedding_renorm_(weight, input, max_norm, norm_type)
    return Embedding.apply(weight, indices=input._data, padding_idx=padding_idx,
                           scale_grad_by_freq=bool(scale_grad_by_freq))


class BagMax(Function):
    """Per-bag, per-feature maximum of rows (M, D) -> (n_bags, D), an empty bag giving 0; ``bag`` (M,) is
    each row's bag, -1 for rows in none. The gradient of each maximum goes to the first row holding it."""

    def __init__(self, bag, n_bags):
        self.bag, self.n_bags = bag, n_bags

    def forward(self, rows):
        b = self.backend
        m, d = rows.shape
        inside = (self.bag >= 0).reshape(m, 1)
        bag = b.where(self.bag >= 0, self.bag, 0)
        values = b.where(inside, rows, rows.dtype.type(float("-inf")))
        out = b.full((self.n_bags, d), float("-inf"), dtype=rows.dtype)
        b.scatter_reduce(out, bag, values, "amax")
        positions = b.broadcast_to(b.arange(m).reshape(m, 1), (m, d))
        first = b.full((self.n_bags, d), m, dtype=positions.dtype)
        b.scatter_reduce(first, bag, b.where(inside & (values == out[bag]), positions, m), "amin")
        self.filled = first < m
        self.winners = (first * d + b.arange(d))[self.filled]  # flat positions in rows
        self.rows_shape = rows.shape
        return b.where(self.filled, out, rows.dtype.type(0))

    def backward(self, g):
        m, d = self.rows_shape
        picked = g[g._like(self.filled)]
        return IndexAdd.apply(picked, shape=(m * d,), index=self.winners).reshape((m, d))


def _bags(op, input, offsets, include_last_offset):
    """(flat indices (M,), bag of each index as a backend int64 array (M,), -1 where in none; number of
    bags) from a 2-d input (one bag per row) or a 1-d input and its bags' ``offsets``."""
    b = input._backend
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{op}: if input is 2D, then offsets has to be None, as input is treated as a "
                             f"mini-batch of fixed length sequences; got offsets of shape {tuple(offsets.shape)}")
        n, length = input.shape
        return input.reshape(-1), b.arange(n * length) // max(length, 1), n
    if input.ndim != 1:
        raise ValueError(f"{op}: input has to be 1D or 2D, got shape {tuple(input.shape)}")
    if offsets is None or offsets.ndim != 1:
        got = "None" if offsets is None else f"shape {tuple(offsets.shape)}"
        raise ValueError(f"{op}: offsets has to be a 1D Tensor when input is 1D, got {got}")
    if offsets.dtype not in (dtypes.int64, dtypes.int32):
        raise RuntimeError(f"{op}: offsets must be int64 or int32, got {offsets.dtype}")
    m = input.shape[0]
    if offsets.numel():
        first, last = int(offsets[0].item()), int(offsets.max().item())
        if first != 0:
            raise RuntimeError(f"{op}: offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to "
                               f"start from position 0. However, got {first}")
        if last > m:
            raise RuntimeError(f"{op}: offsets go up to {last}, past the end of the input of {m} indices")
    bounds = offsets._data.astype("int64")
    starts = bounds[:-1] if include_last_offset else bounds
    # bag of position i: how many bags start at or before i, minus one
    bag = b.cumsum(b.bincount(starts, minlength=m + 1)[:m]) - 1
    if include_last_offset and bounds.shape[0]:
        bag = b.where(b.arange(m) < bounds[-1], bag, -1)  # past the last offset: in no bag
    return input, bag, starts.shape[0]


@on_input_device
def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sums, means or maxima of bags of embeddings, as ``torch.nn.functional.embedding_bag``.

    input (B, L): B bags of L indices; or input (M,) with ``offsets`` (B,) the start of each bag
    (``include_last_offset``: offsets (B+1,), the last being the end). -> (B, embedding_dim); an
    empty bag gives zeros. ``per_sample_weights`` (input's shape) scales each embedding (mode 'sum'
    only). Indices equal to ``padding_idx`` are left out of their bag (and of its count for 'mean').
    The (M, embedding_dim) lookups are reduced into their bags by scatter, never densely.
    """
    op = "embedding_bag"
    check_tensor(weight, "weight", op)
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode has to be one of sum, mean or max, got {mode!r}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"{op}: per_sample_weights is only supported for mode='sum' "
                                      f"(got mode={mode!r})")
        check_same(op, weight, per_sample_weights=per_sample_weights)
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"{op}: per_sample_weights of shape {tuple(per_sample_weights.shape)} must have "
                             f"input's shape {tuple(input.shape)}")
    check_tensor(input, "input", op)
    flat, bag, n_bags = _bags(op, input, offsets, include_last_offset)
    rows = embedding(flat, weight, None, max_norm, norm_type, scale_grad_by_freq, sparse)
    b = weight._backend
    padding_idx = _padding_idx(op, padding_idx, weight.shape[0])
    if padding_idx is not None:
        bag = b.where(flat._data != padding_idx, bag, -1)
    if mode == "max":
        return BagMax.apply(rows, bag=bag, n_bags=n_bags)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape((-1, 1))
    inside = bag >= 0
    # the weight-gradient kernel is a scatter-sum of rows into slots: here the slots are the bags
    total = EmbeddingBackward.apply(rows * rows._like(inside.astype(rows._data.dtype).reshape(-1, 1)),
                                    indices=b.where(inside, bag, 0), num=n_bags, padding_idx=None,
                                    scale_grad_by_freq=False)
    if mode == "sum":
        return total
    counts = b.bincount(bag[inside], minlength=n_bags).astype(total._data.dtype)
    return total / total._like(b.maximum(counts, 1).reshape(n_bags, 1))


def one_hot(tensor, num_classes=-1):
    """int64 ``tensor`` (any shape) of class indices -> int64 tensor.shape + (num_classes,), 1 at each
    index; ``num_classes=-1`` takes max + 1."""
    op = "one_hot"
    check_tensor(tensor, "tensor", op)
    if tensor.dtype is not dtypes.int64:
        raise RuntimeError(f"{op}: is only applicable to index tensors of dtype int64, got {tensor.dtype}")
    if num_classes == -1:
        if not tensor.numel():
            raise RuntimeError(f"{op}: can not infer the total number of classes from an empty tensor")
        num_classes = int(tensor.max().item()) + 1
    if tensor.numel():
        if int(tensor.min().item()) < 0:
            raise RuntimeError(f"{op}: class values must be non-negative, got {int(tensor.min().item())}")
        if int(tensor.max().item()) >= num_classes:
            raise RuntimeError(f"{op}: class values must be smaller than num_classes ({num_classes}), got "
                               f"{int(tensor.max().item())}")
    classes = arange(num_classes, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).to(dtypes.int64)
