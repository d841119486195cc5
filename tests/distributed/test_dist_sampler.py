"""DistributedSampler against torch's (same padding, drop_last, striding and errors; the shuffled order is
Lumen's generator's), DistributedDataLoader's shards and resumption on another number of ranks, shard()."""
import pytest
from hypothesis import given, settings, strategies as st

import lumen
from lumen.data import DataLoader, DistributedDataLoader, DistributedSampler, TensorDataset
from lumen.data.distributed import shard

torch = pytest.importorskip("torch")
from torch.utils.data.distributed import DistributedSampler as TorchDistributedSampler  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 23), replicas=st.integers(1, 5), drop_last=st.booleans(), data=st.data())
def test_unshuffled_shards_are_torchs(n, replicas, drop_last, data):
    rank = data.draw(st.integers(0, replicas - 1))
    ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
    theirs = TorchDistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
    assert list(ours) == list(theirs)
    assert (len(ours), ours.num_samples, ours.total_size) == (len(theirs), theirs.num_samples, theirs.total_size)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 23), replicas=st.integers(1, 4), drop_last=st.booleans(), seed=st.integers(0, 99))
def test_shuffled_shards_stride_the_seeded_permutation_as_torch(n, replicas, drop_last, seed):
    samplers = [DistributedSampler(range(n), replicas, r, seed=seed, drop_last=drop_last) for r in range(replicas)]
    for epoch in (0, 3):
        g = lumen.Generator()
        g.manual_seed(seed + epoch)
        order = lumen.randperm(n, generator=g).tolist()
        for sampler in samplers:
            sampler.set_epoch(epoch)
        # torch's padding and striding, applied to Lumen's permutation: an unshuffled torch sampler over it
        expected = [[order[i] for i in TorchDistributedSampler(range(n), replicas, r, shuffle=False,
                                                               drop_last=drop_last)] for r in range(replicas)]
        assert [list(s) for s in samplers] == expected


def test_epochs_reorder_and_the_same_epoch_repeats():
    sampler = DistributedSampler(range(50), num_replicas=2, rank=1, seed=7)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first


@pytest.mark.parametrize("rank", [-1, 3])
def test_a_rank_outside_the_replicas_is_a_value_error_as_torch(rank):
    with pytest.raises(ValueError) as theirs:
        TorchDistributedSampler(range(4), num_replicas=3, rank=rank)
    with pytest.raises(ValueError) as ours:
        DistributedSampler(range(4), num_replicas=3, rank=rank)
    assert str(ours.value) == str(theirs.value)


def test_without_a_process_group_the_sampler_needs_replicas_and_rank():
    with pytest.raises(ValueError, match="has not been initialized"):
        DistributedSampler(range(4))


def _batches(loader):
    return [batch[0].tolist() for batch in loader]


@pytest.mark.parametrize("ranks", [1, 2, 4])
def test_loader_shards_are_the_one_process_batches_at_the_global_batch(ranks):
    data = TensorDataset(lumen.arange(24))
    alone = DataLoader(data, batch_size=8, shuffle=True, seed=11, drop_last=True)
    shards = [DistributedDataLoader(data, 8 // ranks, shuffle=True, seed=11, drop_last=True, num_replicas=ranks,
                                    rank=r) for r in range(ranks)]
    for _ in range(2):  # two epochs
        per_rank = [_batches(s) for s in shards]
        assert all(len(b) == 8 // ranks for batches in per_rank for b in batches)
        together = [sorted(sum(parts, [])) for parts in zip(*per_rank)]
        assert together == [sorted(b) for b in _batches(alone)]


def test_a_checkpointed_position_resumes_on_another_number_of_ranks():
    data = TensorDataset(lumen.arange(20))
    two = [DistributedDataLoader(data, 2, shuffle=True, seed=5, drop_last=True, num_replicas=2, rank=r)
           for r in range(2)]
    for loader in two:
        it = iter(loader)
        next(it)  # one step done on both ranks
    state = two[0].state_dict()
    assert state == two[1].state_dict() and state["global_batch_size"] == 4
    one = DistributedDataLoader(data, 4, shuffle=True, seed=5, drop_last=True, num_replicas=1, rank=0)
    one.load_state_dict(state)
    rest_alone = _batches(one)
    uninterrupted = DataLoader(data, batch_size=4, shuffle=True, seed=5, drop_last=True)
    assert [sorted(b) for b in rest_alone] == [sorted(b) for b in _batches(uninterrupted)[1:]]
    wrong = DistributedDataLoader(data, 4, shuffle=True, seed=5, drop_last=True, num_replicas=2, rank=0)
    with pytest.raises(ValueError, match="global batch of 4, this loader's is 8"):
        wrong.load_state_dict(state)


def test_loader_refuses_what_it_cannot_shard():
    data = TensorDataset(lumen.arange(9))
    with pytest.raises(ValueError, match="leaves some rank without a sample"):
        DistributedDataLoader(data, 2, num_replicas=4, rank=0)  # 9 = 8 + 1 sample for 4 ranks
    with pytest.raises(ValueError, match="sampler= is not supported"):
        DistributedDataLoader(data, 2, sampler=range(9), num_replicas=2, rank=0)
    assert _batches(DistributedDataLoader(data, 2, num_replicas=1)) == _batches(DataLoader(data, 2))


def test_shard_splits_evaluation_sets_without_padding():
    parts = [list(shard(range(10), 3, r)) for r in range(3)]
    assert parts == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert list(shard(range(4))) == [0, 1, 2, 3]  # no process group: all of it
