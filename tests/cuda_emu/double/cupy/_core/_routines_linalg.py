"""``cupy._core._routines_linalg`` of the double: the compute type is recorded, not emulated (matmul is
numpy's, so TF32 numerics never appear)."""
import numpy

COMPUTE_TYPE_DEFAULT, COMPUTE_TYPE_PEDANTIC, COMPUTE_TYPE_FP16, COMPUTE_TYPE_FP32, COMPUTE_TYPE_TF32 = range(5)

_compute_types = {}


def set_compute_type(dtype, compute_type):
    if compute_type not in range(5):
        raise ValueError(f"unknown compute type {compute_type!r}")
    _compute_types[numpy.dtype(dtype).char] = compute_type


def get_compute_type(dtype):
    return _compute_types.get(numpy.dtype(dtype).char, COMPUTE_TYPE_DEFAULT)
