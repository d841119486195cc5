"""Layers of issue 14 against torch.nn: normalisation (training/eval, running stats), Embedding/EmbeddingBag,
Bilinear, Flatten/Unflatten, and the containers (Sequential, ModuleList/Dict, ParameterList/Dict)."""
from collections import OrderedDict

import numpy as np
import pytest

import lumen
import lumen.nn as nn

torch = pytest.importorskip("torch")


def _copy_from(module, tmodule):
    module.load_state_dict({k: lumen.tensor(v.detach().numpy()) for k, v in tmodule.state_dict().items()})


def _state_matches(module, tmodule, rtol=1e-10):
    ours, theirs = module.state_dict(), tmodule.state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        np.testing.assert_allclose(ours[k].numpy(), theirs[k].numpy(), rtol=rtol, atol=1e-12, err_msg=k)


def _run_steps(module, tmodule, shape, steps=3, seed=0):
    """A few training steps then eval: outputs, input gradients and state compared."""
    rng = np.random.default_rng(seed)
    for step in range(steps + 1):
        if step == steps:
            module.eval(), tmodule.eval()
        a = rng.standard_normal(shape) * 2 + 1
        x, tx = lumen.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        y, ty = module(x), tmodule(tx)
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-9, atol=1e-11)
        g = rng.standard_normal(shape)
        (y * lumen.tensor(g)).sum().backward()
        (ty * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-8, atol=1e-10)
        _state_matches(module, tmodule)
    for (name, p), (_, tp) in zip(module.named_parameters(), tmodule.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("name,shape", [("BatchNorm1d", (5, 3)), ("BatchNorm1d", (4, 3, 6)),
                                        ("BatchNorm2d", (2, 3, 4, 2)), ("BatchNorm3d", (2, 3, 2, 2, 3))])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"affine": False, "momentum": 0.5},
                                    {"track_running_stats": False}, {"bias": False}])
def test_batch_norm_layers_match_torch(name, shape, kwargs):
    m = getattr(nn, name)(3, dtype=lumen.float64, **kwargs)
    tm = getattr(torch.nn, name)(3, dtype=torch.float64, **kwargs)
    assert repr(m) == repr(tm)
    _run_steps(m, tm, shape)


