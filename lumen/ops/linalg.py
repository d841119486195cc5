"""Linear algebra: norms and distances, matrix and vector products, einsum.

The products are compositions of ``matmul`` and the shape ops (so their gradients, double backward
included, come from those); the vector norms are one Function whose backward is PyTorch's, zero vectors
included (the gradient of ``||x||`` at ``x = 0`` is taken as 0); the spectral and nuclear norms build on
the singular values (the backend's SVD)."""
from __future__ import annotations

import math

from .. import dtypes
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from .arith import broadcast_shapes, matmul, where
from .reduce import amax, amin, normalize_dims
from .shape import permute, reshape
from ..tensor import Tensor  # defined before lumen.tensor imports the ops

INF = math.inf


# ---- norms ---------------------------------------------------------------------------------------
class VectorNorm(Function):
    """``(sum |x|^p) ** (1/p)`` over ``axes`` for a finite ``p`` other than 0."""

    def __init__(self, p, axes, keepdim):
        self.p, self.axes, self.keepdim = p, axes, keepdim

    def forward(self, a):
        self.save_inputs(0)
        self.save_outputs(0)
        b, p = self.backend, self.p
        if p == 2:
            out = b.sqrt((a * a).sum(axis=self.axes, keepdims=self.keepdim))
        elif p == 1:
            out = b.abs(a).sum(axis=self.axes, keepdims=self.keepdim)
        else:
            out = b.power(b.power(b.abs(a), p).sum(axis=self.axes, keepdims=self.keepdim), 1 / p)
        return b.asarray(out).astype(a.dtype, copy=False)

    def backward(self, g):
        (x,), (y,) = self.saved_inputs, self.saved_outputs
        if not self.keepdim:
            kept = tuple(1 if i in self.axes else n for i, n in enumerate(x.shape))
            g, y = g.reshape(kept), y.reshape(kept)
        p, zero = self.p, g.new_zeros(())
        if p == 1:
            return x.sign() * g
        # d||x||_p / dx = sign(x) |x|^(p-1) / ||x||^(p-1), with 0 where ||x|| = 0 (and, for p < 1,
        # where x = 0, whose |x|^(p-1) is infinite)
        # (the inner wheres keep 0 out of the divisions and negative powers, so no inf is made at all)
        zero_norm = y == 0
        safe_y = where(zero_norm, 1, y)
        scale = where(zero_norm, zero, g / (safe_y if p == 2 else safe_y ** (p - 1)))
        if p == 2:
            return x * scale
        if p < 1:
            at_zero = x == 0
            return where(at_zero, zero, x.sign() * where(at_zero, 1, x.abs()) ** (p - 1)) * scale
        return x.sign() * x.abs() ** (p - 1) * scale


class Svdvals(Function):
    """The SVD of the matrices in the last two dims: outputs U, S (descending) and Vh, only S
    differentiable, with PyTorch's gradient ``U diag(gS) Vh``. That gradient treats U and V as
    constants, so it is not itself differentiable: double backward raises."""

    def forward(self, a):
        u, s, vh = self.backend.svd(a)
        self.mark_non_differentiable(0, 2)
        self.save_outputs(0, 2)
        return u, s.astype(a.dtype, copy=False), vh

    def backward(self, _, gs, __):
        if is_grad_enabled():
            raise RuntimeError("linalg.svdvals: double backward (create_graph=True) through singular values is "
                               "not supported")
        u, vh = self.saved_outputs
        return (u * gs.unsqueeze(-2)) @ vh


def svdvals(A):
    """``torch.linalg.svdvals``: the singular values of the matrices in the last two dims, descending."""
    if A.ndim < 2:
        raise RuntimeError(f"linalg.svdvals: the input tensor A must have at least 2 dimensions, got shape "
                           f"{tuple(A.shape)}")
    _norm_dtype(A, None, "linalg.svdvals")
    return Svdvals.apply(A)[1]


