"""``cupyx.scipy`` of the double."""
from . import special  # noqa: F401
