"""Graph semantics: accumulation, retain_graph, grad modes, version counters, in-place ops, deep graphs."""
import numpy as np
import pytest

import lumen
from lumen.autograd import gradcheck


def leaf(values, **kw):
    return lumen.tensor(values, dtype=lumen.float64, requires_grad=True, **kw)


def test_grad_accumulates_over_two_backward_calls():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 + 3, 4 + 3])


def test_accumulated_grad_is_not_aliased_to_the_incoming_gradient():
    x = leaf([1.0, 2.0])
    y = x * 1
    g = lumen.tensor([1.0, 1.0], dtype=lumen.float64)
    y.backward(g)
    y2 = x * 1
    y2.backward(g)
    np.testing.assert_allclose(g.numpy(), [1, 1])  # the caller's gradient is never written into
    np.testing.assert_allclose(x.grad.numpy(), [2, 2])


def test_second_backward_without_retain_graph_is_refused():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4, 8])
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_no_grad_enable_grad_set_grad_enabled():
    x = leaf([1.0])
    with lumen.no_grad():
        assert not lumen.is_grad_enabled()
        y = x * 2
        with lumen.enable_grad():
            z = x * 2
    assert lumen.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    with lumen.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert lumen.is_grad_enabled()
    lumen.set_grad_enabled(False)
    try:
        assert not lumen.is_grad_enabled()
    finally:
        lumen.set_grad_enabled(True)


def test_grad_modes_as_decorators():
    x = leaf([1.0])

    @lumen.no_grad()
    def off():
        return x * 2

    @lumen.enable_grad()
    def on():
        return x * 2

    @lumen.set_grad_enabled(False)
    def off2():
        return x * 2

    assert not off().requires_grad and not off2().requires_grad
    with lumen.no_grad():
        assert on().requires_grad
    assert lumen.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with lumen.no_grad():
            raise ValueError
    assert lumen.is_grad_enabled()


def test_detach_shares_storage_and_stops_gradient():
    x = leaf([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf
    d[0] = 10.0
    assert y.detach().numpy()[0] == 10.0
    (y.detach() * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [10, 4])


def test_requires_grad_on_int_tensor_refused():
    with pytest.raises(RuntimeError, match="floating point.*int64"):
        lumen.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        lumen.tensor([1, 2], requires_grad=True)


def test_requires_grad_false_on_non_leaf_refused():
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_version_counter_error_on_modified_saved_input():
    x = leaf([1.0, 2.0])
    y = x * 1
    z = y * y  # saves y
    y.mul_(2)
    with pytest.raises(RuntimeError, match=r"Mul.backward.*modified by an in-place operation"):
        z.sum().backward()


def test_version_counter_error_through_a_view():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * 1
    z = y.exp()  # saves its output
    v = z.detach()[0]  # a view of the saved output's storage
    v.add_(1.0)
    with pytest.raises(RuntimeError, match="Exp.backward.*modified"):
        z.sum().backward()

    y = x * 1
    w = y.tanh()
    w.view(4).detach()[1] = 0.0
    with pytest.raises(RuntimeError, match="Tanh.backward.*modified"):
        w.sum().backward()


def test_copies_from_advanced_indexing_do_not_share_the_version_counter():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * 1
    picked = y[[0, 1], [1, 0]]  # a copy, not a view
    z = picked * picked
    with lumen.no_grad():
        y.mul_(2)
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 4], [6, 0]])


def test_diamond_graph():
    x = leaf([2.0])
    a = x * 3
    b = a.exp()
    c = a * a
    d = b + c
    d.backward()
    # d = exp(3x) + 9x^2 -> 3 exp(3x) + 18 x
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp(6.0) + 36)


def test_long_chain_has_no_recursion_limit():
    x = leaf([0.5])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000], rtol=1e-9)


def test_autograd_grad_leaves_dot_grad_alone():
    x = leaf([1.0, 2.0])
    (g,) = lumen.autograd.grad((x ** 3).sum(), x)
    np.testing.assert_allclose(g.numpy(), [3, 12])
    assert x.grad is None


def test_gradient_penalty_double_backward():
    w = leaf([[0.5, -1.0], [2.0, 0.3]])
    x = leaf([1.0, 2.0])
    out = ((w @ x).tanh()).sum()
    (gx,) = lumen.autograd.grad(out, x, create_graph=True)
    assert gx.requires_grad
    penalty = (gx * gx).sum()
    penalty.backward()

    def penalty_of(wt):
        with lumen.enable_grad():  # gradcheck's finite differences run under no_grad
            xx = lumen.tensor([1.0, 2.0], dtype=lumen.float64, requires_grad=True)
            (g,) = lumen.autograd.grad(((wt @ xx).tanh()).sum(), xx, create_graph=True)
            return (g * g).sum()
    assert gradcheck(penalty_of, (w.detach().clone().requires_grad_(),))
    assert w.grad is not None and x.grad is not None


def test_grad_unused_input():
    x, y = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match="not used"):
        lumen.autograd.grad((x * 2).sum(), [x, y])
    gx, gy = lumen.autograd.grad((x * 2).sum(), [x, y], allow_unused=True)
    assert gy is None and gx.item() == 2


