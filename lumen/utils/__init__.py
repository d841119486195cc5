"""``torch.utils``'s place: ``lumen.utils.data`` is the module ``lumen.data`` itself (one module
object under both names), so ``from torch.utils.data import DataLoader`` ports by renaming."""
import sys

from lumen import data

sys.modules[__name__ + ".data"] = data

__all__ = ["data"]
