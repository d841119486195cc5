"""Every optimiser against torch.optim over 20 steps on the same parameters and gradients, with
each option torch has; state dicts in torch's layout; LBFGS with and without line search."""
import tracemalloc

import numpy as np
import pytest

import lumen
import lumen.nn  # noqa: F401  (lumen.nn.Parameter below)
from lumen import optim
from tests.optim._torch_runs import assert_runs_match

torch = pytest.importorskip("torch")

STEPS = 20


def _grad(p):
    """A state-dependent gradient, so a wrong update drifts from the reference."""
    return np.tanh(2.0 * (p - 0.5)) + 0.05 * p - 0.1 * np.sin(3 * p)


def _values(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in ((3, 4), (5,))]


def _trajectory(lib, name, values, kw, steps=STEPS, groups=None):
    mod = lumen if lib == "lumen" else torch
    params = [mod.nn.Parameter(mod.tensor(v.copy())) for v in values]
    spec = [dict(params=[p], **g) for p, g in zip(params, groups)] if groups else params
    opt = getattr(mod.optim, name)(spec, **kw)
    out = []
    for _ in range(steps):
        for p in params:
            p.grad = mod.tensor(_grad(p.detach().numpy()))
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
    return out, opt, params


CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True, foreach=False)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True, fused=False)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.2, amsgrad=True, maximize=True, capturable=False)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.8, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, maximize=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, foreach=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3, eps=1e-8,
                     maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.05, betas=(0.7, 0.9), eps=1e-6, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.05)),
    ("NAdam", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.05)),  # rho_t > 5 from step 6: both branches of the rule
    ("RAdam", dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, lambd=1e-2, alpha=0.5, t0=5, weight_decay=0.1, maximize=True)),
]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-6)])
@pytest.mark.parametrize("name,kw", CASES)
def test_trajectory_matches_torch(name, kw, dtype, tol):
    values = _values(dtype)
    ours, opt, _ = _trajectory("lumen", name, values, kw)
    theirs, topt, _ = _trajectory("torch", name, values, kw)
    assert_runs_match(ours, theirs, opt, topt, f"{name} {kw}", tol)


def _resumed(lib, name, kw, values, head=6, tail=6):
    """``head`` steps, the state dict into a fresh optimizer over copies, ``tail`` more steps."""
    mod = lumen if lib == "lumen" else torch
    _, opt, params = _trajectory(lib, name, values, kw, steps=head)
    sd = opt.state_dict()
    fresh = [mod.nn.Parameter(p.detach().clone()) for p in params]
    resumed = getattr(mod.optim, name)(fresh, **kw)
    resumed.load_state_dict(sd)
    out = []
    for _ in range(tail):
        for p in fresh:
            p.grad = mod.tensor(_grad(p.detach().numpy()))
        resumed.step()
        out.append([p.detach().numpy().copy() for p in fresh])
    return out, sd


@pytest.mark.parametrize("name,kw", [c for c in CASES if c[0] != "SGD" or "momentum" in c[1]])
def test_state_dict_round_trip_continues_as_torch(name, kw):
    values = _values(np.float64, 1)
    ours, sd = _resumed("lumen", name, kw, values)
    theirs, _ = _resumed("torch", name, kw, values)
    assert sorted(sd["state"]) == [0, 1] and [g["params"] for g in sd["param_groups"]] == [[0, 1]]
    full, _, _ = _trajectory("lumen", name, values, kw, steps=12)
    for step in range(6):
        for x, y, z in zip(ours[step], theirs[step], full[6 + step]):
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-10)
            if name not in ("NAdam", "ASGD"):
                # (loading casts those two's float32 0-d scalars to the parameter's dtype, as
                # torch's load_state_dict does, so their continuation rounds differently)
                np.testing.assert_array_equal(x, z)


def test_param_groups_and_add_param_group_match_torch():
    values = _values(np.float64, 2)
    groups = [dict(lr=0.01, alpha=0.9), dict(momentum=0.5, centered=True)]
    ours, opt, _ = _trajectory("lumen", "RMSprop", values, dict(lr=0.05), groups=groups)
    theirs, topt, _ = _trajectory("torch", "RMSprop", values, dict(lr=0.05), groups=groups)
    np.testing.assert_allclose(np.concatenate([a.ravel() for a in ours[-1]]),
                               np.concatenate([a.ravel() for a in theirs[-1]]), rtol=1e-10)
    extra = lumen.nn.Parameter(lumen.ones(2))
    opt.add_param_group({"params": [extra], "lr": 0.3})
    topt.add_param_group({"params": [torch.nn.Parameter(torch.ones(2))], "lr": 0.3})
    assert opt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [extra]})


def test_adagrad_state_exists_before_the_first_step_as_torch():
    p = lumen.nn.Parameter(lumen.ones(3))
    opt = optim.Adagrad([p], initial_accumulator_value=0.5)
    assert opt.state[p]["step"] == 0 and opt.state[p]["sum"].tolist() == [0.5] * 3
    q = lumen.nn.Parameter(lumen.ones(1))
    opt.add_param_group({"params": [q], "initial_accumulator_value": 2.0})
    assert opt.state[q]["sum"].tolist() == [2.0]


def test_named_parameters_are_accepted_as_torch():
    net = lumen.nn.Linear(2, 3)
    opt = optim.Adam(net.named_parameters(), lr=0.1)
    tnet = torch.nn.Linear(2, 3)
    topt = torch.optim.Adam(tnet.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == topt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
                                  "RAdam", "ASGD"])
def test_invalid_arguments_raise_value_error_as_torch(name):
    p = lumen.nn.Parameter(lumen.ones(1))
    with pytest.raises(ValueError, match=f"{name}: invalid learning rate -1"):
        getattr(optim, name)([p], lr=-1)
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], lr=-1)
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(optim, name)([p], differentiable=True)


