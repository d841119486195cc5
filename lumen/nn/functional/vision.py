"""Re-exported from :mod:`lumen.ops.resample` and :mod:`lumen.ops.shape`, where the ops live (until
``lumen.nn.functional`` imports them there)."""
from lumen.ops.resample import crop, interpolate  # noqa: F401
from lumen.ops.shape import pad  # noqa: F401
