"""Linear algebra: norms and distances, matrix and vector products, einsum.

The products are compositions of ``matmul`` and the shape ops (so their gradients, double backward
included, come from those); the vector norms are one Function whose backward is PyTorch's, zero vectors
included (the gradient of ``||x||`` at ``x = 0`` is taken as 0); the spectral and nuclear norms build on
the singular values (the backend's SVD)."""
from __future__ import annotations

import math
import warnings
from collections import namedtuple

from .. import dtypes
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled, no_grad
from . import inplace
from .arith import broadcast_shapes, matmul, maximum, sum_to, where
from .reduce import amax, amin, normalize_dims
from .shape import cat, permute, reshape, stack
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


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]`` (the batched products reduced over the batch)."""
    _check_dims("addbmm", batch1=(batch1, 3), batch2=(batch2, 3))
    _check_dtypes("addbmm", input, batch1, batch2)
    return _scaled_sum("addbmm", input, bmm(batch1, batch2).sum(0), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """``beta * input + alpha * outer(vec1, vec2)``."""
    _check_dims("addr", vec1=(vec1, 1), vec2=(vec2, 1))
    _check_dtypes("addr", input, vec1, vec2)
    return _scaled_sum("addr", input, outer(vec1, vec2), beta, alpha)


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



# ---- inverses, determinants, solves and decompositions (the backend's LAPACK) --------------------------------
class LinAlgError(RuntimeError):
    """A matrix that is singular or not positive-definite, where the op needs it to be (torch.linalg.LinAlgError).
    The CPU backend (LAPACK through numpy) detects an exactly zero pivot; CuPy does not check by default, so on
    the cuda device a singular input gives inf or NaN instead."""


class return_types:
    """Named results of the linalg ops, as PyTorch's ``torch.return_types``."""
    slogdet = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
    inv_ex = namedtuple("linalg_inv_ex", ["inverse", "info"])
    solve_ex = namedtuple("linalg_solve_ex", ["result", "info"])
    cholesky_ex = namedtuple("linalg_cholesky_ex", ["L", "info"])
    qr = namedtuple("linalg_qr", ["Q", "R"])
    eigh = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
    svd = namedtuple("linalg_svd", ["U", "S", "Vh"])
    torch_svd = namedtuple("svd", ["U", "S", "V"])
    lstsq = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])


def _lapack(node, op, name, *arrays, why="the input matrix is singular", **options):
    """``backend.linalg(name, ...)`` with the backend's LinAlgError as Lumen's, naming the op and the shapes."""
    b = node.backend
    try:
        return b.linalg(name, *arrays, **options)
    except b.LinAlgError:
        raise LinAlgError(f"{op}: the computation could not be completed because {why} (shapes "
                          f"{[tuple(a.shape) for a in arrays]})") from None


def _square(A, op, what="A"):
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: {what} must be a Tensor, got {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: {what} must have at least 2 dimensions, got shape {tuple(A.shape)}")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{op}: {what} must be batches of square matrices, but they are {A.shape[-2]} by "
                           f"{A.shape[-1]} matrices")
    _float_matrix(A, op)
    return A


def _float_matrix(A, op):
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"{op}: expected a floating point tensor as input, got {A.dtype} of shape "
                           f"{tuple(A.shape)}")


class Inv(Function):
    """``A^-1``; gradient ``-A^-T g A^-T`` (in Lumen ops, so double backward is recorded)."""

    def forward(self, a):
        self.save_outputs(0)
        return _lapack(self, "linalg.inv", "inv", a)

    def backward(self, g):
        (y,) = self.saved_outputs
        return -(y.mT @ g @ y.mT)


def inv(A, *, out=None):
    """``torch.linalg.inv``: the inverse of each square matrix (LinAlgError when one is singular)."""
    result = Inv.apply(_square(A, "linalg.inv"))
    return result if out is None else inplace.write_out(out, result, "linalg.inv", A)


