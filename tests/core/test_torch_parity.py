"""Forward values, gradients and result dtypes compared with PyTorch on the same inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen

torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=15, deadline=None)


def pair(*shape, seed=0, low=-1.0, high=1.0, dtype=np.float64):
    a = np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)
    return (lumen.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True))


def check(fn, *shapes, low=-1.0, high=1.0, rtol=1e-7, atol=1e-9, torch_fn=None):
    """Run fn on Lumen and torch inputs; compare outputs and input gradients of a weighted sum."""
    ls, ts = zip(*[pair(*s, seed=i, low=low, high=high) for i, s in enumerate(shapes)])
    lo, to = fn(*ls), (torch_fn or fn)(*ts)
    np.testing.assert_allclose(lo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    w = np.random.default_rng(99).standard_normal(to.shape)
    (lo * lumen.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    for li, ti in zip(ls, ts):
        if ti.grad is None:
            assert li.grad is None
        else:
            np.testing.assert_allclose(li.grad.numpy(), ti.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name,fn,kw", [
    ("exp", lambda x: x.exp(), {}), ("log", lambda x: x.log(), {"low": 0.1, "high": 3}),
    ("sqrt", lambda x: x.sqrt(), {"low": 0.1, "high": 3}), ("abs", lambda x: x.abs(), {}),
    ("tanh", lambda x: x.tanh(), {}), ("sigmoid", lambda x: x.sigmoid(), {"low": -30, "high": 30}),
    ("relu", lambda x: x.relu(), {}), ("clamp", lambda x: x.clamp(-0.5, 0.25), {}),
    ("neg", lambda x: -x, {}), ("softmax", lambda x: x.softmax(-1), {}),
    ("log_softmax", lambda x: x.log_softmax(0), {"low": -50, "high": 50}),
    ("pow3", lambda x: x ** 3, {}), ("rpow", lambda x: 3.0 ** x, {}),
    ("sum_dim", lambda x: x.sum((0, 2), keepdim=True), {}), ("mean", lambda x: x.mean(1), {}),
    ("var", lambda x: x.var(2), {}), ("std_biased", lambda x: x.std(1, unbiased=False), {}),
    ("logsumexp", lambda x: x.logsumexp((1, 2)), {"low": -80, "high": 80}),
    ("max_all", lambda x: x.max(), {}), ("min_dim", lambda x: x.min(1)[0], {}),
    ("amax", lambda x: x.amax((0, 2)), {}),
    ("permute", lambda x: x.permute(2, 0, 1), {}), ("flatten", lambda x: x.flatten(0, 1), {}),
    ("transpose", lambda x: x.transpose(0, 2), {}), ("unsqueeze", lambda x: x.unsqueeze(1), {}),
    ("getitem", lambda x: x[1:, ..., ::2], {}), ("adv", lambda x: x[[0, 0, 1], :, [2, 2, 0]], {}),
    ("narrow", lambda x: x.narrow(1, 1, 2), {}),
])
def test_unary_matches_torch(name, fn, kw):
    check(fn, (2, 3, 4), **kw)


def test_ties_in_max_and_relu_at_zero_match_torch():
    for f in (lambda x: x.max(), lambda x: x.relu(), lambda x: x.clamp(0.0, 1.0), lambda x: x.abs()):
        xl = lumen.tensor([0.0, 1.0, 1.0, -1.0], dtype=lumen.float64, requires_grad=True)
        xt = torch.tensor([0.0, 1.0, 1.0, -1.0], dtype=torch.float64, requires_grad=True)
        f(xl).sum().backward()
        f(xt).sum().backward()
        np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy())


def test_maximum_ties_match_torch():
    check(lambda a, b: a.maximum(b.detach() * 0 + a.detach()), (3,), (3,))


@st.composite
def broadcast_shapes(draw):
    full = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    a = tuple(draw(st.sampled_from([n, 1])) for n in full)[draw(st.integers(0, len(full))):]
    b = tuple(draw(st.sampled_from([n, 1])) for n in full)
    return (a, b) if draw(st.booleans()) else (b, a)


@SETTINGS
@given(broadcast_shapes(), st.sampled_from(["add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                           "where"]))
def test_binary_broadcast_matches_torch(shapes, op):
    fns = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
           "div": lambda a, b: a / b, "pow": lambda a, b: a ** b, "maximum": lambda a, b: a.maximum(b),
           "minimum": lambda a, b: a.minimum(b)}
    if op == "where":
        check(lambda a, b: lumen.where(a > 0.9, a, b), *shapes, low=0.5, high=1.5,
              torch_fn=lambda a, b: torch.where(a > 0.9, a, b))
    else:
        check(fns[op], *shapes, low=0.5, high=1.5)


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((4, 2, 3), (3, 5)),
                                   ((2, 1, 2, 3), (4, 3, 2))])
def test_matmul_matches_torch(sa, sb):
    check(lambda a, b: a @ b, sa, sb)


def test_cat_stack_pad_setitem_match_torch():
    check(lambda a, b: (a.__class__ is torch.Tensor and torch or lumen).cat([a, b * 2], 1), (2, 3), (2, 1))
    check(lambda a, b: (a.__class__ is torch.Tensor and torch or lumen).stack([a, b], -1), (2, 3), (2, 3))
    check(lambda a: lumen.pad(a, (1, 0, -1, 2), value=0.5), (3, 4),
          torch_fn=lambda a: torch.nn.functional.pad(a, (1, 0, -1, 2), value=0.5))

    def put(a, b):
        y = a * 1
        y[:, 1] = b[0]
        y[y.detach() > 0.5] = 0.0
        return y
    check(put, (3, 4), (2, 3))


def test_split_chunk_match_torch():
    xl, xt = pair(7, 3)
    for a, b in zip(xl.split(3), xt.split(3)):
        assert a.shape == tuple(b.shape)
    for a, b in zip(xl.chunk(3), xt.chunk(3)):
        assert a.shape == tuple(b.shape)
    for a, b in zip(lumen.split(xl, [2, 5], 0), torch.split(xt, [2, 5], 0)):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


# ---- type promotion ---------------------------------------------------------------------
def _t(values, dtype):
    return lumen.tensor(values, dtype=dtype), torch.tensor(values, dtype=getattr(torch, dtype))


PROMOTION_CASES = [
    ("int64", [1, 2], 2.5, "mul"), ("int32", [1, 2], 3, "mul"), ("uint8", [1, 2], -1, "add"),
    ("float16", [1.0, 2.0], 2.5, "mul"), ("bool", [True, False], 1, "add"),
    ("bool", [True, False], 1.5, "mul"), ("bool", [True, False], True, "add"),
    ("int64", [1, 2], 2, "truediv"), ("int8", [1, 2], 2.0, "pow"), ("uint8", [3, 4], 2, "sub"),
    ("float32", [1.0, 2.0], 2, "rsub"), ("int16", [2, 3], 1.5, "rtruediv"),
]


@pytest.mark.parametrize("dtype,values,scalar,op", PROMOTION_CASES)
def test_tensor_scalar_promotion_matches_torch(dtype, values, scalar, op):
    lt, tt = _t(values, dtype)
    name = f"__{op}__"
    lo, to = getattr(lt, name)(scalar), getattr(tt, name)(scalar)
    assert lo.dtype.name == str(to.dtype).replace("torch.", "")
    np.testing.assert_allclose(lo.numpy().astype(np.float64), to.numpy().astype(np.float64), rtol=1e-3)


DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


@pytest.mark.parametrize("op", ["add", "mul", "maximum", "where", "cat"])
def test_tensor_tensor_promotion_matches_torch_for_every_pair(op):
    """All 81 dtype pairs, with either operand dimensioned or zero-dim."""
    f = {"add": lambda m, x, y: x + y if x.dtype != m.bool or y.dtype != m.bool else x * y,
         "mul": lambda m, x, y: x * y, "maximum": lambda m, x, y: x.maximum(y),
         "where": lambda m, x, y: m.where(x > 0, x, y), "cat": lambda m, x, y: m.cat([x, y])}[op]
    shapes = [((2,), (2,))] if op == "cat" else [((2,), (2,)), ((), (2,)), ((2,), ())]
    wrong = []
    for da in DTYPES:
        for db in DTYPES:
            for sa, sb in shapes:
                lo = f(lumen, lumen.ones(sa, dtype=da), lumen.ones(sb, dtype=db))
                to = f(torch, torch.ones(sa, dtype=getattr(torch, da)), torch.ones(sb, dtype=getattr(torch, db)))
                if lo.dtype.name != str(to.dtype).replace("torch.", "") or lo.shape != tuple(to.shape):
                    wrong.append(f"{da}{list(sa)} {op} {db}{list(sb)}: lumen {lo.dtype} torch {to.dtype}")
    assert not wrong, "\n".join(wrong)


def test_zero_dim_tensors_and_matmul_promotion_match_torch():
    cases = [
        (lumen.tensor([1, 2], dtype="int32") * lumen.tensor(2.5, dtype="float64"),
         torch.tensor([1, 2], dtype=torch.int32) * torch.tensor(2.5, dtype=torch.float64)),
        (lumen.tensor([1.0], dtype="float16") + lumen.tensor(1.0, dtype="float64"),
         torch.tensor([1.0], dtype=torch.float16) + torch.tensor(1.0, dtype=torch.float64)),
        (lumen.tensor(3) * 0.5, torch.tensor(3) * 0.5),
        (lumen.tensor(3, dtype="uint8") + lumen.tensor([1], dtype="int8"),
         torch.tensor(3, dtype=torch.uint8) + torch.tensor([1], dtype=torch.int8)),
        (lumen.tensor([1.0, 2.0]) @ lumen.tensor([1.0, 2.0], dtype="float64"),
         torch.tensor([1.0, 2.0]).double() @ torch.tensor([1.0, 2.0], dtype=torch.float64)),
        (lumen.tensor([1, 2]).sum(), torch.tensor([1, 2]).sum()),
        (lumen.tensor([True, True]).sum(), torch.tensor([True, True]).sum()),
        (lumen.tensor([1, 2], dtype="uint8").sum(), torch.tensor([1, 2], dtype=torch.uint8).sum()),
        (lumen.tensor([1, 2]).exp(), torch.tensor([1, 2]).exp()),
        (lumen.tensor([1, 4]).sqrt(), torch.tensor([1, 4]).sqrt()),
        (lumen.where(lumen.tensor([True, False]), lumen.tensor([1, 2]), 0.5),
         torch.where(torch.tensor([True, False]), torch.tensor([1, 2]), 0.5)),
    ]
    for lo, to in cases:
        assert lo.dtype.name == str(to.dtype).replace("torch.", "")
        np.testing.assert_allclose(np.asarray(lo.tolist(), np.float64), np.asarray(to.tolist(), np.float64),
                                   rtol=1e-6)


def test_float32_chain_matches_torch_in_float32():
    xl, xt = pair(4, 5, dtype=np.float32)
    wl, wt = pair(5, 3, seed=1, dtype=np.float32)
    lo = ((xl @ wl).tanh() * 2.5 + 1).sigmoid().mean()
    to = ((xt @ wt).tanh() * 2.5 + 1).sigmoid().mean()
    assert lo.dtype is lumen.float32
    lo.backward()
    to.backward()
    np.testing.assert_allclose(lo.item(), to.item(), rtol=1e-6)
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(wl.grad.numpy(), wt.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert xl.grad.dtype is lumen.float32


def test_double_backward_matches_torch():
    xl, xt = pair(3, 3, seed=4)
    outs = []
    for x, mod in ((xl, lumen), (xt, torch)):
        y = (x.tanh() * x).sum()
        (g,) = mod.autograd.grad(y, x, create_graph=True)
        (g * g).sum().backward()
        outs.append(x.grad.detach().numpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-10)


def test_dlpack_with_torch():
    lt = lumen.tensor([[1.0, 2.0], [3.0, 4.0]])
    tt = torch.from_dlpack(lt)
    tt[0, 0] = 10.0
    assert lt[0, 0].item() == 10.0
    back = lumen.from_dlpack(torch.arange(6, dtype=torch.float64).reshape(2, 3))
    assert back.dtype is lumen.float64 and back.shape == (2, 3)
    np.testing.assert_array_equal(back.numpy(), np.arange(6.0).reshape(2, 3))
    src = torch.zeros(3)
    shared = lumen.from_dlpack(src)
    src[1] = 5.0
    assert shared.tolist() == [0.0, 5.0, 0.0]
