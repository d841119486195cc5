"""``torch.autograd.graph``'s base class of graph nodes: every ``grad_fn`` is a :class:`Node`.

Of that module only ``Node`` is here; its saved-tensor hooks (``saved_tensors_hooks``,
``save_on_cpu``), ``GradientEdge`` and ``register_multi_grad_hook`` are not (Lumen's saved tensors are
the tensors themselves, or arrays re-wrapped on demand, with no pack/unpack step to hook into).
"""
from __future__ import annotations

from .function import Node

__all__ = ["Node"]
