"""Re-exported from :mod:`lumen.ops.dropout`, where the op lives (until ``lumen.nn.functional`` imports it there)."""
from lumen.ops.dropout import dropout  # noqa: F401
