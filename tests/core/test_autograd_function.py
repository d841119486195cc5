"""PyTorch's ``autograd.Function`` contract (static forward/backward with ``ctx``), compared with torch,
beside Lumen's own instance-method Functions (which every op uses)."""
import numpy as np
import pytest

import lumen
from lumen.autograd import Function, gradcheck, gradgradcheck
from lumen.autograd.function import once_differentiable

torch = pytest.importorskip("torch")

VALUES = [[0.3, -1.2, 2.0], [1.5, 0.7, -0.4]]


def pair(values=VALUES):
    """The same float64 leaf in lumen and in torch."""
    return (lumen.tensor(values, dtype=lumen.float64, requires_grad=True),
            torch.tensor(values, dtype=torch.float64, requires_grad=True))


def close(a, b):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)


def define(lib):
    """The custom Functions of the tests, written once against either library's API."""
    F = lib.autograd.Function

    class Exp(F):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)  # an output, saved
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class ScaledCube(F):
        """x ** 3 * scale, with a non-tensor argument and an attribute on ctx."""

        @staticmethod
        def forward(ctx, x, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return x ** 3 * scale

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2 * ctx.scale, None

    class MulAdd(F):
        """(x * y, x + y): two tensor inputs, two outputs, needs_input_grad respected."""

        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x * y, x + y

        @staticmethod
        def backward(ctx, g_prod, g_sum):
            x, y = ctx.saved_tensors
            gx = g_prod * y + g_sum if ctx.needs_input_grad[0] else None
            gy = g_prod * x + g_sum if ctx.needs_input_grad[1] else None
            return gx, gy

    class Cube(F):
        """setup_context style: forward without ctx."""

        @staticmethod
        def forward(x, power=3):
            return x ** power

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, power = inputs
            ctx.save_for_backward(x)
            ctx.power = power

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * ctx.power * x ** (ctx.power - 1), None

    return Exp, ScaledCube, MulAdd, Cube


LUMEN, TORCH = define(lumen), define(torch)


@pytest.mark.parametrize("which", range(4))
def test_values_and_gradients_match_torch(which):
    (x, tx), (y, ty) = pair(), pair([[1.0, 2.0, -0.5], [0.25, -3.0, 1.0]])
    L, T = LUMEN[which], TORCH[which]
    args = {0: ((x,), (tx,)), 1: ((x, 0.5), (tx, 0.5)), 2: ((x, y), (tx, ty)), 3: ((x,), (tx,))}[which]
    out, tout = L.apply(*args[0]), T.apply(*args[1])
    outs, touts = (out, tout) if isinstance(out, tuple) else ((out,), (tout,))
    for o, to in zip(outs, touts):
        close(o, to)
        assert o.grad_fn.name() == type(to.grad_fn).__name__ == f"{L.__name__}Backward"
    sum(((o * (k + 1)).sum() for k, o in enumerate(outs)), start=0).backward()
    sum(((o * (k + 1)).sum() for k, o in enumerate(touts)), start=0).backward()
    close(x.grad, tx.grad)
    if which == 2:
        close(y.grad, ty.grad)


def test_gradcheck_and_double_backward_of_ctx_functions():
    Exp, ScaledCube, MulAdd, Cube = LUMEN
    x = lumen.tensor(VALUES, dtype=lumen.float64, requires_grad=True)
    y = lumen.tensor([[1.0, 2.0, -0.5], [0.25, -3.0, 1.0]], dtype=lumen.float64, requires_grad=True)
    assert gradcheck(Exp.apply, (x,))
    assert gradcheck(lambda t: ScaledCube.apply(t, 0.5), (x,))
    assert gradcheck(MulAdd.apply, (x, y))
    assert gradcheck(Cube.apply, (x,))
    # backward is written with differentiable ops: double backward works, saved outputs included
    assert gradgradcheck(Exp.apply, (x,))
    assert gradgradcheck(lambda t: ScaledCube.apply(t, 0.5), (x,))
    assert gradgradcheck(MulAdd.apply, (x, y))
    tx = torch.tensor(VALUES, dtype=torch.float64, requires_grad=True)
    (g,) = lumen.autograd.grad(Exp.apply(x).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(TORCH[0].apply(tx).sum(), tx, create_graph=True)
    close(lumen.autograd.grad(g.sum(), x)[0], torch.autograd.grad(tg.sum(), tx)[0])


def test_needs_input_grad_and_non_tensor_arguments():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, x, k, y, *, offset=0.0):
            seen["needs"] = ctx.needs_input_grad
            seen["recording"] = lumen.is_grad_enabled()
            return x * k + y + offset

        @staticmethod
        def backward(ctx, g):
            return g * 2, None, None

    x = lumen.ones(2, requires_grad=True)
    out = Probe.apply(x, 2, lumen.ones(2), offset=1.0)
    assert seen == {"needs": (True, False, False), "recording": False}  # forward runs under no_grad
    assert out.tolist() == [4.0, 4.0] and out.requires_grad
    out.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    with lumen.no_grad():
        assert not Probe.apply(x, 2, lumen.ones(2)).requires_grad
    assert not Probe.apply(lumen.ones(2), 2, lumen.ones(2)).requires_grad


def test_wrong_gradient_count_and_non_none_for_a_non_tensor_are_torch_errors():
    for lib in (lumen, torch):
        class TooFew(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, k):
                return x * k

            @staticmethod
            def backward(ctx, g):
                return g

        class TrailingNones(TooFew):
            @staticmethod
            def backward(ctx, g):
                return g, None, None

        class GradForInt(TooFew):
            @staticmethod
            def backward(ctx, g):
                return g, g

        x = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match=r"function TooFewBackward returned an incorrect number of "
                                               r"gradients \(expected 2, got 1\)"):
            TooFew.apply(x, 2.0).sum().backward()
        TrailingNones.apply(x, 2.0).sum().backward()  # extra Nones are accepted, as in torch
        assert x.grad.tolist() == [1.0, 1.0]
        with pytest.raises(RuntimeError, match="GradForIntBackward returned a gradient different than None at "
                                               "position 2, but the corresponding forward input was not a"):
            GradForInt.apply(x, 2.0).sum().backward()