def _info(A, failed):
    return A.new_full(A.shape[:-2], 1 if failed else 0, dtype=dtypes.int32)


def inv_ex(A, *, check_errors=False):
    """``(inverse, info)``: info 0 where the inverse exists. Lumen's info is 1 (not the pivot's index) for a batch
    with a singular matrix, whose inverse is then NaN; ``check_errors=True`` raises instead."""
    try:
        return return_types.inv_ex(inv(A), _info(A, False))
    except LinAlgError:
        if check_errors:
            raise
        return return_types.inv_ex(A.new_full(A.shape, float("nan")), _info(A, True))


class Slogdet(Function):
    """``(sign, log|det A|)``; the sign carries no gradient, the log's is ``g A^-T``."""

    def forward(self, a):
        self.save_inputs(0)
        self.mark_non_differentiable(0)
        sign, logabsdet = self.backend.linalg("slogdet", a)
        return sign.astype(a.dtype, copy=False), logabsdet.astype(a.dtype, copy=False)

    def backward(self, _, g):
        (a,) = self.saved_inputs
        return g.unsqueeze(-1).unsqueeze(-1) * inv(a).mT


def slogdet(A):
    """``torch.linalg.slogdet``: ``(sign, logabsdet)`` of each square matrix (sign 0 and logabsdet -inf where it
    is singular). The gradient needs the inverse, so it raises LinAlgError for a singular matrix."""
    return return_types.slogdet(*Slogdet.apply(_square(A, "linalg.slogdet")))


class Det(Function):
    """``det A``; gradient ``g adj(A)^T``: ``g det(A) A^-T`` where A is invertible, else the adjugate from the
    SVD, ``det(U) det(V) V diag(prod_{j != i} s_j) U^T`` (so a singular matrix has its gradient, as PyTorch's)."""

    def forward(self, a):
        self.save_inputs(0)
        self.save_outputs(0)
        return self.backend.asarray(self.backend.linalg("det", a)).astype(a.dtype, copy=False)

    def backward(self, g):
        (a,), (y,) = self.saved_inputs, self.saved_outputs
        try:
            return (g * y).unsqueeze(-1).unsqueeze(-1) * inv(a).mT
        except LinAlgError:
            return g.unsqueeze(-1).unsqueeze(-1) * _adjugate(a).mT


def _adjugate(a):
    u, s, vh = svd(a, full_matrices=False)
    n = s.shape[-1]
    off = s.new_ones(n).diag_embed().to(dtypes.bool_)
    others = where(off, 1, s.unsqueeze(-2).expand(s.shape[:-1] + (n, n))).prod(-1)
    sign = det(u) * det(vh)
    return sign.unsqueeze(-1).unsqueeze(-1) * (vh.mT * others.unsqueeze(-2)) @ u.mT


def det(A):
    """``torch.linalg.det``: the determinant of each square matrix."""
    return Det.apply(_square(A, "linalg.det"))


def logdet(A):
    """``torch.logdet``: ``log(det A)``: NaN where the determinant is negative, -inf where it is 0."""
    sign, logabsdet = slogdet(A)
    return where(sign < 0, float("nan"), logabsdet)


