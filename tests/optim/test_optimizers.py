"""Optimisers: trajectories against hand-written updates and against PyTorch, groups, state dicts."""
import math

import numpy as np
import pytest

import lumen
import lumen.nn as nn
from lumen import optim

STEPS = 6


def _grad_fn(p):
    """A deterministic, state-dependent gradient (so a wrong update diverges from the reference)."""
    return 2.0 * (p - 0.5) + 0.3 * p ** 2 - 0.1 * np.sin(3 * p)


def _init(seed=0, shapes=((3, 4), (5,))):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _run_lumen(opt_cls, groups_kw, values, steps=STEPS, **kw):
    params = [nn.Parameter(lumen.tensor(v)) for v in values]
    groups = [dict(params=[p], **g) for p, g in zip(params, groups_kw)] if groups_kw else params
    opt = opt_cls(groups, **kw)
    traj = []
    for _ in range(steps):
        for p in params:
            p.grad = lumen.tensor(_grad_fn(p.detach().numpy()))
        opt.step()
        traj.append([p.detach().numpy().copy() for p in params])
    return traj, opt, params


# ---- hand-written references (run with or without torch) --------------------------------------

def _ref_sgd(values, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    ps = [v.copy() for v in values]
    bufs = [None] * len(ps)
    traj = []
    for _ in range(STEPS):
        for i, p in enumerate(ps):
            g = _grad_fn(p)
            g = -g if maximize else g
            g = g + weight_decay * p
            if momentum:
                bufs[i] = g.copy() if bufs[i] is None else momentum * bufs[i] + (1 - dampening) * g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            ps[i] = p - lr * g
        traj.append([p.copy() for p in ps])
    return traj


def _ref_adam(values, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    b1, b2 = betas
    ps = [v.copy() for v in values]
    m = [np.zeros_like(p) for p in ps]
    v = [np.zeros_like(p) for p in ps]
    vmax = [np.zeros_like(p) for p in ps]
    traj = []
    for t in range(1, STEPS + 1):
        for i, p in enumerate(ps):
            g = _grad_fn(p)
            if decoupled:
                p = p * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * p
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            vmax[i] = np.maximum(vmax[i], v[i])
            vhat = vmax[i] if amsgrad else v[i]
            denom = np.sqrt(vhat) / math.sqrt(1 - b2 ** t) + eps
            ps[i] = p - lr / (1 - b1 ** t) * m[i] / denom
        traj.append([p.copy() for p in ps])
    return traj


def _assert_traj(a, b, rtol=1e-12, atol=1e-12):
    for step, (xs, ys) in enumerate(zip(a, b)):
        for x, y in zip(xs, ys):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=f"step {step}")


SGD_CASES = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
             dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
             dict(lr=0.02, momentum=0.99, weight_decay=5e-4, maximize=True)]
ADAM_CASES = [dict(lr=0.1), dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
              dict(lr=0.05, amsgrad=True), dict(lr=0.05, weight_decay=0.1, amsgrad=True)]


@pytest.mark.parametrize("kw", SGD_CASES)
def test_sgd_matches_hand_written_update(kw):
    values = _init()
    ours, _, _ = _run_lumen(optim.SGD, None, values, **kw)
    _assert_traj(ours, _ref_sgd(values, **kw))


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("kw", ADAM_CASES)
def test_adam_adamw_match_hand_written_update(kw, decoupled):
    values = _init()
    cls = optim.AdamW if decoupled else optim.Adam
    ours, _, _ = _run_lumen(cls, None, values, **kw)
    if decoupled and "weight_decay" not in kw:
        kw = dict(kw, weight_decay=1e-2)  # AdamW's default
    _assert_traj(ours, _ref_adam(values, decoupled=decoupled, **kw), rtol=1e-10, atol=1e-12)


def _run_torch(torch_cls, groups_kw, values, **kw):
    import torch
    params = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
    groups = [dict(params=[p], **g) for p, g in zip(params, groups_kw)] if groups_kw else params
    opt = torch_cls(groups, **kw)
    traj = []
    for _ in range(STEPS):
        for p in params:
            p.grad = torch.from_numpy(_grad_fn(p.detach().numpy()))
        opt.step()
        traj.append([p.detach().numpy().copy() for p in params])
    return traj


@pytest.mark.parametrize("name,kw", [("SGD", k) for k in SGD_CASES] + [("Adam", k) for k in ADAM_CASES]
                         + [("AdamW", k) for k in ADAM_CASES])
def test_trajectories_match_torch(name, kw):
    torch = pytest.importorskip("torch")
    values = _init(1)
    ours, _, _ = _run_lumen(getattr(optim, name), None, values, **kw)
    theirs = _run_torch(getattr(torch.optim, name), None, values, **kw)
    _assert_traj(ours, theirs, rtol=1e-10, atol=1e-12)


