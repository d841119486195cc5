"""Every lr scheduler against torch.optim.lr_scheduler: lr (and momentum) sequences over 60 steps,
state dicts that resume, the step-order warning, argument errors."""
import math
import warnings

import pytest

import lumen
import lumen.nn  # noqa: F401  (lumen.nn.Parameter below)
from lumen import optim
from lumen.optim import lr_scheduler as lrs

torch = pytest.importorskip("torch")

STEPS = 60


def _optimizer(mod, kind="SGD"):
    a, b = mod.nn.Parameter(mod.ones(1)), mod.nn.Parameter(mod.ones(1))
    groups = [{"params": [a]}, {"params": [b], "lr": 0.2}]
    if kind == "Adam":
        return mod.optim.Adam(groups, lr=0.1)
    return mod.optim.SGD(groups, lr=0.1, momentum=0.9)


def _make(mod, name, kw, opt):
    S = mod.optim.lr_scheduler
    if name == "SequentialLR":
        parts = [S.LinearLR(opt, start_factor=0.1, total_iters=5), S.ExponentialLR(opt, gamma=0.9),
                 S.CosineAnnealingLR(opt, T_max=10)]
        return S.SequentialLR(opt, parts, milestones=[5, 20])
    if name == "ChainedScheduler":
        return S.ChainedScheduler([S.ConstantLR(opt, factor=0.5, total_iters=4), S.ExponentialLR(opt, gamma=0.95),
                                   S.MultiStepLR(opt, milestones=[10, 30])])
    return getattr(S, name)(opt, **kw)


def _double(epoch):
    return 0.97 ** epoch


CASES = [
    ("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e))),
    ("LambdaLR", dict(lr_lambda=[lambda e: 0.9 ** e, lambda e: 1 + math.sin(e)])),
    ("MultiplicativeLR", dict(lr_lambda=_double)),
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[3, 17, 17, 40], gamma=0.3)),
    ("ConstantLR", dict()),
    ("ConstantLR", dict(factor=0.5, total_iters=12)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.25, end_factor=0.5, total_iters=30)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("PolynomialLR", dict()),
    ("PolynomialLR", dict(total_iters=45, power=0.9)),
    ("CosineAnnealingLR", dict(T_max=13, eta_min=0.001)),
    ("CosineAnnealingWarmRestarts", dict(T_0=7)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.01)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=6)),
    ("CyclicLR", dict(base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=5, step_size_down=9, mode="triangular2")),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="exp_range", gamma=0.97,
                      base_momentum=0.7, max_momentum=0.95)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, scale_fn=lambda x: 0.5 ** x,
                      scale_mode="iterations", cycle_momentum=False)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=STEPS)),
    ("OneCycleLR", dict(max_lr=[0.5, 1.0], epochs=6, steps_per_epoch=10, pct_start=0.25,
                        anneal_strategy="linear", three_phase=True, div_factor=10.0, final_div_factor=100.0)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=STEPS, cycle_momentum=False)),
    ("SequentialLR", dict()),
    ("ChainedScheduler", dict()),
]


def _sequence(mod, name, kw, kind="SGD"):
    opt = _optimizer(mod, kind)
    sched = _make(mod, name, kw, opt)
    seen = [(list(sched.get_last_lr()), [g.get("momentum", g.get("betas")) for g in opt.param_groups])]
    for _ in range(STEPS - (name == "OneCycleLR")):
        opt.step()
        sched.step()
        seen.append((list(sched.get_last_lr()), [g.get("momentum", g.get("betas")) for g in opt.param_groups]))
    return seen, sched, opt


def _close(a, b):
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


@pytest.mark.parametrize("name,kw", CASES)
def test_sequence_matches_torch(name, kw):
    ours, sched, _ = _sequence(lumen, name, kw)
    theirs, tsched, _ = _sequence(torch, name, kw)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert _close(a, b), f"{name} {kw} step {step}: {a} != {b}"
    assert len(ours) == len(theirs)
    if hasattr(tsched, "last_epoch"):
        assert sched.last_epoch == tsched.last_epoch


