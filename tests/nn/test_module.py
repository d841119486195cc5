"""Module: registration, traversal, state dicts, modes, conversion, hooks, repr."""
import copy
from collections import OrderedDict

import numpy as np
import pytest

import lumen
import lumen.nn as nn


class Affine(nn.Module):
    """A layer built only from core ops, so these tests do not depend on nn.functional."""

    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(lumen.ones(n))
        self.bias = nn.Parameter(lumen.zeros(n))
        self.register_buffer("count", lumen.tensor(0, dtype=lumen.int64))
        self.register_buffer("scratch", lumen.zeros(n), persistent=False)

    def forward(self, x):
        return x * self.weight + self.bias

    def extra_repr(self):
        return f"n={self.weight.shape[0]}"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Affine(3), nn.ReLU(), Affine(3))
        self.head = Affine(3)

    def forward(self, x):
        return self.head(self.features(x))


def test_parameter_is_a_tensor_sharing_storage():
    t = lumen.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, lumen.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    with lumen.no_grad():
        p.mul_(3)
    np.testing.assert_array_equal(t.numpy(), [3.0, 6.0])  # same storage
    assert repr(p).startswith("Parameter containing:\ntensor([3., 6.]")
    assert not nn.Parameter(np.zeros(2, np.float32), requires_grad=False).requires_grad
    y = p * 2
    assert type(y) is lumen.Tensor


def test_registration_by_assignment_and_lookup():
    m = Affine(2)
    assert list(m._parameters) == ["weight", "bias"]
    assert list(m._buffers) == ["count", "scratch"]
    m.extra = nn.Parameter(lumen.zeros(1))
    assert "extra" in m._parameters and m.extra is m._parameters["extra"]
    m.child = nn.ReLU()
    assert "child" in m._modules
    m.plain = 5
    assert m.plain == 5 and "plain" not in m._parameters
    # reassigning a registered name keeps its kind
    m.count = lumen.tensor(7, dtype=lumen.int64)
    assert m._buffers["count"].item() == 7
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        m.weight = lumen.ones(2)
    m.weight = None
    assert m.weight is None and "weight" in m._parameters
    with pytest.raises(TypeError, match="child module 'child'"):
        m.child = 3
    del m.extra
    assert "extra" not in m._parameters
    with pytest.raises(AttributeError, match="'Affine' object has no attribute 'nope'"):
        m.nope
    with pytest.raises(KeyError, match='buffer name can.{1,3}t contain'):
        m.register_buffer("a.b", lumen.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_parameter("plain", None)
    with pytest.raises(TypeError, match="lumen.Tensor or None required"):
        m.register_buffer("b", np.zeros(1))


def test_assignment_before_init_is_an_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(lumen.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_named_parameters_buffers_modules():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias",
                     "head.weight", "head.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "features.0.count", "features.0.scratch", "features.2.count", "features.2.scratch",
        "head.count", "head.scratch"]
    assert [n for n, _ in net.named_modules()] == ["", "features", "features.0", "features.1",
                                                    "features.2", "head"]
    assert [n for n, _ in net.named_children()] == ["features", "head"]
    assert [n for n, _ in net.named_parameters(prefix="model", recurse=False)] == []
    assert [n for n, _ in net.head.named_parameters(prefix="h")] == ["h.weight", "h.bias"]
    assert len(list(net.parameters())) == 6 and len(list(net.modules())) == 6


def test_shared_parameters_and_modules_are_listed_once():
    net = Net()
    net.head.weight = net.features[0].weight
    assert len(list(net.parameters())) == 5
    shared = Affine(2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.modules())) == 2 and len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "0.count", "1.weight", "1.bias", "1.count"]


def test_state_dict_detached_shared_storage_and_excludes_non_persistent():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["features.0.weight", "features.0.bias", "features.0.count",
                        "features.2.weight", "features.2.bias", "features.2.count",
                        "head.weight", "head.bias", "head.count"]
    assert all(not v.requires_grad and type(v) is lumen.Tensor for v in sd.values())
    with lumen.no_grad():
        net.head.weight.fill_(4.0)
    np.testing.assert_array_equal(sd["head.weight"].numpy(), [4, 4, 4])
    assert net.state_dict(keep_vars=True)["head.weight"] is net.head.weight