def test_param_groups_match_torch_and_hand_written():
    values = _init(2)
    groups = [dict(lr=0.1, momentum=0.9, weight_decay=1e-2), dict(lr=0.01, momentum=0.5, nesterov=True)]
    ours, opt, _ = _run_lumen(optim.SGD, groups, values, lr=1.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[0]["dampening"] == 0 and opt.param_groups[1]["weight_decay"] == 0
    ref0 = _ref_sgd(values[:1], lr=0.1, momentum=0.9, weight_decay=1e-2)
    ref1 = _ref_sgd(values[1:], lr=0.01, momentum=0.5, nesterov=True)
    _assert_traj([[a[0]] for a in ours], ref0)
    _assert_traj([[a[1]] for a in ours], ref1)
    try:
        import torch
    except ImportError:
        return
    _assert_traj(ours, _run_torch(torch.optim.SGD, groups, values, lr=1.0))


def test_skips_params_without_grad_or_requires_grad():
    a = nn.Parameter(lumen.ones(2))
    b = nn.Parameter(lumen.ones(2))
    frozen = nn.Parameter(lumen.ones(2), requires_grad=False)
    opt = optim.Adam([a, b, frozen], lr=0.1)
    a.grad = lumen.ones(2)
    frozen.grad = lumen.ones(2)
    opt.step()
    assert set(opt.state) == {a}
    np.testing.assert_array_equal(b.detach().numpy(), [1, 1])
    np.testing.assert_array_equal(frozen.detach().numpy(), [1, 1])
    assert a.detach().numpy()[0] < 1


def test_step_is_in_place_without_graph():
    p = nn.Parameter(lumen.ones(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    (p * p).sum().backward()
    v = p._version
    ident = id(p)
    opt.step()
    assert id(p) == ident and p._version > v and p.is_leaf and p.grad_fn is None and p.requires_grad
    assert opt.state[p]["momentum_buffer"].grad_fn is None
    np.testing.assert_allclose(p.detach().numpy(), 0.8)


def test_closure_and_zero_grad():
    p = nn.Parameter(lumen.tensor([3.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 9.0
    assert p.item() == 1.5
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.item() == 0
    opt.zero_grad()
    assert p.grad is None


def test_argument_validation():
    p = nn.Parameter(lumen.ones(1))
    with pytest.raises(ValueError, match="invalid learning rate -1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="invalid beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    opt = optim.SGD([p], lr=0.1)
    q = nn.Parameter(lumen.ones(1))
    opt.add_param_group({"params": q, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0


@pytest.mark.parametrize("cls,kw", [(optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
                                    (optim.Adam, dict(lr=0.05, amsgrad=True)),
                                    (optim.AdamW, dict(lr=0.05))])
def test_state_dict_round_trip_resumes_exactly(cls, kw, tmp_path):
    values = _init(3)
    full, _, _ = _run_lumen(cls, None, values, steps=2 * STEPS, **kw)
    half, opt, params = _run_lumen(cls, None, values, steps=STEPS, **kw)
    lumen.save({"opt": opt.state_dict(), "params": [p.detach() for p in params]}, tmp_path / "ck.npz")
    ck = lumen.load(tmp_path / "ck.npz")
    assert sorted(ck["opt"]["state"]) == [0, 1]
    fresh = [nn.Parameter(t.clone()) for t in ck["params"]]
    resumed = cls(fresh, **dict(kw, lr=123.0))
    resumed.load_state_dict(ck["opt"])
    assert resumed.param_groups[0]["lr"] == kw["lr"] and resumed.param_groups[0]["params"][0] is fresh[0]
    for step in range(STEPS):
        for p in fresh:
            p.grad = lumen.tensor(_grad_fn(p.detach().numpy()))
        resumed.step()
        for p, expect in zip(fresh, full[STEPS + step]):
            np.testing.assert_array_equal(p.detach().numpy(), expect)
    # the loaded state is a copy: stepping the original optimizer does not touch it
    assert all(resumed.state[fresh[i]] is not opt.state[params[i]] for i in range(2))


def test_load_state_dict_rejects_mismatched_groups():
    a, b = nn.Parameter(lumen.ones(1)), nn.Parameter(lumen.ones(1))
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match=r"group \(#0\) with 2 parameters.*\(1 parameters\)"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="2 parameter groups, but the optimizer has 1"):
        optim.SGD([a, b], lr=0.1).load_state_dict(
            {"state": {}, "param_groups": sd["param_groups"] * 2})


def test_caffe_param_groups():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.ConvTranspose2d(2, 2, 4, bias=False),
                        nn.Conv2d(2, 3, 1))
    net[2].weight.requires_grad_(False)  # Caffe's lr_mult 0
    groups = optim.caffe_param_groups(net, lr=1e-3, weight_decay=5e-4)
    assert [len(g["params"]) for g in groups] == [2, 2]
    assert groups[0]["params"] == [net[0].weight, net[3].weight]
    assert groups[1]["params"] == [net[0].bias, net[3].bias]
    assert (groups[0]["lr"], groups[0]["weight_decay"]) == (1e-3, 5e-4)
    assert (groups[1]["lr"], groups[1]["weight_decay"]) == (2e-3, 0.0)
    opt = optim.SGD(groups, lr=1e-3, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 2e-3]
    only_weights = optim.caffe_param_groups(nn.Conv2d(1, 1, 1, bias=False), 0.1, 0.0)
    assert len(only_weights) == 1
