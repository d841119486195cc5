"""The tape: Function nodes and the backward engine.

A Function node keeps its forward and backward side by side. Its contract:

- non-tensor parameters are the arguments of its ``__init__`` (``Op.apply(*tensors, **params)``
  builds ``Op(**params)``, so an unknown parameter is a TypeError, never a silent attribute);
- ``forward`` gets raw backend arrays and returns arrays, computing only through ``self.backend``
  (the device's primitives, :mod:`lumen.backends.base`) and the array protocol both array
  modules share (operators, ``.reshape``, ``.sum(axis=)``, indexing);
- ``backward`` gets and returns Tensors, so a backward written with Lumen ops is itself recorded
  when ``create_graph=True`` (double backward comes for free); it asks ``self.needs_input_grad[i]``
  (as PyTorch's ``ctx.needs_input_grad``) and returns None for inputs that need no gradient;
- what forward keeps for backward it keeps through ``save_inputs``/``save_outputs`` (version
  checked) or as its own attributes; nothing outside the Function reads or writes them.

The graph is kept as edges from each node to the nodes that produced its inputs
(``next``): a node never holds its inputs' data unless it saved them for backward,
so intermediate arrays die as soon as nothing needs them. Backward visits nodes in
decreasing generation from a heap (no recursion), and frees each node's saved
tensors after it ran unless the graph is retained.
"""
from __future__ import annotations

import heapq
import itertools

from ..dtypes import from_numpy_dtype
from .grad_mode import is_grad_enabled, set_grad_enabled

_sequence = itertools.count()
_Tensor = None  # lumen.tensor.Tensor, imported on first use (tensor.py imports this module)


def _tensor_class():
    global _Tensor
    from ..tensor import Tensor
    _Tensor = Tensor
    return Tensor