def test_saved_tensor_modified_in_place_raises_at_backward():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = lumen.ones(3, requires_grad=True)
    h = x * 1
    out = Square.apply(h)
    h.add_(1.0)
    with pytest.raises(RuntimeError, match=r"SquareBackward.backward: one of the tensors saved for backward.*"
                                           r"modified by an in-place operation"):
        out.sum().backward()
    out = Square.apply(x * 1)
    out.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        out.sum().backward()


def test_mark_dirty_rebases_the_modified_input_as_torch():
    results = []
    for lib in (lumen, torch):
        class DoubleInPlace(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 2

        class Forgot(DoubleInPlace):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_dirty(x)
                return x * 2

        x = lib.tensor([1.0, 3.0], requires_grad=True)
        h = x * 1
        out = DoubleInPlace.apply(h)
        assert out is h and type(h.grad_fn).__name__ == "DoubleInPlaceBackward"
        (out * out).sum().backward()
        results.append((h.tolist(), x.grad.tolist()))
        with pytest.raises(RuntimeError, match="leaf.*in-place operation"):
            DoubleInPlace.apply(lib.ones(2, requires_grad=True))
        with pytest.raises(RuntimeError, match="dirty.*not returned"):
            Forgot.apply(x * 1)
    assert results[0] == results[1] == ([2.0, 6.0], [8.0, 24.0])


def test_mark_non_differentiable_materialized_and_unmaterialized_grads():
    for lib in (lumen, torch):
        got = {}

        class Sort(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                idx = x.argmax()
                ctx.mark_non_differentiable(idx)
                return x * 2, x * 3, idx

            @staticmethod
            def backward(ctx, g2, g3, g_idx):
                got["materialized"] = (g3.tolist(), g_idx.tolist())
                return g2 * 2 + g3 * 3

        class Lazy(Sort):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(False)
                return x * 2, x * 3, 7

            @staticmethod
            def backward(ctx, g2, g3, g_int):
                got["lazy"] = (g3, g_int)
                return g2 * 2

        class PassMask(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, mask):
                ctx.mark_non_differentiable(mask)
                return x * 2, mask  # an input returned as it is, and marked

            @staticmethod
            def backward(ctx, g, g_mask):
                return g * 2, None

        x = lib.tensor([1.0, 5.0], requires_grad=True)
        a, b, idx = Sort.apply(x)
        assert not idx.requires_grad and a.requires_grad
        mask = lib.ones(2, requires_grad=True)
        _, passed = PassMask.apply(x, mask)
        assert passed is not mask and not passed.requires_grad and passed.grad_fn is None
        a.sum().backward()
        assert got["materialized"] == ([0.0, 0.0], 0)  # zeros for unused outputs, even the index one
        a, b, seven = Lazy.apply(x)
        assert seven == 7
        a.sum().backward()
        assert got["lazy"] == (None, None)


def test_an_input_returned_unchanged_becomes_a_new_tensor_with_the_custom_grad_fn():
    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 10

    x = lumen.ones(2, requires_grad=True)
    out = Identity.apply(x)
    assert out is not x and out.grad_fn.name() == "IdentityBackward" and x.is_leaf
    out.sum().backward()
    assert x.grad.tolist() == [10.0, 10.0]


def test_once_differentiable_backward_refuses_double_backward():
    for lib, module in ((lumen, lumen.autograd.function), (torch, torch.autograd.function)):
        class Exp(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.exp()

            @staticmethod
            @module.once_differentiable
            def backward(ctx, g):
                assert not lib.is_grad_enabled()
                (x,) = ctx.saved_tensors
                return g * x.exp()

        x = lib.tensor([0.5, 1.0], dtype=lib.float64, requires_grad=True)
        out = Exp.apply(x)
        (g,) = lib.autograd.grad(out, x, grad_outputs=lib.ones(2, dtype=lib.float64, requires_grad=True),
                                 create_graph=True)
        assert g.requires_grad
        with pytest.raises(RuntimeError, match="differentiate twice a function that was marked with "
                                               "@once_differentiable"):
            g.sum().backward()
    assert once_differentiable is lumen.autograd.function.once_differentiable


def test_lumens_own_instance_method_functions_keep_their_contract():
    class Softplus(Function):
        def forward(self, x):
            self.save_inputs(0)
            b = self.backend
            return b.maximum(x, 0) + b.log(1 + b.exp(-b.abs(x)))

        def backward(self, g):
            (x,) = self.saved_inputs
            return g * x.sigmoid()

    x = lumen.tensor(VALUES, dtype=lumen.float64, requires_grad=True)
    assert gradcheck(Softplus.apply, (x,))
    assert Softplus.apply(x).grad_fn.name() == "SoftplusBackward"
    with pytest.raises(TypeError, match="inputs must be Tensors"):
        Softplus.apply(1.0)


def test_forward_without_staticmethod_but_with_ctx_runs_as_in_torch():
    results = []
    for lib in (lumen, torch):
        class Twice(lib.autograd.Function):
            def forward(ctx, x):  # noqa: N805 (the decorator forgotten, as torch still accepts)
                return x * 2

            def backward(ctx, g):  # noqa: N805
                return g * 2

        x = lib.tensor([1.0, -1.0], requires_grad=True)
        Twice.apply(x).sum().backward()
        results.append(x.grad.tolist())
    assert results[0] == results[1] == [2.0, 2.0]


# ---- backward on arrays ---------------------------------------------------------------------------------
def _functions_with_array_backward():
    found, stack = [], [Function]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__dict__.get("backward_on_arrays"):
            found.append(cls)
    return sorted(found, key=lambda c: c.__name__)


ARRAY_BACKWARD_OPS = {  # every Function that declares backward_on_arrays, by the public op that applies it
    "Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b, "Div": lambda a, b: a / b,
    "Neg": lambda a, b: -a * b, "Exp": lambda a, b: a.exp() * b, "Log": lambda a, b: (a * a + 1).log() * b,
    "Sqrt": lambda a, b: (a * a + 1).sqrt() * b, "Tanh": lambda a, b: a.tanh() * b,
    "Sigmoid": lambda a, b: a.sigmoid() * b,
}


def test_every_array_backward_op_is_covered():
    assert sorted(c.__name__ for c in _functions_with_array_backward()) == sorted(ARRAY_BACKWARD_OPS)


@pytest.mark.parametrize("name", sorted(ARRAY_BACKWARD_OPS))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (1, 4)), ((), (3,)), ((), ())])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backward_on_arrays_equals_the_recorded_backward(name, shapes, dtype):
    """The arrays' run (no graph to record) gives the gradients, shapes and dtypes of the recorded run
    (create_graph=True, where backward runs as Lumen ops), broadcasting and 0-d inputs included."""
    rng = np.random.default_rng(0)
    op = ARRAY_BACKWARD_OPS[name]
    values = [rng.uniform(0.5, 1.5, s) for s in shapes]
    cls = next(c for c in _functions_with_array_backward() if c.__name__ == name)
    received = []

    def spy(self, *grads):
        received.append(type(next(g for g in grads if g is not None)))
        return formula(self, *grads)

    formula = cls.backward
    runs = []
    for create_graph in (False, True):
        a, b = (lumen.tensor(v, dtype=getattr(lumen, dtype), requires_grad=True) for v in values)
        out = op(a, b)
        cls.backward = spy
        try:
            grads = lumen.autograd.grad(out.sum(), (a, b), create_graph=create_graph)
        finally:
            cls.backward = formula
        runs.append(grads)
        # the arrays' run got arrays, the recorded one Tensors
        assert received and set(received) == {np.ndarray if not create_graph else lumen.Tensor}
        received.clear()
    for lazy, recorded in zip(*runs):
        assert type(lazy._data) is np.ndarray  # not the NumPy scalar that arithmetic on 0-d arrays returns
        assert lazy.shape == recorded.shape and lazy.dtype == recorded.dtype
        np.testing.assert_array_equal(lazy.numpy(), recorded.detach().numpy())
    assert gradcheck(lambda a, b: op(a, b), tuple(lumen.tensor(v, requires_grad=True, dtype=lumen.float64)
                                                 for v in values))