def test_batch_norm_input_rank_errors():
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D or 3D input \(got 4D input"):
        nn.BatchNorm1d(3)(lumen.ones((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(got 3D input"):
        nn.BatchNorm2d(3)(lumen.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"BatchNorm3d: expected 5D input \(got 4D input"):
        nn.BatchNorm3d(3)(lumen.ones((2, 3, 4, 4)))


@pytest.mark.parametrize("name,shape", [("InstanceNorm1d", (2, 3, 5)), ("InstanceNorm1d", (3, 5)),
                                        ("InstanceNorm2d", (2, 3, 4, 3)), ("InstanceNorm2d", (3, 4, 3)),
                                        ("InstanceNorm3d", (2, 3, 2, 2, 3))])
@pytest.mark.parametrize("kwargs", [{}, {"affine": True}, {"affine": True, "track_running_stats": True, "bias": False},
                                    {"track_running_stats": True, "momentum": 0.4}])
def test_instance_norm_layers_match_torch(name, shape, kwargs):
    m = getattr(nn, name)(3, dtype=lumen.float64, **kwargs)
    tm = getattr(torch.nn, name)(3, dtype=torch.float64, **kwargs)
    assert repr(m) == repr(tm)
    _run_steps(m, tm, shape)


def test_instance_norm_channel_checks():
    with pytest.raises(ValueError, match=r"InstanceNorm1d: expected input's size at dim=1 to match num_features"):
        nn.InstanceNorm1d(3, affine=True)(lumen.ones((2, 4, 5)))
    with pytest.warns(UserWarning, match="input's size at dim=1 does not match num_features"):
        nn.InstanceNorm1d(3)(lumen.randn(2, 4, 5))
    with pytest.raises(ValueError, match=r"InstanceNorm2d: expected 3D or 4D input \(got 2D input"):
        nn.InstanceNorm2d(3)(lumen.ones((2, 3)))


@pytest.mark.parametrize("make", [lambda m: m.GroupNorm(2, 4), lambda m: m.GroupNorm(4, 4, affine=False),
                                  lambda m: m.GroupNorm(1, 4, eps=1e-3), lambda m: m.GroupNorm(2, 4, bias=False)])
def test_group_norm_layer_matches_torch(make):
    m, tm = make(nn).double(), make(torch.nn).double()
    assert repr(m) == repr(tm)
    for p in tm.parameters():
        p.data.normal_()
    _copy_from(m, tm)
    _run_steps(m, tm, (2, 4, 3, 2))
    with pytest.raises(ValueError, match=r"num_channels \(4\) must be divisible by num_groups \(3\)"):
        nn.GroupNorm(3, 4)


@pytest.mark.parametrize("make", [lambda m: m.LayerNorm(5), lambda m: m.LayerNorm([3, 5], elementwise_affine=False),
                                  lambda m: m.LayerNorm((5,), bias=False), lambda m: m.LayerNorm(5, eps=1e-2)])
def test_layer_norm_layer_matches_torch(make):
    m, tm = make(nn).double(), make(torch.nn).double()
    assert repr(m) == repr(tm) and m.normalized_shape == tm.normalized_shape
    if m.elementwise_affine:
        for p in tm.parameters():
            p.data.normal_()
        _copy_from(m, tm)
    _run_steps(m, tm, (2, 3, 5))


def test_local_response_norm_repr():
    assert repr(nn.LocalResponseNorm(2)) == repr(torch.nn.LocalResponseNorm(2))


# ---- Embedding and EmbeddingBag -----------------------------------------------------------------------------
def test_embedding_layer_init_repr_forward_and_from_pretrained():
    lumen.manual_seed(0)
    m = nn.Embedding(1000, 20, padding_idx=-1)
    assert m.padding_idx == 999 and m.weight.shape == (1000, 20) and m.weight.requires_grad
    w = m.weight.detach().numpy()
    assert np.all(w[999] == 0) and abs(w[:999].mean()) < 0.02 and abs(w[:999].std() - 1) < 0.02
    for kwargs in ({}, {"padding_idx": 0, "max_norm": 1.0, "norm_type": 1.0, "scale_grad_by_freq": True}):
        assert repr(nn.Embedding(10, 3, **kwargs)) == repr(torch.nn.Embedding(10, 3, **kwargs))
    tm = torch.nn.Embedding(10, 3, padding_idx=2, dtype=torch.float64)
    m = nn.Embedding(10, 3, padding_idx=2, dtype=lumen.float64)
    _copy_from(m, tm)
    idx = np.array([[1, 2, 9], [2, 2, 0]])
    m(lumen.tensor(idx)).pow(2).sum().backward()
    tm(torch.tensor(idx)).pow(2).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-12)
    table = lumen.tensor([[1.0, 2.3, 3.0], [4.0, 5.1, 6.3]])
    frozen = nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad and frozen(lumen.tensor([1])).tolist()[0] == pytest.approx([4.0, 5.1, 6.3])
    assert nn.Embedding.from_pretrained(table, freeze=False, padding_idx=0).weight.requires_grad
    with pytest.raises(ValueError, match="Embedding: sparse=True .* is not supported"):
        nn.Embedding(3, 2, sparse=True)
    with pytest.raises(ValueError, match=r"padding_idx \(3\) must be within num_embeddings \(3\)"):
        nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(ValueError, match="from_pretrained: embeddings must be 2-dimensional"):
        nn.Embedding.from_pretrained(lumen.ones(3))


def test_embedding_bag_layer_matches_torch():
    for kwargs in ({}, {"mode": "sum", "padding_idx": 2}, {"mode": "max", "max_norm": 2.0}):
        assert repr(nn.EmbeddingBag(10, 3, **kwargs)) == repr(torch.nn.EmbeddingBag(10, 3, **kwargs))
    tm = torch.nn.EmbeddingBag(10, 3, mode="sum", dtype=torch.float64)
    m = nn.EmbeddingBag(10, 3, mode="sum", dtype=lumen.float64)
    _copy_from(m, tm)
    idx, offsets, psw = np.array([1, 2, 4, 5, 4, 3, 2, 9]), np.array([0, 4]), np.linspace(0.5, 2, 8)
    y = m(lumen.tensor(idx), lumen.tensor(offsets), lumen.tensor(psw))
    ty = tm(torch.tensor(idx), torch.tensor(offsets), torch.tensor(psw))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    y.sum().backward(), ty.sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-12)
    bag = nn.EmbeddingBag.from_pretrained(lumen.ones((4, 2)), mode="max")
    assert not bag.weight.requires_grad and bag(lumen.tensor([[0, 1]])).tolist() == [[1.0, 1.0]]


# ---- Bilinear, Identity, Flatten, Unflatten ----------------------------------------------------------------
def test_bilinear_layer_init_repr_and_forward():
    m, tm = nn.Bilinear(20, 30, 40), torch.nn.Bilinear(20, 30, 40)
    assert repr(m) == repr(tm) and repr(nn.Bilinear(2, 3, 4, bias=False)) == repr(torch.nn.Bilinear(2, 3, 4, False))
    bound = 1 / np.sqrt(20)
    w = m.weight.detach().numpy()
    assert w.shape == (40, 20, 30) and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    _copy_from(m, tm)
    rng = np.random.default_rng(0)
    a1, a2 = rng.standard_normal((2, 5, 20)).astype(np.float32), rng.standard_normal((2, 5, 30)).astype(np.float32)
    np.testing.assert_allclose(m(lumen.tensor(a1), lumen.tensor(a2)).detach().numpy(),
                               tm(torch.tensor(a1), torch.tensor(a2)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_identity_flatten_unflatten():
    x = lumen.randn(2, 12, 3)
    assert nn.Identity(54, unused="ignored")(x) is x and repr(nn.Identity()) == repr(torch.nn.Identity())
    for m, tm in ((nn.Flatten(), torch.nn.Flatten()), (nn.Flatten(0, 1), torch.nn.Flatten(0, 1)),
                  (nn.Unflatten(1, (3, 4)), torch.nn.Unflatten(1, (3, 4))),
                  (nn.Unflatten(-2, [2, -1]), torch.nn.Unflatten(-2, [2, -1]))):
        assert repr(m) == repr(tm)
        assert tuple(m(x).shape) == tuple(tm(torch.tensor(x.numpy())).shape)
    with pytest.raises(TypeError, match="Unflatten: unflattened_size must be a tuple or list of ints"):
        nn.Unflatten(1, 12)


# ---- containers -------------------------------------------------------------------------------------------
def _same_structure(ours, theirs):
    return repr(ours).replace("lumen.", "torch.") == repr(theirs)


def test_sequential_indexing_slicing_and_editing_as_torch():
    def build(m):
        return m.Sequential(m.Linear(2, 3), m.ReLU(), m.Linear(3, 3), m.Tanh())

    s, ts = build(nn), build(torch.nn)
    assert _same_structure(s, ts) and len(s) == 4
    assert isinstance(s[-1], nn.Tanh) and _same_structure(s[1:3], ts[1:3])
    assert list(s[1:3]._modules) == list(ts[1:3]._modules) == ["1", "2"]
    for seq in (s, ts):
        seq.append(type(seq[1])())
        seq.insert(1, type(seq[3])())
        seq.extend([type(seq[1])()])
        del seq[0]
        seq.pop(0)
    assert _same_structure(s, ts) and list(s._modules) == list(ts._modules)
    named = nn.Sequential(OrderedDict([("conv", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert named.conv is named[0] and list(dict(named.named_parameters())) == ["conv.weight", "conv.bias"]
    doubled = named * 2
    assert len(doubled) == 4 and doubled[2] is named[0]
    assert _same_structure(named + nn.Sequential(nn.Tanh()),
                           torch.nn.Sequential(OrderedDict([("conv", torch.nn.Linear(2, 2)), ("act", torch.nn.ReLU())]))
                           + torch.nn.Sequential(torch.nn.Tanh()))
    with pytest.raises(ValueError, match="add operator supports only objects of Sequential class"):
        named + [nn.Tanh()]
    with pytest.raises(IndexError, match="index 5 is out of range"):
        named[5]


def test_module_list_and_dict_as_torch():
    def build(m):
        return m.ModuleList([m.Linear(2, 2) for _ in range(3)] + [m.ReLU(), m.Linear(2, 2)])

    ml, tml = build(nn), build(torch.nn)
    assert repr(ml) == repr(tml) and repr(nn.ModuleList()) == repr(torch.nn.ModuleList())
    assert len(ml + ml) == 10 and isinstance(ml.pop(3), nn.ReLU) and len(ml) == 4
    ml += [nn.Tanh()]
    assert len(list(ml.parameters())) == 8 and isinstance(ml[-1], nn.Tanh)
    md = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Linear(1, 2)})
    tmd = torch.nn.ModuleDict({"a": torch.nn.ReLU(), "b": torch.nn.Linear(1, 2)})
    assert repr(md) == repr(tmd) and list(md.keys()) == ["a", "b"] and "b" in md
    assert list(dict(md.named_parameters())) == ["b.weight", "b.bias"]


def test_parameter_list_registration_state_and_repr():
    pl = nn.ParameterList([nn.Parameter(lumen.ones((3, 3))), lumen.zeros(3)])
    tpl = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(3, 3)), torch.zeros(3)])
    assert _same_structure(pl, tpl) and repr(nn.ParameterList()) == repr(torch.nn.ParameterList())
    assert isinstance(pl[1], nn.Parameter) and pl[1].requires_grad
    pl.append(nn.Parameter(lumen.ones(2)))
    pl.extend([lumen.ones(1)])
    assert len(pl) == 4 and [tuple(p.shape) for p in pl] == [(3, 3), (3,), (2,), (1,)]
    assert isinstance(pl[1:3], nn.ParameterList) and len(pl[1:3]) == 2 and pl[-1] is pl[3]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.params = nn.ParameterList([nn.Parameter(lumen.ones(2)) for _ in range(2)])

        def forward(self, x):
            for p in self.params:
                x = x * p
            return x

    model = Model()
    assert list(model.state_dict()) == ["params.0", "params.1"] and len(list(model.parameters())) == 2
    model(lumen.ones(2)).sum().backward()
    assert model.params[0].grad.tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable"):
        pl.extend(lumen.ones(2))


def test_parameter_dict_methods_and_repr():
    pd = nn.ParameterDict({"b": nn.Parameter(lumen.ones((3, 3))), "a": lumen.ones(3, dtype=lumen.float64)})
    tpd = torch.nn.ParameterDict({"b": torch.nn.Parameter(torch.ones(3, 3)), "a": torch.ones(3, dtype=torch.float64)})
    assert _same_structure(pd, tpd) and list(pd) == list(tpd) == ["a", "b"]  # a plain dict is sorted, as torch
    assert isinstance(pd["a"], nn.Parameter) and "a" in pd and len(pd) == 2
    pd["c"] = lumen.zeros(1)
    assert list(pd.keys()) == ["a", "b", "c"] and pd.get("z") is None and pd.setdefault("d", lumen.ones(1)) is pd["d"]
    key, value = pd.popitem()
    assert key == "d" and tuple(value.shape) == (1,)
    assert tuple(pd.pop("c").shape) == (1,) and list(pd) == ["a", "b"]
    merged = pd | {"e": lumen.ones(2)}
    assert list(merged) == ["a", "b", "e"] and list(pd) == ["a", "b"]
    assert list(dict(pd.named_parameters())) == ["a", "b"] and list(pd.copy()) == ["a", "b"]
    del pd["a"]
    pd.clear()
    assert len(pd) == 0 and list(pd.parameters()) == []
    with pytest.raises(TypeError, match="ParameterDict: keys must be strings"):
        pd[1] = lumen.ones(1)


# ---- the same layers on the CUDA backend --------------------------------------------------------------------
@pytest.mark.cuda
def test_layers_on_cuda_match_cpu():
    pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")
    F = lumen.nn.functional
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 5)) * 3
    w4, idx, offsets = rng.standard_normal(4), np.array([1, 2, 2, 0, 5, 3]), np.array([0, 2, 2])
    table = rng.standard_normal((6, 5))
    cases = {
        **{name: (lambda x, _w, _t, n=name: getattr(F, n)(x)) for name in
           ("elu", "selu", "gelu", "silu", "mish", "hardswish", "hardsigmoid", "relu6", "softplus", "logsigmoid",
            "softsign", "tanhshrink", "hardshrink", "softshrink")},
        "gelu_tanh": lambda x, _w, _t: F.gelu(x, approximate="tanh"),
        "celu": lambda x, _w, _t: F.celu(x, 0.5),
        "glu": lambda x, _w, _t: F.glu(x, 1),
        "prelu": lambda x, w, _t: F.prelu(x, w),
        "group_norm": lambda x, w, _t: F.group_norm(x, 2, w, w),
        "layer_norm": lambda x, _w, _t: F.layer_norm(x, (4, 5)),
        "instance_norm": lambda x, w, _t: F.instance_norm(x, weight=w),
        "rms_norm": lambda x, _w, _t: F.rms_norm(x, 5),
        "normalize": lambda x, _w, _t: F.normalize(x),
        "embedding": lambda x, _w, t: F.embedding(lumen.tensor(idx, device=t.device), t, padding_idx=2,
                                                   scale_grad_by_freq=True) * x.sum(),
        "embedding_bag_max": lambda x, _w, t: F.embedding_bag(lumen.tensor(idx, device=t.device), t,
                                                              lumen.tensor(offsets, device=t.device), mode="max"),
        "embedding_bag_mean": lambda x, _w, t: F.embedding_bag(lumen.tensor(idx, device=t.device), t,
                                                               lumen.tensor(offsets, device=t.device), padding_idx=0),
    }
    for name, fn in cases.items():
        results = []
        for device in ("cpu", "cuda"):
            x = lumen.tensor(a, device=device, requires_grad=True)
            w = lumen.tensor(w4, device=device, requires_grad=True)
            t = lumen.tensor(table, device=device, requires_grad=True)
            y = fn(x, w, t)
            (y * y).sum().backward()
            results.append([y.detach().cpu().numpy()] + [v.grad.cpu().numpy() for v in (x, w, t)
                                                         if v.grad is not None])
        for ours, ref in zip(results[1], results[0]):
            np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-11, err_msg=name)
    lumen.manual_seed(0)
    x = lumen.ones((4, 6, 3, 3), device="cuda")
    y = lumen.nn.Dropout2d(0.5)(x).cpu().numpy()
    assert np.all((y == 0) | (y == 2)) and np.all(y == y[..., :1, :1])
    bn = lumen.nn.BatchNorm1d(4).to("cuda")
    bn(lumen.randn(8, 4, device="cuda") * 3 + 1)
    assert bn.running_mean.device.type == "cuda" and int(bn.num_batches_tracked.item()) == 1


# ---- attention ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"batch_first": True}, {"kdim": 3, "vdim": 5}, {"add_bias_kv": True},
                                    {"add_zero_attn": True, "bias": False},
                                    {"add_bias_kv": True, "add_zero_attn": True}])