def test_load_state_dict_copies_in_place_with_cast():
    src, dst = Net(), Net()
    with lumen.no_grad():
        src.features[0].weight.copy_(lumen.tensor([1.0, 2.0, 3.0]))
        src.head.count.fill_(9)
    w_before = dst.features[0].weight
    version = w_before._version
    sd = src.state_dict()
    sd["head.bias"] = sd["head.bias"].double()  # cast back to the module's dtype
    sd["features.2.bias"] = np.array([5.0, 6.0, 7.0])  # numpy arrays are accepted too
    missing, unexpected = dst.load_state_dict(sd)
    assert missing == [] and unexpected == []
    assert dst.features[0].weight is w_before and w_before._version > version
    np.testing.assert_array_equal(w_before.detach().numpy(), [1, 2, 3])
    assert dst.head.bias.dtype == lumen.float32 and dst.head.count.item() == 9
    np.testing.assert_array_equal(dst.features[2].bias.detach().numpy(), [5, 6, 7])


def test_load_state_dict_strict_error_lists_every_problem():
    net = Net()
    sd = net.state_dict()
    del sd["head.bias"]
    sd["head.extra"] = lumen.zeros(1)
    sd["bogus.weight"] = lumen.zeros(1)
    sd["features.0.weight"] = lumen.zeros(4)
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:")
    assert 'Missing key(s) in state_dict: "head.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "bogus.weight", "head.extra"' in msg
    assert ("size mismatch for features.0.weight: copying a param with shape (4,) from checkpoint, "
            "the shape in current model is (3,)") in msg


def test_load_state_dict_non_strict_reports_and_still_checks_shapes():
    net = Net()
    sd = net.state_dict()
    del sd["head.bias"]
    sd["head.extra"] = lumen.zeros(1)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["head.bias"] and unexpected == ["head.extra"]
    sd["head.weight"] = lumen.zeros(2)
    with pytest.raises(RuntimeError, match="size mismatch for head.weight"):
        net.load_state_dict(sd, strict=False)


def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.features.train()
    assert net.features[1].training and not net.head.training and not net.training
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")


def test_zero_grad_and_requires_grad():
    net = Net()
    x = lumen.ones(2, 3)
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_to_keeps_parameter_identity_and_integer_buffers():
    net = Net()
    params = list(net.parameters())
    net(lumen.ones(1, 3)).sum().backward()
    assert net.double() is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype == lumen.float64 and p.grad.dtype == lumen.float64 for p in params)
    assert net.head.count.dtype == lumen.int64
    assert net.head.scratch.dtype == lumen.float64
    net.to(lumen.float32)
    assert all(p.dtype == lumen.float32 for p in net.parameters())
    net.to("cpu")
    assert all(p.device == lumen.device("cpu") for p in net.parameters())
    with pytest.raises(TypeError, match="floating point"):
        net.to(lumen.int64)


def test_apply_visits_children_first():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Affine", "ReLU", "Affine", "Sequential", "Affine", "Net"]


