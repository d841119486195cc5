"""Re-exported from :mod:`lumen.ops.loss`, where the op lives (until ``lumen.nn.functional`` imports it there)."""
from lumen.ops.loss import cross_entropy, nll_loss  # noqa: F401
