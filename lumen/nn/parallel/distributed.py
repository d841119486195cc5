"""``DistributedDataParallel``: one model replica per process, gradients averaged over the ranks during backward.

As PyTorch's: at construction the ranks check that their models agree and take rank 0's parameters and
buffers; the parameters (in reverse registration order, roughly the order backward produces their gradients)
are split into buckets of at most ``bucket_cap_mb`` (the first 1 MiB, so the first all-reduce starts early).
A post-accumulate-grad hook on each parameter marks it ready; a full bucket is flattened and its all-reduce
(SUM, then divided by the world size) started non-blocking, buckets always in the same order on every rank;
when the last bucket has started, the reductions are waited for and the averaged gradients written back into
``.grad``. So N ranks at batch b each give the gradients of one process at batch N*b with the loss averaged
over the batch (with a summed loss: the sum's gradient divided by N; multiply the learning rate by N, or the
loss by N, for one process's summed loss).

The reductions overlap the rest of the backward pass: as torch's AccumulateGrad, Lumen's engine finishes a
leaf that has post-accumulate hooks as soon as its gradient is complete, so a bucket is started while earlier
layers' gradients are still being computed. MPI moves a started reduction's data only inside its calls, so
each ready gradient also polls the started reductions; how much of their time the backward pass hides is
measured by ``benchmarks/distributed.py`` (a ``bucket_cap_mb`` larger than the model gives one bucket, after
the first 1 MiB one, started only when backward ends: the same work without the overlap).
"""
from __future__ import annotations

import contextlib

from ... import distributed as dist
from ...autograd.grad_mode import is_grad_enabled, no_grad
from ..module import Module

_FIRST_BUCKET_BYTES = 1024 * 1024
_DEFAULT_BUCKET_CAP_MB = 25


class _Bucket:
    def __init__(self, indices):
        self.indices = indices  # into DistributedDataParallel._params
        self.ready = 0
        self.flat = None
        self.work = None


def _buckets(params, first_bytes, cap_bytes):
    """Reverse-order buckets of parameters of one dtype and device, each closed once it holds ``cap`` bytes."""
    buckets, open_ = [], {}
    for index in reversed(range(len(params))):
        p = params[index]
        key = (p.dtype, str(p.device))
        indices, size = open_.get(key, ([], 0))
        indices.append(index)
        size += p.numel() * p.element_size()
        cap = first_bytes if not buckets else cap_bytes
        if size >= cap:
            buckets.append(indices)
            open_.pop(key, None)
        else:
            open_[key] = (indices, size)
    buckets.extend(indices for indices, _ in open_.values())
    return [_Bucket(indices) for indices in buckets]


def _tensors_in(value):
    import lumen
    if isinstance(value, lumen.Tensor):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors_in(v)


def _leaves_reached(outputs):
    """ids of the leaf tensors the outputs' graphs lead to (through ``grad_fn.next_functions``)."""
    tensors = list(_tensors_in(outputs))
    leaves = {id(t) for t in tensors if t.grad_fn is None and t.requires_grad}
    stack = [t.grad_fn for t in tensors if t.grad_fn is not None]
    seen = {id(node) for node in stack}
    while stack:
        for node, _ in stack.pop().next_functions:
            if node is None:
                continue
            variable = getattr(node, "variable", None)  # an AccumulateGrad: the edge to a leaf
            if variable is not None:
                leaves.add(id(variable))
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append(node)
    return leaves


