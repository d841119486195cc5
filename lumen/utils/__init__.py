"""``torch.utils``'s place: ``lumen.utils.data`` is the module ``lumen.data`` itself (one module
object under both names), so ``from torch.utils.data import DataLoader`` ports by renaming."""
import sys

from lumen import data

sys.modules[__name__ + ".data"] = data

__all__ = ["data", "summary"]


def __getattr__(name):
    # lumen.utils.summary(model, input_size) is the function (as torchinfo's summary); it loads on first use,
    # so that `python -m lumen.utils.summary` finds its module not yet imported
    if name == "summary":
        from lumen.utils.summary import summary
        globals()["summary"] = summary  # the import bound the submodule here: the function takes its place
        return summary
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
