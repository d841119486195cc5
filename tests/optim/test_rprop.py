"""Rprop against torch.optim.Rprop over 20 steps (each option), its state dict in torch's layout, a
resumed run and argument errors (its block-sized temporaries: test_optimizers_torch.py)."""
import numpy as np
import pytest

import lumen
import lumen.nn  # noqa: F401  (lumen.nn.Parameter below)
from lumen import optim
from tests.optim._torch_runs import assert_runs_match

torch = pytest.importorskip("torch")


def _grad(p):
    """A state-dependent gradient whose sign flips along the way, so both step-size rules run."""
    return np.tanh(2.0 * (p - 0.5)) + 0.05 * p - 0.1 * np.sin(3 * p)


def _run(mod, values, kw, steps, state=None):
    params = [mod.nn.Parameter(mod.tensor(v.copy())) for v in values]
    opt = mod.optim.Rprop(params, **kw)
    if state is not None:
        opt.load_state_dict(state)
    out = []
    for _ in range(steps):
        for p in params:
            p.grad = mod.tensor(_grad(p.detach().numpy()))
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
    return out, opt, params


CASES = [dict(), dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2)), dict(lr=0.02, maximize=True),
         dict(lr=0.01, foreach=True, capturable=False)]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("kw", CASES)
def test_trajectory_matches_torch(kw, dtype, tol):
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype(dtype) for s in ((3, 4), (5,))]
    ours, opt, _ = _run(lumen, values, kw, 20)
    theirs, topt, _ = _run(torch, values, kw, 20)
    ours_state, theirs_state = assert_runs_match(ours, theirs, opt, topt, f"Rprop {kw}", tol)
    for i in theirs_state:
        assert sorted(theirs_state[i]) == ["prev", "step", "step_size"]
        np.testing.assert_allclose(ours_state[i]["step_size"].numpy(), theirs_state[i]["step_size"].numpy(),
                                   rtol=tol)


def test_state_dict_round_trip_continues_as_the_uninterrupted_run():
    values = [np.random.default_rng(1).standard_normal((4, 3))]
    kw = dict(lr=0.05)
    _, opt, params = _run(lumen, values, kw, 6)
    resumed, _, _ = _run(lumen, [params[0].detach().numpy()], kw, 6, state=opt.state_dict())
    full, _, _ = _run(lumen, values, kw, 12)
    for step in range(6):
        np.testing.assert_array_equal(resumed[step][0], full[6 + step][0])


def test_invalid_arguments():
    p = lumen.nn.Parameter(lumen.ones(1))
    with pytest.raises(ValueError, match="Rprop: invalid learning rate -1"):
        optim.Rprop([p], lr=-1)
    for etas in ((1.0, 1.2), (0.5, 1.0), (0.0, 2.0)):
        with pytest.raises(ValueError, match="eta values"):
            optim.Rprop([p], etas=etas)
        with pytest.raises(ValueError):
            torch.optim.Rprop([torch.nn.Parameter(torch.ones(1))], etas=etas)
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        optim.Rprop([p], differentiable=True)
