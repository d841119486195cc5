"""``skip_init``: a module built without its parameters' initial values, as ``torch.nn.utils.skip_init``."""
from __future__ import annotations

import inspect

from lumen.nn.module import Module

__all__ = ["skip_init"]


def skip_init(module_cls, *args, **kwargs):
    """``module_cls(*args, **kwargs)`` with uninitialised parameters and buffers on ``device`` (default
    "cpu"), to be filled by the caller (``load_state_dict``, an init of their own). torch builds it on its
    "meta" device so the initialisation never runs; Lumen has no meta device, so it runs and its values
    are then dropped (``to_empty``): the same module, without torch's saving of the init's time."""
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"skip_init: expected a Module class, got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError(f"skip_init: module {module_cls.__name__} must support a 'device' arg to skip "
                           f"initialization")
    device = kwargs.pop("device", "cpu")
    return module_cls(*args, **kwargs).to_empty(device=device)