@pytest.mark.parametrize("name", ["CyclicLR", "OneCycleLR"])
def test_cycled_adam_betas_match_torch(name):
    kw = dict(CyclicLR=dict(base_lr=0.01, max_lr=0.1, step_size_up=5),
              OneCycleLR=dict(max_lr=0.3, total_steps=STEPS, three_phase=True))[name]
    ours, _, opt = _sequence(lumen, name, kw, kind="Adam")
    theirs, _, _ = _sequence(torch, name, kw, kind="Adam")
    assert _close(ours, theirs)
    assert opt.param_groups[0]["betas"][1] == 0.999


@pytest.mark.parametrize("name,kw", [c for c in CASES if not callable(c[1].get("lr_lambda"))
                                     and not isinstance(c[1].get("lr_lambda"), list)])
def test_state_dict_resumes_the_sequence(name, kw):
    full, _, _ = _sequence(lumen, name, kw)
    opt = _optimizer(lumen)
    sched = _make(lumen, name, kw, opt)
    for _ in range(25):
        opt.step()
        sched.step()
    saved_opt, saved = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in saved
    opt2 = _optimizer(lumen)
    sched2 = _make(lumen, name, kw, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    rest = []
    for _ in range(STEPS - 25 - (name == "OneCycleLR")):
        opt2.step()
        sched2.step()
        rest.append(list(sched2.get_last_lr()))
    assert _close(rest, [lr for lr, _ in full[26:]])


def test_reduce_lr_on_plateau_matches_torch():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.5, 0.5, 0.51, 0.52, 0.53, 0.54, 0.55, 0.56, 0.2] * 4
    for kw in (dict(), dict(patience=2), dict(mode="max", factor=0.5, patience=1, threshold=0.01,
                                              threshold_mode="abs", cooldown=2, min_lr=[0.01, 0.05]),
               dict(patience=0, factor=0.5, min_lr=0.02, eps=1e-3), dict(mode="max", threshold=0.1)):
        seen = []
        for mod in (lumen, torch):
            opt = _optimizer(mod)
            sched = mod.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
            lrs_seen = []
            for m in metrics:
                opt.step()
                sched.step(m)
                lrs_seen.append((sched.get_last_lr(), sched.num_bad_epochs, sched.cooldown_counter, sched.best))
            seen.append(lrs_seen)
        assert _close([x[0] for x in seen[0]], [x[0] for x in seen[1]]), kw
        assert [x[1:] for x in seen[0]] == [x[1:] for x in seen[1]], kw
    sched = lrs.ReduceLROnPlateau(_optimizer(lumen), patience=1)
    sched.step(lumen.tensor(1.0))  # a 0-d tensor metric, as torch takes
    state = sched.state_dict()
    other = lrs.ReduceLROnPlateau(_optimizer(lumen))
    other.load_state_dict(state)
    assert other.patience == 1 and other.best == 1.0


def test_step_before_optimizer_step_warns_as_torch():
    for mod in (lumen, torch):
        opt = _optimizer(mod)
        sched = mod.optim.lr_scheduler.StepLR(opt, 3)
        with pytest.warns(UserWarning, match=r"lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
            sched.step()
        opt = _optimizer(mod)
        sched = mod.optim.lr_scheduler.StepLR(opt, 3)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt.step()
            sched.step()
            sched.step()
        with pytest.warns(UserWarning, match="get_last_lr"):
            sched.get_lr()


def test_step_with_epoch_uses_the_closed_form_and_warns():
    for name, kw in (("StepLR", dict(step_size=3)), ("CosineAnnealingLR", dict(T_max=10)),
                     ("PolynomialLR", dict(total_iters=8, power=2.0))):
        got = []
        for mod in (lumen, torch):
            opt = _optimizer(mod)
            sched = getattr(mod.optim.lr_scheduler, name)(opt, **kw)
            opt.step()
            with pytest.warns(UserWarning, match="epoch parameter"):
                sched.step(7)
            got.append(sched.get_last_lr())
        assert _close(got[0], got[1])


def test_warm_restarts_fractional_epochs_match_torch():
    got = []
    for mod in (lumen, torch):
        opt = _optimizer(mod)
        sched = mod.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2)
        out = []
        for i in range(40):
            opt.step()
            sched.step(i * 0.7)
            out.append(sched.get_last_lr())
        got.append(out)
    assert _close(got[0], got[1])


