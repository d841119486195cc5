import collections
import gc
import multiprocessing
import os
import time

import numpy as np
import pytest

import lumen
from lumen.data import DataLoader, Dataset, Subset, default_collate, sample_rng


class Indexed(Dataset):
    """Sample i is i; optionally slow (sleep releases the GIL, like decoding) or failing at one index."""

    def __init__(self, n, delay=0.0, fail_at=None):
        self.n, self.delay, self.fail_at = n, delay, fail_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.delay:
            time.sleep(self.delay)
        if i == self.fail_at:
            raise KeyError(f"broken sample {i}")
        return i


def as_list(batch):
    return list(batch)


def run(loader):
    return [b for b in loader]


def test_len_and_order_without_shuffle():
    assert run(DataLoader(Indexed(7), batch_size=3, collate_fn=as_list)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert run(DataLoader(Indexed(7), batch_size=3, drop_last=True, collate_fn=as_list)) == [[0, 1, 2], [3, 4, 5]]
    assert len(DataLoader(Indexed(7), batch_size=3)) == 3
    assert len(DataLoader(Indexed(7), batch_size=3, drop_last=True)) == 2
    assert len(DataLoader(Indexed(6), batch_size=3, drop_last=True)) == 2
    assert run(DataLoader(Indexed(0), collate_fn=as_list)) == []


def test_shuffle_is_a_seeded_permutation_per_epoch():
    a = DataLoader(Indexed(20), batch_size=4, shuffle=True, seed=5, collate_fn=as_list)
    b = DataLoader(Indexed(20), batch_size=4, shuffle=True, seed=5, collate_fn=as_list)
    e0, e1 = run(a), run(a)
    assert sorted(sum(e0, [])) == list(range(20))
    assert e0 != e1  # the epoch advanced after a full pass
    assert [run(b), run(b)] == [e0, e1]
    expected = np.random.default_rng([5, 1]).permutation(20)
    assert sum(e1, []) == expected.tolist()
    c = DataLoader(Indexed(20), batch_size=4, shuffle=True, seed=6, collate_fn=as_list)
    assert run(c) != e0
    c.set_epoch(1)
    assert c.epoch == 1


def test_set_epoch_selects_the_order():
    a = DataLoader(Indexed(10), shuffle=True, seed=0, collate_fn=as_list)
    first = run(a)
    run(a)
    a.set_epoch(0)
    assert run(a) == first


def test_abandoned_pass_starts_a_fresh_epoch():
    a = DataLoader(Indexed(10), batch_size=2, shuffle=True, seed=1, collate_fn=as_list)
    it = iter(a)
    next(it)
    assert a.state_dict() == {"epoch": 0, "position": 1, "seed": 1}
    rest = run(a)
    assert a.state_dict() == {"epoch": 2, "position": 0, "seed": 1}
    assert sum(rest, []) == np.random.default_rng([1, 1]).permutation(10).tolist()
    assert list(it) == []  # the abandoned iterator was closed


@pytest.mark.parametrize("workers", [0, 3])
@pytest.mark.parametrize("stop", [0, 1, 4, 7])
def test_resume_mid_epoch_gives_the_remaining_batches(workers, stop):
    make = lambda: DataLoader(Indexed(23), batch_size=3, shuffle=True, seed=11, num_workers=workers,
                              collate_fn=as_list)
    ref = make()
    run(ref)
    full = run(ref)  # epoch 1
    a = make()
    a.set_epoch(1)
    it = iter(a)
    head = [next(it) for _ in range(stop)]
    state = a.state_dict()
    del it
    assert state == {"epoch": 1, "position": stop, "seed": 11}
    b = make()
    b.load_state_dict(state)
    tail = run(b)
    assert head + tail == full
    assert b.state_dict() == {"epoch": 2, "position": 0, "seed": 11}


def test_resume_at_the_end_of_an_epoch_finishes_it():
    a = DataLoader(Indexed(6), batch_size=2, collate_fn=as_list)
    a.load_state_dict({"epoch": 3, "position": 3, "seed": 0})
    assert run(a) == []
    assert a.state_dict()["epoch"] == 4
    with pytest.raises(ValueError, match="position 4 outside 0..3"):
        a.load_state_dict({"epoch": 0, "position": 4, "seed": 0})
    with pytest.raises(KeyError, match="seed"):
        a.load_state_dict({"epoch": 0, "position": 0})


def test_seed_none_draws_a_recorded_seed():
    a = DataLoader(Indexed(30), shuffle=True, collate_fn=as_list)
    b = DataLoader(Indexed(30), shuffle=True, seed=a.state_dict()["seed"], collate_fn=as_list)
    assert run(a) == run(b)


@pytest.mark.parametrize("workers,prefetch", [(1, 1), (2, 2), (4, 3)])
def test_workers_give_the_same_batches(workers, prefetch):
    base = DataLoader(Indexed(41, delay=0.001), batch_size=4, shuffle=True, seed=3, collate_fn=as_list)
    par = DataLoader(Indexed(41, delay=0.001), batch_size=4, shuffle=True, seed=3, num_workers=workers,
                     prefetch_factor=prefetch, collate_fn=as_list)
    for _ in range(2):
        assert run(par) == run(base)


def test_workers_load_concurrently_and_during_compute():
    # Without timing: samples 0-3 meet at a barrier, which only opens if four
    # workers load at once; sample 5 signals while the main process is still
    # "computing" on batch 0, which only happens if loading runs in the background.
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4, timeout=10)
    loaded = ctx.Event()

    class Rendezvous(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            if i < 4:
                barrier.wait()
            if i == 5:
                loaded.set()
            return i

    it = iter(DataLoader(Rendezvous(), num_workers=4, prefetch_factor=2, collate_fn=as_list,
                         multiprocessing_context=ctx))
    assert next(it) == [0]
    assert loaded.wait(timeout=10)
    assert [b[0] for b in it] == list(range(1, 8))


def test_workers_are_processes():
    class Pids(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return os.getpid()

    pids = set(sum(run(DataLoader(Pids(), batch_size=1, num_workers=3, collate_fn=as_list)), []))
    assert len(pids) == 3 and os.getpid() not in pids


def test_worker_exception_is_reraised_with_worker_index_and_traceback():
    loader = DataLoader(Indexed(12, fail_at=7), batch_size=2, num_workers=3, collate_fn=as_list)
    seen = []
    with pytest.raises(KeyError) as info:
        for batch in loader:
            seen.append(batch)
    assert seen == [[0, 1], [2, 3], [4, 5]]
    message = str(info.value)
    assert message.startswith("Caught KeyError in DataLoader worker process 0 (dataset index 7).\n"
                              "Original Traceback (most recent call last):\n")
    assert "in __getitem__" in message and "KeyError: 'broken sample 7'" in message


def test_exception_without_workers_propagates_unchanged():
    with pytest.raises(KeyError, match="broken sample 2"):
        run(DataLoader(Indexed(4, fail_at=2), collate_fn=as_list))


def test_collate_error_in_worker_names_the_indices():
    def bad(batch):
        raise ValueError("cannot collate")

    with pytest.raises(ValueError, match=r"worker process \d \(collating dataset indices \[0, 1\]\)") as info:
        run(DataLoader(Indexed(4), batch_size=2, num_workers=2, collate_fn=bad))
    assert "ValueError: cannot collate" in str(info.value)


def _wait_no_workers():
    for _ in range(500):
        gc.collect()
        if not multiprocessing.active_children():
            return True
        time.sleep(0.01)
    return False


def test_workers_stop_on_exhaustion_exception_and_garbage_collection():
    assert _wait_no_workers()
    run(DataLoader(Indexed(8), batch_size=2, num_workers=2, collate_fn=as_list))
    assert _wait_no_workers()
    with pytest.raises(KeyError):
        run(DataLoader(Indexed(8, fail_at=1), num_workers=2, collate_fn=as_list))
    assert _wait_no_workers()
    loader = DataLoader(Indexed(100, delay=0.005), num_workers=2, collate_fn=as_list)
    for i, _ in enumerate(loader):
        if i == 2:
            break  # an early break stops the workers once the iterator is dropped
    assert _wait_no_workers()
    it = iter(loader)
    next(it)
    assert len(multiprocessing.active_children()) == 2
    del it
    assert _wait_no_workers()
    assert loader.state_dict()["position"] == 1


def test_sample_rng_is_per_sample_and_worker_independent():
    class Noisy(Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return float(sample_rng().random())

    a = run(DataLoader(Noisy(), batch_size=3, seed=4, collate_fn=as_list))
    b = run(DataLoader(Noisy(), batch_size=3, seed=4, num_workers=3, collate_fn=as_list))
    c = run(DataLoader(Noisy(), batch_size=3, seed=5, collate_fn=as_list))
    assert a == b and a != c
    assert sample_rng() is None


def test_default_collate_stacks_into_tensors():
    samples = [(np.full((2, 3), i, np.float32), np.uint8(i), i, 0.5 * i, f"id{i}", {"m": np.arange(2) + i})
               for i in range(3)]
    image, u8, n, x, name, d = default_collate(samples)
    assert isinstance(image, lumen.Tensor) and image.shape == (3, 2, 3) and image.dtype == lumen.float32
    np.testing.assert_array_equal(image.numpy()[:, 0, 0], [0, 1, 2])
    assert u8.dtype == lumen.uint8 and n.dtype == lumen.int64 and x.dtype == lumen.float64
    assert n.tolist() == [0, 1, 2] and x.tolist() == [0.0, 0.5, 1.0]
    assert name == ("id0", "id1", "id2")  # strings inside a sample field: a tuple, as torch
    np.testing.assert_array_equal(d["m"].numpy(), [[0, 1], [1, 2], [2, 3]])
    point = collections.namedtuple("point", "x y")
    out = default_collate([point(1, 2), point(3, 4)])
    assert isinstance(out, point) and out.x.tolist() == [1, 3]
    t = default_collate([lumen.from_numpy(np.ones(2)), lumen.from_numpy(np.zeros(2))])
    assert t.shape == (2, 2)


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match=r"equal size.*field 0.*batch_size=1"):
        default_collate([(np.zeros((3, 4)), 1), (np.zeros((3, 5)), 2)])
    with pytest.raises(TypeError, match="found <class 'object'>.*collate_fn"):
        default_collate([object(), object()])
    with pytest.raises(RuntimeError, match="should be of equal size"):
        default_collate([(1, 2), (1,)])


def test_default_loader_yields_tensor_batches():
    class Pairs(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((2, 2), i, np.float32), np.int64(i)

    batches = run(DataLoader(Pairs(), batch_size=2, num_workers=2))
    assert [y.tolist() for _, y in batches] == [[0, 1], [2, 3], [4]]
    assert batches[0][0].shape == (2, 2, 2)


def test_subset_and_argument_checks():
    s = Subset(Indexed(10), [9, 2, 4])
    assert len(s) == 3 and [s[i] for i in range(3)] == [9, 2, 4]
    assert run(DataLoader(s, batch_size=2, collate_fn=as_list)) == [[9, 2], [4]]
    with pytest.raises(IndexError, match="out of range"):
        Subset(Indexed(3), [3])
    for kwargs, msg in (({"batch_size": 0}, "batch_size"), ({"num_workers": -1}, "num_workers"),
                        ({"num_workers": 1, "prefetch_factor": -1}, "prefetch_factor"), ({"seed": -1}, "seed")):
        with pytest.raises(ValueError, match=msg):
            DataLoader(Indexed(3), **kwargs)
    with pytest.raises(TypeError, match="__getitem__ and __len__"):
        DataLoader(iter(range(3)))


def test_seed_none_draws_the_shuffle_seed_from_the_generator():
    orders = lambda loader: [list(b) for b in loader]
    a = DataLoader(Indexed(20), batch_size=4, shuffle=True, generator=lumen.Generator().manual_seed(9),
                   collate_fn=as_list)
    b = DataLoader(Indexed(20), batch_size=4, shuffle=True, generator=lumen.Generator().manual_seed(9),
                   collate_fn=as_list)
    assert a.seed == b.seed and orders(a) == orders(b)
    lumen.manual_seed(4)  # without a generator the default one gives the seed, as PyTorch's sampler
    c = DataLoader(Indexed(20), shuffle=True)
    lumen.manual_seed(4)
    assert DataLoader(Indexed(20), shuffle=True).seed == c.seed
    with pytest.raises(TypeError, match="generator must be a lumen.Generator"):
        DataLoader(Indexed(20), generator=object())


class _ThreadedOps(lumen.data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return lumen.relu(lumen.ones(1 << 21) - i).sum()  # large enough for the CPU backend's thread pool


def test_workers_may_run_threaded_backend_ops_after_the_parent_did():
    lumen.relu(lumen.ones(1 << 21))  # the parent's pool exists when the workers fork
    loader = lumen.data.DataLoader(_ThreadedOps(), batch_size=1, num_workers=2, timeout=60)
    assert [batch.item() for batch in loader] == [2.0 ** 21, 0.0]