def test_backward_on_arrays_keeps_hooks_retain_grad_and_in_place_checks():
    x = lumen.tensor([0.5, 1.0, 2.0], requires_grad=True)
    y = x.tanh()
    y.retain_grad()
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    (y * 3).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [3, 3, 3])
    np.testing.assert_allclose(seen[0], [3, 3, 3])
    np.testing.assert_allclose(x.grad.numpy(), 3 * (1 - np.tanh([0.5, 1.0, 2.0]) ** 2), rtol=1e-6)
    z = x + 0  # Add saves nothing: the refusal below is Mul's
    w = z * 2
    z.add_(1)  # Mul saved z: its backward refuses the modified value, on arrays as on Tensors
    with pytest.raises(RuntimeError, match="Mul.backward: .* modified by an in-place operation"):
        w.sum().backward()
    e = (x + 0).exp()
    e.add_(1)  # Exp saved its output
    with pytest.raises(RuntimeError, match="Exp.backward: .* modified by an in-place operation"):
        e.sum().backward()


def test_a_subclass_with_its_own_backward_does_not_inherit_backward_on_arrays():
    from lumen.ops.unary import Tanh

    class DoubledTanh(Tanh):
        def backward(self, g):
            (y,) = self.saved_outputs
            return 2 * g * (1 - y.square())  # Tensor.square: no ndarray method

    x = lumen.tensor([0.5, -1.0], requires_grad=True)
    DoubledTanh.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (1 - np.tanh([0.5, -1.0]) ** 2), rtol=1e-6)


