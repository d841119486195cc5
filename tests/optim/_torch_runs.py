"""Shared by the optimizer tests: a Lumen run checked step by step against torch's."""
import numpy as np


def assert_runs_match(ours, theirs, opt, topt, label, tol):
    """Each step's parameters equal within ``tol`` (same dtypes), and the optimizers' defaults, param groups
    and per-parameter state keys equal; returns their ``state`` dicts for further checks."""
    for step, (xs, ys) in enumerate(zip(ours, theirs)):
        for x, y in zip(xs, ys):
            assert x.dtype == y.dtype
            np.testing.assert_allclose(x, y, rtol=tol, atol=tol, err_msg=f"{label} step {step}")
    assert opt.defaults == topt.defaults
    assert opt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    ours_state, theirs_state = opt.state_dict()["state"], topt.state_dict()["state"]
    assert sorted(ours_state) == sorted(theirs_state)
    for i in theirs_state:
        assert sorted(ours_state[i]) == sorted(theirs_state[i])
    return ours_state, theirs_state