def test_grad_of_non_leaf_input():
    x = leaf([1.0, 2.0])
    h = x * 2
    out = (h * h).sum()
    (gh,) = lumen.autograd.grad(out, h)
    np.testing.assert_allclose(gh.numpy(), [4, 8])


def test_relu_inplace_saves_its_output_like_pytorch():
    x = leaf([0.3, -0.7, 1.1])
    y = x * 2
    assert y.relu_() is y
    y.clamp_(-5.0, 100.0)  # overwrites what relu_'s backward reads: refused at backward, as PyTorch
    with pytest.raises(RuntimeError, match="ReluInplace.backward.*modified by an in-place"):
        y.sum().backward()


def test_inplace_on_non_leaf_keeps_correct_gradients():
    def f(x):
        y = x * 2
        y.mul_(x)  # y = 2 x^2
        y.add_(x, alpha=3)  # 2 x^2 + 3 x
        y.clamp_(-5.0, 100.0)
        y[0] = y[1] * 2
        y.relu_()
        return y
    assert gradcheck(f, (leaf([0.3, 0.7, 1.1]),))
    x = leaf([0.3, 0.7, 1.1])
    y = f(x)
    assert y.grad_fn is not None and y._version > 0


def test_inplace_fill_zero_copy_on_non_leaf():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 2
    y[1:] = 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 0, 0])

    x = leaf([1.0, 2.0, 3.0])
    y = x * 2
    y.copy_(x * x)
    (y * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 4, 6])

    x = leaf([1.0, 2.0, 3.0])
    y = x * 2
    y.zero_()
    y.add_(x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1, 1, 1])


def test_inplace_through_a_view_of_a_graph_tensor_is_refused():
    # the write would change the base's values behind its grad_fn's back: refuse rather than
    # return a silently wrong gradient
    x = leaf([1.0, 2.0, 3.0])
    y = x * 2
    with pytest.raises(RuntimeError, match="view"):
        y[1:].zero_()
    with pytest.raises(RuntimeError, match="view"):
        y.view(1, 3).mul_(2)
    with pytest.raises(RuntimeError, match="view.*of a leaf"):
        x[0:2].mul_(2)


def test_leaf_inplace_refused_but_allowed_under_no_grad():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf tensor.*in-place"):
        x.mul_(2)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 3.0
    with lumen.no_grad():
        x.mul_(2)
        x[0] = 5.0
    np.testing.assert_allclose(x.detach().numpy(), [5, 4])
    assert x.is_leaf and x.requires_grad


def test_backward_on_non_scalar_needs_gradient():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"scalar outputs.*shape \(2,\).*gradient="):
        y.backward()
    y.backward(lumen.tensor([1.0, 0.5], dtype=lumen.float64))


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        lumen.tensor([1.0]).sum().backward()


def test_backward_gradient_shape_checked():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\), expected \(2,\)"):
        y.backward(lumen.ones(3, dtype=lumen.float64))


def test_backward_inputs_restricts_accumulation():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x * w).sum().backward(inputs=[w])
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), [1, 2])


def test_hooks_on_leaves():
    x = leaf([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 10)
    (x * 3).sum().backward()
    np.testing.assert_allclose(seen[0], [3, 3])
    np.testing.assert_allclose(x.grad.numpy(), [30, 30])


def test_grads_flow_to_mixed_dtype_inputs_in_their_own_dtype():
    a = lumen.tensor([1.0, 2.0], dtype=lumen.float32, requires_grad=True)
    b = lumen.tensor([3.0, 4.0], dtype=lumen.float64, requires_grad=True)
    out = a * b
    assert out.dtype is lumen.float64
    out.sum().backward()
    assert a.grad.dtype is lumen.float32 and b.grad.dtype is lumen.float64
    np.testing.assert_allclose(a.grad.numpy(), [3, 4])


def test_intermediate_saved_arrays_freed_after_backward():
    import weakref
    x = leaf(np.ones(4))
    y = x.exp()
    node = y.grad_fn
    y.sum().backward()
    assert node._saved_out is None
    ref = weakref.ref(node)
    del y, node
    assert ref() is None


def test_custom_function_non_differentiable_output():
    class TopIndex(lumen.autograd.Function):
        def forward(self, a):
            idx = self.backend.argmax(a, keepdims=True)
            self.mark_non_differentiable(1)
            self.save_inputs(0)
            return a * 2, idx

        def backward(self, g, g_idx):
            assert g_idx is None
            return g * 2

    x = leaf([1.0, 5.0, 2.0])
    y, idx = TopIndex.apply(x)
    assert not idx.requires_grad and y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2])


def test_reshape_that_copies_is_not_a_view():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * 1
    flat = y.t().reshape(4)  # non-contiguous: numpy copies
    z = flat * flat
    flat2 = y.t().reshape(4)
    flat2.add_(1.0)  # not a view, so neither refused nor seen by y
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[2, 4], [6, 8]])
    assert y._version == 0