class Function:
    """Base class of every differentiable op. Subclass and define forward/backward."""

    generation = 0
    _freed = False
    view = False  # True for ops whose output may alias input 0
    inplace = False  # True for ops whose forward writes output 0 into input 0's buffer
    aliases_input = False  # set by apply when this node's output 0 really is a view of input 0

    # class-level defaults, so apply (the hot path) neither sets nor getattr-probes them per node
    needs_input_grad = ()
    _save_in = ()
    _save_out = ()
    _non_differentiable = ()
    out_device = None  # a node that moves data to another device sets this in forward

    @classmethod
    def apply(cls, *inputs, **params):
        Tensor = _Tensor or _tensor_class()
        node = cls(**params) if params else cls()
        dev = None
        requires_grad = False
        arrays, needs = [], []
        for x in inputs:
            if x is None:
                arrays.append(None)
                needs.append(False)
                continue
            if not isinstance(x, Tensor):
                raise TypeError(f"{cls.__name__}: inputs must be Tensors or None, got {type(x).__name__}")
            if dev is None:
                backend, dev = x._backend, x._device
            elif x._device is not dev and x._device != dev:
                shapes = ", ".join(f"{tuple(t.shape)} on {t.device}" for t in inputs if t is not None)
                raise RuntimeError(f"{cls.__name__}: expected all tensors on one device, got {shapes}")
            needs.append(x._requires_grad)
            arrays.append(x._data)
        if dev is None:
            raise TypeError(f"{cls.__name__}: needs at least one Tensor input")
        node.backend = backend
        requires_grad = True in needs
        if requires_grad:
            node.needs_input_grad = tuple(needs)
        raw = node.forward(*arrays)
        single = not isinstance(raw, tuple)
        raw = (raw,) if single else raw

        if node.out_device is not None and node.out_device is not dev:
            dev = node.out_device
            backend = None
        # An in-place op's output is its input's memory: it shares (and bumps) that version counter,
        # so that what backward saved of it is checked against later writes.
        counter = None
        if cls.inplace:
            counter = inputs[0]._version_counter
            counter.value += 1
        if requires_grad and is_grad_enabled():
            edges, meta, generation = [], [], 0
            for x in inputs:
                if x is None:
                    edges.append(None)
                    meta.append(None)
                    continue
                fn = x.grad_fn
                if fn is not None and fn.generation > generation:
                    generation = fn.generation
                edges.append(None if not x._requires_grad else (fn, x._output_index) if fn is not None
                             else (None, x))
                meta.append((x._data.shape, x._data.dtype))
            node.next = tuple(edges)
            node.input_meta = tuple(meta)
            node.generation = generation + 1
            node.sequence = next(_sequence)
            node.n_outputs = len(raw)
            if node._save_in:
                node._retain_saved(inputs)
            else:
                node._saved_in = ()
            skip = node._non_differentiable
            outputs = [Tensor._wrap(a, dev, backend=backend) if i in skip else
                       Tensor._wrap(a, dev, node, i, backend=backend) for i, a in enumerate(raw)]
            if counter is not None:
                outputs[0]._version_counter = counter
            if node._save_out:
                node._retain_outputs(outputs)
            else:
                node._saved_out = ()
        else:
            outputs = [Tensor._wrap(a, dev, backend=backend) for a in raw]
            if counter is not None:
                outputs[0]._version_counter = counter
        if cls.view and node.backend.may_share_memory(raw[0], arrays[0]):
            # a view shares its base's version counter, so writes through either are seen by both
            # (a view op may still return a copy, e.g. advanced indexing: that one keeps its own)
            outputs[0]._version_counter = inputs[0]._version_counter
            node.aliases_input = True
        return outputs[0] if single else tuple(outputs)

    # ---- what forward may call -------------------------------------------
    def save_inputs(self, *indices):
        """Keep these inputs (as Tensors) for backward; read them as ``self.saved_inputs``."""
        self._save_in = indices

    def save_outputs(self, *indices):
        """Keep these outputs (as Tensors) for backward; read them as ``self.saved_outputs``."""
        self._save_out = indices

    def mark_non_differentiable(self, *indices):
        """These outputs carry no gradient (indices, masks)."""
        self._non_differentiable = indices

    # ---- bookkeeping done by apply ------------------------------------------
    def _retain_saved(self, inputs):
        self._saved_in = tuple((inputs[i], inputs[i]._version_counter, inputs[i]._version_counter.value)
                               if inputs[i] is not None else None
                               for i in self._save_in)

    def _retain_outputs(self, outputs):
        # Outputs are kept as (array, version) and re-wrapped on demand: holding the output
        # Tensor itself would make a reference cycle output -> node -> output.
        self._saved_out = tuple((outputs[i]._data, outputs[i]._version_counter,
                                 outputs[i]._version_counter.value)
                                for i in self._save_out)

    def _check_version(self, counter, version, what):
        if counter.value != version:
            raise RuntimeError(
                f"{type(self).__name__}.backward: one of the tensors saved for backward ({what}) was "
                f"modified by an in-place operation after it was saved (version {version} -> "
                f"{counter.value}); use an out-of-place op or clone() it first")

    @property
    def saved_inputs(self):
        if self._saved_in is None:
            raise RuntimeError(_FREED.format(type(self).__name__))
        out = []
        for entry in self._saved_in:
            if entry is None:
                out.append(None)
                continue
            tensor, counter, version = entry
            self._check_version(counter, version, f"input of shape {tuple(tensor.shape)}")
            out.append(tensor)
        return tuple(out)

    @property
    def saved_outputs(self):
        from ..tensor import Tensor

        if self._saved_out is None:
            raise RuntimeError(_FREED.format(type(self).__name__))
        out = []
        for i, (array, counter, version) in zip(self._save_out, self._saved_out):
            self._check_version(counter, version, f"output of shape {array.shape}")
            out.append(Tensor._wrap(array, None, grad_fn=self, output_index=i,
                                    version_counter=counter, backend=self.backend))
        return tuple(out)

    def _release(self):
        # Like PyTorch, only a node that saved tensors refuses a second backward.
        self._freed = bool(self._saved_in or self._saved_out)
        self._saved_in = None
        self._saved_out = None

    def __repr__(self):
        return f"<{type(self).__name__}Backward>"

    def name(self):
        return f"{type(self).__name__}Backward"

    @property
    def next_functions(self):
        """As PyTorch: one ``(node, output_index)`` per input; a leaf's node is an
        :class:`AccumulateGrad` holding it, an input that needs no gradient is ``(None, 0)``."""
        return tuple((None, 0) if edge is None else (AccumulateGrad(edge[1]), 0) if edge[0] is None else edge
                     for edge in getattr(self, "next", ()))


class AccumulateGrad:
    """Where a leaf's gradient lands (its ``.grad``); the end of every path in the graph."""

    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad>"


