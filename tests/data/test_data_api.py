"""torch.utils.data's API on Lumen: collation, datasets, samplers and DataLoader arguments against
torch (same batches where the order is deterministic, same rules where it is random), worker
processes (sharding, seeding, persistence, failures, timeouts) and lumen.utils.data."""
import collections
import multiprocessing
import os
import time
import warnings

import numpy as np
import pytest

import lumen
import lumen.data as ld
from lumen.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset, IterableDataset,
                        RandomSampler, SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                        WeightedRandomSampler, default_collate, default_convert, get_worker_info, random_split)

torch = pytest.importorskip("torch")
td = torch.utils.data

Point = collections.namedtuple("Point", "x y")


def plain(value):
    """Tensors -> (dtype name, nested lists); containers keep their type, so two libraries' batches compare."""
    if isinstance(value, (lumen.Tensor, torch.Tensor)):
        return ("tensor", str(value.dtype).split(".")[-1], value.tolist())
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (type(value).__name__, *[plain(v) for v in value])
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def test_lumen_utils_data_is_lumen_data():
    import lumen.utils.data as d
    from lumen.utils.data import DataLoader as Loader

    assert d is ld and lumen.utils.data is lumen.data and Loader is DataLoader


COLLATE_CASES = [
    [(1, 2.0), (3, 4.0)],
    [True, False],
    [np.float32(1), np.float32(2)],
    [np.int16(3), np.int16(4)],
    [np.array(1.5), np.array(2.5)],
    [np.arange(6, dtype=np.uint8).reshape(2, 3), np.ones((2, 3), np.uint8)],
    [{"a": 1, "b": [np.zeros(2, np.float32), "s"]}, {"a": 2, "b": [np.ones(2, np.float32), "t"]}],
    [Point(1, 2.5), Point(3, 4.5)],
    ["a", "b"],
    [b"x", b"y"],
    [[1, 2], [3, 4]],
]


@pytest.mark.parametrize("batch", COLLATE_CASES)
def test_default_collate_matches_torch(batch):
    assert plain(default_collate(batch)) == plain(td.default_collate(batch))


def test_default_collate_of_tensors_matches_torch():
    a = [np.arange(6.0).reshape(2, 3) + i for i in range(3)]
    ours = default_collate([(lumen.tensor(x), i) for i, x in enumerate(a)])
    theirs = td.default_collate([(torch.tensor(x), i) for i, x in enumerate(a)])
    assert plain(ours) == plain(theirs)


@pytest.mark.parametrize("batch,error", [([np.array(["a"])], TypeError), ([object()], TypeError),
                                         ([np.zeros(2), np.zeros(3)], RuntimeError),
                                         ([[1, 2], [3]], RuntimeError)])
def test_default_collate_errors_match_torch(batch, error):
    with pytest.raises(error):
        td.default_collate(batch)
    with pytest.raises(error):
        default_collate(batch)


def test_default_convert_matches_torch():
    data = (np.zeros(2), 1, "a", np.float32(3), [np.ones(1)], Point(np.zeros(1), 2), {"k": np.int64(5)})
    assert plain(default_convert(data)) == plain(td.default_convert(data))


def test_datasets_match_torch():
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6)
    ours, theirs = TensorDataset(lumen.tensor(x), lumen.tensor(y)), td.TensorDataset(torch.tensor(x), torch.tensor(y))
    assert len(ours) == len(theirs) == 6
    assert [plain(ours[i]) for i in range(6)] == [plain(theirs[i]) for i in range(6)]
    with pytest.raises(AssertionError):
        td.TensorDataset(torch.zeros(2), torch.zeros(3))
    with pytest.raises(AssertionError, match="size mismatch"):
        TensorDataset(lumen.zeros(2), lumen.zeros(3))
    parts = [list(range(3)), list(range(10, 15)), list(range(20, 22))]
    cat, tcat = ConcatDataset(parts), td.ConcatDataset(parts)
    assert cat.cumulative_sizes == tcat.cumulative_sizes == [3, 8, 10]
    assert [cat[i] for i in range(-10, 10)] == [tcat[i] for i in range(-10, 10)]
    with pytest.raises(ValueError):
        cat[-11]
    assert len(Subset(cat, [9, 0]) + Subset(cat, [1])) == 3
    sub = Subset(cat, [4, 9, 0])
    assert [sub[i] for i in range(3)] == [11, 21, 0] and len(sub) == 3
    picked = Subset(ours, [4, 1, 0])[[0, 2]]  # a list index goes to the dataset as one list, as torch
    assert plain(picked) == plain(td.Subset(theirs, [4, 1, 0])[[0, 2]])


