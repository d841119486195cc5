"""``Parameter``: a Tensor that a ``Module`` registers as trainable."""
from __future__ import annotations

import lumen
from lumen.tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf Tensor registered by ``Module.__setattr__`` and returned by ``parameters()``.

    ``Parameter(data, requires_grad=True)``: ``data`` is a Tensor (storage and
    version counter are shared, the graph is not) or anything ``lumen.tensor``
    accepts. Results of ops on a Parameter are plain Tensors.
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = lumen.empty(0)
        elif not isinstance(data, Tensor):
            data = lumen.tensor(data)
        super().__init__(data)  # shares data's storage and version counter, not its graph
        self.requires_grad_(requires_grad)

    def _assign_storage(self, new: Tensor) -> None:
        """Point this Parameter at ``new``'s storage (possibly another device/dtype), keeping its identity.

        Used by ``Module.to()`` so that optimisers holding the Parameter stay valid.
        """
        self.data = new

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = out
        return out