def test_leaf_grads_never_alias_each_other_or_the_callers_gradient():
    a, b = leaf([1.0, 2.0, 3.0]), leaf([1.0, 2.0, 3.0])
    (((a + b) + a) * 2).sum().backward()  # Add hands one array to both inputs
    assert a.grad.tolist() == [4.0, 4.0, 4.0] and b.grad.tolist() == [2.0, 2.0, 2.0]
    a.grad = b.grad = None
    c = lumen.tensor([1.0, 2.0, 3.0], dtype=lumen.float64)
    for _ in range(2):
        ((a + b) * c).sum().backward()
    assert a.grad.tolist() == b.grad.tolist() == [2.0, 4.0, 6.0]
    x, g = leaf([1.0, 1.0]), lumen.ones(2, dtype=lumen.float64)
    x.clone().backward(g)
    x.clone().backward(g)
    assert g.tolist() == [1.0, 1.0] and x.grad.tolist() == [2.0, 2.0]


def test_the_tape_keeps_few_objects_for_the_cyclic_collector():
    """Every container a node keeps is scanned by each of CPython's collector passes (in a 6,001-op chain
    they had cost a third of the forward): a node keeps its edges and saved tensors flat, shares its
    needs_input_grad, and a result that is never written nor saved gets no version counter."""
    import collections
    import gc

    x, w, b = (leaf(np.full((4, 4), v)) for v in (0.1, 0.9, 0.05))
    gc.collect()
    before = collections.Counter(type(o).__name__ for o in gc.get_objects())
    y = x
    for _ in range(300):
        y = (y * w + b).tanh()
    gc.collect()
    kept = collections.Counter(type(o).__name__ for o in gc.get_objects()) - before
    # per step of three ops, 10: the three nodes, their three flat edge tuples, Mul's saved inputs, Tanh's
    # saved output, and the one tensor (with its version counter) that Mul saved; 18.7 before
    assert sum(kept.values()) / 300 <= 10.5, kept.most_common(6)
    assert kept["_VersionCounter"] <= 300 + 2, kept.most_common(6)  # and the two saved leaves, x and w
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), w.grad.numpy()[0, 0])  # every entry followed the same path


def test_backward_without_create_graph_wraps_no_gradient_between_nodes(monkeypatch):
    """With nothing to record, gradients travel between array-backward nodes as bare arrays: the
    Tensors backward makes (the leaves' ``.grad``, the sum's Tensor backward) do not grow with the
    chain (before, every node's gradients were wrapped: ~4 per step)."""
    from lumen.tensor import Tensor

    real_wrap = Tensor._wrap.__func__

    def wraps_in_backward(steps):
        x, w, b = (leaf(np.full((4, 4), v)) for v in (0.1, 0.9, 0.05))
        y = x
        for _ in range(steps):
            y = (y * w + b).tanh()
        out = y.sum()
        wraps = []
        monkeypatch.setattr(Tensor, "_wrap", classmethod(lambda cls, *a, **k: wraps.append(1) or real_wrap(cls, *a, **k)))
        out.backward()
        monkeypatch.undo()
        assert np.isfinite(w.grad.numpy()).all()
        return len(wraps)

    assert wraps_in_backward(100) == wraps_in_backward(10) <= 12


def test_array_backward_agrees_with_the_recorded_one_through_hooks_casts_and_tensor_backwards():
    """backward() (gradients as arrays) and autograd.grad(create_graph=True) (Tensors throughout) on one
    graph holding a 0-d branch (NumPy scalars), a float32 -> float64 cast, a backward written on Tensors
    (pow), a hook that replaces an intermediate gradient, retain_grad and a non-leaf gradient asked for."""
    def graph():
        x = leaf([[0.3, -1.2], [0.7, 2.0]])
        s = leaf(1.5)
        h = (x * s).to(lumen.float32)
        h.register_hook(lambda g: g * 2)
        m = (h.tanh() ** 3).to(lumen.float64)
        m.retain_grad()
        z = m.sum() * s + (s * s).exp()  # 0-d products: NumPy returns scalars for them
        return x, s, m, z

    x, s, m, z = graph()
    z.backward()
    x2, s2, m2, z2 = graph()
    gx, gs, gm = lumen.autograd.grad(z2, [x2, s2, m2], create_graph=True)
    for got, want in ((x.grad, gx), (s.grad, gs), (m.grad, gm)):
        assert want.requires_grad and got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-6)
    assert type(s.grad._data) is np.ndarray and s.grad.shape == ()


def test_edges_share_one_shape_tuple_per_shape_and_the_cache_stays_bounded():
    """Each array's .shape is a new tuple the cyclic collector tracks until its next pass: the edges keep
    one per shape instead (in the overhead chain, about half the young-generation passes), in a cache that
    starts over rather than grow with inputs of ever-new sizes."""
    from lumen.autograd import function

    x, w = leaf(np.ones((3, 5))), leaf(np.ones((3, 5)))
    a, b = x * w, (x + w).tanh()
    assert a.grad_fn.next[2] is a.grad_fn.next[6] is b.grad_fn.next[2]
    for n in range(1, 5000):
        (leaf(np.ones(n)) * 2).sum()
    assert 0 < len(function._shapes) <= 4096
