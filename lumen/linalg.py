"""``lumen.linalg``: the ``torch.linalg`` names Lumen implements: norms, products, inverses, determinants,
solves and decompositions (Cholesky, QR, symmetric eigen, SVD), each differentiable with PyTorch's gradient.

Not implemented: the general (non-symmetric) eigendecomposition ``eig``/``eigvals`` (complex results), LU
(``lu``, ``lu_factor``, ``lu_solve``, ``ldl_*``), ``householder_product``, ``tensorinv``/``tensorsolve``,
``cond`` and the ``*_ex`` error codes beyond 0/1."""
from __future__ import annotations

from .ops.arith import matmul
from .ops.linalg import (LinAlgError, cholesky, cholesky_ex, cross, det, eigh, eigvalsh, inv, inv_ex,
                         linalg_diagonal as diagonal, lstsq, matrix_exp, matrix_norm, matrix_power, matrix_rank,
                         multi_dot, norm, pinv, qr, slogdet, solve, solve_ex, solve_triangular, svd, svdvals,
                         vander, vecdot, vector_norm)

__all__ = ["LinAlgError", "cholesky", "cholesky_ex", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "inv_ex",
           "lstsq", "matmul", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv",
           "qr", "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals", "vander", "vecdot",
           "vector_norm"]