def test_errors_match_torch():
    opt = _optimizer(lumen)
    cases = [(lambda S, o: S.ConstantLR(o, factor=1.5), ValueError),
             (lambda S, o: S.LinearLR(o, start_factor=0), ValueError),
             (lambda S, o: S.OneCycleLR(o, max_lr=0.1), ValueError),
             (lambda S, o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1), ValueError),
             (lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError),
             (lambda S, o: S.ReduceLROnPlateau(o, factor=1.0), ValueError),
             (lambda S, o: S.ReduceLROnPlateau(o, mode="median"), ValueError),
             (lambda S, o: S.LambdaLR(o, [lambda e: 1.0]), ValueError),
             (lambda S, o: S.MultiplicativeLR(o, 3.0), TypeError),
             (lambda S, o: S.CyclicLR(o, 0.1, 1.0, mode="sawtooth"), ValueError),
             (lambda S, o: S.StepLR(o, 3, last_epoch=4), KeyError),
             (lambda S, o: S.SequentialLR(o, [S.StepLR(o, 3)], milestones=[2]), ValueError),
             (lambda S, o: S.StepLR(object(), 3), TypeError)]
    for make, error in cases:
        for mod in (lumen, torch):
            with pytest.raises(error):
                make(mod.optim.lr_scheduler, _optimizer(mod))
    sgd_without_momentum = optim.Adagrad([lumen.nn.Parameter(lumen.ones(1))])
    with pytest.raises(ValueError, match="momentum or beta1"):
        lrs.CyclicLR(sgd_without_momentum, 0.01, 0.1)
    sched = lrs.OneCycleLR(opt, max_lr=0.1, total_steps=2)
    opt.step()
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        sched.step()


def test_custom_scheduler_subclass_matches_torch():
    """A warmup schedule written the way torch users subclass the base class (both its names)."""
    results = []
    for mod in (lumen, torch):
        S = mod.optim.lr_scheduler

        class Warmup(S._LRScheduler):
            def __init__(self, optimizer, warmup, last_epoch=-1):
                self.warmup = warmup
                super().__init__(optimizer, last_epoch)

            def get_lr(self):
                scale = min(1.0, (self.last_epoch + 1) / self.warmup)
                return [base * scale for base in self.base_lrs]

        opt = _optimizer(mod)
        sched = Warmup(opt, 7)
        seen = []
        for _ in range(12):
            opt.step()
            sched.step()
            seen.append(sched.get_last_lr())
        results.append((seen, sched.last_epoch, isinstance(sched, S.LRScheduler)))
    assert _close(results[0][0], results[1][0]) and results[0][1:] == results[1][1:]


@pytest.mark.parametrize("name,kw", [("StepLR", dict(step_size=3)), ("CosineAnnealingLR", dict(T_max=10)),
                                     ("ExponentialLR", dict(gamma=0.9)), ("LinearLR", dict(total_iters=8)),
                                     ("OneCycleLR", dict(max_lr=0.5, total_steps=40)),
                                     ("CosineAnnealingWarmRestarts", dict(T_0=4, T_mult=2))])
def test_constructing_with_last_epoch_resumes_as_torch(name, kw):
    """The resume path: a scheduler built with last_epoch=N over groups that already hold initial_lr."""
    got = []
    for mod in (lumen, torch):
        opt = _optimizer(mod)
        first = getattr(mod.optim.lr_scheduler, name)(opt, **kw)
        for _ in range(6):
            opt.step()
            first.step()
        sched = getattr(mod.optim.lr_scheduler, name)(opt, **kw, last_epoch=first.last_epoch)
        seen = [sched.get_last_lr()]
        for _ in range(10):
            opt.step()
            sched.step()
            seen.append(sched.get_last_lr())
        got.append((seen, sched.last_epoch))
    assert _close(got[0][0], got[1][0]) and got[0][1] == got[1][1]
