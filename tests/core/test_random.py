"""lumen.Generator and the default generators: seeding, state round trips, generator= everywhere, errors."""
import importlib.util

import numpy as np
import pytest
import torch

import lumen
from lumen import backends, random
from lumen.backends.cpu import NumpyBackend


@pytest.fixture(autouse=True)
def _own_default_generators(monkeypatch):
    """Each test sees its own default generators and recorded seeds; the real ones come back after."""
    monkeypatch.setattr(random, "_defaults", dict(random._defaults))
    monkeypatch.setattr(random, "_pending", dict(random._pending))


@pytest.fixture
def fake_cuda(monkeypatch):
    """A 'cuda' device whose backend is the CPU one, to check the per-device logic without a GPU."""
    monkeypatch.setitem(backends._loaded, "cuda", NumpyBackend())


def draws(generator=None):
    t = lumen.empty(3, 4)
    return [lumen.rand(5, generator=generator), lumen.randn(2, 3, generator=generator),
            lumen.randint(0, 100, (6,), generator=generator), lumen.randperm(7, generator=generator),
            lumen.rand_like(t, generator=generator), lumen.randn_like(t, generator=generator),
            lumen.empty(8).uniform_(-2, 3, generator=generator), lumen.empty(8).normal_(1, 2, generator=generator)]


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(a, b))


def test_manual_seed_reproduces_every_random_function():
    lumen.manual_seed(123)
    a = draws()
    lumen.manual_seed(123)
    assert same(a, draws())
    lumen.manual_seed(124)
    assert not same(a, draws())


def test_generator_argument_on_every_random_function_and_independent_streams():
    g1, g2 = lumen.Generator().manual_seed(5), lumen.Generator().manual_seed(5)
    lumen.manual_seed(0)
    default_first = lumen.rand(4)
    a = draws(g1)
    lumen.rand(100, generator=g1)  # advances g1 only
    assert same(a, draws(g2))  # g2 was not advanced by g1's draws
    lumen.manual_seed(0)
    assert np.array_equal(lumen.rand(4).numpy(), default_first.numpy())  # nor was the default generator
    assert not same(draws(g1), draws(g2))


def test_in_place_fills_write_the_tensors_memory_in_its_own_width():
    g = lumen.Generator()
    t = lumen.empty(1000)
    before, version = t.numpy().__array_interface__["data"][0], t._version
    t.uniform_(-2, -1, generator=g)
    assert t.numpy().__array_interface__["data"][0] == before and t._version == version + 1
    assert -2 <= t.min().item() and t.max().item() < -1
    # the same stream as rand in that width
    assert np.array_equal(lumen.empty(6).uniform_(generator=g.manual_seed(1)).numpy(),
                          lumen.rand(6, generator=lumen.Generator().manual_seed(1)).numpy())
    half = lumen.empty(500, dtype=lumen.float16).normal_(3.0, 0.5, generator=g)
    assert half.dtype is lumen.float16 and abs(half.float().mean().item() - 3.0) < 0.1
    base = lumen.zeros(10)
    base[::2].uniform_(5, 6)  # a strided view writes through to its base
    assert (base.numpy()[::2] >= 5).all() and (base.numpy()[1::2] == 0).all()


def test_seed_functions_return_what_pytorch_returns():
    assert lumen.manual_seed(3) is lumen.default_generator and isinstance(torch.manual_seed(3), torch.Generator)
    assert lumen.initial_seed() == 3
    g = lumen.Generator()
    assert g.initial_seed() == torch.Generator().initial_seed() == 67280421310721
    assert g.manual_seed(9) is g and g.initial_seed() == 9
    fresh = g.seed()
    assert isinstance(fresh, int) and g.initial_seed() == fresh
    fresh = lumen.seed()
    assert isinstance(fresh, int) and lumen.initial_seed() == fresh
    assert lumen.manual_seed(-1).initial_seed() == torch.manual_seed(-1).initial_seed() == 2 ** 64 - 1
    state = lumen.get_rng_state()
    assert state.dtype is lumen.uint8 and state.device == "cpu" and state.ndim == 1
    assert lumen.set_rng_state(state) is None and torch.set_rng_state(torch.get_rng_state()) is None
    assert g.set_state(g.get_state()) is g
    assert g.device == lumen.device("cpu") and lumen.Generator("cpu").device == "cpu"
    assert lumen.cuda.manual_seed(1) is None and lumen.cuda.manual_seed_all(1) is None


def test_state_round_trips_bit_for_bit_also_through_save_and_load(tmp_path):
    g = lumen.Generator().manual_seed(42)
    lumen.randn(3, generator=g)  # numpy keeps half a normal pair: the state must carry it
    lumen.save({"rng": g.get_state()}, tmp_path / "rng.npz")
    expected = draws(g)
    restored = lumen.Generator().set_state(lumen.load(tmp_path / "rng.npz")["rng"])
    assert restored.initial_seed() == 42
    assert same(draws(restored), expected)
    lumen.manual_seed(1)
    state = lumen.get_rng_state()
    expected = draws()
    lumen.set_rng_state(state)
    assert same(draws(), expected)