def test_a_backward_from_a_mixin_does_not_inherit_backward_on_arrays():
    from lumen.ops.unary import Tanh

    class TwiceMixin:
        def backward(self, g):
            (y,) = self.saved_outputs
            return 2 * g * (1 - y.square())

    class TwiceTanh(TwiceMixin, Tanh):
        pass

    class SameTanh(Tanh):  # the declaring class's formula: the flag holds
        pass

    assert not TwiceTanh.backward_on_arrays and SameTanh.backward_on_arrays
    x = lumen.tensor([0.5, -1.0], requires_grad=True)
    TwiceTanh.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (1 - np.tanh([0.5, -1.0]) ** 2), rtol=1e-6)


def test_reading_saved_tensors_as_arrays_is_per_thread():
    """While one thread runs a node's backward on arrays, another reading that node's saved tensors (its own
    backward with create_graph=True on the same retained graph) gets Tensors."""
    import threading

    seen = []

    class Probe(Function):
        backward_on_arrays = True

        def forward(self, a):
            self.save_inputs(0)
            return a * 1

        def backward(self, g):
            (a,) = self.saved_inputs
            if not seen:
                reader = threading.Thread(target=lambda: seen.append(type(self.saved_inputs[0])))
                reader.start()
                reader.join()
                seen.append(type(a))
            return g

    x = lumen.tensor([1.0, 2.0], requires_grad=True)
    Probe.apply(x).sum().backward()
    assert seen == [lumen.Tensor, np.ndarray]


def test_needs_input_grad_is_set_under_no_grad_as_torch_ctx():
    class Scale(Function):
        def forward(self, a):
            self.skipped = not self.needs_input_grad[0]
            return a * 2

        def backward(self, g):
            return g * 2

    with lumen.no_grad():
        y = Scale.apply(lumen.tensor([1.0, 2.0], requires_grad=True))
    assert y.grad_fn is None and y.tolist() == [2.0, 4.0]


@pytest.mark.parametrize("shapes", [((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2))])
def test_matmul_backward_on_arrays_broadcasts_batches_as_recorded(shapes):
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(s) for s in shapes]
    runs = []
    for create_graph in (False, True):
        a, b = (lumen.tensor(v, dtype=lumen.float32, requires_grad=True) for v in values)
        runs.append(lumen.autograd.grad((a @ b).sum(), (a, b), create_graph=create_graph))
    for lazy, recorded in zip(*runs):
        assert lazy.shape == recorded.shape
        np.testing.assert_allclose(lazy.numpy(), recorded.detach().numpy(), rtol=1e-6, atol=1e-6)
    t = [torch.tensor(v, dtype=torch.float32, requires_grad=True) for v in values]
    (t[0] @ t[1]).sum().backward()
    for lazy, ref in zip(runs[0], t):
        np.testing.assert_allclose(lazy.numpy(), ref.grad.numpy(), rtol=1e-5, atol=1e-5)