def _as_matrix_rhs(A, B):
    """torch's rule: B is a batch of vectors when it is 1-d or has A's batch shape with one dim less."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


class Solve(Function):
    """``X = A^-1 B`` (B a batch of matrices; batch dims broadcast); gradients ``gB = A^-T g``,
    ``gA = -gB X^T``."""

    def forward(self, a, b):
        self.save_inputs(0)
        self.save_outputs(0)
        self.shapes = (a.shape, b.shape)
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        # numpy's solve broadcasts batch dims only with the matrices' own in place
        a = self.backend.broadcast_to(a, batch + a.shape[-2:])
        b = self.backend.broadcast_to(b, batch + b.shape[-2:])
        return _lapack(self, "linalg.solve", "solve", a, b)

    def backward(self, g):
        (a,), (x,) = self.saved_inputs, self.saved_outputs
        gb = solve(a.mT, g)
        ga = -(gb @ x.mT) if self.needs_input_grad[0] else None
        return (None if ga is None else sum_to(ga, self.shapes[0]),
                sum_to(gb, self.shapes[1]) if self.needs_input_grad[1] else None)


def solve(A, B, *, left=True, out=None):
    """``torch.linalg.solve``: ``X`` with ``A X = B`` (``left=False``: ``X A = B``); B a matrix or, by torch's
    rule, a vector; LinAlgError for a singular A."""
    _square(A, "linalg.solve")
    if not isinstance(B, Tensor):
        raise TypeError(f"linalg.solve: B must be a Tensor, got {type(B).__name__}")
    if A.dtype is not B.dtype:
        raise RuntimeError(f"linalg.solve: expected A and B to have the same dtype, but found A of type {A.dtype} "
                           f"and B of type {B.dtype} instead")
    vector = _as_matrix_rhs(A, B)
    if vector and not left:
        raise RuntimeError(f"linalg.solve: vector broadcasting of the left hand side is not supported for left=False "
                           f"(A {tuple(A.shape)}, B {tuple(B.shape)}); the equation is B / A.squeeze(-1) there")
    Bm = B.unsqueeze(-1) if vector else B if left else B.mT
    if Bm.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"linalg.solve: incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({tuple(A.shape)} and {tuple(B.shape)})")
    try:
        broadcast_shapes(A.shape[:-2], Bm.shape[:-2])
    except ValueError:
        raise RuntimeError(f"linalg.solve: the batch dims of A {tuple(A.shape)} and B {tuple(B.shape)} do not "
                           f"broadcast") from None
    X = Solve.apply(A if left else A.mT, Bm)
    result = X.squeeze(-1) if vector else X if left else X.mT
    return result if out is None else inplace.write_out(out, result, "linalg.solve", A, B)


def solve_ex(A, B, *, left=True, check_errors=False):
    """``(result, info)``, as :func:`inv_ex`."""
    try:
        return return_types.solve_ex(solve(A, B, left=left), _info(A, False))
    except LinAlgError:
        if check_errors:
            raise
        shape = broadcast_shapes(A.shape[:-2], B.shape[:-2] if B.ndim > 1 else ()) + tuple(B.shape[-2:] if
                                                                                          B.ndim > 1 else B.shape)
        return return_types.solve_ex(A.new_full(shape, float("nan")), _info(A, True))


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """``torch.linalg.solve_triangular``: ``X`` with ``A X = B`` (``left=False``: ``X A = B``) reading only A's
    upper or lower triangle (its diagonal taken as ones when ``unitriangular``). Solved as a general system of
    that triangle (so the gradient to A is the triangle's, as PyTorch's)."""
    _square(A, "linalg.solve_triangular")
    if B.ndim < 2:
        raise RuntimeError(f"linalg.solve_triangular: B must have at least 2 dimensions, got shape {tuple(B.shape)}")
    T = A.triu() if upper else A.tril()
    if unitriangular:
        eye = T.new_ones(T.shape[-1]).diag_embed()
        T = T - T.diagonal(0, -2, -1).diag_embed() + eye
    return solve(T, B, left=left)


class Cholesky(Function):
    """The lower factor ``L`` of ``A = L L^T``; PyTorch's gradient ``S = L^-T Phi(L^T gL) L^-1``, symmetrised,
    with ``Phi`` the lower triangle with its diagonal halved."""

    def forward(self, a):
        self.save_outputs(0)
        return _lapack(self, "linalg.cholesky", "cholesky", a, why="the input is not positive-definite")

    def backward(self, g):
        (L,) = self.saved_outputs
        phi = (L.mT @ g.tril()).tril()
        phi = phi - phi.diagonal(0, -2, -1).diag_embed() * 0.5
        L_inv = inv(L)
        s = L_inv.mT @ phi @ L_inv
        return (s + s.mT) * 0.5


def cholesky(A, *, upper=False, out=None):
    """``torch.linalg.cholesky``: L (``upper``: ``L^T``) of each symmetric positive-definite matrix, reading its
    lower triangle; LinAlgError when one is not positive-definite."""
    L = Cholesky.apply(_square(A, "linalg.cholesky"))
    result = L.mT if upper else L
    return result if out is None else inplace.write_out(out, result, "linalg.cholesky", A)


def cholesky_ex(A, *, upper=False, check_errors=False):
    """``(L, info)``, as :func:`inv_ex`."""
    try:
        return return_types.cholesky_ex(cholesky(A, upper=upper), _info(A, False))
    except LinAlgError:
        if check_errors:
            raise
        return return_types.cholesky_ex(A.new_full(A.shape, float("nan")), _info(A, True))


class QR(Function):
    """``A = Q R`` (reduced or complete); for ``m >= n`` the gradient of the reduced one is
    ``(gQ + Q copyltu(M)) R^-T`` with ``M = R gR^T - gQ^T Q`` and ``copyltu`` the symmetric matrix of M's lower
    triangle."""

    def __init__(self, mode):
        self.mode = mode

    def forward(self, a):
        self.save_outputs(0, 1)
        q, r = self.backend.linalg("qr", a, mode=self.mode)
        return q.astype(a.dtype, copy=False), r.astype(a.dtype, copy=False)

    def backward(self, gq, gr):
        q, r = self.saved_outputs
        m, n = q.shape[-2], r.shape[-1]
        if m < n or (self.mode == "complete" and m > n):
            raise RuntimeError(f"linalg.qr: the derivative is not implemented when mode='{self.mode}' and the input "
                               f"is {m} by {n} (PyTorch's is defined for mode='reduced' and m >= n, or square "
                               f"matrices)")
        gq = q.new_zeros(q.shape) if gq is None else gq
        gr = r.new_zeros(r.shape) if gr is None else gr
        M = r @ gr.mT - gq.mT @ q
        low = M.tril(-1)
        copyltu = low + low.mT + M.diagonal(0, -2, -1).diag_embed()
        return solve(r, (gq + q @ copyltu).mT).mT


def qr(A, mode="reduced"):
    """``torch.linalg.qr``: ``(Q, R)`` with ``mode`` 'reduced', 'complete' or 'r' (Q empty)."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', "
                           f"or 'complete'")
    if A.ndim < 2:
        raise RuntimeError(f"linalg.qr: A must have at least 2 dimensions, got shape {tuple(A.shape)}")
    _float_matrix(A, "linalg.qr")
    q, r = QR.apply(A, mode="complete" if mode == "complete" else "reduced")
    return return_types.qr(q.new_zeros((0,)) if mode == "r" else q, r)


