"""Tensor conveniences as PyTorch's: sizes and strides, new_*, type_as/view_as/reshape_as, __format__,
__array__, item/tolist for every dtype, __len__/__iter__/__contains__."""
import numpy as np
import pytest

import lumen

torch = pytest.importorskip("torch")

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def both(data, dtype):
    return lumen.tensor(data, dtype=getattr(lumen, dtype)), torch.tensor(data, dtype=getattr(torch, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_item_tolist_element_size_for_every_dtype(dtype):
    data = [[1, 0, 3], [2, 1, 0]]
    lt, tt = both(data, dtype)
    assert lt.element_size() == tt.element_size() == lt.itemsize == tt.itemsize
    assert lt.nbytes == tt.nbytes
    assert lt.tolist() == tt.tolist() and type(lt.tolist()[0][0]) is type(tt.tolist()[0][0])
    li, ti = lt[0, 0].item(), tt[0, 0].item()
    assert li == ti and type(li) is type(ti)
    assert lt[1, 2].tolist() == tt[1, 2].tolist()
    np.testing.assert_array_equal(np.asarray(lt), np.asarray(tt))
    assert np.asarray(lt).dtype == np.asarray(tt).dtype


def test_sizes_dims_and_strides():
    lt, tt = lumen.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert lt.nelement() == tt.nelement() == 24
    assert lt.ndimension() == lt.dim() == tt.ndimension()
    for d in (0, 2, -1, -3):
        assert lt.size(d) == tt.size(d)
    for bad in (3, -4):
        with pytest.raises(IndexError, match="out of range"):
            lt.size(bad)
    assert lumen.tensor(2.0).size() == tuple(torch.tensor(2.0).size())
    for d in (0, -1):
        with pytest.raises(IndexError, match="no dimensions"):
            lumen.tensor(2.0).size(d)
    assert lumen.tensor(2.0).stride() == torch.tensor(2.0).stride()
    views = [lambda t: t, lambda t: t.transpose(0, 2), lambda t: t[:, ::2], lambda t: t[:, :1].expand(2, 5, 4)]
    for view in views:
        assert view(lt).stride() == view(tt).stride()
    assert lt.stride(1) == tt.stride(1)


def test_new_methods_default_to_self_dtype_and_device():
    ref = lumen.ones(2, dtype=lumen.float64)
    tref = torch.ones(2, dtype=torch.float64)
    for name, args in (("new_zeros", (2, 3)), ("new_ones", ((2, 3),)), ("new_empty", (4,)),
                       ("new_full", ((2,), 7.5)), ("new_tensor", ([1, 2],))):
        out, tout = getattr(ref, name)(*args), getattr(tref, name)(*args)
        assert out.dtype is lumen.float64 and out.device == ref.device and tuple(out.shape) == tuple(tout.shape)
        if name != "new_empty":
            np.testing.assert_array_equal(out.numpy(), tout.numpy())
        typed = getattr(ref, name)(*args, dtype=lumen.int32)
        assert typed.dtype is lumen.int32
        assert getattr(ref, name)(*args, requires_grad=True).requires_grad
        assert getattr(ref, name)(*args, device="cpu").device == ref.device
    assert torch.tensor([1, 2]).new_tensor([1.5]).dtype is torch.int64  # self's dtype even for float data
    assert lumen.tensor([1, 2]).new_tensor([1.5]).dtype is lumen.int64


def test_type_as_view_as_reshape_as():
    a, b = lumen.tensor([1, 2, 3, 4]), lumen.zeros(2, 2, dtype=lumen.float64)
    assert a.type_as(b).dtype is lumen.float64 and a.type_as(b).tolist() == [1.0, 2.0, 3.0, 4.0]
    assert a.view_as(b).shape == (2, 2) and a.reshape_as(b).shape == (2, 2)
    assert a.expand_as(lumen.zeros(3, 4)).shape == (3, 4)


def test_format_on_zero_dim_tensors_as_torch():
    for value in (1.23456, 7, True):
        lt, tt = lumen.tensor(value), torch.tensor(value)
        for spec in ("", ">8", "^5") + ((".3f", "e") if isinstance(value, float) else ()):
            assert format(lt, spec) == format(tt, spec)
    loss = lumen.tensor(0.5, requires_grad=True) * 2
    assert f"{loss:.3f}" == "1.000"
    with pytest.raises(TypeError, match="unsupported format string"):
        f"{lumen.ones(2):.3f}"
    assert f"{lumen.ones(2)}" == str(lumen.ones(2))


def test_array_protocol_as_torch():
    t = lumen.tensor([1.5, 2.5])
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.tolist() == [1.5, 2.5]
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(lumen.ones(2, requires_grad=True))


@pytest.mark.cuda
def test_array_protocol_refuses_a_cuda_tensor():
    pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")
    with pytest.raises(TypeError, match="cuda"):
        np.asarray(lumen.ones(2, device="cuda"))


def test_len_iter_contains_as_torch():
    lt, tt = lumen.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert len(lt) == len(tt) == 3
    assert [row.tolist() for row in lt] == [row.tolist() for row in tt]
    with pytest.raises(TypeError, match="0-d"):
        len(lumen.tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        iter(lumen.tensor(1.0))
    for element in (4.0, 4, 7, lumen.tensor(6.0), lumen.tensor([1.0, 2.0]), lumen.tensor([9.0, 2.0])):
        telement = torch.tensor(element.tolist()) if isinstance(element, lumen.Tensor) else element
        assert (element in lt) == (telement in tt)
    with pytest.raises(RuntimeError, match="__contains__"):
        "a" in lt
    w = lumen.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    sum(row[0] * row[1] for row in w).backward()
    assert w.grad.tolist() == [[2.0, 1.0], [4.0, 3.0]]
