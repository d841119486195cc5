"""Neural-network layers, parameters and initialisers (``torch.nn``'s names)."""
from lumen.nn.parameter import Parameter
from lumen.nn.module import Module
from lumen.nn import functional, init
from lumen.nn import utils
from lumen.nn import parallel
from lumen.nn.modules import *  # noqa: F401,F403
from lumen.nn.modules import __all__ as _modules_all

__all__ = ["Module", "Parameter", "functional", "init", "utils", *_modules_all]
