"""finfo/iinfo, promote_types, can_cast and result_type against torch, every dtype pair."""
import itertools

import pytest

import lumen

torch = pytest.importorskip("torch")

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo(name):
    got, want = lumen.finfo(getattr(lumen, name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(got, attr) == getattr(want, attr), attr
    assert got.dtype == want.dtype == name
    assert repr(got) == repr(want)


def test_finfo_default_and_errors():
    assert lumen.finfo().eps == torch.finfo().eps
    lumen.set_default_dtype(lumen.float64)
    try:
        assert lumen.finfo().bits == 64
    finally:
        lumen.set_default_dtype(lumen.float32)
    with pytest.raises(TypeError, match="iinfo"):
        lumen.finfo(lumen.int32)
    with pytest.raises(TypeError):
        torch.finfo(torch.int32)
    with pytest.raises(TypeError, match="finfo"):
        lumen.iinfo(lumen.float32)
    with pytest.raises(TypeError):
        lumen.iinfo(lumen.bool)


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo(name):
    got, want = lumen.iinfo(getattr(lumen, name)), torch.iinfo(getattr(torch, name))
    assert (got.bits, got.min, got.max, got.dtype) == (want.bits, want.min, want.max, want.dtype)
    assert repr(got) == repr(want)


def test_promote_types_and_can_cast_every_pair():
    for a, b in itertools.product(DTYPES, repeat=2):
        la, lb, ta, tb = getattr(lumen, a), getattr(lumen, b), getattr(torch, a), getattr(torch, b)
        assert lumen.promote_types(la, lb).name == str(torch.promote_types(ta, tb)).split(".")[1], (a, b)
        assert lumen.can_cast(la, lb) == torch.can_cast(ta, tb), (a, b)


@pytest.mark.parametrize("other", [1, 2.5, True, "tensor", "0-d float", "0-d int"])
@pytest.mark.parametrize("name", DTYPES)
def test_result_type(name, other):
    lt, tt = lumen.ones(2).to(getattr(lumen, name)), torch.ones(2).to(getattr(torch, name))
    make = {"tensor": (lambda m: m.ones(2, dtype=m.float64)), "0-d float": (lambda m: m.tensor(1.5, dtype=m.float64)),
            "0-d int": (lambda m: m.tensor(3, dtype=m.int64))}
    lo, to = (make[other](lumen), make[other](torch)) if other in make else (other, other)
    assert lumen.result_type(lt, lo).name == str(torch.result_type(tt, to)).split(".")[1]
    assert lumen.result_type(lo, lt).name == str(torch.result_type(to, tt)).split(".")[1]