def test_forward_hooks():
    m = Affine(2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    y = m(lumen.ones(2))
    np.testing.assert_array_equal(y.detach().numpy(), [3, 3])
    assert calls == [(2,)]
    h1.remove()
    h2.remove()
    np.testing.assert_array_equal(m(lumen.ones(2)).detach().numpy(), [1, 1])


def test_repr_nested_like_pytorch():
    net = Net()
    assert repr(net) == (
        "Net(\n"
        "  (features): Sequential(\n"
        "    (0): Affine(n=3)\n"
        "    (1): ReLU()\n"
        "    (2): Affine(n=3)\n"
        "  )\n"
        "  (head): Affine(n=3)\n"
        ")")
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"


def test_module_without_forward():
    with pytest.raises(NotImplementedError, match="Module is missing the required 'forward'"):
        nn.Module()(1)


def test_deepcopy_is_independent():
    net = Net()
    clone = copy.deepcopy(net)
    with lumen.no_grad():
        clone.head.weight.fill_(7.0)
    assert net.head.weight.detach().numpy().tolist() == [1, 1, 1]
    assert isinstance(clone.head.weight, nn.Parameter) and clone.head.weight.requires_grad


def test_sequential_indexing_slicing_append():
    a, b, c = nn.ReLU(), nn.Identity(), nn.ReLU(inplace=True)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b
    seq.append(c)
    assert seq[2] is c
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    assert list(sub._modules) == ["1", "2"]  # PyTorch keeps the names of a slice
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    del seq[0]
    assert list(seq._modules) == ["0", "1"] and seq[0] is b
    named = nn.Sequential(OrderedDict([("conv", a), ("act", b)]))
    assert named.conv is a and named[1] is b
    x = lumen.tensor([-1.0, 2.0])
    np.testing.assert_array_equal(nn.Sequential(Affine(2), Affine(2))(x).detach().numpy(), [-1, 2])


def test_module_list_and_dict():
    layers = nn.ModuleList([Affine(2) for _ in range(3)])
    holder = nn.Module()
    holder.layers = layers
    holder.heads = nn.ModuleDict({"a": Affine(2), "b": nn.ReLU()})
    assert len(layers) == 3 and isinstance(layers[1:], nn.ModuleList)
    layers.append(nn.ReLU())
    assert [n for n, _ in holder.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight",
        "layers.2.bias", "heads.a.weight", "heads.a.bias"]
    assert list(holder.heads.keys()) == ["a", "b"] and "a" in holder.heads
    with pytest.raises(TypeError, match="container"):
        layers(lumen.ones(1))


# ---- PyTorch's Module API, compared with torch where torch defines the answer ---------------------------
def _torch():
    return pytest.importorskip("torch")


def test_forward_hooks_kwargs_prepend_always_call_and_remove():
    class Scale(nn.Module):
        def forward(self, x, *, factor=1.0):
            if factor == 0:
                raise ValueError("factor 0")
            return x * factor

    m, order = Scale(), []
    h1 = m.register_forward_hook(lambda mod, args, out: order.append("a"))
    h2 = m.register_forward_hook(lambda mod, args, kwargs, out: order.append(("b", kwargs)) or out + 10,
                                 with_kwargs=True, prepend=True)
    pre = m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"factor": kwargs["factor"] * 2}),
                                      with_kwargs=True)
    y = m(lumen.ones(2), factor=3.0)
    np.testing.assert_array_equal(y.numpy(), [16, 16])
    assert order == [("b", {"factor": 6.0}), "a"]
    pre.remove()
    h2.remove()
    assert not m._forward_hooks_with_kwargs and not m._forward_pre_hooks_with_kwargs
    seen = []
    m.register_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
    with pytest.raises(ValueError, match="factor 0"):
        m(lumen.ones(2), factor=0)
    assert seen == [None]
    h1.remove()
    bad = m.register_forward_pre_hook(lambda mod, args, kwargs: args, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"must return None or a tuple of \(new_args, new_kwargs\)"):
        m(lumen.ones(2))
    bad.remove()
    m.register_forward_pre_hook(lambda mod, args: args[0] + 1)  # a non-tuple result is the one argument
    np.testing.assert_array_equal(m(lumen.ones(2), factor=2.0).numpy(), [4, 4])


class _Pair(nn.Module):
    """Two tensors in (and a non-tensor), two out: the shape of grad_input/grad_output torch documents."""

    def forward(self, x, y, scale):
        return x * y * scale, x + y


def _torch_pair(torch):
    class Pair(torch.nn.Module):
        def forward(self, x, y, scale):
            return x * y * scale, x + y

    return Pair()


