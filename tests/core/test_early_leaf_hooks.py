"""Post-accumulate-grad hooks run as soon as the leaf's gradient is complete, before the rest of the pass (as
PyTorch's AccumulateGrad); what DistributedDataParallel's bucket all-reduces overlap the backward with."""
import numpy as np
import pytest

import lumen

torch = pytest.importorskip("torch")


def events(lib):
    rng = np.random.default_rng(0)
    x, w1, w2 = (lib.tensor(rng.standard_normal(shape)) for shape in ((3, 4), (4, 5), (5, 2)))
    w1.requires_grad_()
    w2.requires_grad_()
    seen = []
    w1.register_post_accumulate_grad_hook(lambda p: seen.append(("w1", p.grad.sum().item())))
    w2.register_post_accumulate_grad_hook(lambda p: seen.append(("w2", p.grad.sum().item())))
    h = (x @ w1).tanh()
    h.register_hook(lambda g: seen.append(("h", None)))
    ((h @ w2) ** 2).sum().backward()
    return seen, w1.grad.sum().item(), w2.grad.sum().item()


def test_a_leaf_is_finished_before_the_nodes_below_it_run_as_torch():
    ours, theirs = events(lumen), events(torch)
    assert [name for name, _ in ours[0]] == [name for name, _ in theirs[0]] == ["w2", "h", "w1"]
    assert [v for _, v in ours[0] if v is not None] == pytest.approx([v for _, v in theirs[0] if v is not None])


def test_an_early_leafs_grad_is_its_own_array():
    # AddBackward hands one gradient to both inputs: the leaf's copy must not alias the other branch's
    w = lumen.ones(3, requires_grad=True)
    z = lumen.ones(3, requires_grad=True)
    w.register_post_accumulate_grad_hook(lambda p: p.grad.mul_(100))
    ((w + z * 1) * 2).sum().backward()
    assert w.grad.tolist() == [200.0] * 3 and z.grad.tolist() == [2.0] * 3