_FREED = ("{}.backward: trying to backward through the graph a second time (or to read saved tensors "
          "after they were freed); pass retain_graph=True to the first backward() if you need to")


def _accumulate(slot, g):
    return g if slot is None else slot + g


def run_backward(roots, grad_roots, retain_graph=False, create_graph=False, inputs=None):
    """Propagate ``grad_roots`` from ``roots`` through the graph.

    Without ``inputs`` gradients accumulate into the leaves' ``.grad``; with ``inputs``
    (a sequence of tensors) they are returned instead, in that order.
    """
    capture = None
    if inputs is not None:
        capture = {}
        targets = {id(t): t for t in inputs}
        # a non-leaf input is captured at its producing node's output slot
        node_targets = {(id(t.grad_fn), t._output_index): id(t) for t in inputs if t.grad_fn is not None}

    pending: dict[int, list] = {}
    nodes: dict[int, Function] = {}
    heap: list = []
    leaf_grads: dict[int, list] = {}  # id -> [leaf, summed gradient], stored into .grad at the end

    def deliver(edge, g):
        node, index = edge
        if node is None:  # a leaf tensor
            leaf = index
            if capture is not None:
                if id(leaf) in targets:
                    capture[id(leaf)] = _accumulate(capture.get(id(leaf)), g)
                return
            # Summed out of place while the pass runs: an array handed to a leaf may still be
            # waiting in another node's slot, so nothing may write into it before the end.
            entry = leaf_grads.setdefault(id(leaf), [leaf, None])
            entry[1] = _accumulate(entry[1], g)
            return
        if capture is not None and (id(node), index) in node_targets:
            key = node_targets[(id(node), index)]
            capture[key] = _accumulate(capture.get(key), g)
        slots = pending.get(id(node))
        if slots is None:
            slots = pending[id(node)] = [None] * node.n_outputs
            nodes[id(node)] = node
            heapq.heappush(heap, (-node.generation, -node.sequence, id(node)))
        slots[index] = _accumulate(slots[index], g)

    with set_grad_enabled(create_graph):
        for root, g in zip(roots, grad_roots):
            if root.grad_fn is None:
                if not root.requires_grad:
                    raise RuntimeError("element of the outputs does not require grad and has no grad_fn")
                deliver((None, root), g)
            else:
                deliver((root.grad_fn, root._output_index), g)

        while heap:
            _, _, key = heapq.heappop(heap)
            node, grads = nodes.pop(key), pending.pop(key)
            if node._freed:
                raise RuntimeError(_FREED.format(type(node).__name__))
            gxs = node.backward(*grads)
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            if len(gxs) != len(node.next):
                raise RuntimeError(f"{type(node).__name__}.backward returned {len(gxs)} gradients for "
                                   f"{len(node.next)} inputs")
            if not retain_graph:
                node._release()
            for edge, gx, meta in zip(node.next, gxs, node.input_meta):
                if edge is None or gx is None:
                    continue
                if gx.shape != meta[0]:
                    raise RuntimeError(f"{type(node).__name__}.backward: gradient of shape {gx.shape} for an "
                                       f"input of shape {meta[0]}")
                if gx._data.dtype != meta[1]:
                    gx = gx.to(from_numpy_dtype(meta[1]))
                deliver(edge, gx)

    if capture is not None:
        return [capture.get(id(t)) for t in inputs]
    _store_leaf_grads(leaf_grads.values(), [g._data for g in grad_roots], create_graph)
    return None


def _store_leaf_grads(entries, root_arrays, create_graph):
    """Put each leaf's gradient into ``.grad``: added into an existing buffer, or as a new one that
    is the leaf's own (a gradient may alias another leaf's or the caller's ``gradient=`` array, and a
    later backward adds into ``.grad`` in place)."""
    from ..ops.inplace import accumulate_grad  # the ops import this module

    stored = list(root_arrays)
    for leaf, g in entries:
        for hook in leaf._grad_hooks or ():
            new = hook(g)
            g = g if new is None else new
        if create_graph:
            leaf.grad = g if leaf.grad is None else leaf.grad + g
            continue
        g = g.detach()
        if leaf.grad is not None:
            leaf.grad = accumulate_grad(leaf.grad, g)
            continue
        if any(g._backend.may_share_memory(g._data, other) for other in stored):
            g = g.clone()
        stored.append(g._data)
        leaf.grad = g