@pytest.mark.parametrize("masks", ["none", "bool", "float"])
def test_multihead_attention_matches_torch(kwargs, masks):
    rng = np.random.default_rng(0)
    m = nn.MultiheadAttention(8, 2, dtype=lumen.float64, **kwargs)
    tm = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64, **kwargs)
    assert repr(m) == repr(tm) and list(m.state_dict()) == list(tm.state_dict())
    for p in tm.parameters():
        p.data.normal_()
    _copy_from(m, tm)
    length, source, batch = 4, 5, 3
    kdim, vdim = kwargs.get("kdim", 8), kwargs.get("vdim", 8)
    shapes = [(length, batch, 8), (source, batch, kdim), (source, batch, vdim)]
    if kwargs.get("batch_first"):
        shapes = [(s[1], s[0], s[2]) for s in shapes]
    arrays = [rng.standard_normal(s) for s in shapes]
    extra, textra = {}, {}
    if masks != "none":
        padding = rng.random((batch, source)) < 0.3
        padding[:, 0] = False
        attn = rng.random((length, source)) < 0.3
        attn[:, 0] = False
        if masks == "float":
            padding, attn = rng.standard_normal((batch, source)), rng.standard_normal((length, source))
        extra = dict(key_padding_mask=lumen.tensor(padding), attn_mask=lumen.tensor(attn))
        textra = dict(key_padding_mask=torch.tensor(padding), attn_mask=torch.tensor(attn))
    ls = [lumen.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    for average in (True, False):
        out, w = m(*ls, average_attn_weights=average, **extra)
        tout, tw = tm(*ts, average_attn_weights=average, **textra)
        np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(tuple(out.shape))
    (out * lumen.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    for a, ta in zip(ls, ts):
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-9, atol=1e-11)
    for (name, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)
    out, w = m(*ls, need_weights=False, **extra)
    assert w is None


def test_multihead_attention_unbatched_and_errors():
    m, tm = nn.MultiheadAttention(6, 3, dtype=lumen.float64), torch.nn.MultiheadAttention(6, 3, dtype=torch.float64)
    _copy_from(m, tm)
    a = np.random.default_rng(1).standard_normal((4, 6))
    out, w = m(lumen.tensor(a), lumen.tensor(a), lumen.tensor(a))
    tout, tw = tm(torch.tensor(a), torch.tensor(a), torch.tensor(a))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10)
    assert tuple(w.shape) == tuple(tw.shape) == (4, 4)
    with pytest.raises(ValueError, match=r"embed_dim \(6\) must be divisible by num_heads \(4\)"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(RuntimeError, match="is_causal=True is a hint"):
        m(lumen.tensor(a), lumen.tensor(a), lumen.tensor(a), is_causal=True)


@pytest.mark.parametrize("case", ["plain", "bool_mask", "float_mask", "causal", "scale", "gqa"])
def test_scaled_dot_product_attention_matches_torch(case):
    F = lumen.nn.functional
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((2, 4, 5, 3)), rng.standard_normal((2, 4, 6, 3)), rng.standard_normal((2, 4, 6, 2))
    if case == "causal":
        k, v = k[:, :, :5], v[:, :, :5]
    if case == "gqa":
        k, v = k[:, :2], v[:, :2]
    kwargs, mask = {}, None
    if case == "bool_mask":
        mask = rng.random((5, 6)) < 0.7
        mask[:, 0] = True
    elif case == "float_mask":
        mask = rng.standard_normal((2, 1, 5, 6))
    kwargs = {"causal": {"is_causal": True}, "scale": {"scale": 0.25}, "gqa": {"enable_gqa": True}}.get(case, {})
    ls = [lumen.tensor(a, requires_grad=True) for a in (q, k, v)]
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    y = F.scaled_dot_product_attention(*ls, None if mask is None else lumen.tensor(mask), **kwargs)
    ty = torch.nn.functional.scaled_dot_product_attention(*ts, None if mask is None else torch.tensor(mask), **kwargs)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.pow(2).sum().backward(), ty.pow(2).sum().backward()
    for a, ta in zip(ls, ts):
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-9, atol=1e-11)
    from lumen.autograd import gradcheck
    small = [lumen.tensor(a[:1, :2], requires_grad=True) for a in (q, k, v)]
    assert gradcheck(lambda *t: F.scaled_dot_product_attention(*t, **kwargs), tuple(small))