def _norm_dtype(x, dtype, op):
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
        if not dtype.is_floating_point:
            raise RuntimeError(f"{op}: dtype should be floating point, got {dtype}")
        x = x.to(dtype)
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{op}: expected a floating point tensor as input, got {x.dtype} of shape "
                           f"{tuple(x.shape)}")
    return x


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """``torch.linalg.vector_norm``: ``ord`` a number, ``inf`` or ``-inf``; ``dim=None`` flattens."""
    op = "linalg.vector_norm"
    x = _norm_dtype(x, dtype, op)
    if isinstance(ord, bool) or not isinstance(ord, (int, float)):
        raise TypeError(f"{op}: ord must be a number, got {ord!r}")
    axes = normalize_dims(dim, x.ndim, op)
    if ord in (INF, -INF):
        if x.numel() == 0:
            raise RuntimeError(f"{op}: cannot compute the {ord} norm of an empty tensor of shape "
                               f"{tuple(x.shape)}")
        return (amax if ord == INF else amin)(x.abs(), axes, keepdim)
    if ord == 0:  # the count of nonzeros: piecewise constant, so a zero gradient (as PyTorch)
        return x.sign().abs().sum(axes, keepdim)
    if ord < 0 and any(x.shape[a] == 0 for a in axes):
        raise RuntimeError(f"{op}: cannot compute the {ord} norm over an empty dimension of shape "
                           f"{tuple(x.shape)}")
    return VectorNorm.apply(x, p=float(ord), axes=axes, keepdim=keepdim)


def _two_dims(dim, ndim, op):
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if len(dims) != 2:
        raise RuntimeError(f"{op}: dim must be a 2-tuple, got {dim!r}")
    d0, d1 = (d % ndim if -ndim <= d < ndim else None for d in dims)
    if d0 is None or d1 is None:
        raise IndexError(f"{op}: dim {dim!r} is out of range for a tensor of {ndim} dimensions")
    if d0 == d1:
        raise RuntimeError(f"{op}: dims must be different, got {dim!r}")
    return d0, d1


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """``torch.linalg.matrix_norm``: 'fro', 'nuc' (the sum of the singular values), 2 and -2 (the largest and
    smallest), 1, -1, inf and -inf (the largest and smallest absolute column or row sum)."""
    op = "linalg.matrix_norm"
    A = _norm_dtype(A, dtype, op)
    if A.ndim < 2:
        raise RuntimeError(f"{op}: the input tensor A must have at least 2 dimensions, got shape "
                           f"{tuple(A.shape)}")
    d0, d1 = _two_dims(dim, A.ndim, op)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        rest = [i for i in range(A.ndim) if i not in (d0, d1)]
        s = svdvals(permute(A, tuple(rest + [d0, d1])))
        out = s.sum(-1) if ord == "nuc" else (amax if ord == 2 else amin)(s, -1)
        return out.reshape(tuple(1 if i in (d0, d1) else n for i, n in enumerate(A.shape))) if keepdim else out
    if ord not in (1, -1, INF, -INF):
        raise RuntimeError(f"{op}: order {ord!r} not supported; expected 'fro', 'nuc', 1, -1, 2, -2, inf "
                           f"or -inf")
    # ord 1: the largest column sum (summed over rows, d0); inf: the largest row sum (over d1)
    summed, kept = (d0, d1) if ord in (1, -1) else (d1, d0)
    sums = A.abs().sum(summed, keepdim=True)
    out = (amax if ord > 0 else amin)(sums, kept, keepdim=True)
    return out if keepdim else out.squeeze((d0, d1))


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """``torch.linalg.norm``: a vector norm over one dim (or all, flattened, when ``ord`` is None), a
    matrix norm over two."""
    op = "linalg.norm"
    if dim is not None:
        dim = (dim,) if isinstance(dim, int) else tuple(dim)
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if A.ndim not in (1, 2):
            raise RuntimeError(f"{op}: if dim is not given but ord is, the input must be 1-d or 2-d, got "
                               f"shape {tuple(A.shape)}")
        dim = tuple(range(A.ndim))
    if len(dim) == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"{op}: ord={ord!r} is a matrix norm, but one dim was given ({dim})")
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(A, ord, dim, keepdim, dtype=dtype)
    raise RuntimeError(f"{op}: dim must be one or two dims, got {dim}")


