"""Re-exported from :mod:`lumen.ops.normalization`, where the op lives (until ``lumen.nn.functional`` imports it there)."""
from lumen.ops.normalization import batch_norm, local_response_norm  # noqa: F401