class Counting(IterableDataset):
    """start..end-1, each worker taking its contiguous share (the sharding torch's docs show)."""

    def __init__(self, start, end):
        self.start, self.end = start, end

    def __iter__(self):
        info = get_worker_info() or td.get_worker_info()
        lo, hi = self.start, self.end
        if info is not None:
            per = -(-(hi - lo) // info.num_workers)
            lo = lo + info.id * per
            hi = min(lo + per, self.end)
        return iter(range(lo, hi))

    def __len__(self):
        return self.end - self.start


class TorchCounting(Counting, td.IterableDataset):
    pass


def test_chain_and_iterable_concat():
    chained = Counting(0, 3) + Counting(10, 12)
    assert isinstance(chained, ChainDataset) and list(chained) == [0, 1, 2, 10, 11] and len(chained) == 5
    with pytest.raises(AssertionError, match="IterableDataset"):
        ConcatDataset([Counting(0, 2)])


@pytest.mark.parametrize("workers", [0, 1, 2])  # torch warns above the CPU count (2 in CI)
@pytest.mark.parametrize("kw", [dict(batch_size=4), dict(batch_size=4, drop_last=True), dict(batch_size=None)])
def test_iterable_dataset_batches_match_torch(workers, kw):
    ours = list(DataLoader(Counting(3, 20), num_workers=workers, **kw))
    theirs = list(td.DataLoader(TorchCounting(3, 20), num_workers=workers, **kw))
    assert plain(ours) == plain(theirs)
    assert len(DataLoader(Counting(3, 20), **kw)) == len(td.DataLoader(TorchCounting(3, 20), **kw))


class Squares(Dataset):
    def __len__(self):
        return 11

    def __getitem__(self, i):
        return {"x": np.full(2, i, np.float32), "y": i * i}


@pytest.mark.parametrize("kw", [dict(), dict(batch_size=3), dict(batch_size=3, drop_last=True),
                                dict(batch_size=None), dict(sampler=[5, 1, 7, 7]),
                                dict(batch_size=2, sampler=[10, 2, 4]),
                                dict(batch_sampler=[[3, 1], [0], [9, 8, 7]]),
                                dict(batch_size=4, collate_fn=lambda b: [s["y"] for s in b]),
                                dict(batch_size=4, num_workers=2), dict(batch_sampler=[[3, 1], [0]], num_workers=2),
                                dict(batch_size=None, num_workers=2)])
def test_map_style_batches_match_torch(kw):
    ours = DataLoader(Squares(), **kw)
    theirs = td.DataLoader(Squares(), **kw)
    assert plain(list(ours)) == plain(list(theirs))
    assert len(ours) == len(theirs)


@pytest.mark.parametrize("kw", [
    dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2), dict(persistent_workers=True),
    dict(shuffle=True, sampler=[0, 1]), dict(batch_sampler=[[0]], batch_size=2), dict(batch_sampler=[[0]], shuffle=True),
    dict(batch_sampler=[[0]], sampler=[0]), dict(batch_sampler=[[0]], drop_last=True),
    dict(batch_size=None, drop_last=True), dict(batch_size=0), dict(multiprocessing_context="fork"),
    dict(num_workers=1, multiprocessing_context="no-such-method"), dict(num_workers=1, multiprocessing_context=3)])