def test_norm_layers_reset_parameters_to_torch_init():
    for make in (lambda m: m.BatchNorm1d(3), lambda m: m.InstanceNorm2d(3, affine=True, track_running_stats=True),
                 lambda m: m.GroupNorm(1, 3, bias=False), lambda m: m.LayerNorm(3), lambda m: m.RMSNorm(3),
                 lambda m: m.RMSNorm(3, elementwise_affine=False), lambda m: m.BatchNorm3d(3, affine=False)):
        m, tm = make(nn), make(torch.nn)
        for p in m.parameters():
            p.data = p.data * 3 + 1
        m.reset_parameters()
        ours = {k: v.numpy() for k, v in m.state_dict().items()}
        theirs = {k: v.numpy() for k, v in tm.state_dict().items()}
        assert list(ours) == list(theirs)
        for k in ours:
            np.testing.assert_array_equal(ours[k], theirs[k], err_msg=f"{m}: {k}")


def test_multi_head_attention_forward_functional_with_static_kv():
    rng = np.random.default_rng(3)
    e, heads, length, source, batch = 6, 2, 3, 4, 2
    arrays = dict(q=rng.standard_normal((length, batch, e)), k=rng.standard_normal((source, batch, e)),
                  v=rng.standard_normal((source, batch, e)), w=rng.standard_normal((3 * e, e)),
                  b=rng.standard_normal(3 * e), ow=rng.standard_normal((e, e)), ob=rng.standard_normal(e),
                  sk=rng.standard_normal((batch * heads, 5, e // heads)),
                  sv=rng.standard_normal((batch * heads, 5, e // heads)))
    ls = {n: lumen.tensor(a, requires_grad=True) for n, a in arrays.items()}
    ts = {n: torch.tensor(a, requires_grad=True) for n, a in arrays.items()}
    outs = []
    for lib, t in ((lumen, ls), (torch, ts)):
        out, w = lib.nn.functional.multi_head_attention_forward(
            t["q"], t["k"], t["v"], e, heads, t["w"], t["b"], None, None, False, 0.0, t["ow"], t["ob"],
            static_k=t["sk"], static_v=t["sv"], average_attn_weights=False)
        (out.pow(2).sum() + w.sum()).backward()
        grads = [t[n].grad.numpy() for n in arrays if t[n].grad is not None]
        outs.append([out.detach().numpy(), w.detach().numpy()] + grads)
    for ours, theirs in zip(*outs):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11)
