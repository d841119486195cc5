"""One flat vector from parameters and back, as ``torch.nn.utils.convert_parameters``."""
from __future__ import annotations

import lumen

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_device(param, device):
    if device is None:
        return param.device
    if param.device != device:
        raise TypeError(f"Found two parameters on different devices, this is currently not supported: "
                        f"{device} and {param.device}")
    return device


def parameters_to_vector(parameters):
    """The parameters flattened and concatenated into one 1-d tensor (a copy, on the graph)."""
    device = None
    flat = []
    for param in parameters:
        device = _check_device(param, device)
        flat.append(param.reshape(-1))
    return lumen.cat(flat)


def vector_to_parameters(vec, parameters) -> None:
    """Set each parameter's data to its slice of the 1-d ``vec`` (as returned by
    :func:`parameters_to_vector`), in parameter order; the parameters then share ``vec``'s memory."""
    if not isinstance(vec, lumen.Tensor):
        raise TypeError(f"expected lumen.Tensor, but got: {type(vec).__name__}")
    device = None
    pointer = 0
    for param in parameters:
        device = _check_device(param, device)
        n = param.numel()
        if pointer + n > vec.numel():
            raise RuntimeError(f"vector_to_parameters: vec of {vec.numel()} elements is too short for the "
                               f"parameters (needed at least {pointer + n})")
        param.data = vec[pointer:pointer + n].view_as(param).data
        pointer += n
