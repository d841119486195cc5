"""Sampling as torch's: multinomial, bernoulli, normal, poisson and the in-place fills, all with generator=.

The streams differ from PyTorch's (another bit generator), so each test checks what a draw must satisfy
(shape, dtype, support, moments over many draws from a fixed seed, gradients, errors) against torch."""
import numpy as np
import pytest

import lumen

torch = pytest.importorskip("torch")


def gen(seed=0):
    return lumen.Generator().manual_seed(seed)


def same_kind_of_result(ours, theirs):
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]


def error_types_match(ours, theirs):
    with pytest.raises(Exception) as expected:
        theirs()
    with pytest.raises(type(expected.value)):
        ours()


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("shape", [(5,), (3, 5)])
def test_multinomial_shape_support_and_frequencies(shape, replacement):
    weights = np.arange(1.0, 6.0) * np.ones(shape)  # unnormalised, as torch allows
    ours = lumen.multinomial(lumen.tensor(weights), 3, replacement, generator=gen())
    same_kind_of_result(ours, torch.multinomial(torch.tensor(weights), 3, replacement))
    if not replacement:
        rows = ours.numpy().reshape(-1, 3)
        assert all(len(set(r)) == 3 for r in rows)
    many = lumen.multinomial(lumen.tensor(weights[None] if len(shape) == 1 else weights), 20000, True,
                             generator=gen(1)).numpy()
    freq = np.bincount(many.ravel(), minlength=5) / many.size
    assert np.abs(freq - np.arange(1, 6) / 15).max() < 0.01


def test_multinomial_without_replacement_draws_in_proportion_then_the_rest():
    # first draws follow the weights; zero-weight categories come only after every positive one
    first = lumen.multinomial(lumen.tensor([[1.0, 3.0, 0.0]] * 20000), 1, generator=gen(2)).numpy()
    assert abs((first == 1).mean() - 0.75) < 0.01 and not (first == 2).any()
    order = lumen.multinomial(lumen.tensor([0.0, 1.0, 0.0, 2.0]), 4, generator=gen(3)).tolist()
    assert set(order[:2]) == {1, 3} and set(order[2:]) == {0, 2}
    assert torch.multinomial(torch.tensor([0.0, 1.0]), 2).tolist() == [1, 0]


def test_multinomial_errors_as_torch():
    cases = [([0.1, -0.1], 1, False), ([0.0, 0.0], 1, False), ([0.5, 1.0], 3, False), ([0.5, 1.0], 0, True),
             ([float("nan"), 1.0], 1, True), ([[[1.0]]], 1, True)]
    for weights, n, replacement in cases:
        error_types_match(lambda: lumen.multinomial(lumen.tensor(weights), n, replacement),
                          lambda: torch.multinomial(torch.tensor(weights), n, replacement))
    error_types_match(lambda: lumen.multinomial(lumen.tensor([1, 2]), 1),
                      lambda: torch.multinomial(torch.tensor([1, 2]), 1))


def test_bernoulli_forms():
    p = np.linspace(0, 1, 7)
    ours = lumen.bernoulli(lumen.tensor(p), generator=gen())
    same_kind_of_result(ours, torch.bernoulli(torch.tensor(p)))
    assert ours.numpy()[0] == 0 and ours.numpy()[-1] == 1 and set(ours.tolist()) <= {0.0, 1.0}
    fixed = lumen.bernoulli(lumen.zeros(40000), 0.25, generator=gen(1))
    same_kind_of_result(fixed, torch.bernoulli(torch.zeros(40000), 0.25))
    assert abs(fixed.mean().item() - 0.25) < 0.01
    ints = lumen.zeros(40000, dtype=lumen.int64).bernoulli_(lumen.full((40000,), 0.75), generator=gen(2))
    assert ints.dtype == lumen.int64 and abs(ints.double().mean().item() - 0.75) < 0.01
    assert lumen.empty(3).bernoulli_(1.0).tolist() == [1.0, 1.0, 1.0]


def test_bernoulli_errors_as_torch():
    error_types_match(lambda: lumen.bernoulli(lumen.tensor([0.2, 1.5])),
                      lambda: torch.bernoulli(torch.tensor([0.2, 1.5])))
    error_types_match(lambda: lumen.zeros(3).bernoulli_(1.5), lambda: torch.zeros(3).bernoulli_(1.5))
    error_types_match(lambda: lumen.bernoulli(lumen.tensor([1, 0])), lambda: torch.bernoulli(torch.tensor([1, 0])))