def tensor_norm(input, p="fro", dim=None, keepdim=False, *, dtype=None):
    """``torch.norm`` / ``Tensor.norm``: the 2-norm for 'fro' over up to two dims (everything when
    ``dim`` is None), 'nuc' as a matrix norm, a number as a vector norm over ``dim``."""
    if isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, int) or len(dim) <= 2):
            return vector_norm(input, 2, dim, keepdim, dtype=dtype)
        return matrix_norm(input, p, tuple(range(input.ndim)) if dim is None else dim, keepdim, dtype=dtype)
    return vector_norm(input, 2.0 if p is None else p, dim, keepdim, dtype=dtype)


def dist(input, other, p=2):
    """``||input - other||_p`` over all elements (broadcast)."""
    return vector_norm(input - other, p)


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """Pairwise p-norm distances between the rows of ``x1`` (B, P, M) and ``x2`` (B, R, M) -> (B, P, R)
    (batch dims broadcast). For p = 2 ``compute_mode`` chooses, as PyTorch: the matmul form
    ``|a|^2 + |b|^2 - 2 a.b`` (faster, less exact; 'use_mm_for_euclid_dist', or '..._if_necessary' when
    P or R exceeds 25) or the direct differences, which hold a (B, P, R, M) intermediate."""
    op = "cdist"
    for name, t in (("x1", x1), ("x2", x2)):
        if t.ndim < 2:
            raise RuntimeError(f"{op}: {name} must have at least 2 dimensions, got shape {tuple(t.shape)}")
        if not t.dtype.is_floating_point:
            raise RuntimeError(f"{op}: only floating-point dtypes are supported, got {name} {t.dtype}")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"{op}: x1 and x2 must have the same number of columns, got shapes "
                           f"{tuple(x1.shape)} and {tuple(x2.shape)}")
    if p < 0:
        raise RuntimeError(f"{op}: only supports non-negative p values, got {p}")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"{op}: {compute_mode!r} is not a valid value for compute_mode; expected one of "
                         f"{', '.join(_CDIST_MODES)}")
    try:
        broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    except ValueError:
        raise RuntimeError(f"{op}: batch dims of x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)} cannot be "
                           f"broadcast together") from None
    use_mm = p == 2 and (compute_mode == "use_mm_for_euclid_dist" or (
        compute_mode == "use_mm_for_euclid_dist_if_necessary" and (x1.shape[-2] > 25 or x2.shape[-2] > 25)))
    if use_mm:
        # PyTorch's _euclidean_dist: rounding can make the squared distance slightly negative, so it is
        # clamped at 0 before the root
        sq = ((x1 * x1).sum(-1, keepdim=True) + (x2 * x2).sum(-1).unsqueeze(-2) - 2 * matmul(x1, x2.mT))
        # (and its root's gradient at 0 taken as 0, as PyTorch's _euclidean_dist_backward)
        positive = sq > 0
        return where(positive, where(positive, sq, 1).sqrt(), 0)
    return vector_norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, -1)


# ---- matrix and vector products ------------------------------------------------------------------
def _check_dims(op, **tensors):
    for name, (t, ndim) in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim != ndim:
            raise RuntimeError(f"{op}: {name} must be a {ndim}-d tensor, got shape {tuple(t.shape)}")


def _check_dtypes(op, *tensors):
    if any(t.dtype is not tensors[0].dtype for t in tensors):
        raise RuntimeError(f"{op}: expected all tensors to have one dtype, got "
                           f"{', '.join(str(t.dtype) for t in tensors)}")


def bmm(input, mat2):
    """(b, n, m) @ (b, m, p) -> (b, n, p), no broadcasting."""
    _check_dims("bmm", input=(input, 3), mat2=(mat2, 3))
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise RuntimeError(f"bmm: shapes {tuple(input.shape)} and {tuple(mat2.shape)} do not match "
                           f"(expected (b, n, m) and (b, m, p))")
    _check_dtypes("bmm", input, mat2)
    return matmul(input, mat2)