class Eigh(Function):
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices; PyTorch's gradient
    ``V (diag(gL) + skew(V^T gV) / (2 E)) V^T`` with ``E_ij = L_j - L_i`` (off the diagonal), which is
    symmetric."""

    def __init__(self, uplo):
        self.uplo = uplo

    def forward(self, a):
        self.save_outputs(0, 1)
        w, v = self.backend.linalg("eigh", a, UPLO=self.uplo)
        return w.astype(a.dtype, copy=False), v.astype(a.dtype, copy=False)

    def backward(self, gw, gv):
        w, v = self.saved_outputs
        inner = w.new_zeros(v.shape)
        if gv is not None:
            E = w.unsqueeze(-2) - w.unsqueeze(-1)
            off = ~v.new_ones(v.shape[-1]).diag_embed().to(dtypes.bool_)
            vhgv = v.mT @ gv
            inner = where(off, (vhgv - vhgv.mT) * 0.5 / where(off, E, 1), 0)
        if gw is not None:
            inner = inner + gw.diag_embed()
        return v @ inner @ v.mT


def eigh(A, UPLO="L"):
    """``torch.linalg.eigh``: ``(eigenvalues, eigenvectors)`` of each symmetric matrix, from its ``UPLO``
    triangle; the eigenvalues ascending."""
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return return_types.eigh(*Eigh.apply(_square(A, "linalg.eigh"), uplo=UPLO))


def eigvalsh(A, UPLO="L"):
    """The eigenvalues of :func:`eigh` (their gradient is ``V diag(gL) V^T``)."""
    return eigh(A, UPLO).eigenvalues


class SVD(Function):
    """``A = U diag(S) Vh`` (reduced); PyTorch's gradient (``svd_backward``):
    ``U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gS)] Vh`` plus the parts of gU (gV) outside U's (V's) span,
    ``E_ij = S_j^2 - S_i^2``. Singular values must be distinct (and nonzero where gU or gVh is used)."""

    def forward(self, a):
        self.save_outputs(0, 1, 2)
        u, s, vh = self.backend.svd(a)
        return u, s.astype(a.dtype, copy=False), vh

    def backward(self, gu, gs, gvh):
        u, s, vh = self.saved_outputs
        if gu is None and gvh is None:
            return (u * gs.unsqueeze(-2)) @ vh
        m, n, k = u.shape[-2], vh.shape[-1], s.shape[-1]
        v = vh.mT
        gu = u.new_zeros(u.shape) if gu is None else gu
        gv = v.new_zeros(v.shape) if gvh is None else gvh.mT
        s2 = s * s
        off = ~s.new_ones(k).diag_embed().to(dtypes.bool_)
        E = where(off, s2.unsqueeze(-2) - s2.unsqueeze(-1), 1)
        uhgu, vhgv = u.mT @ gu, v.mT @ gv
        uhgu, vhgv = uhgu - uhgu.mT, vhgv - vhgv.mT
        core = (uhgu * s.unsqueeze(-2) + s.unsqueeze(-1) * vhgv) / E
        if gs is not None:
            core = core + gs.diag_embed()
        if m > k:
            gus = gu / s.unsqueeze(-2)
            ga = (u @ core + gus - u @ (u.mT @ gus)) @ vh
        elif n > k:
            gvs = gv / s.unsqueeze(-2)
            ga = u @ (core @ vh + (gvs - v @ (v.mT @ gvs)).mT)
        else:
            ga = u @ core @ vh
        return ga


def svd(A, full_matrices=True, *, driver=None):
    """``torch.linalg.svd``: ``(U, S, Vh)``, S descending. ``full_matrices=True`` (torch's default) completes U
    or Vh to square orthogonal matrices, whose extra columns' gradients are ignored (as PyTorch documents);
    ``driver`` (a cuSOLVER choice) is accepted and ignored."""
    if A.ndim < 2:
        raise RuntimeError(f"linalg.svd: A must have at least 2 dimensions, got shape {tuple(A.shape)}")
    _float_matrix(A, "linalg.svd")
    u, s, vh = SVD.apply(A)
    m, n = A.shape[-2], A.shape[-1]
    if not full_matrices or m == n:
        return return_types.svd(u, s, vh)
    with no_grad():
        full_u, _, full_vh = (t for t in _full_svd(A.detach()))
    if m > n:
        u = cat([u, full_u[..., n:]], -1)
    else:
        vh = cat([vh, full_vh[..., m:, :]], -2)
    return return_types.svd(u, s, vh)


def _full_svd(A):
    b = A._backend
    return [A._like(x) for x in b.linalg("svd", A._data, full_matrices=True)]


def torch_svd(input, some=True, compute_uv=True):
    """``torch.svd`` (deprecated there): ``(U, S, V)`` with V, not Vh; ``some=False`` gives the full U and V;
    ``compute_uv=False`` gives zero U and V."""
    U, S, Vh = svd(input, full_matrices=not some)
    if not compute_uv:
        m, n = input.shape[-2], input.shape[-1]
        return return_types.torch_svd(input.new_zeros(input.shape[:-2] + (m, m if not some else min(m, n))), S,
                                      input.new_zeros(input.shape[:-2] + (n, n if not some else min(m, n))))
    return return_types.torch_svd(U, S, Vh.mT)


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """``torch.linalg.pinv``: the pseudo-inverse through the SVD, singular values at most
    ``max(atol, rtol * S_max)`` dropped (rtol's default ``eps * max(m, n)`` when neither is given)."""
    if A.ndim < 2:
        raise RuntimeError(f"linalg.pinv: A must have at least 2 dimensions, got shape {tuple(A.shape)}")
    _float_matrix(A, "linalg.pinv")
    U, S, Vh = svd(A, full_matrices=False)
    cutoff = _rank_cutoff(A, S, atol, rtol)
    keep = S > cutoff
    s_inv = where(keep, 1 / where(keep, S, 1), 0)
    return (Vh.mT * s_inv.unsqueeze(-2)) @ U.mT


def _rank_cutoff(A, S, atol, rtol):
    if rtol is None:
        rtol = 0.0 if atol is not None and (not isinstance(atol, (int, float)) or atol > 0) else \
            dtypes.finfo(A.dtype).eps * max(A.shape[-2], A.shape[-1])
    s_max = S.detach().amax(-1, keepdim=True) if S.shape[-1] else S.new_zeros(S.shape[:-1] + (1,))
    cutoff = s_max * rtol
    if atol is not None:
        cutoff = maximum(cutoff, atol if isinstance(atol, Tensor) else cutoff.new_full((), float(atol)))
    return cutoff


def pinverse(input, rcond=1e-15):
    """``torch.pinverse``: :func:`pinv` with ``rtol=rcond``."""
    return pinv(input, rtol=rcond)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """``torch.linalg.matrix_rank``: how many singular values exceed the cutoff of :func:`pinv` (int64)."""
    _float_matrix(A, "linalg.matrix_rank")
    S = svdvals(A.detach())
    return (S > _rank_cutoff(A, S, atol, rtol)).sum(-1)


def matrix_power(A, n):
    """``torch.linalg.matrix_power``: ``A^n`` by repeated squaring (``n < 0``: of the inverse; ``n = 0``: I)."""
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, got shape {tuple(A.shape)}")
    if n < 0:
        A, n = inv(A), -n
    result = None
    while n:
        if n & 1:
            result = A if result is None else result @ A
        n >>= 1
        if n:
            A = A @ A
    return result if result is not None else A.new_ones(A.shape[-1]).diag_embed().expand(A.shape).clone()


def matrix_exp(A):
    """``torch.linalg.matrix_exp``: scaling and squaring of an order-18 Taylor series, in Lumen ops (so its
    gradient is the series' own)."""
    _square(A, "linalg.matrix_exp")
    norm1 = float(A.detach().abs().sum(-2).amax()) if A.numel() else 0.0
    squarings = max(0, math.ceil(math.log2(norm1))) + 1 if norm1 > 0.5 else 0
    X = A / (2 ** squarings)
    eye = A.new_ones(A.shape[-1]).diag_embed().expand(A.shape)
    term, total = eye, eye
    for k in range(1, 19):
        term = term @ X / k
        total = total + term
    for _ in range(squarings):
        total = total @ total
    return total


def multi_dot(tensors):
    """``torch.linalg.multi_dot``: the product of a chain of matrices (first and last may be vectors), multiplied
    in the order that costs the fewest scalar products."""
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    first, last = tensors[0].ndim == 1, tensors[-1].ndim == 1
    mats = [tensors[0].unsqueeze(0) if first else tensors[0], *tensors[1:-1],
            tensors[-1].unsqueeze(-1) if last else tensors[-1]]
    for i, t in enumerate(mats):
        if t.ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {t.ndim}D (shape {tuple(t.shape)})")
    dims = [mats[0].shape[0]] + [t.shape[1] for t in mats]
    out = _chain(mats, _chain_order(dims), 0, len(mats) - 1)
    if first:
        out = out.squeeze(0)
    return out.squeeze(-1) if last else out


def _chain_order(dims):
    """The matrix-chain split table (classic dynamic programme)."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _chain(mats, split, i, j):
    if i == j:
        return mats[i]
    k = split[i][j]
    return matmul(_chain(mats, split, i, k), _chain(mats, split, k + 1, j))


def chain_matmul(*matrices):
    """``torch.chain_matmul`` (deprecated there for multi_dot): the product of 2-d matrices."""
    warnings.warn("torch.chain_matmul is deprecated and will be removed in a future PyTorch release. Use "
                  "torch.linalg.multi_dot instead, which accepts a list of two or more tensors rather than multiple "
                  "parameters.", UserWarning, stacklevel=2)
    if len(matrices) == 1:
        return matrices[0].clone()
    return multi_dot(list(matrices))


def vecdot(x, y, *, dim=-1):
    """``torch.linalg.vecdot``: the dot product along ``dim``, broadcast."""
    return (x * y).sum(dim)


def linalg_diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """``torch.linalg.diagonal``: ``torch.diagonal`` with the last two dims as default."""
    return A.diagonal(offset, dim1, dim2)


def vander(x, N=None):
    """``torch.linalg.vander``: columns ``x^0, x^1, ..., x^(N-1)`` (increasing powers, as torch.linalg)."""
    n = x.shape[-1] if N is None else N
    if n < 1:
        raise RuntimeError(f"linalg.vander: N must be greater than 1, got {n}")
    powers = [x.new_ones(x.shape)] + [x] * (n - 1)
    cols = [powers[0]]
    for p in powers[1:]:
        cols.append(cols[-1] * p)
    return stack(cols, -1)


def cross(input, other, *, dim=-1):
    """``torch.linalg.cross``: the cross product of 3-vectors along ``dim``, broadcast."""
    if input.ndim != other.ndim:
        raise RuntimeError(f"linalg.cross: inputs must have the same number of dimensions, got shapes "
                           f"{tuple(input.shape)} and {tuple(other.shape)}")
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3, got {tuple(input.shape)} and "
                           f"{tuple(other.shape)}")
    a = [input.select(dim, i) for i in range(3)]
    b = [other.select(dim, i) for i in range(3)]
    return stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]],
                 dim if dim >= 0 else dim + max(input.ndim, other.ndim))


def torch_cross(input, other, dim=None):
    """``torch.cross``: as linalg.cross, ``dim`` defaulting to the first dim of length 3 (torch's deprecated
    default, with its warning)."""
    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the dim "
                      "explicitly or simply use torch.linalg.cross.\nThe default value of dim will change to agree "
                      "with that of linalg.cross in a future release.", UserWarning, stacklevel=2)
        dim = next((i for i, s in enumerate(broadcast_shapes(input.shape, other.shape)) if s == 3), -1)
    return cross(input, other, dim=dim)


def lstsq(A, B, rcond=None, *, driver=None):
    """``torch.linalg.lstsq``: the least-squares solution of ``A X = B`` through :func:`pinv` (differentiable);
    ``residuals``, ``rank`` and ``singular_values`` as torch's default CPU driver ('gelsy') gives them: the rank,
    with empty residuals and singular values."""
    if B.ndim == A.ndim - 1:
        raise RuntimeError(f"linalg.lstsq: B must have at least {A.ndim} dimensions (a batch of matrices), got "
                           f"shape {tuple(B.shape)}")
    X = pinv(A, rtol=rcond) @ B
    empty = A.new_zeros((0,))
    return return_types.lstsq(X, empty, matrix_rank(A, rtol=rcond), empty)


def _deprecated(old, new):
    warnings.warn(f"torch.{old} is deprecated in favor of torch.linalg.{new} and will be removed in a future "
                  f"PyTorch release.", UserWarning, stacklevel=3)


def torch_cholesky(input, upper=False):
    """``torch.cholesky`` (deprecated there for linalg.cholesky, with its warning)."""
    _deprecated("cholesky", "cholesky")
    return cholesky(input, upper=upper)


def torch_qr(input, some=True):
    """``torch.qr`` (deprecated there for linalg.qr, with its warning): ``some=False`` is mode 'complete'."""
    _deprecated("qr", "qr")
    return qr(input, "reduced" if some else "complete")


# ---- more products (compositions of matmul and the shape ops) ---------------------------------------------
def tensordot(a, b, dims=2, out=None):
    """``torch.tensordot``: contract the last ``dims`` dims of ``a`` with the first of ``b``, or the listed
    pairs ``dims=([a dims], [b dims])``."""
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(da) != len(db):
        raise RuntimeError(f"both dimension lists should have same length, got {da} and {db}")
    da, db = [d % a.ndim for d in da], [d % b.ndim for d in db]
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[i]} in dim {i} and "
                               f"second has size {b.shape[j]} in dim {j}")
    free_a = [d for d in range(a.ndim) if d not in da]
    free_b = [d for d in range(b.ndim) if d not in db]
    k = math.prod(a.shape[d] for d in da)
    left = a.permute(*free_a, *da).reshape(math.prod(a.shape[d] for d in free_a), k)
    right = b.permute(*db, *free_b).reshape(k, math.prod(b.shape[d] for d in free_b))
    result = (left @ right).reshape(tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b))
    return result if out is None else inplace.write_out(out, result, "tensordot", a, b)


def inner(input, other):
    """``torch.inner``: the sum of products over the last dims (a number times a tensor when either is 0-d)."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got shapes "
                           f"{tuple(input.shape)} and {tuple(other.shape)}")
    return tensordot(input, other, ([-1], [-1]))


def vdot(input, other):
    """``torch.vdot``: the dot product of two 1-d tensors (Lumen's are real, so no conjugate)."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    return dot(input, other)


def kron(input, other):
    """``torch.kron``: the Kronecker product (dims paired from the right; the shorter padded with ones)."""
    n = max(input.ndim, other.ndim)
    a = input.reshape((1,) * (n - input.ndim) + tuple(input.shape))
    b = other.reshape((1,) * (n - other.ndim) + tuple(other.shape))
    spread_a = [s for d in a.shape for s in (d, 1)]
    spread_b = [s for d in b.shape for s in (1, d)]
    return (a.reshape(spread_a) * b.reshape(spread_b)).reshape(tuple(x * y for x, y in zip(a.shape, b.shape)))


def renorm(input, p, dim, maxnorm):
    """``torch.renorm``: each slice along ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled down to it (by
    ``maxnorm / (norm + 1e-7)``, as torch), differentiable through the norm."""
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"renorm: expected a floating point tensor, got {input.dtype}")
    if p <= 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported, got p={p}")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    d = dim % input.ndim
    others = tuple(i for i in range(input.ndim) if i != d)
    norms = vector_norm(input, p, others, keepdim=True)
    return input * where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)


def _from_factor(L, upper, op):
    _square(L, op, "the Cholesky factor")
    return L.mT @ L if upper else L @ L.mT


def cholesky_solve(B, L, upper=False):
    """``torch.cholesky_solve``: ``X`` with ``A X = B`` for ``A = L L^T`` (``upper``: ``U^T U``) given its factor,
    differentiable in both."""
    return solve(_from_factor(L, upper, "cholesky_solve"), B)


def cholesky_inverse(L, upper=False):
    """``torch.cholesky_inverse``: ``A^-1`` for ``A = L L^T`` (``upper``: ``U^T U``) given its factor."""
    return inv(_from_factor(L, upper, "cholesky_inverse"))
