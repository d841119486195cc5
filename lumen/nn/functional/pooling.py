"""Re-exported from :mod:`lumen.ops.pooling`, where the op lives (until ``lumen.nn.functional`` imports it there)."""
from lumen.ops.pooling import max_pool2d, avg_pool2d, adaptive_avg_pool2d  # noqa: F401