def _run_backward_hooks(lib, module, x, y, replace):
    records = []

    def hook(mod, grad_input, grad_output):
        records.append(("hook", [None if g is None else g.detach().numpy().copy() for g in grad_input],
                        [None if g is None else g.detach().numpy().copy() for g in grad_output]))
        if replace:
            return tuple(None if g is None else g * 3 for g in grad_input)

    def pre_hook(mod, grad_output):
        records.append(("pre", len(grad_output)))
        if replace:
            return (grad_output[0] * 2, grad_output[1])

    module.register_full_backward_hook(hook)
    module.register_full_backward_pre_hook(pre_hook)
    a, b = module(x, y, 2.0)
    (a.sum() + (b * b).sum()).backward()
    return records


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("y_requires_grad", [True, False])
def test_full_backward_hooks_match_torch(replace, y_requires_grad):
    torch = _torch()
    rng = np.random.default_rng(0)
    xv, yv = rng.standard_normal(3), rng.standard_normal(3)
    x, y = lumen.tensor(xv, requires_grad=True), lumen.tensor(yv, requires_grad=y_requires_grad)
    tx, ty = torch.tensor(xv, requires_grad=True), torch.tensor(yv, requires_grad=y_requires_grad)
    ours = _run_backward_hooks(lumen, _Pair(), x, y, replace)
    theirs = _run_backward_hooks(torch, _torch_pair(torch), tx, ty, replace)
    assert [r[0] for r in ours] == [r[0] for r in theirs] == ["pre", "hook"]
    assert ours[0] == theirs[0]
    for mine, ref in zip(ours[1][1:], theirs[1][1:]):
        assert [m is None for m in mine] == [r is None for r in ref]
        for m, r in zip(mine, ref):
            if r is not None:
                np.testing.assert_allclose(m, r, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    if y_requires_grad:
        np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-12)