def test_argument_errors_match_torch(kw):
    with pytest.raises(Exception) as theirs:
        td.DataLoader(Squares(), **kw)
    with pytest.raises(type(theirs.value)):
        DataLoader(Squares(), **kw)


@pytest.mark.parametrize("kw", [dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=[[0]])])
def test_iterable_dataset_refuses_samplers_as_torch(kw):
    with pytest.raises(ValueError, match="IterableDataset: expected unspecified"):
        td.DataLoader(TorchCounting(0, 3), **kw)
    with pytest.raises(ValueError, match="IterableDataset: expected unspecified"):
        DataLoader(Counting(0, 3), **kw)


def test_fixed_attributes_cannot_be_set_after_init():
    loader = DataLoader(Squares(), batch_size=2)
    for name in ("batch_size", "sampler", "batch_sampler", "drop_last", "dataset", "persistent_workers"):
        with pytest.raises(ValueError, match=f"{name} attribute should not be set"):
            setattr(loader, name, None)
    loader.num_workers = 0  # not fixed, as in torch
    assert isinstance(loader.sampler, SequentialSampler) and isinstance(loader.batch_sampler, BatchSampler)
    assert isinstance(DataLoader(Squares(), shuffle=True).sampler, RandomSampler)


def test_random_sampler_rules():
    g = lumen.Generator().manual_seed(3)
    order = list(RandomSampler(range(20), generator=g))
    assert sorted(order) == list(range(20)) and order != list(range(20))
    again = list(RandomSampler(range(20), generator=lumen.Generator().manual_seed(3)))
    assert again == order
    long = list(RandomSampler(range(7), num_samples=17, generator=g))
    assert len(long) == 17 and sorted(long[:7]) == sorted(long[7:14]) == list(range(7)) and len(set(long[14:])) == 3
    drawn = list(RandomSampler(range(5), replacement=True, num_samples=400, generator=g))
    assert len(drawn) == 400 and set(drawn) == set(range(5)) and len(RandomSampler(range(5), num_samples=9)) == 9
    lumen.manual_seed(0)
    a = list(RandomSampler(range(10)))
    lumen.manual_seed(0)
    assert list(RandomSampler(range(10))) == a
    for kw, error in ((dict(replacement=1), TypeError), (dict(num_samples=0), ValueError)):
        with pytest.raises(error):
            td.RandomSampler(range(3), **kw)
        with pytest.raises(error, match="RandomSampler"):
            RandomSampler(range(3), **kw)


def test_subset_random_and_weighted_samplers():
    g = lumen.Generator().manual_seed(1)
    picks = list(SubsetRandomSampler([4, 8, 15, 16], generator=g))
    assert sorted(picks) == [4, 8, 15, 16] and len(SubsetRandomSampler([1, 2])) == 2
    weights = [0.0, 1.0, 3.0, 0.0, 6.0]
    drawn = np.array(list(WeightedRandomSampler(weights, 20000, generator=g)))
    counts = np.bincount(drawn, minlength=5) / len(drawn)
    np.testing.assert_allclose(counts, np.array(weights) / 10, atol=0.02)
    assert counts[0] == counts[3] == 0
    once = list(WeightedRandomSampler(lumen.tensor([1.0, 0.0, 2.0, 5.0]), 3, replacement=False, generator=g))
    assert len(set(once)) == 3 and 1 not in once
    first = [list(WeightedRandomSampler([1.0, 1.0, 100.0], 1, replacement=False, generator=g))[0] for _ in range(50)]
    assert first.count(2) > 40  # weighted without replacement: the heavy index usually comes first
    assert len(list(WeightedRandomSampler([1.0, 0.0, 0.0], 3, replacement=False))) == 3  # as torch, zeros last
    for args, error in ((([[1.0]], 2), ValueError), (([1.0], 0), ValueError), (([1.0], 2, 1), ValueError)):
        with pytest.raises(error):
            td.WeightedRandomSampler(*args)
        with pytest.raises(error):
            WeightedRandomSampler(*args)