def mv(input, vec):
    _check_dims("mv", input=(input, 2), vec=(vec, 1))
    _check_dtypes("mv", input, vec)
    return matmul(input, vec)


def dot(input, other):
    """The inner product of two 1-d tensors of one dtype and length."""
    _check_dims("dot", input=(input, 1), other=(other, 1))
    if input.shape != other.shape:
        raise RuntimeError(f"dot: expected both vectors to have the same number of elements, got "
                           f"{input.shape[0]} and {other.shape[0]}")
    _check_dtypes("dot", input, other)
    return matmul(input, other)


def outer(input, vec2):
    """The outer product of two 1-d tensors: (n,) x (m,) -> (n, m)."""
    _check_dims("outer", input=(input, 1), vec2=(vec2, 1))
    return input.unsqueeze(1) * vec2


def _scaled_sum(op, input, product, beta, alpha):
    """``beta * input + alpha * product``, ``input`` broadcast to the product; with ``beta == 0`` the
    input is ignored (its NaNs too), as PyTorch."""
    try:
        if broadcast_shapes(input.shape, product.shape) != product.shape:
            raise ValueError
    except ValueError:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} does not broadcast to the product's "
                           f"shape {tuple(product.shape)}") from None
    out = product if alpha == 1 else product * alpha
    if beta == 0:  # where(False, input, 0): zeros, with the zero gradient PyTorch gives the input
        return out + where(input.new_zeros((), dtype=dtypes.bool_), input, 0)
    return out + (input if beta == 1 else input * beta)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)`` for 2-d mat1, mat2."""
    _check_dims("addmm", mat1=(mat1, 2), mat2=(mat2, 2))
    _check_dtypes("addmm", input, mat1, mat2)
    return _scaled_sum("addmm", input, matmul(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * bmm(batch1, batch2)``."""
    _check_dtypes("baddbmm", input, batch1, batch2)
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat @ vec)``."""
    _check_dtypes("addmv", input, mat, vec)
    return _scaled_sum("addmv", input, mv(mat, vec), beta, alpha)


# ---- einsum --------------------------------------------------------------------------------------
def _parse_operand(term, ndim, i, op):
    """One operand's subscripts as a list of labels: letters as themselves, the dims an ellipsis covers
    as integers counted from the right (-1 the last), so that they line up across operands."""
    if term.count("...") > 1 or "." in term.replace("...", ""):
        raise RuntimeError(f"{op}: operand {i} subscripts {term!r} may hold at most one ellipsis '...'")
    head, _, tail = term.partition("...")
    for c in head + tail:
        if not c.isalpha() or not c.isascii():
            raise RuntimeError(f"{op}: invalid subscript {c!r} in {term!r}; subscripts must be letters in "
                               f"[a-zA-Z]")
    n_ell = ndim - len(head) - len(tail)
    if "..." not in term and n_ell != 0 or n_ell < 0:
        raise RuntimeError(f"{op}: the number of subscripts in {term!r} does not match the number of "
                           f"dimensions ({ndim}) of operand {i}")
    return list(head) + list(range(-n_ell, 0)) + list(tail), n_ell


def _diagonal(t, labels):
    """Take diagonals where a label repeats within one operand ('ii->i')."""
    from ..creation import arange
    while len(set(labels)) < len(labels):
        label = next(l for l in labels if labels.count(l) > 1)
        pos = [i for i, l in enumerate(labels) if l == label]
        rest = [i for i in range(len(labels)) if i not in pos]
        n = t.shape[pos[0]]
        if any(t.shape[p] != n for p in pos):
            raise RuntimeError(f"einsum: subscript {label!r} is repeated for dimensions of different sizes "
                               f"{[t.shape[p] for p in pos]}")
        idx = arange(n, device=t.device)
        t = permute(t, tuple(rest + pos))[(Ellipsis,) + (idx,) * len(pos)]
        labels = [labels[i] for i in rest] + [label]
    return t, labels


def _sum_out(t, labels, keep):
    gone = [i for i, l in enumerate(labels) if l not in keep]
    if not gone:
        return t, labels
    return t.sum(tuple(gone)), [l for l in labels if l in keep]


def _contract(a, la, b, lb, keep):
    """Contract two operands over their shared labels not in ``keep``, with one batched matmul."""
    size = {}
    for t, ls in ((a, la), (b, lb)):
        for n, l in zip(t.shape, ls):
            if size.get(l, 1) == 1:
                size[l] = n
    batch = [l for l in la if l in lb and l in keep]
    summed = [l for l in la if l in lb and l not in keep]
    a_only = [l for l in la if l not in lb]
    b_only = [l for l in lb if l not in la]

    def arrange(t, ls, order):
        t = permute(t, tuple(ls.index(l) for l in order))
        return t.expand(tuple(size[l] if l in batch or l in summed else t.shape[i] for i, l in enumerate(order)))

    def numel(ls):
        return math.prod(size[l] for l in ls)
    a3 = reshape(arrange(a, la, batch + a_only + summed), (numel(batch), numel(a_only), numel(summed)))
    b3 = reshape(arrange(b, lb, batch + summed + b_only), (numel(batch), numel(summed), numel(b_only)))
    out = matmul(a3, b3)
    return reshape(out, tuple(size[l] for l in batch + a_only + b_only)), batch + a_only + b_only


def einsum(equation, *operands):
    """``torch.einsum``: subscripts of letters, at most one '...' per operand (broadcast), an explicit
    '->' output or the implicit one (the ellipsis dims, then the letters seen once, sorted). Operands are
    contracted left to right, each pair with one batched matmul, so gradients come from matmul's."""
    op = "einsum"
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise RuntimeError(f"{op}: must provide at least one operand")
    for i, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: operand {i} must be a Tensor, got {type(t).__name__}")
    _check_dtypes(op, *operands)
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(f"{op}: {len(terms)} operand subscripts in {equation!r} for {len(operands)} "
                           f"operands")
    parsed = [_parse_operand(term, t.ndim, i, op) for i, (term, t) in enumerate(zip(terms, operands))]
    n_ell = max(n for _, n in parsed)
    if arrow:
        # broadcast dims the output leaves out ('...ij->ij') are summed, as PyTorch does
        out_ndim = len(rhs.replace("...", "")) + (n_ell if "..." in rhs else 0)
        out_labels, _ = _parse_operand(rhs, out_ndim, "output", op)
        for l in out_labels:
            if out_labels.count(l) > 1:
                raise RuntimeError(f"{op}: output subscript {l!r} appears more than once in {equation!r}")
            if isinstance(l, str) and not any(l in ls for ls, _ in parsed):
                raise RuntimeError(f"{op}: output subscript {l!r} does not appear in the equation for any "
                                   f"input operand")
    else:
        letters = [l for ls, _ in parsed for l in ls if isinstance(l, str)]
        out_labels = list(range(-n_ell, 0)) + sorted(l for l in set(letters) if letters.count(l) == 1)
    # label sizes must agree (a size 1 broadcasts)
    size = {}
    for i, ((ls, _), t) in enumerate(zip(parsed, operands)):
        for n, l in zip(t.shape, ls):
            if n != 1 and size.get(l, 1) not in (1, n):
                raise RuntimeError(f"{op}: subscript {l!r} has size {n} for operand {i} which does not "
                                   f"broadcast with previously seen size {size[l]}")
            if n != 1 or l not in size:
                size[l] = n
    pending = [_diagonal(t, ls) for t, (ls, _) in zip(operands, parsed)]
    needed_later = [set(out_labels).union(*(ls for _, ls in pending[i + 1:])) for i in range(len(pending))]
    t, labels = _sum_out(*pending[0], needed_later[0])
    for i in range(1, len(pending)):
        b, lb = _sum_out(*pending[i], needed_later[i].union(labels))
        t, labels = _contract(t, labels, b, lb, needed_later[i])
    t, labels = _sum_out(t, labels, set(out_labels))
    out = permute(t, tuple(labels.index(l) for l in out_labels))
    shape = tuple(size[l] for l in out_labels)
    return out if tuple(out.shape) == shape else out.expand(shape)

