"""``lumen.linalg``: the ``torch.linalg`` names Lumen implements (norms, singular values, matmul).

Decompositions other than the singular values, inverses and solves are not implemented."""
from __future__ import annotations

from .ops.arith import matmul
from .ops.linalg import matrix_norm, norm, svdvals, vector_norm

__all__ = ["matmul", "matrix_norm", "norm", "svdvals", "vector_norm"]
