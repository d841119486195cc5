"""dtype objects, conversions and the promotion rule (without torch: expected tables written out)."""
import pickle

import numpy as np
import pytest

import lumen
from lumen import dtypes


def test_dtype_objects():
    assert repr(lumen.float32) == "lumen.float32" and lumen.float32.np == np.float32
    assert lumen.float is lumen.float32 and lumen.double is lumen.float64 and lumen.long is lumen.int64
    assert lumen.half is lumen.float16 and lumen.int is lumen.int32
    assert lumen.float16.is_floating_point and not lumen.int8.is_floating_point
    assert lumen.float64.itemsize == 8 and lumen.bool.itemsize == 1
    assert pickle.loads(pickle.dumps(lumen.int16)) is lumen.int16


@pytest.mark.parametrize("spec,expected", [
    ("float32", dtypes.float32), ("float", dtypes.float32), ("long", dtypes.int64), (np.uint8, dtypes.uint8),
    (np.dtype("int16"), dtypes.int16), (bool, dtypes.bool_), (int, dtypes.int64), (float, dtypes.float32),
    (dtypes.float16, dtypes.float16),
])
def test_as_dtype(spec, expected):
    assert dtypes.as_dtype(spec) is expected


def test_unknown_numpy_dtype():
    with pytest.raises(TypeError, match="complex64 has no lumen equivalent"):
        dtypes.from_numpy_dtype(np.complex64)


@pytest.mark.parametrize("tensor,zero_dim,scalars,expected", [
    (["int64"], [], [2.5], "float32"),
    (["int32"], [], [3], "int32"),
    (["uint8"], [], [-1], "uint8"),
    (["float16"], [], [2.5], "float16"),
    (["bool"], [], [True], "bool"),
    (["bool"], [], [1], "int64"),
    (["uint8", "int8"], [], [], "int16"),
    (["uint8"], ["int64"], [], "uint8"),
    (["int32"], ["float64"], [], "float64"),
    (["float16"], ["float64"], [], "float16"),
    ([], ["int8"], [1.5], "float32"),
    ([], ["int8", "uint8"], [], "int16"),
    ([], [], [1, 2.0], "float32"),
    (["int8"], ["bool"], [], "int8"),
])
def test_promote(tensor, zero_dim, scalars, expected):
    d = dtypes.promote([dtypes.as_dtype(t) for t in tensor], [dtypes.as_dtype(t) for t in zero_dim], scalars)
    assert d is dtypes.as_dtype(expected)


def test_ops_follow_promotion():
    assert (lumen.tensor([1, 2]) * 2.5).dtype is lumen.float32
    assert (lumen.tensor([1, 2], dtype=lumen.uint8) + lumen.tensor([1], dtype=lumen.int8)).dtype is lumen.int16
    assert (lumen.ones(2, dtype=lumen.float16) * 2.5).dtype is lumen.float16
    assert (lumen.tensor([True]) + lumen.tensor([True])).dtype is lumen.bool
    assert (lumen.tensor([1, 2]) / 2).dtype is lumen.float32
    assert (2.0 * lumen.tensor([1, 2], dtype=lumen.int32)).dtype is lumen.float32
    assert (np.float64(2.0) * lumen.ones(2)).dtype is lumen.float32
    assert (lumen.tensor([250], dtype=lumen.uint8) + 10).tolist() == [4]  # wraps like uint8 arithmetic
    assert lumen.tensor([1, 2]).exp().dtype is lumen.float32
    assert lumen.tensor([1, 2]).sum().dtype is lumen.int64
    assert lumen.tensor([1.0, 2.0]).sum(dtype=lumen.float64).dtype is lumen.float64


def test_float16_ops_stay_float16():
    x = lumen.ones(3, dtype=lumen.float16, requires_grad=True)
    y = (x * 2.5).tanh().sum()
    assert y.dtype is lumen.float16
    y.backward()
    assert x.grad.dtype is lumen.float16
