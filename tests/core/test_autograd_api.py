"""The rest of ``torch.autograd``'s surface, compared with torch: tensor hooks and retain_grad,
``grad``/``backward``, ``Variable``, anomaly detection, grad modes and ``autograd.functional``."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
from lumen.autograd import functional as F

torch = pytest.importorskip("torch")
from torch.autograd import functional as TF  # noqa: E402

# torch's own vmap (behind its vectorize= and is_grads_batched=) warns about torch.jit.script
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def both(values, lib_dtype=True):
    return (lumen.tensor(values, dtype=lumen.float64, requires_grad=True),
            torch.tensor(values, dtype=torch.float64, requires_grad=True))


def close(a, b):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)


# ---- hooks and retain_grad ---------------------------------------------------------------------
def test_hooks_on_non_leaves_and_retain_grad_match_torch():
    results = []
    for lib, (x,) in ((lumen, both([1.0, -2.0])[:1]), (torch, both([1.0, -2.0])[1:])):
        seen = []
        y = x * 2
        y.retain_grad()  # registered first, but sees the hooked gradient (torch runs it last)
        handle = y.register_hook(lambda g: seen.append(g.tolist()) or g * 3)
        z = (y * y).sum()
        z.backward(retain_graph=True)
        first = (y.grad.tolist(), x.grad.tolist(), list(seen))
        handle.remove()
        z.backward()  # retained gradients accumulate; the removed hook no longer runs
        results.append((first, y.grad.tolist(), x.grad.tolist(), seen, y.retains_grad, x.retains_grad))
    assert results[0] == results[1]
    assert results[0][0] == ([12.0, -24.0], [24.0, -48.0], [[4.0, -8.0]])


def test_leaf_hooks_also_apply_to_autograd_grad_and_backward_inputs():
    for lib, x in zip((lumen, torch), both([1.0, 2.0])):
        handle = x.register_hook(lambda g: g * 100)
        (g,) = lib.autograd.grad((x * 2).sum(), x)
        assert g.tolist() == [200.0, 200.0]
        y = x * 2
        y.register_hook(lambda g: g * 7)
        assert lib.autograd.grad((y * 1).sum(), y)[0].tolist() == [7.0, 7.0]
        (x * 3).sum().backward(inputs=[x])
        assert x.grad.tolist() == [300.0, 300.0]
        with handle:
            pass  # leaving the block removes it
        x.grad = None
        (x * 3).sum().backward()
        assert x.grad.tolist() == [3.0, 3.0]


def test_hook_and_retain_grad_errors():
    t = lumen.ones(2)
    with pytest.raises(RuntimeError, match="register_hook.*doesn't require gradient"):
        t.register_hook(lambda g: g)
    with pytest.raises(RuntimeError, match="can't retain_grad.*requires_grad=False"):
        t.retain_grad()
    x = lumen.ones(2, requires_grad=True)
    x.retain_grad()  # a no-op on a leaf, as torch
    assert not x.retains_grad and x.is_leaf and not (x * 2).is_leaf
    assert (x * 2).grad_fn.name() == "MulBackward"
    for lib in (lumen, torch):
        leaf = lib.ones(2, requires_grad=True)
        assert isinstance((leaf * 2).grad_fn, lib.autograd.graph.Node)
        assert isinstance(lib.autograd.Variable, type) and isinstance(leaf, lib.autograd.Variable)


# ---- grad and backward ---------------------------------------------------------------------------
def test_grad_allow_unused_and_materialize_grads_as_torch():
    for lib in (lumen, torch):
        a, b = (lib.ones(2, dtype=lib.float64, requires_grad=True) for _ in range(2))
        with pytest.raises(RuntimeError, match="differentiated Tensor at index 1"):
            lib.autograd.grad((a * 2).sum(), [a, b])
        ga, gb = lib.autograd.grad((a * 2).sum(), [a, b], allow_unused=True)
        assert gb is None and ga.tolist() == [2.0, 2.0]
        ga, gb = lib.autograd.grad((a * 2).sum(), [a, b], materialize_grads=True)
        assert gb.tolist() == [0.0, 0.0]
        with pytest.raises(ValueError, match="Expected allow_unused to be True or not passed when "
                                             "materialize_grads=True"):
            lib.autograd.grad((a * 2).sum(), [a, b], materialize_grads=True, allow_unused=False)
        with pytest.raises(RuntimeError, match="(?i)one of the differentiated Tensors.*does not require grad"):
            lib.autograd.grad((a * 2).sum(), [a, lib.ones(2)])
        with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
            lib.autograd.grad(lib.ones(2).sum(), [a])
        with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
            lib.autograd.grad(a * 2, [a])


def test_grad_runs_only_the_nodes_leading_to_its_inputs():
    for lib in (lumen, torch):
        x = lib.ones(2, requires_grad=True)
        h = (x * 2).exp()
        (gh,) = lib.autograd.grad((h * h).sum(), h)  # h's own grad_fn (Exp) neither runs nor is freed
        h.sum().backward()
        np.testing.assert_allclose(gh.numpy(), 2 * np.exp(2.0) * np.ones(2), rtol=1e-6)
        np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(2.0) * np.ones(2), rtol=1e-6)


def test_grad_is_grads_batched_and_multiple_outputs():
    (x, tx) = both([[0.5, -1.0], [2.0, 0.25]])
    eye = np.eye(4).reshape(4, 2, 2)
    (g,) = lumen.autograd.grad(x.tanh(), x, lumen.tensor(eye), is_grads_batched=True)
    (tg,) = torch.autograd.grad(tx.tanh(), tx, torch.tensor(eye), is_grads_batched=True)
    close(g, tg)
    g = lumen.autograd.grad([x.exp().sum(), (x * x).sum()], x)[0]
    tg = torch.autograd.grad([tx.exp().sum(), (tx * tx).sum()], tx)[0]
    close(g, tg)


def test_autograd_backward_with_grad_tensors_and_inputs():
    (x, tx), (w, tw) = both([1.0, 2.0]), both([3.0, -1.0])
    for lib, a, b in ((lumen, x, w), (torch, tx, tw)):
        lib.autograd.backward([a * b, (a * a).sum()], [lib.ones(2, dtype=lib.float64), None])
        lib.autograd.backward((a * b).sum(), inputs=[b])
    close(x.grad, tx.grad)
    close(w.grad, tw.grad)


def test_variable_is_deprecated_and_returns_a_tensor():
    t = lumen.ones(2)
    with pytest.warns(DeprecationWarning, match="Variable is deprecated"):
        v = lumen.autograd.Variable(t, requires_grad=True)
    assert isinstance(v, lumen.Tensor) and isinstance(t, lumen.autograd.Variable)
    assert v.requires_grad and not t.requires_grad and v._data is t._data
    with pytest.warns(DeprecationWarning):
        assert not lumen.autograd.Variable(t).requires_grad


# ---- anomaly detection -----------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # numpy's 0/0 in Sqrt's backward
def test_detect_anomaly_names_the_op_whose_backward_returned_nan():
    x = lumen.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        mode = lumen.autograd.detect_anomaly()
    with mode:
        assert lumen.is_anomaly_enabled() and lumen.is_anomaly_check_nan_enabled()
        y = x.sqrt() * 0  # the forward line the error points at
        with pytest.raises(RuntimeError, match=r"Function 'SqrtBackward' returned nan values in its 0th output; "
                                               r"it is the backward of Sqrt, whose forward ran at .*"
                                               r"test_autograd_api.py") as info:
            y.sum().backward()
    assert "y = x.sqrt() * 0" in "".join(info.value.__notes__)
    assert not lumen.is_anomaly_enabled()
    x.sqrt().mul(0).sum().backward()  # off again: the NaN goes through unchecked
    assert np.isnan(x.grad.numpy()[0])

    lumen.autograd.set_detect_anomaly(True, check_nan=False)
    try:
        x.sqrt().mul(0).sum().backward()
    finally:
        lumen.autograd.set_detect_anomaly(False)
    with lumen.autograd.set_detect_anomaly(True):
        assert lumen.is_anomaly_enabled()
    assert not lumen.is_anomaly_enabled()


def test_anomaly_mode_puts_the_forward_traceback_on_errors_raised_in_backward():
    class Broken(lumen.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            raise ValueError("broken backward")

    x = lumen.ones(2, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with lumen.autograd.detect_anomaly():
            y = Broken.apply(x)  # recorded here
            with pytest.raises(ValueError, match="broken backward") as info:
                y.sum().backward()
    note = "".join(info.value.__notes__)
    assert "Error detected in BrokenBackward" in note and "y = Broken.apply(x)" in note
    assert Broken.apply(x).grad_fn._forward_stack is None  # recorded only while anomaly mode is on


# ---- grad modes -------------------------------------------------------------------------------------
def test_grad_modes_as_torch_including_inference_mode():
    for lib in (lumen, torch):
        x = lib.ones(2, requires_grad=True)
        with lib.inference_mode():
            assert lib.is_inference_mode_enabled() and not lib.is_grad_enabled()
            assert not (x * 2).requires_grad
            with lib.inference_mode(False):
                assert not lib.is_inference_mode_enabled() and lib.is_grad_enabled()
        with lib.no_grad(), lib.inference_mode(mode=False):
            assert lib.is_grad_enabled()
        assert not lib.is_inference_mode_enabled() and lib.is_grad_enabled()

        @lib.inference_mode
        def bare():
            return lib.is_inference_mode_enabled(), (x * 2).requires_grad

        @lib.inference_mode()
        def called():
            return lib.is_inference_mode_enabled()

        @lib.no_grad
        def bare_no_grad():
            return (x * 2).requires_grad

        @lib.set_grad_enabled(False)
        def off():
            return lib.is_grad_enabled()

        assert bare() == (True, False) and called() and not bare_no_grad() and not off()
        assert lib.is_grad_enabled()
    mode = lumen.no_grad()
    with mode:
        with mode:  # one instance entered twice restores what each entry found (torch's would not)
            assert not lumen.is_grad_enabled()
        assert not lumen.is_grad_enabled()
    assert lumen.is_grad_enabled()


def test_grad_modes_are_per_thread_and_every_thread_starts_enabled():
    import threading

    for lib in (lumen, torch):
        x = lib.ones(2, requires_grad=True)
        seen = []

        def other():
            seen.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled(), (x * 2).requires_grad))
            lib.set_grad_enabled(False)  # stays in this thread

        with lib.inference_mode():
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
        assert seen == [(True, False, True)]
        assert lib.is_grad_enabled() and (x * 2).requires_grad


def test_grad_mode_decorates_generators_step_by_step():
    for lib in (lumen, torch):
        x = lib.ones(1, requires_grad=True)

        @lib.no_grad()
        def steps():
            for _ in range(2):
                yield (x * 2).requires_grad

        gen = steps()
        assert next(gen) is False
        assert lib.is_grad_enabled()  # restored between steps
        assert next(gen) is False


# ---- autograd.functional -----------------------------------------------------------------------------
def _funcs(lib):
    def scalar(x, y):
        return (x.exp() * y).sum() + (x * x * y).sum()

    def vector(x, y):
        return x.tanh() * y, (x @ y.t()).sum(1)

    def single(x):
        return (x ** 3).sum()
    return scalar, vector, single


X = [[0.5, -1.0, 0.25], [1.5, 0.3, -0.7]]
Y = [[1.0, 2.0, -0.5], [0.2, -1.0, 0.8]]


@pytest.mark.parametrize("create_graph", [False, True])
def test_jacobian_hessian_vjp_jvp_hvp_vhp_match_torch(create_graph):
    (x, tx), (y, ty) = both(X), both(Y)
    scalar, vector, single = _funcs(lumen)
    tscalar, tvector, tsingle = _funcs(torch)
    v_out = (lumen.tensor(Y, dtype=lumen.float64), lumen.tensor([1.0, -2.0], dtype=lumen.float64))
    tv_out = (torch.tensor(Y, dtype=torch.float64), torch.tensor([1.0, -2.0], dtype=torch.float64))
    v_in = (lumen.tensor(Y, dtype=lumen.float64), lumen.tensor(X, dtype=lumen.float64))
    tv_in = (torch.tensor(Y, dtype=torch.float64), torch.tensor(X, dtype=torch.float64))
    kw = {"create_graph": create_graph}
    cases = [
        (F.jacobian(vector, (x, y), **kw), TF.jacobian(tvector, (tx, ty), **kw)),
        (F.jacobian(lambda a: a.exp(), x, **kw), TF.jacobian(lambda a: a.exp(), tx, **kw)),
        (F.jacobian(vector, (x, y), vectorize=True), TF.jacobian(tvector, (tx, ty), vectorize=True)),
        (F.hessian(scalar, (x, y), **kw), TF.hessian(tscalar, (tx, ty), **kw)),
        (F.hessian(single, x, **kw), TF.hessian(tsingle, tx, **kw)),
        (F.vjp(vector, (x, y), v_out, **kw), TF.vjp(tvector, (tx, ty), tv_out, **kw)),
        (F.vjp(single, x, **kw), TF.vjp(tsingle, tx, **kw)),
        (F.jvp(vector, (x, y), v_in, **kw), TF.jvp(tvector, (tx, ty), tv_in, **kw)),
        (F.vhp(scalar, (x, y), v_in, **kw), TF.vhp(tscalar, (tx, ty), tv_in, **kw)),
        (F.hvp(scalar, (x, y), v_in, **kw), TF.hvp(tscalar, (tx, ty), tv_in, **kw)),
        (F.hvp(single, x, v_in[0], **kw), TF.hvp(tsingle, tx, tv_in[0], **kw)),
    ]

    def compare(a, b):
        assert type(a).__name__ == type(b).__name__  # the same nesting of tuples and Tensors
        if isinstance(a, tuple):
            assert len(a) == len(b)
            for p, q in zip(a, b):
                compare(p, q)
        else:
            assert tuple(a.shape) == tuple(b.shape)
            assert a.requires_grad == b.requires_grad
            close(a, b)
    for got, want in cases:
        compare(got, want)


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=0, max_size=2), st.integers(0, 2**31 - 1))
def test_jacobian_and_hessian_match_torch_over_shapes(shape, seed):
    values = np.random.default_rng(seed).uniform(-1, 1, shape)
    x, tx = lumen.tensor(values, dtype=lumen.float64), torch.tensor(values, dtype=torch.float64)
    close(F.jacobian(lambda a: (a.tanh() * a).exp(), x), TF.jacobian(lambda a: (a.tanh() * a).exp(), tx))
    close(F.hessian(lambda a: (a.sin() * a * a).sum(), x), TF.hessian(lambda a: (a.sin() * a * a).sum(), tx))
    v = np.random.default_rng(seed + 1).uniform(-1, 1, shape)
    lv, tv = lumen.tensor(v, dtype=lumen.float64), torch.tensor(v, dtype=torch.float64)
    close(F.jvp(lambda a: a.tanh() * a, x, lv)[1], TF.jvp(lambda a: a.tanh() * a, tx, tv)[1])


def test_functional_create_graph_results_are_differentiable():
    (x, tx) = both(X)
    _, _, single = _funcs(lumen)
    _, _, tsingle = _funcs(torch)
    h = F.hessian(single, x, create_graph=True)
    th = TF.hessian(tsingle, tx, create_graph=True)
    (g,) = lumen.autograd.grad(h.sum(), x)
    (tg,) = torch.autograd.grad(th.sum(), tx)
    close(g, tg)


def test_functional_strict_zeros_and_errors_as_torch():
    for lib, fn in ((lumen, F), (torch, TF)):
        x, y = lib.ones(2, dtype=lib.float64), lib.ones(2, dtype=lib.float64)
        jac = fn.jacobian(lambda a, b: a * 2, (x, y))
        assert jac[1].tolist() == [[0.0, 0.0], [0.0, 0.0]]
        with pytest.raises(RuntimeError, match="Output 0 of the user-provided function is independent of input 1"):
            fn.jacobian(lambda a, b: a * 2, (x, y), strict=True)
        with pytest.raises(RuntimeError, match="independent of input 1. This is not allowed in strict mode"):
            fn.vjp(lambda a, b: (a * 2).sum(), (x, y), strict=True)
        with pytest.raises(RuntimeError, match="The vector v can only be None"):
            fn.vjp(lambda a: a * 2, x)
        with pytest.raises(RuntimeError, match="v has invalid size: should be"):
            fn.jvp(lambda a: a * 2, x, lib.ones(3, dtype=lib.float64))
        with pytest.raises(RuntimeError, match="should return a single Tensor"):
            fn.hessian(lambda a: (a.sum(), a.sum()), x)
        with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
            fn.jacobian(lambda a: a, [x])
        with pytest.raises(NotImplementedError, match="only implemented for `vectorize=True`"):
            fn.jacobian(lambda a: a, x, strategy="forward-mode")
    x = lumen.tensor([0.5, 1.0], dtype=lumen.float64)
    tx = torch.tensor([0.5, 1.0], dtype=torch.float64)
    close(F.jacobian(lambda a: a.exp(), x, vectorize=True, strategy="forward-mode"),
          TF.jacobian(lambda a: a.exp(), tx, vectorize=True, strategy="forward-mode"))


# ---- gradcheck's PyTorch keywords ----------------------------------------------------------------------
def test_gradcheck_accepts_torchs_keywords_and_checks_reentrancy():
    x = lumen.tensor([[0.5, -1.0], [2.0, 0.3]], dtype=lumen.float64, requires_grad=True)
    assert lumen.autograd.gradcheck(lambda t: t.tanh(), (x,), eps=1e-6, atol=1e-5, rtol=1e-3, nondet_tol=0.0,
                                    check_undefined_grad=True, check_grad_dtypes=True, fast_mode=True)
    noise = iter(np.random.default_rng(0).standard_normal(100))

    class Noisy(lumen.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return t * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2 + 1e-9 * next(noise)

    with pytest.raises(lumen.autograd.GradcheckError, match="not reentrant"):
        lumen.autograd.gradcheck(Noisy.apply, (x,))
    assert lumen.autograd.gradcheck(Noisy.apply, (x,), nondet_tol=1e-6)
    with pytest.raises(NotImplementedError, match="check_batched_grad=True needs forward-mode AD or vmap"):
        lumen.autograd.gradcheck(lambda t: t * 2, (x,), check_batched_grad=True)


def test_gradgradcheck_with_given_and_non_contiguous_grad_outputs():
    x = lumen.tensor([[0.5, -1.0, 0.2], [2.0, 0.3, -0.4]], dtype=lumen.float64, requires_grad=True)
    go = lumen.tensor([[1.0, 0.5, -2.0], [0.1, 0.2, 0.3]], dtype=lumen.float64, requires_grad=True)
    assert lumen.autograd.gradgradcheck(lambda t: t.tanh() * t, (x,), (go,))
    assert lumen.autograd.gradgradcheck(lambda t: t.tanh() * t, (x,), gen_non_contig_grad_outputs=True)
    tx = torch.tensor(x.tolist(), dtype=torch.float64, requires_grad=True)
    tgo = torch.tensor(go.tolist(), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda t: t.tanh() * t, (tx,), (tgo,))


def test_post_accumulate_grad_hooks_as_torch():
    for lib in (lumen, torch):
        x = lib.ones(2, requires_grad=True)
        seen = []
        handle = x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
        (x * 2).sum().backward()
        (x * 3).sum().backward()
        lib.autograd.grad((x * 2).sum(), x)  # no accumulation, no call
        (x * 2).sum().backward(inputs=[x])
        handle.remove()
        (x * 2).sum().backward()
        assert seen == [[2.0, 2.0], [5.0, 5.0], [7.0, 7.0]]
        with pytest.raises(RuntimeError, match="post accumulate grad hooks cannot be registered on non-leaf"):
            (x * 2).register_post_accumulate_grad_hook(lambda t: None)