def test_a_default_generator_created_after_manual_seed_starts_from_that_seed(monkeypatch):
    lumen.manual_seed(7)
    expected = lumen.rand(5).numpy()
    lumen.manual_seed(7)
    # as if the cpu backend and its default generator had never been loaded before the seed was set
    monkeypatch.delitem(backends._loaded, "cpu")
    random._defaults.pop(lumen.device("cpu"))
    assert np.array_equal(lumen.rand(5).numpy(), expected)
    assert lumen.initial_seed() == 7


def test_cuda_seeds_are_recorded_until_the_device_generator_exists(fake_cuda):
    lumen.manual_seed(5)
    lumen.cuda.manual_seed(11)  # before any CUDA generator exists: recorded, as PyTorch queues it
    assert lumen.cuda.initial_seed() == 11  # now created, from the recorded seed
    lumen.cuda.manual_seed_all(12)
    assert lumen.cuda.initial_seed() == 12 and lumen.initial_seed() == 5
    lumen.manual_seed(13)
    assert lumen.cuda.initial_seed() == 13
    state = lumen.cuda.get_rng_state()
    expected = lumen.rand(4, device="cuda").numpy()
    lumen.cuda.set_rng_state(state)
    assert np.array_equal(lumen.rand(4, device="cuda").numpy(), expected)
    lumen.cuda.seed()
    assert lumen.cuda.initial_seed() != 13
    assert set(random.default_generators()) == {"cpu", "cuda:0"}


def test_generator_errors(fake_cuda):
    g, gpu = lumen.Generator(), lumen.Generator("cuda")
    with pytest.raises(RuntimeError, match=r"rand: the generator is on cuda:0 but the output is on cpu"):
        lumen.rand(3, generator=gpu)
    with pytest.raises(RuntimeError, match="uniform_: the generator is on cpu but the output is on cuda:0"):
        lumen.empty(3, device="cuda").uniform_(generator=g)
    with pytest.raises(TypeError, match="generator must be a lumen.Generator, got Generator"):
        lumen.randn(2, generator=torch.Generator())
    with pytest.raises(RuntimeError, match="state is of a cuda generator, this generator is on cpu"):
        g.set_state(gpu.get_state())
    with pytest.raises(TypeError, match="uint8 lumen.Tensor"):
        g.set_state(lumen.zeros(70))
    with pytest.raises(TypeError, match="got ndarray"):
        g.set_state(g.get_state().numpy())
    state = g.get_state().numpy()
    with pytest.raises(RuntimeError, match="too short"):
        g.set_state(lumen.from_numpy(state[:10].copy()))
    with pytest.raises(RuntimeError, match="not a lumen generator state"):
        g.set_state(lumen.from_numpy(np.zeros_like(state)))
    corrupt = state.copy()
    corrupt[-1] ^= 1
    with pytest.raises(RuntimeError, match="corrupt"):
        g.set_state(lumen.from_numpy(corrupt))
    with pytest.raises(TypeError, match="seed must be an int"):
        g.manual_seed("a")
    with pytest.raises(ValueError, match=r"outside \[-2\*\*63, 2\*\*64\)"):
        lumen.manual_seed(2 ** 64)
    with pytest.raises(RuntimeError, match="randint: expects low < high"):
        lumen.randint(5, 5, (2,))
    with pytest.raises(RuntimeError, match="uniform_: expects a range"):
        lumen.empty(2).uniform_(2, 1)
    with pytest.raises(RuntimeError, match="normal_: expects std >= 0.0"):
        lumen.empty(2).normal_(0, -1)
    with pytest.raises(RuntimeError, match="needs a floating point"):
        lumen.zeros(2, dtype=lumen.int64).uniform_()
    with pytest.raises(RuntimeError, match="leaf tensor"):
        lumen.zeros(2, requires_grad=True).normal_()


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="checks the behaviour without CuPy")
def test_cuda_state_functions_without_cupy_fail_clearly():
    lumen.cuda.manual_seed(1)
    lumen.cuda.manual_seed_all(2)
    lumen.cuda.seed()
    lumen.cuda.seed_all()
    assert lumen.cuda.get_rng_state_all() == []
    for call in (lumen.cuda.get_rng_state, lumen.cuda.initial_seed, lambda: lumen.Generator("cuda")):
        with pytest.raises(ImportError, match="needs CuPy"):
            call()


def test_uniform_array_for_dropout_masks():
    u = random.uniform_array((4, 5), lumen.float32, "cpu", lumen.Generator().manual_seed(2))
    assert u.shape == (4, 5) and u.dtype == np.float32 and ((0 <= u) & (u < 1)).all()
    assert np.array_equal(u, random.uniform_array((4, 5), np.float32, "cpu", lumen.Generator().manual_seed(2)))
    lumen.manual_seed(3)
    first = random.uniform_array((3,), lumen.float64, "cpu")
    lumen.manual_seed(3)
    assert np.array_equal(first, random.uniform_array((3,), lumen.float64, "cpu"))
