"""embedding, embedding_bag, one_hot and bilinear: PyTorch parity (values and gradients), gradchecks, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck
from lumen.ops.embedding import EmbeddingBackward


def _w(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
def test_embedding_matches_torch(padding_idx, scale_grad_by_freq):
    torch = pytest.importorskip("torch")
    w = _w(0, 6, 3)
    idx = np.array([[1, 2, 5, 1], [0, 1, 2, 2]])
    lw, tw = lumen.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = F.embedding(lumen.tensor(idx), lw, padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    ty = torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    g = _w(1, 2, 4, 3)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(lw.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


def test_embedding_gradcheck_and_double_backward():
    idx = lumen.tensor([[0, 1, 1], [3, 1, 0]])
    w = lumen.tensor(_w(2, 4, 2), requires_grad=True)
    fn = lambda w: F.embedding(idx, w * w)  # noqa: E731
    assert gradcheck(fn, (w,)) and gradgradcheck(fn, (w,))


@pytest.mark.parametrize("padding_idx,scale", [(None, True), (1, False), (1, True)])
def test_embedding_backward_of_the_modified_gradient(padding_idx, scale):
    """padding_idx and scale_grad_by_freq change the gradient on purpose (it is no derivative then), so the
    check is on its own backward: the gradient is linear in the incoming g, and that map is differentiated."""
    idx = lumen.tensor([[0, 1, 1], [3, 1, 0]])
    g = lumen.tensor(_w(3, 2, 3, 2), requires_grad=True)
    weight_grad = lambda g: EmbeddingBackward.apply(g, indices=idx._data, num=4, padding_idx=padding_idx,  # noqa: E731
                                                    scale_grad_by_freq=scale)
    assert gradcheck(weight_grad, (g,)) and gradgradcheck(weight_grad, (g,))
    # and it is the gradient autograd delivers
    w = lumen.tensor(_w(2, 4, 2), requires_grad=True)
    (F.embedding(idx, w, padding_idx, scale_grad_by_freq=scale) * g.detach()).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), weight_grad(g).detach().numpy(), rtol=1e-15)


def test_embedding_max_norm_renormalises_picked_rows_in_place():
    torch = pytest.importorskip("torch")
    w = _w(3, 5, 4) * 2
    idx = np.array([0, 2, 2, 4])
    for norm_type in (2.0, 1.0):
        lw, tw = lumen.tensor(w.copy()), torch.tensor(w.copy())
        y = F.embedding(lumen.tensor(idx), lw, max_norm=1.5, norm_type=norm_type)
        ty = torch.nn.functional.embedding(torch.tensor(idx), tw, max_norm=1.5, norm_type=norm_type)
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)
        np.testing.assert_allclose(lw.numpy(), tw.numpy(), rtol=1e-12)  # rows 1 and 3 untouched


def test_embedding_errors():
    w = lumen.ones((5, 3))
    with pytest.raises(IndexError, match=r"embedding: index out of range in self: indices span \[-1, 2\]"):
        F.embedding(lumen.tensor([-1, 2]), w)
    with pytest.raises(IndexError, match=r"embedding: index out of range in self: indices span \[0, 5\]"):
        F.embedding(lumen.tensor([0, 5]), w)
    with pytest.raises(RuntimeError, match="embedding: expected indices of dtype int64 or int32, got lumen.float32"):
        F.embedding(lumen.tensor([1.0]), w)
    with pytest.raises(ValueError, match="embedding: sparse=True .* is not supported"):
        F.embedding(lumen.tensor([1]), w, sparse=True)
    assert F.embedding(lumen.tensor([1, 2], dtype=lumen.int32), w).shape == (2, 3)


def _bag_inputs(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(0, 9))
    idx = rng.integers(0, 6, m)
    cuts = np.sort(rng.integers(0, m + 1, int(rng.integers(1, 4))))
    offsets = np.concatenate([[0], cuts])
    return idx, offsets


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 999), mode=st.sampled_from(["sum", "mean", "max"]), last=st.booleans(),
       padding_idx=st.sampled_from([None, 3]), weighted=st.booleans())
def test_embedding_bag_matches_torch(seed, mode, last, padding_idx, weighted):
    torch = pytest.importorskip("torch")
    idx, offsets = _bag_inputs(seed)
    if last:
        offsets = np.concatenate([offsets, [len(idx)]])
    w = _w(seed, 6, 3)
    psw = _w(seed + 1, len(idx)) if weighted and mode == "sum" else None
    lw, tw = lumen.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    kw = dict(mode=mode, include_last_offset=last, padding_idx=padding_idx)
    y = F.embedding_bag(lumen.tensor(idx), lw, lumen.tensor(offsets),
                        per_sample_weights=None if psw is None else lumen.tensor(psw), **kw)
    ty = torch.nn.functional.embedding_bag(torch.tensor(idx), tw, torch.tensor(offsets),
                                           per_sample_weights=None if psw is None else torch.tensor(psw), **kw)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    g = _w(seed + 2, *ty.shape)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(lw.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_input_and_gradcheck(mode):
    torch = pytest.importorskip("torch")
    idx = np.array([[0, 2, 1], [3, 3, 1]])
    w = _w(5, 4, 2)
    y = F.embedding_bag(lumen.tensor(idx), lumen.tensor(w), mode=mode)
    ty = torch.nn.functional.embedding_bag(torch.tensor(idx), torch.tensor(w), mode=mode)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)
    lw = lumen.tensor(w, requires_grad=True)
    psw = lumen.tensor(_w(6, 2, 3), requires_grad=True)
    assert gradcheck(lambda w: F.embedding_bag(lumen.tensor(idx), w, mode=mode), (lw,))
    assert gradgradcheck(lambda w: F.embedding_bag(lumen.tensor(idx), w * w, mode=mode), (lw,))
    if mode == "sum":
        assert gradcheck(lambda w, p: F.embedding_bag(lumen.tensor(idx), w, mode="sum", per_sample_weights=p),
                         (lw, psw))


def test_embedding_bag_max_ties_send_the_gradient_once_as_torch():
    torch = pytest.importorskip("torch")
    idx, offsets = np.array([1, 1, 2, 0, 0]), np.array([0, 3])
    w = np.array([[1.0, 5.0], [2.0, 2.0], [2.0, 1.0]])
    lw, tw = lumen.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = F.embedding_bag(lumen.tensor(idx), lw, lumen.tensor(offsets), mode="max")
    ty = torch.nn.functional.embedding_bag(torch.tensor(idx), tw, torch.tensor(offsets), mode="max")
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    y.sum().backward(), ty.sum().backward()
    np.testing.assert_array_equal(lw.grad.numpy(), tw.grad.numpy())


def test_embedding_bag_errors():
    w = lumen.ones((5, 3))
    with pytest.raises(RuntimeError, match="embedding_bag: offsets\\[0\\] has to be 0"):
        F.embedding_bag(lumen.tensor([1, 2]), w, lumen.tensor([1]))
    with pytest.raises(ValueError, match="embedding_bag: if input is 2D, then offsets has to be None"):
        F.embedding_bag(lumen.tensor([[1, 2]]), w, lumen.tensor([0]))
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for mode='sum'"):
        F.embedding_bag(lumen.tensor([1, 2]), w, lumen.tensor([0]), per_sample_weights=lumen.ones(2))
    with pytest.raises(ValueError, match="embedding_bag: mode has to be one of sum, mean or max"):
        F.embedding_bag(lumen.tensor([1, 2]), w, lumen.tensor([0]), mode="min")
    with pytest.raises(ValueError, match="embedding_bag: offsets has to be a 1D Tensor when input is 1D, got None"):
        F.embedding_bag(lumen.tensor([1, 2]), w)


def test_one_hot_matches_torch():
    torch = pytest.importorskip("torch")
    t = np.array([[0, 3], [1, 1]])
    for n in (-1, 5):
        y = F.one_hot(lumen.tensor(t), n)
        ty = torch.nn.functional.one_hot(torch.tensor(t), n)
        assert y.dtype is lumen.int64 and y.tolist() == ty.tolist()
    assert F.one_hot(lumen.tensor([], dtype=lumen.int64), 3).shape == (0, 3)
    with pytest.raises(RuntimeError, match=r"one_hot: class values must be smaller than num_classes \(3\), got 5"):
        F.one_hot(lumen.tensor([1, 5]), 3)
    with pytest.raises(RuntimeError, match="one_hot: class values must be non-negative, got -1"):
        F.one_hot(lumen.tensor([1, -1]))
    with pytest.raises(RuntimeError, match="one_hot: is only applicable to index tensors of dtype int64"):
        F.one_hot(lumen.tensor([1.0]))
    with pytest.raises(RuntimeError, match="one_hot: can not infer the total number of classes from an empty"):
        F.one_hot(lumen.tensor([], dtype=lumen.int64))


@settings(max_examples=10, deadline=None)
@given(lead=st.lists(st.integers(1, 3), max_size=2), in1=st.integers(1, 3), in2=st.integers(1, 3),
       out=st.integers(1, 3), bias=st.booleans(), seed=st.integers(0, 99))
def test_bilinear_matches_torch(lead, in1, in2, out, bias, seed):
    torch = pytest.importorskip("torch")
    arrays = [_w(seed, *lead, in1), _w(seed + 1, *lead, in2), _w(seed + 2, out, in1, in2)]
    if bias:
        arrays.append(_w(seed + 3, out))
    ls = [lumen.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = F.bilinear(*ls), torch.nn.functional.bilinear(*ts)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = _w(seed + 4, *ty.shape)
    (y * lumen.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for a, ta in zip(ls, ts):
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_bilinear_gradcheck_and_errors():
    x1, x2 = lumen.tensor(_w(1, 2, 3), requires_grad=True), lumen.tensor(_w(2, 2, 4), requires_grad=True)
    w, b = lumen.tensor(_w(3, 2, 3, 4), requires_grad=True), lumen.tensor(_w(4, 2), requires_grad=True)
    assert gradcheck(F.bilinear, (x1, x2, w, b)) and gradgradcheck(F.bilinear, (x1, x2, w, b))
    assert lumen.bilinear is F.bilinear
    with pytest.raises(RuntimeError, match=r"bilinear: input2 of shape \(2, 3\) does not match weight"):
        F.bilinear(x1, x1, w)
