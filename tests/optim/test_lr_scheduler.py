"""Learning-rate schedules: sequences against closed forms and against PyTorch, state dicts."""
import math

import pytest

import lumen
import lumen.nn as nn
from lumen import optim
from lumen.optim import lr_scheduler as lrs

EPOCHS = 25

SCHEDULES = [
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[3, 7, 7, 15], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),
    ("PolynomialLR", dict(total_iters=12, power=0.9)),
]


def _optimizer(lumen_or_torch):
    if lumen_or_torch == "lumen":
        a, b = nn.Parameter(lumen.ones(1)), nn.Parameter(lumen.ones(1))
        return optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.2}], lr=0.1, momentum=0.9)
    import torch
    a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    return torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.2}], lr=0.1, momentum=0.9)


def _sequence(sched, opt):
    lrs_seen = [sched.get_last_lr()]
    for _ in range(EPOCHS):
        opt.step()
        sched.step()
        lrs_seen.append(sched.get_last_lr())
        assert [g["lr"] for g in opt.param_groups] == lrs_seen[-1]
    return lrs_seen


def _closed_form(name, kw, base, t):
    if name == "StepLR":
        return base * kw["gamma"] ** (t // kw["step_size"])
    if name == "MultiStepLR":
        return base * kw["gamma"] ** sum(m <= t for m in kw["milestones"])
    if name == "ExponentialLR":
        return base * kw["gamma"] ** t
    if name == "CosineAnnealingLR":
        return kw["eta_min"] + (base - kw["eta_min"]) * (1 + math.cos(math.pi * t / kw["T_max"])) / 2
    return base * (1 - min(t, kw["total_iters"]) / kw["total_iters"]) ** kw["power"]


@pytest.mark.parametrize("name,kw", SCHEDULES)
def test_sequence_matches_closed_form(name, kw):
    opt = _optimizer("lumen")
    seq = _sequence(getattr(lrs, name)(opt, **kw), opt)
    for t, lrs_t in enumerate(seq):
        for base, lr in zip((0.1, 0.2), lrs_t):
            assert lr == pytest.approx(_closed_form(name, kw, base, t), rel=1e-9, abs=1e-12), (t, lr)


@pytest.mark.parametrize("name,kw", SCHEDULES)
def test_sequence_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    ours_opt, theirs_opt = _optimizer("lumen"), _optimizer("torch")
    ours = _sequence(getattr(lrs, name)(ours_opt, **kw), ours_opt)
    theirs = _sequence(getattr(torch.optim.lr_scheduler, name)(theirs_opt, **kw), theirs_opt)
    assert ours == theirs  # the same recursive arithmetic gives bit-identical floats


def test_state_dict_round_trip_and_resume(tmp_path):
    opt = _optimizer("lumen")
    sched = lrs.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        opt.step()
        sched.step()
    lumen.save({"sched": sched.state_dict(), "opt": opt.state_dict()}, tmp_path / "s.npz")
    expected = [sched.step() or sched.get_last_lr() for _ in range(5)]

    ck = lumen.load(tmp_path / "s.npz")
    opt2 = _optimizer("lumen")
    sched2 = lrs.CosineAnnealingLR(opt2, T_max=10)
    opt2.load_state_dict(ck["opt"])
    sched2.load_state_dict(ck["sched"])
    assert sched2.last_epoch == 4 and sched2.base_lrs == [0.1, 0.2]
    assert [sched2.step() or sched2.get_last_lr() for _ in range(5)] == expected
    assert "optimizer" not in sched.state_dict()


def test_resuming_requires_initial_lr():
    opt = _optimizer("lumen")
    with pytest.raises(KeyError, match="initial_lr"):
        lrs.StepLR(opt, step_size=2, last_epoch=3)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lrs.StepLR(object(), step_size=2)
