"""Re-exported from :mod:`lumen.ops.conv`, where the op lives (until ``lumen.nn.functional`` imports it there)."""
from lumen.ops.conv import conv2d, conv_transpose2d, bilinear_upsample2d  # noqa: F401
