"""``cupy._core`` of the double (only the private module the host code reaches into)."""
from . import _routines_linalg  # noqa: F401
