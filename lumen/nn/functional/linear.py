"""Re-exported from :mod:`lumen.ops.linear`, where the op lives (until ``lumen.nn.functional`` imports it there)."""
from lumen.ops.linear import linear  # noqa: F401
