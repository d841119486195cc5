"""``lumen.linalg``: PyTorch's ``torch.linalg`` names that Lumen implements (norms and matmul).

Decompositions, solves and the SVD-based norms ('nuc', 2, -2) are not implemented."""
from __future__ import annotations

from .ops.arith import matmul
from .ops.linalg import matrix_norm, norm, vector_norm

__all__ = ["matmul", "matrix_norm", "norm", "vector_norm"]