@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_matches_torch(drop_last):
    order = [5, 3, 9, 0, 1, 2, 8]
    ours, theirs = BatchSampler(order, 3, drop_last), td.BatchSampler(order, 3, drop_last)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    for args in ((order, 0, False), (order, 2, 1)):
        with pytest.raises(ValueError):
            td.BatchSampler(*args)
        with pytest.raises(ValueError):
            BatchSampler(*args)


def test_random_split_lengths_and_fractions_as_torch():
    for lengths in ([3, 7], [0.3, 0.3, 0.4], [0.5, 0.5], [0.33, 0.33, 0.34], [0.1] * 10):
        ours = random_split(range(10), lengths, generator=lumen.Generator().manual_seed(0))
        theirs = td.random_split(range(10), lengths, generator=torch.Generator().manual_seed(0))
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        assert sorted(i for s in ours for i in s.indices) == list(range(10))
    a = random_split(range(30), [0.2, 0.8], generator=lumen.Generator().manual_seed(5))
    b = random_split(range(30), [0.2, 0.8], generator=lumen.Generator().manual_seed(5))
    assert [s.indices for s in a] == [s.indices for s in b]
    with pytest.raises(ValueError):
        td.random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="between 0 and 1"):
        random_split(range(10), [1.5, -0.5])
    messages = []
    for split in (random_split, td.random_split):
        with pytest.warns(UserWarning) as record:
            split(range(2), [0.9, 0.05, 0.05])
        messages.append([str(w.message) for w in record])
    assert messages[0] == messages[1] == [f"Length of split at index {i} is 0. This might result in an empty "
                                          f"dataset." for i in (1, 2)]


class Seeds(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        info = get_worker_info()
        return (info.id, info.num_workers, info.seed, float(lumen.rand(()).item()), float(np.random.rand()),
                type(info.dataset).__name__, os.environ.get("LUMEN_TEST_WORKER", ""))


def _init(worker_id):
    os.environ["LUMEN_TEST_WORKER"] = f"initialised {worker_id}"


def test_worker_info_seeds_and_init_fn():
    assert get_worker_info() is None
    rows = list(DataLoader(Seeds(), batch_size=None, num_workers=2, worker_init_fn=_init, seed=7))
    ids = [r[0] for r in rows]
    assert ids == [0, 1, 0, 1, 0, 1]  # round robin, in order
    assert {r[1] for r in rows} == {2} and {r[5] for r in rows} == {"Seeds"}
    assert [r[6] for r in rows] == [f"initialised {i}" for i in ids]
    seeds = {r[0]: r[2] for r in rows}
    assert seeds[1] == seeds[0] + 1
    again = list(DataLoader(Seeds(), batch_size=None, num_workers=2, seed=7))
    assert [r[2:5] for r in again] == [r[2:5] for r in rows]  # the seeds, and what they seed, are the loader's
    other = list(DataLoader(Seeds(), batch_size=None, num_workers=2, seed=8))
    assert [r[2] for r in other] != [r[2] for r in rows]
    assert rows[0][3] != rows[1][3]  # each worker's generator is its own


class Pid(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return os.getpid()


def test_persistent_workers_serve_every_epoch_and_stop_with_the_loader():
    loader = DataLoader(Pid(), batch_size=None, num_workers=2, persistent_workers=True)
    first, second = list(loader), list(loader)
    assert set(first) == set(second) and len(set(first)) == 2
    it = iter(loader)
    next(it)
    third = list(loader)  # abandons the pass: its late answers must not leak into this one
    assert len(third) == 4 and loader.epoch == 4
    del loader, it
    for _ in range(500):
        if not multiprocessing.active_children():
            break
        time.sleep(0.01)
    assert not multiprocessing.active_children()


class Slow(Dataset):
    def __len__(self):
        return 3

    def __getitem__(self, i):
        time.sleep(0.8 if i == 1 else 0)
        return i


class Dies(Dataset):
    def __len__(self):
        return 3

    def __getitem__(self, i):
        if i == 1:
            os._exit(3)
        return i


def test_timeout_and_dead_worker_raise_runtime_error(monkeypatch):
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.2 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.2))
    monkeypatch.setattr("lumen.data.loader._STATUS_CHECK_S", 0.2)
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(DataLoader(Dies(), num_workers=1))