class DistributedDataParallel(Module):
    """Wraps ``module`` (already on this rank's device) for data-parallel training over the default
    process group. ``find_unused_parameters=True`` walks each forward's graph and counts the parameters it
    does not reach as ready with zero gradient (a parameter no rank used keeps its ``.grad``); without it a
    forward that leaves a parameter unused makes the next forward raise, naming it. ``broadcast_buffers``
    (default True) copies rank 0's buffers into every rank at each training forward.

    Accepted and without effect here, as one process drives one device and gradients are separate
    arrays: ``device_ids``, ``output_device``, ``dim``, ``check_reduction`` (deprecated in PyTorch),
    ``gradient_as_bucket_view``, ``static_graph``, ``batched_grad_copy``. ``init_sync=False`` skips the
    initial broadcast. Not supported (ValueError when given): ``delay_all_reduce_named_params``,
    ``param_to_hook_all_reduce``, ``mixed_precision``, ``device_mesh``, ``skip_all_reduce_unused_params``,
    ``bucket_cap_mb_list``."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=None, init_sync=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None,
                 skip_all_reduce_unused_params=False, bucket_cap_mb_list=None, batched_grad_copy=False,
                 forward_sync_buffers=None):
        super().__init__()
        for name, value, default in (("delay_all_reduce_named_params", delay_all_reduce_named_params, None),
                                     ("param_to_hook_all_reduce", param_to_hook_all_reduce, None),
                                     ("mixed_precision", mixed_precision, None), ("device_mesh", device_mesh, None),
                                     ("skip_all_reduce_unused_params", skip_all_reduce_unused_params, False),
                                     ("bucket_cap_mb_list", bucket_cap_mb_list, None)):
            if value is not default:
                raise ValueError(f"DistributedDataParallel: {name}= is not supported in Lumen, got {value!r}")
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: the default process group has not been initialized; call "
                               "lumen.distributed.init_process_group() first (under mpirun)")
        self.process_group = process_group
        dist.get_world_size(process_group)  # rejects any group but the default one
        self.module = module
        self.find_unused_parameters = bool(find_unused_parameters)
        self.broadcast_buffers = True if broadcast_buffers is None else bool(broadcast_buffers)
        self.forward_sync_buffers = self.broadcast_buffers if forward_sync_buffers is None else forward_sync_buffers
        self.require_backward_grad_sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._check_same_model_on_all_ranks()
        if init_sync:
            self._broadcast_from_rank0([p for _, p in module.named_parameters()] + list(module.buffers()))
        cap_mb = _DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else bucket_cap_mb
        self._buckets = _buckets(self._params, min(_FIRST_BUCKET_BYTES, cap_mb * 2 ** 20), cap_mb * 2 ** 20)
        self._bucket_of = {i: b for b, bucket in enumerate(self._buckets) for i in bucket.indices}
        self._index = {id(p): i for i, p in enumerate(self._params)}
        self._iteration = None  # the ready flags of the forward whose backward is awaited
        self._hooks = [p.register_post_accumulate_grad_hook(self._on_grad_ready) for p in self._params]

    def _check_same_model_on_all_ranks(self):
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in zip(self._names, self._params)]
        everyone = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, mine)
        rank = dist.get_rank()
        for other, theirs in enumerate(everyone):
            if theirs != mine:
                diff = next((f"{a} here, {b} on rank {other}" for a, b in zip(mine, theirs) if a != b),
                            f"{len(mine)} parameters here, {len(theirs)} on rank {other}")
                raise RuntimeError(f"DistributedDataParallel: rank {rank}'s model differs from rank {other}'s: "
                                   f"{diff}")

    @staticmethod
    def _broadcast_from_rank0(tensors):
        with no_grad():
            works = [dist.broadcast(t, src=0, async_op=True) for t in tensors]
            for work in works:
                work.wait()

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes of forwards run inside accumulate gradients locally, without communication; the
        first synchronised backward after it averages the accumulated gradients."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def forward(self, *inputs, **kwargs):
        self._check_previous_reduction()
        syncing = is_grad_enabled() and self.require_backward_grad_sync
        if syncing and self.forward_sync_buffers:
            self._broadcast_from_rank0(list(self.module.buffers()))
        output = self.module(*inputs, **kwargs)
        if syncing:
            self._prepare_for_backward(output)
        return output

    def _check_previous_reduction(self):
        state = self._iteration
        if state is None or not state["marked"]:
            return
        missing = [self._names[i] for i, ready in enumerate(state["ready"]) if not ready]
        raise RuntimeError(
            f"DistributedDataParallel: Expected to have finished reduction in the prior iteration before starting a "
            f"new one: on rank {dist.get_rank()} the last backward gave no gradient to {missing}; pass "
            f"find_unused_parameters=True if a forward may leave parameters unused, and make sure every output "
            f"that depends on the parameters takes part in the loss")

    def _prepare_for_backward(self, output):
        for bucket in self._buckets:
            bucket.ready, bucket.flat, bucket.work = 0, None, None
        self._iteration = {"ready": [False] * len(self._params), "used": [True] * len(self._params),
                           "next_bucket": 0, "marked": False}
        if self.find_unused_parameters:
            reached = _leaves_reached(output)
            for i, p in enumerate(self._params):
                if id(p) not in reached:
                    self._iteration["used"][i] = False
                    self._mark_ready(i)

    def _on_grad_ready(self, param):
        if self._iteration is None:  # a backward outside a synchronised forward (no_sync, or the bare module)
            return
        self._iteration["marked"] = True
        index = self._index[id(param)]
        if self._iteration["ready"][index]:
            raise RuntimeError(f"DistributedDataParallel: parameter {self._names[index]!r} got a gradient twice in "
                               f"one iteration; call backward once per forward (retain_graph backward passes over "
                               f"the same forward are not supported)")
        self._mark_ready(index)

    def _mark_ready(self, index):
        state = self._iteration
        state["ready"][index] = True
        self._buckets[self._bucket_of[index]].ready += 1
        for bucket in self._buckets[:state["next_bucket"]]:
            bucket.work.is_completed()  # MPI moves a started reduction's data only inside its calls
        # Every rank must start the same all-reduces in the same order: bucket k waits for buckets < k.
        while state["next_bucket"] < len(self._buckets):
            bucket = self._buckets[state["next_bucket"]]
            if bucket.ready < len(bucket.indices):
                return
            self._launch(bucket)
            state["next_bucket"] += 1
        self._finish()

    def _launch(self, bucket):
        import lumen
        with no_grad():
            parts = []
            for i in bucket.indices:
                p = self._params[i]
                parts.append((p.grad if p.grad is not None else lumen.zeros_like(p)).reshape(-1))
            bucket.flat = lumen.cat(parts)
            bucket.work = dist.all_reduce(bucket.flat, async_op=True)

    def _finish(self):
        import lumen
        state, self._iteration = self._iteration, None
        used_by_any = None
        if self.find_unused_parameters:
            used = lumen.tensor([1.0 if u else 0.0 for u in state["used"]], dtype=lumen.float64)
            dist.all_reduce(used)
            used_by_any = used.tolist()
        world = dist.get_world_size()
        with no_grad():
            for bucket in self._buckets:
                bucket.work.wait()
                bucket.flat.div_(world)
                offset = 0
                for i in bucket.indices:
                    p = self._params[i]
                    n = p.numel()
                    if used_by_any is None or used_by_any[i] > 0:
                        averaged = bucket.flat[offset:offset + n].view(p.shape)
                        if p.grad is None:
                            p.grad = averaged.clone()
                        else:
                            p.grad.copy_(averaged)
                    offset += n
                bucket.flat = bucket.work = None
