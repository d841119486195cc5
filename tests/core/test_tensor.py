"""Tensor basics: metadata, conversions, repr, numpy/DLPack interop, in-place ops."""
import numpy as np
import pytest

import lumen


def test_metadata():
    t = lumen.zeros(2, 3)
    assert t.shape == (2, 3) and t.size() == (2, 3) and t.size(1) == 3 and t.ndim == 2 and t.dim() == 2
    assert t.numel() == 6 and t.dtype is lumen.float32 and t.dtype.np == np.float32
    assert t.device == lumen.device("cpu") and t.device.type == "cpu" and t.device == "cpu"
    assert t.is_leaf and not t.requires_grad and t.grad is None and t.grad_fn is None
    assert t.element_size() == 4 and t.is_contiguous() and not t.t().is_contiguous()
    assert t.backend.name == "cpu" and isinstance(t._data, np.ndarray)
    assert len(t) == 2 and [r.shape for r in t] == [(3,), (3,)]


def test_item_tolist_numpy_array():
    t = lumen.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t[0, 0].item() == 1.5 and isinstance(t[0, 0].item(), float)
    assert lumen.tensor([7]).item() == 7 and isinstance(lumen.tensor([7]).item(), int)
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert lumen.tensor(True).tolist() is True
    a = t.numpy()
    assert a.dtype == np.float32 and a.shape == (2, 2)
    a[0, 0] = 9.0  # numpy() shares memory on the CPU, as in PyTorch
    assert t[0, 0].item() == 9.0
    np.testing.assert_array_equal(np.asarray(t), a)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert float(lumen.tensor(2.5)) == 2.5 and int(lumen.tensor(3)) == 3
    assert bool(lumen.tensor([1])) and not bool(lumen.tensor(0.0))
    assert [10, 20, 30][lumen.tensor(1)] == 20


def test_item_and_bool_on_many_elements_refused():
    t = lumen.zeros(3)
    with pytest.raises(RuntimeError, match="3 elements"):
        t.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)
    with pytest.raises(TypeError, match="0-d"):
        len(lumen.tensor(1.0))


def test_numpy_on_requires_grad_refused():
    t = lumen.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        t.numpy()
    assert t.detach().numpy().tolist() == [1.0, 1.0]