def test_normal_overloads_dtypes_and_moments():
    for mean, std in [(lumen.zeros(3), 1.0), (0.0, lumen.ones(3, dtype=lumen.float64)),
                      (lumen.zeros(2, 3), lumen.ones(3)), (lumen.zeros(3), lumen.ones(3, dtype=lumen.float64))]:
        tmean = torch.tensor(mean.numpy()) if isinstance(mean, lumen.Tensor) else mean
        tstd = torch.tensor(std.numpy()) if isinstance(std, lumen.Tensor) else std
        same_kind_of_result(lumen.normal(mean, std, generator=gen()), torch.normal(tmean, tstd))
    same_kind_of_result(lumen.normal(0.0, 1.0, (2, 3)), torch.normal(0.0, 1.0, (2, 3)))
    same_kind_of_result(lumen.normal(0.0, 1.0, size=(4,), dtype=lumen.float64),
                        torch.normal(0.0, 1.0, size=(4,), dtype=torch.float64))
    x = lumen.normal(lumen.full((50000,), 3.0), lumen.full((50000,), 2.0), generator=gen(1)).numpy()
    assert abs(x.mean() - 3) < 0.03 and abs(x.std() - 2) < 0.03
    error_types_match(lambda: lumen.normal(0.0, 1.0), lambda: torch.normal(0.0, 1.0))
    error_types_match(lambda: lumen.normal(lumen.zeros(3), -1.0), lambda: torch.normal(torch.zeros(3), -1.0))


def test_sampled_parameters_get_zero_gradients_as_torch():
    mean, std = lumen.zeros(3, requires_grad=True), lumen.ones(3, requires_grad=True)
    (lumen.normal(mean, std, generator=gen()) * 2).sum().backward()
    tmean, tstd = torch.zeros(3, requires_grad=True), torch.ones(3, requires_grad=True)
    (torch.normal(tmean, tstd) * 2).sum().backward()
    assert mean.grad.tolist() == tmean.grad.tolist() and std.grad.tolist() == tstd.grad.tolist()
    p = lumen.full((3,), 0.5, requires_grad=True)
    lumen.bernoulli(p).sum().backward()
    assert p.grad.tolist() == [0.0, 0.0, 0.0]
    assert not lumen.multinomial(p, 2).requires_grad


def test_poisson():
    rates = lumen.tensor([0.0, 1.0, 30.0]).repeat(20000, 1)
    counts = lumen.poisson(rates, generator=gen())
    same_kind_of_result(counts, torch.poisson(torch.tensor(rates.numpy())))
    m = counts.numpy().mean(axis=0)
    assert m[0] == 0 and abs(m[1] - 1) < 0.03 and abs(m[2] - 30) < 0.2
    assert np.array_equal(counts.numpy(), np.round(counts.numpy()))
    error_types_match(lambda: lumen.poisson(lumen.tensor([-1.0])), lambda: torch.poisson(torch.tensor([-1.0])))
    error_types_match(lambda: lumen.poisson(lumen.tensor([1])), lambda: torch.poisson(torch.tensor([1])))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8", "bool"])
def test_random_ranges_as_torch(dtype):
    # torch's documented default range: every integer the dtype holds exactly, from 0
    high = {"float32": 2 ** 24, "float64": 2 ** 53, "int64": 2 ** 63 - 1, "int32": 2 ** 31 - 1, "uint8": 255,
            "bool": 1}[dtype]
    ours = lumen.zeros(20000, dtype=getattr(lumen, dtype)).random_(generator=gen())
    theirs = torch.zeros(20000, dtype=getattr(torch, dtype)).random_()
    for values in (ours.numpy().astype(np.float64), theirs.numpy().astype(np.float64)):
        assert values.min() >= 0 and values.max() <= high and values.max() > high / 2
    assert ours.dtype == getattr(lumen, dtype)
    assert lumen.zeros(1000, dtype=getattr(lumen, dtype)).random_(2, generator=gen(1)).numpy().max() <= 1
    if dtype != "bool":
        drawn = lumen.zeros(10000, dtype=getattr(lumen, dtype)).random_(3, 7, generator=gen(2)).tolist()
        assert set(drawn) == {3, 4, 5, 6}


def test_random_errors_as_torch():
    error_types_match(lambda: lumen.zeros(3).random_(5, 2), lambda: torch.zeros(3).random_(5, 2))
    error_types_match(lambda: lumen.zeros(3, dtype=lumen.uint8).random_(0, 300),
                      lambda: torch.zeros(3, dtype=torch.uint8).random_(0, 300))


def test_exponential_():
    x = lumen.empty(50000, dtype=lumen.float64).exponential_(4.0, generator=gen()).numpy()
    assert x.min() >= 0 and abs(x.mean() - 0.25) < 0.005
    for lambd in (0, -1):
        error_types_match(lambda: lumen.zeros(3).exponential_(lambd), lambda: torch.zeros(3).exponential_(lambd))
    error_types_match(lambda: lumen.zeros(3, dtype=lumen.int64).exponential_(),
                      lambda: torch.zeros(3, dtype=torch.int64).exponential_())


def test_every_sampler_follows_its_generator():
    def draws(g):
        return [lumen.multinomial(lumen.ones(2, 6), 3, generator=g), lumen.bernoulli(lumen.full((5,), 0.5), generator=g),
                lumen.normal(lumen.zeros(4), 1.0, generator=g), lumen.poisson(lumen.full((4,), 3.0), generator=g),
                lumen.zeros(4).random_(10, generator=g), lumen.zeros(4).exponential_(generator=g),
                lumen.zeros(4).bernoulli_(0.5, generator=g)]
    a, b = draws(gen(7)), draws(gen(7))
    assert all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(a, b))
    lumen.manual_seed(11)
    c = draws(None)
    lumen.manual_seed(11)
    assert all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(c, draws(None)))