def test_full_backward_hook_without_input_grads_and_removal():
    m = nn.Linear(2, 2)
    calls = []
    handle = m.register_full_backward_hook(lambda mod, gi, go: calls.append((gi, go[0].shape)))
    with pytest.warns(UserWarning, match="no inputs require gradients"):
        m(lumen.ones((1, 2))).sum().backward()
    assert calls == [((None,), (1, 2))]
    handle.remove()
    m(lumen.ones((1, 2))).sum().backward()
    assert len(calls) == 1
    bad = m.register_full_backward_hook(lambda mod, gi, go: (go[0], go[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        m(lumen.ones((1, 2), requires_grad=True)).sum().backward()
    bad.remove()
    with lumen.no_grad():  # no tape, no hook
        m.register_full_backward_hook(lambda mod, gi, go: calls.append("never"))
        assert m(lumen.ones((1, 2), requires_grad=True)).grad_fn is None


def _block(lib):
    """The same small block as a Lumen and as a torch module (lib is lumen.nn or torch.nn)."""

    class Block(lib.Module):
        def __init__(self):
            super().__init__()
            self.conv = lib.Conv2d(1, 2, 3, padding=1)
            self.act = lib.ReLU()

        def forward(self, x):
            return self.act(self.conv(x))

    return Block()


def _models(torch):
    def build(lib):
        return lib.Sequential(_block(lib), lib.MaxPool2d(2), lib.Flatten(), lib.Linear(8, 3), lib.Dropout(0.25),
                              lib.ModuleDict({"out": lib.Linear(3, 1, bias=False)}))

    return build(nn), build(torch.nn)


def test_repr_of_a_nested_model_is_torch_s():
    torch = _torch()
    mine, theirs = _models(torch)
    assert repr(mine) == repr(theirs)
    assert "(0): Block(\n    (conv): Conv2d(1, 2, kernel_size=(3, 3)" in repr(mine)
    assert repr(nn.Linear(2, 3)) == repr(torch.nn.Linear(2, 3))


def test_load_state_dict_keys_and_errors_as_torch():
    torch = _torch()
    mine, theirs = _models(torch)
    assert list(mine.state_dict()) == list(theirs.state_dict())
    full = mine.state_dict()
    result = mine.load_state_dict(full)
    assert result == ([], []) and repr(result) == "<All keys matched successfully>"
    assert result.missing_keys == [] and result.unexpected_keys == []
    broken = {k: v for k, v in full.items() if k != "3.bias"}
    broken["3.extra"] = lumen.zeros(1)
    broken["5"] = lumen.zeros(1)
    t_broken = {k: torch.tensor(v.numpy()) for k, v in broken.items()}
    keys = mine.load_state_dict(broken, strict=False)
    t_keys = theirs.load_state_dict(t_broken, strict=False)
    assert keys == tuple(t_keys) and repr(keys) == repr(t_keys)
    with pytest.raises(RuntimeError) as ours:
        mine.load_state_dict(broken)
    with pytest.raises(RuntimeError) as ref:
        theirs.load_state_dict(t_broken)
    assert str(ours.value) == str(ref.value)
    with pytest.raises(RuntimeError, match=r"size mismatch for 3.weight: copying a param with shape \(2, 8\)"):
        mine.load_state_dict({**full, "3.weight": lumen.zeros((2, 8))}, strict=False)


def test_load_state_dict_assign_and_state_dict_options():
    m = Affine(2)
    new_weight = lumen.tensor([5.0, 6.0], dtype=lumen.float64)
    old = m.weight
    m.load_state_dict({"weight": new_weight, "bias": lumen.zeros(2), "count": lumen.tensor(3)}, assign=True)
    assert m.weight is not old and isinstance(m.weight, nn.Parameter) and m.weight.requires_grad
    assert m.weight.dtype is lumen.float64 and m.count.item() == 3
    np.testing.assert_array_equal(m.weight.detach().numpy(), [5, 6])
    kept = m.state_dict(prefix="net.", keep_vars=True)
    assert list(kept) == ["net.weight", "net.bias", "net.count"]
    assert kept["net.weight"] is m.weight
    assert not m.state_dict()["weight"].requires_grad


def test_get_parameter_buffer_submodule():
    net = Net()
    assert net.get_parameter("features.0.weight") is net.features[0].weight
    assert net.get_buffer("head.count") is net.head.count
    assert net.get_submodule("features.2") is net.features[2]
    with pytest.raises(AttributeError, match="`count` is not an nn.Parameter"):
        net.get_parameter("head.count")
    with pytest.raises(AttributeError, match="`weight` is not a buffer"):
        net.get_buffer("head.weight")
    with pytest.raises(AttributeError, match="Sequential has no attribute `7`"):
        net.get_submodule("features.7")
    with pytest.raises(AttributeError, match="`weight` is not an nn.Module"):
        net.get_submodule("head.weight")


def test_non_persistent_buffers_traversal_and_named_modules_options():
    net = Net()
    assert "head.scratch" not in net.state_dict()
    assert "head.scratch" in dict(net.named_buffers())
    shared = Affine(1)
    outer = nn.Sequential(shared, shared)
    assert [n for n, _ in outer.named_modules()] == ["", "0"]
    assert [n for n, _ in outer.named_modules(remove_duplicate=False)] == ["", "0", "1"]
    assert [n for n, _ in outer.named_modules(prefix="model")] == ["model", "model.0"]
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert len(list(net.head.parameters(recurse=False))) == 2
    assert [n for n, _ in net.named_children()] == ["features", "head"]
    assert net.train() is net and net.eval() is net and not net.features[0].training


def test_conversions_and_type():
    m = Affine(2)
    assert m.double() is m and m.weight.dtype is lumen.float64 and m.count.dtype is lumen.int64
    m.half()
    assert m.weight.dtype is lumen.float16
    m.to("cpu", lumen.float32, non_blocking=True)
    assert m.weight.dtype is lumen.float32
    m.type(lumen.float64)
    assert m.weight.dtype is lumen.float64 and m.count.dtype is lumen.float64  # type() casts every buffer
    with pytest.raises(TypeError, match="only accepts floating point"):
        m.to(lumen.int32)


def test_setattr_delattr_dir_and_register_module():
    m = Affine(2)
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        m.weight = lumen.ones(2)
    m.register_module("child", nn.ReLU())
    m.add_module("other", None)
    assert list(m._modules) == ["child", "other"] and m.other is None
    m.count = lumen.tensor(5)
    assert m._buffers["count"].item() == 5
    assert {"weight", "bias", "count", "child", "forward"} <= set(dir(m))
    del m.child, m.weight, m.count
    assert "child" not in m._modules and "weight" not in m._parameters and "count" not in m._buffers
    with pytest.raises(AttributeError):
        m.weight
    m.register_parameter("weight", None)
    assert list(m.named_parameters()) == [("bias", m.bias)]
    with pytest.raises(KeyError, match="attribute 'bias' already exists"):
        m.register_buffer("bias", lumen.ones(1))
    assert m.requires_grad_(False) is m and not m.bias.requires_grad
    m.bias.grad = lumen.ones(2)
    m.zero_grad()
    assert m.bias.grad is None


def test_a_module_pickled_before_the_backward_hook_registries_loads_and_runs():
    import pickle

    m = Affine(2)
    state = m.__dict__.copy()
    for name, _ in nn.Module._HOOK_STATE:
        del state[name]
    old = Affine.__new__(Affine)
    old.__setstate__(state)
    np.testing.assert_array_equal(old(lumen.ones(2)).detach().numpy(), [1, 1])
    handle = old.register_full_backward_hook(lambda mod, gi, go: None)
    handle.remove()
    again = pickle.loads(pickle.dumps(old))
    assert isinstance(again._backward_hooks, OrderedDict)
    np.testing.assert_array_equal(again(lumen.ones(2)).detach().numpy(), [1, 1])


def test_in_place_write_to_a_backward_hooked_output_is_caught():
    class Squash(nn.Module):
        def forward(self, x):
            return x.sigmoid()  # saves its output for backward

    m = Squash()
    m.register_full_backward_hook(lambda mod, gi, go: None)
    x = lumen.randn(3, requires_grad=True)
    y = m(x)
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


def _with_extra_state(lib):
    class Configured(lib.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.Linear(2, 2)
            self.config = {"classes": 21}

        def get_extra_state(self):
            return self.config

        def set_extra_state(self, state):
            self.config = state

    return Configured()


def test_extra_state_round_trip_and_missing_key_as_torch():
    torch = _torch()
    mine, theirs = _with_extra_state(nn), _with_extra_state(torch.nn)
    state = mine.state_dict()
    assert list(state) == list(theirs.state_dict()) == ["_extra_state", "fc.weight", "fc.bias"]
    other = _with_extra_state(nn)
    other.config = {}
    assert other.load_state_dict(state) == ([], [])
    assert other.config == {"classes": 21}
    del state["_extra_state"]
    t_state = theirs.state_dict()
    del t_state["_extra_state"]
    assert tuple(mine.load_state_dict(state, strict=False)) == tuple(theirs.load_state_dict(t_state, strict=False))
    with pytest.raises(RuntimeError) as ours:
        mine.load_state_dict(state)
    with pytest.raises(RuntimeError) as ref:
        theirs.load_state_dict(t_state)
    assert str(ours.value) == str(ref.value)
    with pytest.raises(RuntimeError, match="should never be called"):
        nn.Linear(1, 1).get_extra_state()


def test_set_submodule():
    net = Net()
    new = Affine(3)
    net.set_submodule("features.1", new)
    assert net.features[1] is new
    net.set_submodule("extra", nn.ReLU())
    assert isinstance(net.extra, nn.ReLU)
    with pytest.raises(AttributeError, match="has no attribute `missing`"):
        net.set_submodule("missing", nn.ReLU(), strict=True)
    with pytest.raises(AttributeError, match="`weight` is not an nn.Module"):
        net.set_submodule("head.weight", nn.ReLU())
    with pytest.raises(ValueError, match="is not an nn.Module"):
        net.set_submodule("head", lumen.ones(1))
    with pytest.raises(ValueError, match="without a target name"):
        net.set_submodule("", nn.ReLU())


def test_to_empty_keeps_shapes_dtypes_and_identity():
    net = Net()
    weight = net.head.weight
    assert net.to_empty(device="cpu") is net
    assert net.head.weight is weight and weight.shape == (3,) and weight.dtype is lumen.float32
    assert net.head.count.dtype is lumen.int64
    own = Affine(2)
    own.inner = Affine(2)
    with lumen.no_grad():
        own.inner.weight.fill_(7.0)
    own.to_empty(device="cpu", recurse=False)
    np.testing.assert_array_equal(own.inner.weight.detach().numpy(), [7, 7])  # not this module's own