def test_repr():
    assert repr(lumen.tensor([1.0, 2.5])) == "tensor([1. , 2.5])"
    assert repr(lumen.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(lumen.tensor([1.0], dtype=lumen.float64)) == "tensor([1.], dtype=lumen.float64)"
    assert repr(lumen.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    x = lumen.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<MulBackward>)"
    assert repr(lumen.zeros(0)) == "tensor([], dtype=lumen.float32)"
    assert repr(lumen.tensor(3.0)) == "tensor(3.)"
    assert repr(lumen.device("cpu")) == "device(type='cpu')"
    assert repr(lumen.device("cuda:1")) == "device(type='cuda', index=1)" and str(lumen.device("cuda")) == "cuda:0"
    big = repr(lumen.zeros(1000))
    assert "..." in big and len(big) < 400


def test_from_numpy_shares_memory():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = lumen.from_numpy(a)
    assert t.dtype is lumen.float64
    a[0, 0] = 42
    assert t[0, 0].item() == 42
    t[1, 1] = -1.0
    assert a[1, 1] == -1
    with pytest.raises(TypeError, match="numpy.ndarray"):
        lumen.from_numpy([1, 2])
    with pytest.raises(TypeError, match="complex128"):
        lumen.from_numpy(np.zeros(2, np.complex128))


def test_tensor_copies_and_as_tensor_shares():
    a = np.zeros(3, np.float32)
    t = lumen.tensor(a)
    a[0] = 1
    assert t[0].item() == 0
    s = lumen.as_tensor(a)
    a[1] = 2
    assert s[1].item() == 2
    assert lumen.as_tensor(t) is t


def test_dlpack_roundtrip_with_numpy():
    t = lumen.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.from_dlpack(t)
    np.testing.assert_array_equal(a, [[1, 2], [3, 4]])
    a[0, 1] = 7.0
    assert t[0, 1].item() == 7.0  # no copy
    src = np.arange(4, dtype=np.int32)
    u = lumen.from_dlpack(src)
    assert u.dtype is lumen.int32 and u.tolist() == [0, 1, 2, 3]
    src[2] = 9
    assert u[2].item() == 9
    back = lumen.from_dlpack(t)
    assert back.tolist() == t.tolist()


def test_data_and_detach():
    x = lumen.ones(2, requires_grad=True)
    d = x.data
    assert not d.requires_grad
    d.mul_(3)  # a write through .data bypasses the graph, as in PyTorch
    assert x.tolist() == [3.0, 3.0] and x.requires_grad
    x.data = lumen.zeros(2)
    assert x.tolist() == [0.0, 0.0]


def test_inplace_ops_without_grad():
    t = lumen.tensor([1.0, 2.0, 3.0])
    v0 = t._version
    t.add_(1).mul_(2).sub_(lumen.tensor([1.0, 1.0, 1.0]), alpha=2).div_(2)
    assert t.tolist() == [1.0, 2.0, 3.0]
    t.clamp_(1.5, 2.5)
    assert t.tolist() == [1.5, 2.0, 2.5]
    t.fill_(4)
    assert t.tolist() == [4.0, 4.0, 4.0]
    t.copy_(lumen.tensor([1, 2, 3]))
    assert t.tolist() == [1.0, 2.0, 3.0] and t.dtype is lumen.float32
    t.zero_()
    assert t.tolist() == [0.0, 0.0, 0.0]
    t += 1
    t *= 3
    assert t.tolist() == [3.0, 3.0, 3.0]
    assert t._version > v0


def test_inplace_result_must_fit_dtype_and_shape():
    t = lumen.tensor([1, 2])
    with pytest.raises(RuntimeError, match="float32.*int64"):
        t.mul_(1.5)
    with pytest.raises(RuntimeError, match=r"\(2, 2\).*\(2,\)"):
        t.add_(lumen.ones(2, 2, dtype=lumen.int64))


def test_inplace_on_expanded_refused():
    e = lumen.ones(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="read-only"):
        e.add_(1)


def test_views_share_storage_and_version():
    t = lumen.zeros(2, 3)
    v = t[0]
    r = t.view(6)
    v.fill_(1)
    assert t.tolist()[0] == [1.0, 1.0, 1.0]
    assert r._version == t._version == v._version == 1
    r[5] = 2
    assert t[1, 2].item() == 2


def test_view_refuses_incompatible_strides():
    t = lumen.zeros(2, 3).t()
    with pytest.raises(RuntimeError, match="view.*reshape"):
        t.view(6)
    assert t.reshape(6).shape == (6,)


def test_to_dtype_and_shortcuts():
    t = lumen.tensor([1.7, -2.2])
    assert t.to(lumen.int64).tolist() == [1, -2]
    assert t.long().dtype is lumen.int64 and t.int().dtype is lumen.int32 and t.double().dtype is lumen.float64
    assert t.half().dtype is lumen.float16 and t.bool().dtype is lumen.bool and t.float() is t
    assert t.to("float64").dtype is lumen.float64 and t.to(np.float16).dtype is lumen.float16
    assert t.to("cpu") is t and t.to(lumen.float32) is t
    assert t.to(lumen.float32, copy=True) is not t
    assert t.to(lumen.zeros(1, dtype=lumen.float64)).dtype is lumen.float64
    assert t.type() == "lumen.FloatTensor"  # torch: "torch.FloatTensor"


def test_comparisons_and_logic():
    a, b = lumen.tensor([1, 2, 3]), lumen.tensor([3, 2, 1])
    assert (a < b).tolist() == [True, False, False] and (a == 2).tolist() == [False, True, False]
    assert ((a > 1) & (b > 1)).tolist() == [False, True, False]
    assert (~(a > 1)).tolist() == [True, False, False]
    assert (a >= b).any().item() and not (a > 5).all().item()
    assert a.argmax().item() == 2 and b.argmin(0).item() == 2
    assert a.allclose(lumen.tensor([1, 2, 3]))


def test_new_tensor_helpers_keep_dtype_and_device():
    t = lumen.zeros(2, dtype=lumen.float64)
    assert t.new_zeros((3,)).dtype is lumen.float64 and t.new_ones(2).tolist() == [1.0, 1.0]
    assert t.new_full((2,), 7).tolist() == [7.0, 7.0] and t.new_tensor([1, 2]).dtype is lumen.float64
    assert t.new_empty((4,)).shape == (4,)


def test_module_level_functions():
    x = lumen.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert lumen.abs(x).tolist() == [[1, 2], [3, 4]] and lumen.sum(x).item() == 6
    assert lumen.max(x).item() == 4 and lumen.is_tensor(x) and not lumen.is_tensor(1)
    assert lumen.transpose(x, 0, 1).tolist() == [[1, 3], [-2, 4]]
    assert lumen.numel(x) == 4 and lumen.clamp(x, min=0).tolist() == [[1, 0], [3, 4]]


def test_parameter_is_a_tensor():
    import lumen.nn
    p = lumen.nn.Parameter(lumen.ones(2))
    assert isinstance(p, lumen.Tensor) and p.requires_grad and p.is_leaf
    (p * 2).sum().backward()
    assert p.grad.tolist() == [2.0, 2.0]


def test_pytorch_habits_carry_over():
    x = lumen.tensor([[1.0, 3.0, 3.0], [0.0, 5.0, 2.0]])
    r = x.max(1)
    assert r.values.tolist() == [3.0, 5.0] and r.indices.tolist() == [1, 1]
    values, indices = x.min(0)
    assert values.tolist() == [0.0, 3.0, 2.0] and indices.tolist() == [1, 0, 1]
    assert lumen.Tensor([1, 2]).dtype is lumen.float32  # torch.Tensor is always the default float
    assert (x > 1).all(1).tolist() == [False, False]
    assert (x > 1).any(0, keepdim=True).tolist() == [[False, True, True]]


def test_piecewise_constant_ops_have_zero_gradients_like_pytorch():
    x = lumen.tensor([1.4, -2.6], requires_grad=True)
    y = x.floor() + x.ceil() + x.sign() + x.round() * x
    assert y.requires_grad
    y.sum().backward()
    assert x.grad.tolist() == [1.0, -3.0]  # only round(x) * x contributes, through x


def test_amax_splits_the_gradient_between_ties_like_pytorch():
    x = lumen.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    x.amax(1).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]
    y = lumen.randn(3, 4, 5, dtype=lumen.float64, requires_grad=True)
    assert lumen.autograd.gradcheck(lambda y: y.amax((0, 2), keepdim=True), (y,))