class FailsInIter(IterableDataset):
    def __iter__(self):
        yield 1
        raise ZeroDivisionError("stream broke")


def test_iterable_worker_failure_names_the_worker():
    with pytest.raises(ZeroDivisionError, match=r"Caught ZeroDivisionError in DataLoader worker process 0") as info:
        list(DataLoader(FailsInIter(), batch_size=None, num_workers=1))
    assert "stream broke" in str(info.value)


def test_out_of_order_results_and_start_methods():
    got = list(DataLoader(Squares(), batch_size=2, num_workers=3, in_order=False,
                          collate_fn=lambda b: [s["y"] for s in b]))
    assert sorted(sum(got, [])) == [i * i for i in range(11)]
    ctx = multiprocessing.get_context("fork")
    for context in ("fork", ctx):
        loader = DataLoader(Squares(), batch_size=4, num_workers=1, multiprocessing_context=context)
        assert loader.multiprocessing_context is not None
        assert plain(list(loader)) == plain(list(DataLoader(Squares(), batch_size=4)))


def test_shuffled_loader_is_a_permutation_reproducible_from_the_generator():
    def orders(loader):
        return [b.tolist() for b in loader]

    make = lambda seed: DataLoader(range(25), batch_size=5, shuffle=True, generator=lumen.Generator().manual_seed(seed))
    a, b = make(1), make(1)
    assert orders(a) == orders(b)
    flat = sum(orders(make(1)), [])
    assert sorted(flat) == list(range(25)) and flat != list(range(25))
    assert orders(make(2)) != orders(make(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(DataLoader(range(4), batch_size=2, pin_memory=True, pin_memory_device="cuda"))


def test_classes_are_generic_as_torch():
    class Ints(Dataset[int]):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return i

    class Backwards(ld.Sampler[int]):
        def __iter__(self):
            return iter([2, 1, 0])

        def __len__(self):
            return 3

    class Stream(IterableDataset[int]):
        def __iter__(self):
            return iter([5, 6])

    assert [b.tolist() for b in DataLoader[int](Ints(), sampler=Backwards())] == [[2], [1], [0]]
    assert [b.tolist() for b in DataLoader(Stream())] == [[5], [6]]


def test_workers_ignore_ctrl_c_so_the_main_process_decides():
    import signal

    it = iter(DataLoader(Pid(), batch_size=None, num_workers=1))
    worker = next(it)
    os.kill(worker, signal.SIGINT)
    time.sleep(0.2)
    assert list(it) == [worker] * 3


def test_stack_dataset_matches_torch():
    a, b = list(range(4)), [x * 10 for x in range(4)]
    for args, kwargs in (((a, b), {}), ((), dict(x=a, y=b))):
        ours, theirs = ld.StackDataset(*args, **kwargs), td.StackDataset(*args, **kwargs)
        assert len(ours) == len(theirs) == 4 and [ours[i] for i in range(4)] == [theirs[i] for i in range(4)]
        assert plain(list(DataLoader(ours, batch_size=3))) == plain(list(td.DataLoader(theirs, batch_size=3)))
    for args, kwargs in (((a, b[:2]), {}), ((a,), dict(y=b)), ((), {})):
        with pytest.raises(ValueError):
            td.StackDataset(*args, **kwargs)
        with pytest.raises(ValueError, match="StackDataset"):
            ld.StackDataset(*args, **kwargs)