def test_invalid_hyper_parameters():
    p = lumen.nn.Parameter(lumen.ones(1))
    for call, match in ((lambda: optim.RMSprop([p], alpha=-0.1), "alpha value -0.1"),
                        (lambda: optim.Adadelta([p], rho=1.5), "rho value 1.5"),
                        (lambda: optim.NAdam([p], momentum_decay=-1), "momentum_decay value -1"),
                        (lambda: optim.Adamax([p], betas=(0.9, 1.0)), "beta parameter at index 1"),
                        (lambda: optim.Adagrad([p], lr_decay=-1), "lr_decay value -1")):
        with pytest.raises(ValueError, match=match):
            call()
    with pytest.raises(ValueError, match="per-parameter options"):
        optim.LBFGS([{"params": [p]}, {"params": [lumen.nn.Parameter(lumen.ones(1))]}])


def _objective(x, weights):
    """Smooth, convex and moderately conditioned: differences in summation order stay at rounding
    level instead of being amplified as on Rosenbrock's valley."""
    return ((x - 0.3) ** 2 * weights).sum() + 0.1 * (x ** 4).sum()


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("kw", [dict(), dict(line_search_fn="strong_wolfe"),
                                dict(lr=0.5, max_iter=7, history_size=3, tolerance_grad=1e-5,
                                     tolerance_change=1e-7),
                                dict(history_size=4, max_iter=30, max_eval=40, line_search_fn="strong_wolfe")])
def test_lbfgs_matches_torch(kw, dtype, tol):
    start = np.array([-1.2, 1.0, 0.5, -0.3, 2.0, 0.1], dtype)
    weights = np.array([1.0, 2.0, 3.0, 1.5, 0.5, 4.0], dtype)
    results = []
    for mod in (lumen, torch):
        x = mod.nn.Parameter(mod.tensor(start.copy()))
        opt = mod.optim.LBFGS([x], **kw)
        calls = []

        def closure():
            opt.zero_grad()
            loss = _objective(x, mod.tensor(weights))
            loss.backward()
            calls.append(float(loss.detach()))
            return loss

        losses = [float(opt.step(closure).detach()) for _ in range(3)]
        results.append((x.detach().numpy().copy(), losses, calls, opt.state[x]["func_evals"], opt.state[x]["n_iter"]))
    (x_ours, l_ours, c_ours, fe_ours, it_ours), (x_theirs, l_theirs, c_theirs, fe_theirs, it_theirs) = results
    assert (fe_ours, it_ours) == (fe_theirs, it_theirs)
    np.testing.assert_allclose(x_ours, x_theirs, rtol=tol, atol=tol)
    np.testing.assert_allclose(c_ours, c_theirs, rtol=tol, atol=tol)
    np.testing.assert_allclose(l_ours, l_theirs, rtol=tol, atol=tol)


def test_lbfgs_needs_a_closure_and_a_known_line_search():
    x = lumen.nn.Parameter(lumen.ones(2))
    with pytest.raises(TypeError, match="closure"):
        optim.LBFGS([x]).step()
    with pytest.raises(RuntimeError, match="closure"):
        optim.LBFGS([x]).step(None)
    opt = optim.LBFGS([x], line_search_fn="armijo")

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="only 'strong_wolfe'"):
        opt.step(closure)


# per optimizer, its case with the most options (the most temporaries)
MEMORY_CASES = list({name: (name, kw) for name, kw in sorted(CASES, key=lambda case: len(case[1]))}.values()) + [
    ("Rprop", {})]  # Rprop's trajectories are compared in test_rprop.py


@pytest.mark.parametrize("name,kw", MEMORY_CASES)
def test_steps_allocate_block_sized_temporaries_only(name, kw):
    """A float64 parameter of 16 blocks: a step's new memory peaks at a few blocks, not a parameter."""
    block = 1 << 18  # Optimizer._blocks' size
    n = 16 * block
    p = lumen.nn.Parameter(lumen.zeros(n, dtype=lumen.float64))
    opt = getattr(optim, name)([p], **kw)
    p.grad = lumen.full((n,), 0.5, dtype=lumen.float64)
    opt.step()  # the state is made here
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        opt.step()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak <= 6 * 8 * block, f"{name} {kw}: a step allocated {peak} bytes for a {8 * n}-byte parameter"


def test_custom_optimizer_written_for_torch_runs_unchanged():
    """A torch-style subclass: its own step over param_groups and state, no Lumen hooks."""
    results = []
    for mod in (lumen, torch):
        class SignMomentum(mod.optim.Optimizer):
            def __init__(self, params, lr=0.01, beta=0.9):
                super().__init__(params, dict(lr=lr, beta=beta))

            @mod.no_grad()
            def step(self, closure=None):
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is None:
                            continue
                        state = self.state[p]
                        if "buf" not in state:
                            state["buf"] = mod.zeros_like(p)
                        state["buf"].mul_(group["beta"]).add_(p.grad)
                        p.add_(state["buf"].sign(), alpha=-group["lr"])

        params = [mod.nn.Parameter(mod.tensor(v.copy())) for v in _values(np.float64)]
        opt = SignMomentum(params, lr=0.05)
        for _ in range(10):
            for p in params:
                p.grad = mod.tensor(_grad(p.detach().numpy()))
            opt.step()
        results.append(([p.detach().numpy() for p in params], opt.state_dict()["param_groups"]))
    for x, y in zip(results[0][0], results[1][0]):
        np.testing.assert_allclose(x, y, rtol=1e-12)
    assert results[0][1] == results[1][1]
