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

A subclass whose ``forward`` is a ``@staticmethod`` follows PyTorch's contract instead (the
"new-style" Function that replaced the instance-method style Lumen's ops keep):
``forward(ctx, *args, **kwargs)`` gets Tensors and any other arguments and runs under
``no_grad``; ``backward(ctx, *grads)`` returns one gradient per positional argument of forward
(None for non-tensors). ``ctx`` is the graph node itself (a generated ``<Name>Backward`` class,
the outputs' ``grad_fn``), carrying ``save_for_backward``/``saved_tensors``,
``needs_input_grad``, ``mark_dirty``, ``mark_non_differentiable``, ``set_materialize_grads`` and
any attribute the user sets. ``forward(*args)`` without ctx plus
``setup_context(ctx, inputs, output)`` is the other form PyTorch accepts.
"""
from __future__ import annotations

import functools
import heapq
import inspect
import itertools
import os
import threading
import traceback
import weakref

from .. import backends
from ..device import mismatch_error, placed
from ..dtypes import from_numpy_dtype
from .anomaly_mode import _state as _anomaly
from .grad_mode import _state as _grad_mode, is_grad_enabled, no_grad, set_grad_enabled

_sequence = itertools.count()
# needs_input_grad tuples of nodes with few inputs, one per pattern: shared, they are not one more object per node
_needs_patterns = {}
# The shapes edges keep, one tuple per shape: each array's .shape is a new tuple, which the cyclic collector
# tracks until its next pass (in a chain of small ops, interning them halves the young-generation passes).
_shapes = {}


def _interned(shape):
    if len(_shapes) >= 4096:  # bounded (inputs of ever-new sizes): start over
        _shapes.clear()
    _shapes[shape] = shape
    return shape

# Per thread, as grad mode: whether the node whose backward runs now reads its saved tensors as arrays
# (another thread may run the same retained graph's backward with create_graph=True meanwhile).
class _OnArrays(threading.local):
    on = False  # every thread's start (a plain read: see grad_mode._ModeState)


_on_arrays = _OnArrays()


class _SavedRead:
    """``with _SavedRead(as_arrays):``: how the nodes whose backward runs in this thread read their saved
    tensors, restored on leaving (a backward pass sets it once; its hooks and Tensor backwards, through
    :func:`_tensor_side`, read Tensors)."""

    def __init__(self, as_arrays):
        self.as_arrays = as_arrays

    def __enter__(self):
        self.outer, _on_arrays.on = _on_arrays.on, self.as_arrays

    def __exit__(self, *exc):
        _on_arrays.on = self.outer


def _tensor_side(fn, *args):
    """``fn(*args)`` (a hook, a backward written on Tensors) with saved tensors read as Tensors."""
    with _SavedRead(False):
        return fn(*args)


_Tensor = None  # lumen.tensor.Tensor, imported on first use (tensor.py imports this module)
_wrap = None  # its _wrap, bound once: looking a classmethod up makes a bound method each time


def _tensor_class():
    global _Tensor, _wrap
    from ..tensor import Tensor
    _Tensor, _wrap = Tensor, Tensor._wrap
    return Tensor


class Node:
    """A node of the backward graph: what a tensor's ``grad_fn`` is (as ``torch.autograd.graph.Node``).

    ``next`` holds one edge per input, four entries each, in one flat tuple: ``node, output_index,
    shape, dtype`` (the shape and dtype the input's gradient must have), ``None, leaf, shape, dtype``,
    or four Nones for an input that needs no gradient (:func:`_edges` reads them as tuples). The engine
    calls ``backward(*grads)``. Flat, as the saved tensors: every container a node keeps is one more
    object the cyclic collector scans, on each of its passes.
    """

    generation = 0
    _freed = False
    aliases_input = False  # set by apply when this node's output 0 really is a view of input 0
    # The device of the outputs, and so of the gradients backward gets: a Function that moves data to
    # another device sets it in forward; apply sets it on every recorded node.
    out_device = None

    # class-level defaults, so apply (the hot path) neither sets nor getattr-probes them per node
    needs_input_grad = ()
    _tensor_hooks = None  # output index -> {handle id: hook}, from Tensor.register_hook on non-leaves
    _retained = None  # output index -> weakref to the tensor whose retain_grad() keeps its gradient
    _forward_stack = None  # where the forward ran, recorded while anomaly detection is on
    # True for ops whose backward is written only in the operators that backend arrays share with Tensors
    # (and ``sum_to``): with no graph to record, run_backward runs it on the arrays, its saved tensors read
    # as arrays, so each term costs a backend call instead of an op's dispatch.
    backward_on_arrays = False

    def _check_version(self, counter, version, what):
        if counter.value != version:
            raise RuntimeError(
                f"{type(self).__name__}.backward: one of the tensors saved for backward ({what}) was "
                f"modified by an in-place operation after it was saved (version {version} -> "
                f"{counter.value}); use an out-of-place op or clone() it first")

    def _record_forward_stack(self):
        self._forward_stack = [frame for frame in traceback.extract_stack()
                               if not frame.filename.startswith(_CORE_PATHS)]

    def _output_backend(self, index):
        return backends.get(self.out_device.type)

    def _as_tensors(self, grads):
        """The engine's gradient arrays (one per output, or None) as Tensors on the outputs' device."""
        wrap, dev = (_Tensor or _tensor_class())._wrap, self.out_device
        return [None if g is None else wrap(g, dev) for g in grads]

    def _run_tensor_hooks(self, grads, create_graph):
        """Each output's hooks may replace its gradient; retained gradients see the result (PyTorch
        runs retain_grad last, whatever the registration order)."""
        grads = list(grads)
        for index, hooks in (self._tensor_hooks or {}).items():
            for hook in list(hooks.values()):
                if grads[index] is not None:
                    new = hook(grads[index])
                    grads[index] = grads[index] if new is None else new
        for index, ref in (self._retained or {}).items():
            tensor = ref()
            if tensor is not None and grads[index] is not None:
                tensor.grad = _retained_sum(tensor.grad, grads[index], create_graph)
        return grads

    def __repr__(self):
        return f"<{self.name()}>"

    def name(self):
        return f"{type(self).__name__}Backward"

    @property
    def next_functions(self):
        """As PyTorch: one ``(node, output_index)`` per input; a leaf's node is an
        :class:`AccumulateGrad` holding it, an input that needs no gradient is ``(None, 0)``."""
        return tuple((None, 0) if edge is None else (AccumulateGrad(edge[1]), 0) if edge[0] is None else edge[:2]
                     for edge in _edges(self))


_NO_EDGE = (None, None, None, None)


def _edges(node):
    """``node.next`` as one ``(node, output_index or leaf, shape, dtype)`` per input, None for one that
    needs no gradient."""
    flat = getattr(node, "next", ())
    return [None if flat[k + 1] is None else flat[k:k + 4] for k in range(0, len(flat), 4)]


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# frames of the tape and the ops say nothing about where the user's forward ran; nn's modules do
_CORE_PATHS = tuple(os.path.join(_PACKAGE_DIR, part) for part in ("autograd" + os.sep, "ops" + os.sep, "tensor.py"))


def _retained_sum(grad, g, create_graph):
    g = g if create_graph else g.detach()
    return g.clone() if grad is None else grad + g


class Function(Node):
    """Base class of every differentiable op. Subclass and define forward/backward.

    Lumen's ops define ``forward(self, *arrays)`` and ``backward(self, *grads)`` as instance
    methods (the contract above); a subclass with a static ``forward`` gets PyTorch's ctx contract
    (:func:`_apply_with_ctx`).
    """

    view = False  # True for ops whose output may alias input 0
    inplace = False  # True for ops whose forward writes output 0 into input 0's buffer
    _save_in = ()
    _save_out = ()
    _non_differentiable = ()
    # what apply leaves unset on a recorded node that saves nothing / has one output (a store per op fewer)
    _saved_in = ()
    _saved_out = ()
    n_outputs = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The flag holds for the formula it was declared with: a backward from a subclass or a mixin says for itself.
        formula = next((k for k in cls.__mro__ if "backward" in k.__dict__), None)
        declared = next((k for k in cls.__mro__ if "backward_on_arrays" in k.__dict__), None)
        if cls.backward_on_arrays and formula is not declared:
            cls.backward_on_arrays = False
        if _pytorch_style(inspect.getattr_static(cls, "forward", None)):
            cls._backward_cls = type(f"{cls.__name__}Backward", (BackwardCFunction,), {"_forward_cls": cls})
            cls._forward_signature = None
            cls.apply = classmethod(_apply_with_ctx)

    @classmethod
    def apply(cls, *inputs, **params):
        # (no comprehensions here: on CPython 3.11 one makes every local it reads a cell, on every call)
        Tensor = _Tensor or _tensor_class()
        node = cls(**params) if params else cls()
        dev = None
        requires_grad = False
        arrays, needs, edges = [], [], []
        generation = 0
        # One pass over the inputs: their arrays, and what the graph needs of them should it be recorded.
        for x in inputs:
            if x is None:
                arrays.append(None)
                needs.append(False)
                edges += _NO_EDGE
                continue
            if not isinstance(x, Tensor):
                raise TypeError(f"{cls.__name__}: inputs must be Tensors or None, got {type(x).__name__}")
            if dev is None:
                backend, dev = x._backend, x._device
            elif x._device is not dev and x._device != dev:
                raise mismatch_error(dev, x._device)
            data = x._data
            arrays.append(data)
            needs.append(x._requires_grad)
            if x._requires_grad:
                requires_grad = True
                fn = x.grad_fn
                shape = data.shape
                shape = _shapes.get(shape) or _interned(shape)
                if fn is None:
                    edges += (None, x, shape, data.dtype)
                else:
                    edges += (fn, x._output_index, shape, data.dtype)
                    if fn.generation > generation:
                        generation = fn.generation
            else:
                edges += _NO_EDGE
        if dev is None:
            raise TypeError(f"{cls.__name__}: needs at least one Tensor input")
        node.backend = backend
        if requires_grad:  # as PyTorch's ctx, also under no_grad
            needs = tuple(needs)
            node.needs_input_grad = _needs_patterns.setdefault(needs, needs) if len(needs) <= 4 else needs
        if dev.type == "cuda":  # CuPy works on its current device, not on the arrays' device
            with placed(dev):
                raw = node.forward(*arrays)
        else:
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
        if requires_grad and _grad_mode.enabled:  # is_grad_enabled(), inlined
            node.next = tuple(edges)
            node.out_device = dev  # where its gradients arrive, which backward wraps them on
            node.generation = generation + 1
            node.sequence = next(_sequence)
            if not single:
                node.n_outputs = len(raw)
            if _anomaly.enabled:
                node._record_forward_stack()
            if node._save_in:
                node._retain_saved(inputs)
            skip = node._non_differentiable
            if single and not skip:
                outputs = [_wrap(raw[0], dev, node, 0, counter, backend)]
            else:
                outputs = []
                for i, a in enumerate(raw):
                    outputs.append(_wrap(a, dev, None if i in skip else node, i, None if i else counter, backend))
            if node._save_out:
                node._retain_outputs(outputs)
        else:
            outputs = []
            for i, a in enumerate(raw):
                outputs.append(_wrap(a, dev, None, i, None if i else counter, backend))
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
        # flat (tensor, version counter, version) triples, None for an absent input: see Node
        saved = []
        for i in self._save_in:
            x = inputs[i]
            if x is None:
                saved += (None, None, None)
            else:
                counter = x._counter or x._version_counter  # the property only to make one
                saved += (x, counter, counter.value)
        self._saved_in = tuple(saved)

    def _retain_outputs(self, outputs):
        # Outputs are kept as flat (array, version counter, version) triples and re-wrapped on demand:
        # holding the output Tensor itself would make a reference cycle output -> node -> output.
        saved = []
        for i in self._save_out:
            y = outputs[i]
            counter = y._counter or y._version_counter  # the property only to make one
            saved += (y._data, counter, counter.value)
        self._saved_out = tuple(saved)

    @property
    def saved_inputs(self):
        saved = self._saved_in
        if saved is None:
            raise RuntimeError(_FREED.format(type(self).__name__))
        arrays = _on_arrays.on
        out = []
        for k in range(0, len(saved), 3):
            tensor, counter, version = saved[k], saved[k + 1], saved[k + 2]
            if tensor is None:
                out.append(None)
                continue
            if counter.value != version:
                self._check_version(counter, version, f"input of shape {tuple(tensor.shape)}")
            out.append(tensor._data if arrays else tensor)
        return tuple(out)

    @property
    def saved_outputs(self):
        saved = self._saved_out
        if saved is None:
            raise RuntimeError(_FREED.format(type(self).__name__))
        arrays = _on_arrays.on
        out = []
        for k, i in enumerate(self._save_out):
            array, counter, version = saved[3 * k], saved[3 * k + 1], saved[3 * k + 2]
            if counter.value != version:
                self._check_version(counter, version, f"output of shape {array.shape}")
            out.append(array if arrays else (_Tensor or _tensor_class())._wrap(
                array, None, grad_fn=self, output_index=i, version_counter=counter, backend=self.backend))
        return tuple(out)

    def _backward_of_arrays(self, grads, array_type):
        """``backward`` run on the gradients' arrays (``backward_on_arrays``, inside the engine's array pass):
        arrays of ``array_type`` in and out."""
        raw = self.backward(*grads)
        raw = raw if type(raw) is tuple else (raw,)
        for r in raw:
            if r is not None and type(r) is not array_type:  # arithmetic on 0-d arrays returns NumPy scalars
                return _arrays(self.backend, raw)
        return raw

    def _release(self):
        # Like PyTorch, only a node that saved tensors refuses a second backward.
        self._freed = bool(self._saved_in or self._saved_out)
        self._saved_in = None
        self._saved_out = None


def _pytorch_style(forward):
    """A static forward, or (as PyTorch also runs it) a plain one whose first parameter is ``ctx``."""
    if isinstance(forward, staticmethod):
        return True
    if not inspect.isfunction(forward):
        return False
    params = list(inspect.signature(forward).parameters)
    return bool(params) and params[0] == "ctx"


class BackwardCFunction(Node):
    """The ``ctx`` of a PyTorch-style Function, and the ``grad_fn`` of its outputs.

    ``Function.__init_subclass__`` makes one subclass per user Function, named ``<Name>Backward``
    as in PyTorch, whose ``_forward_cls`` is the user's class.
    """

    _forward_cls = None
    materialize_grads = True
    _to_save = ()
    _dirty = ()
    _non_differentiable = ()
    _saved = ()

    # ---- what forward (or setup_context) may call ---------------------------
    def save_for_backward(self, *tensors):
        """Keep these tensors (or Nones) for backward, version-checked; read them as ``saved_tensors``."""
        Tensor = _Tensor or _tensor_class()
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"{self.name()}: save_for_backward can only save tensors or None, got "
                                f"{type(t).__name__}")
        self._to_save = tensors

    def mark_dirty(self, *tensors):
        """These inputs were modified in place by forward (and must be returned as outputs)."""
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors):
        """These outputs carry no gradient (backward still gets a (zero) gradient slot for each)."""
        self._non_differentiable = tensors

    def set_materialize_grads(self, value):
        """With False, backward gets None (not zeros) for outputs that received no gradient."""
        self.materialize_grads = bool(value)

    # ---- read in backward ------------------------------------------------------
    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError(_FREED.format(self.name()))
        Tensor = _Tensor or _tensor_class()
        out = []
        for entry in self._saved:
            if entry is None:
                out.append(None)
            elif entry[0] == "output":
                # an output is kept as its array and re-wrapped on demand: holding the output Tensor
                # would make the cycle output -> node -> output
                _, array, counter, version, index, dev, backend = entry
                self._check_version(counter, version, f"output {index} of shape {tuple(array.shape)}")
                out.append(Tensor._wrap(array, dev, grad_fn=self, output_index=index, version_counter=counter,
                                        backend=backend))
            else:
                _, tensor, counter, version = entry
                self._check_version(counter, version, f"tensor of shape {tuple(tensor.shape)}")
                out.append(tensor)
        return tuple(out)

    def _release(self):
        self._freed = bool(self._saved)
        self._saved = None

    def name(self):
        return type(self).__name__

    def _output_backend(self, index):
        return self.output_meta[index][3]

    def _as_tensors(self, grads):
        wrap = (_Tensor or _tensor_class())._wrap
        return [None if g is None else wrap(g, meta[2], backend=meta[3]) for g, meta in zip(grads, self.output_meta)]

    def backward(self, *grads):
        if self.materialize_grads:
            grads = tuple(g if g is not None or meta is None else _zeros(meta)
                          for g, meta in zip(grads, self.output_meta))
        result = self._forward_cls.backward(self, *grads)
        result = result if isinstance(result, tuple) else (result,)
        n_inputs = len(self.next) // 4
        if len(result) != n_inputs:
            # PyTorch accepts extra trailing Nones
            if len(result) < n_inputs or any(g is not None for g in result[n_inputs:]):
                raise RuntimeError(f"function {self.name()} returned an incorrect number of gradients "
                                   f"(expected {n_inputs}, got {len(result)})")
            result = result[:n_inputs]
        for position, (g, is_tensor) in enumerate(zip(result, self._tensor_inputs), start=1):
            if g is not None and not is_tensor:
                raise RuntimeError(f"function {self.name()} returned a gradient different than None at "
                                   f"position {position}, but the corresponding forward input was not a "
                                   f"Tensor")
        return result


FunctionCtx = BackwardCFunction  # the name PyTorch code annotates ctx with


def _zeros(meta):
    shape, dtype, dev, backend = meta
    return (_Tensor or _tensor_class())._wrap(backend.zeros(shape, dtype), dev, backend=backend)


def _apply_with_ctx(cls, *args, **kwargs):
    """``Function.apply`` for PyTorch-style Functions: forward under no_grad, then the outputs join the
    graph with ``ctx`` as their grad_fn."""
    Tensor = _Tensor or _tensor_class()
    ctx = cls._backward_cls()
    with_setup = getattr(cls, "setup_context", None) is not None
    if with_setup:
        # as PyTorch, setup_context sees every argument positionally, defaults filled in
        if cls._forward_signature is None:
            cls._forward_signature = inspect.signature(cls.forward)
        bound = cls._forward_signature.bind(*args, **kwargs)
        bound.apply_defaults()
        args, kwargs = bound.args, bound.kwargs
    needs = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
    ctx.needs_input_grad = needs
    with no_grad():
        if with_setup:
            result = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, result)
        else:
            result = cls.forward(ctx, *args, **kwargs)
    if not (True in needs and is_grad_enabled()):
        return result

    single = not isinstance(result, tuple)
    outputs = [result] if single else list(result)
    dirty = {id(t) for t in ctx._dirty}
    returned = {id(o) for o in outputs}
    if not dirty <= returned:
        raise RuntimeError(f"{ctx.name()}: some tensors marked dirty in forward were not returned as outputs; "
                           f"the inputs that forward modifies in place must all be outputs of the Function")
    edges, generation = [], 0
    for a in args:
        if not isinstance(a, Tensor) or not a._requires_grad:
            edges += _NO_EDGE
            continue
        fn = a.grad_fn
        if fn is not None and fn.generation > generation:
            generation = fn.generation
        edges += (fn, a._output_index if fn is not None else a, a._data.shape, a._data.dtype)
    ctx.next, ctx._tensor_inputs = tuple(edges), tuple(isinstance(a, Tensor) for a in args)
    ctx.generation, ctx.sequence, ctx.n_outputs = generation + 1, next(_sequence), len(outputs)
    if _anomaly.enabled:
        ctx._record_forward_stack()

    inputs = {id(a) for a in args if isinstance(a, Tensor)}
    non_differentiable = {id(t) for t in ctx._non_differentiable}
    output_meta = []
    for i, o in enumerate(outputs):
        if not isinstance(o, Tensor):
            output_meta.append(None)
            continue
        output_meta.append((o._data.shape, o._data.dtype, o._device, o._backend))
        differentiable = id(o) not in non_differentiable and o.dtype.is_floating_point
        if id(o) in dirty:
            if o.grad_fn is None and o._requires_grad:
                raise RuntimeError(f"{ctx.name()}: a leaf tensor of shape {tuple(o.shape)} that requires grad "
                                   f"has been used in an in-place operation (mark_dirty)")
        elif id(o) in inputs or o._requires_grad:
            # an input returned as it is becomes a new tensor sharing its memory (PyTorch's view)
            o = outputs[i] = Tensor._wrap(o._data, o._device, version_counter=o._version_counter,
                                          backend=o._backend)
        if differentiable:
            o.grad_fn, o._output_index, o._requires_grad = ctx, i, True
    ctx.output_meta = tuple(output_meta)
    ctx.out_device = next((meta[2] for meta in output_meta if meta is not None), None)

    # saved tensors are kept with their version counter value once forward (and mark_dirty) is done
    saved, position = [], {id(o): i for i, o in enumerate(outputs)}
    for t in ctx._to_save:
        if t is None:
            saved.append(None)
        elif id(t) in position and t.grad_fn is ctx:
            saved.append(("output", t._data, t._version_counter, t._version_counter.value, position[id(t)],
                          t._device, t._backend))
        else:
            saved.append(("tensor", t, t._version_counter, t._version_counter.value))
    ctx._saved, ctx._to_save = tuple(saved), ()
    return outputs[0] if single else tuple(outputs)


class _DelayedError(Function):
    """Passes its inputs through; its backward raises (the mark a once_differentiable backward leaves)."""

    def forward(self, *arrays):
        return arrays[0] if len(arrays) == 1 else arrays

    def backward(self, *grads):
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


def once_differentiable(backward):
    """Decorates a PyTorch-style ``backward`` written with non-differentiable code: it runs under no_grad,
    and differentiating its result (double backward) raises instead of returning a wrong gradient."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        with no_grad():
            result = backward(ctx, *grads)
        Tensor = _Tensor or _tensor_class()
        if not is_grad_enabled() or not any(isinstance(g, Tensor) and g._requires_grad for g in grads):
            return result
        single = not isinstance(result, tuple)
        results = (result,) if single else result
        present = [r for r in results if r is not None]
        if not present:
            return result
        marked = _DelayedError.apply(*[r.detach().requires_grad_() for r in present])
        marked = iter((marked,) if len(present) == 1 else marked)
        results = tuple(None if r is None else next(marked) for r in results)
        return results[0] if single else results

    return wrapper


class RemovableHandle:
    """Returned by every ``register_*_hook`` (of tensors and of modules); ``remove()`` detaches the hook (also on leaving a
    ``with`` block). ``extra_dict``: further dicts or sets keyed by the hook's id (its flags) to clean."""

    _next_id = itertools.count()

    def __init__(self, hooks_dict, *, extra_dict=None):
        self._hooks_dict = hooks_dict
        self.id = next(RemovableHandle._next_id)
        self._extra = () if extra_dict is None else tuple(extra_dict) if isinstance(extra_dict, list) \
            else (extra_dict,)

    def remove(self):
        self._hooks_dict.pop(self.id, None)
        for extra in self._extra:
            if isinstance(extra, dict):
                extra.pop(self.id, None)
            else:
                extra.discard(self.id)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def register_hook(tensor, hook):
    """``Tensor.register_hook``: on a leaf the hook sees its summed gradient before it lands in ``.grad``;
    on a non-leaf, the gradient of that output before its grad_fn's backward runs."""
    if not tensor._requires_grad:
        raise RuntimeError(f"register_hook: cannot register a hook on a tensor of shape {tuple(tensor.shape)} "
                           f"that doesn't require gradient")
    if tensor.grad_fn is None:
        if tensor._grad_hooks is None:
            tensor._grad_hooks = {}
        hooks = tensor._grad_hooks
    else:
        node = tensor.grad_fn
        if node._tensor_hooks is None:
            node._tensor_hooks = {}
        hooks = node._tensor_hooks.setdefault(tensor._output_index, {})
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


_post_accumulate_hooks_made = [0]  # none ever: backward skips looking for leaves to finish early


def register_post_accumulate_grad_hook(tensor, hook):
    """``Tensor.register_post_accumulate_grad_hook``: ``hook(tensor)`` runs after a backward has added
    into this leaf's ``.grad`` (an optimizer step fused into backward, say)."""
    if not tensor._requires_grad:
        raise RuntimeError(f"register_post_accumulate_grad_hook: cannot register a hook on a tensor of shape "
                           f"{tuple(tensor.shape)} that doesn't require gradient")
    if tensor.grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    hooks = tensor.__dict__.setdefault("_post_accumulate_grad_hooks", {})
    _post_accumulate_hooks_made[0] += 1
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def retain_grad(tensor):
    """``Tensor.retain_grad``: a non-leaf keeps its gradient in ``.grad`` (a leaf always does)."""
    if not tensor._requires_grad:
        raise RuntimeError(f"retain_grad: can't retain_grad on a tensor of shape {tuple(tensor.shape)} that has "
                           f"requires_grad=False")
    if tensor.grad_fn is None or tensor._retains_grad:
        return
    node = tensor.grad_fn
    if node._retained is None:
        node._retained = {}
    node._retained[tensor._output_index] = weakref.ref(tensor)
    tensor._retains_grad = True


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


def _accumulate(slot, g, create_graph, backend):
    """Two gradients of one slot summed: Tensors, recorded, under create_graph; else the engine's arrays
    (``backend``'s, whose primitives run on the arrays' device), out of place: another slot may hold either."""
    if slot is None:
        return g
    if create_graph:
        return slot + g
    return _array(backend, backend.add(slot, g))


def _array(backend, value):
    """``value`` as the backend's array: arithmetic on 0-d arrays returns NumPy scalars."""
    return value if backend.owns(value) else backend.asarray(value)


def _arrays(backend, values):
    """``_array`` of each value that is not None."""
    return tuple(None if v is None else _array(backend, v) for v in values)


def run_backward(roots, grad_roots, retain_graph=False, create_graph=False, inputs=None):
    """Propagate ``grad_roots`` from ``roots`` through the graph.

    Without ``inputs`` gradients accumulate into the leaves' ``.grad``; with ``inputs``
    (a sequence of tensors) they are returned instead, in that order.

    Without ``create_graph`` there is nothing to record, so gradients travel as bare backend arrays,
    wrapped as Tensors only where something reads them as such: hooks, a backward written on Tensors,
    the leaves' ``.grad`` and the returned gradients. Under ``create_graph`` they are Tensors throughout.
    """
    node_targets = runs = None
    if inputs is not None:
        capture = {}
        leaf_targets = {id(t) for t in inputs if t.grad_fn is None}
        # a non-leaf input is captured at its producing node's output slot, after that tensor's hooks
        node_targets = {(id(t.grad_fn), t._output_index): id(t) for t in inputs if t.grad_fn is not None}
        # as PyTorch, only the nodes on a path to an input run (the rest keep their saved tensors)
        runs = _nodes_leading_to(roots, leaf_targets, node_targets)
        visits = runs | {node for node, _ in node_targets}
    check_nan = _anomaly.enabled and _anomaly.check_nan
    on_arrays = not create_graph

    pending: dict[Node, list] = {}  # node -> its output gradients so far
    heap: list = []  # (-generation, -sequence, node): sequences are unique, so nodes are never compared
    leaf_grads: dict[int, list] = {}  # id -> [leaf, summed gradient], handed over at the end
    # As PyTorch's AccumulateGrad, a leaf with post-accumulate hooks (DistributedDataParallel's) is finished
    # as soon as the last node that feeds it has run, so its hooks run while the rest of the pass does.
    awaited = _hooked_leaf_edges(roots) if inputs is None and _post_accumulate_hooks_made[0] else None
    root_arrays = [g._data for g in grad_roots]

    def leaf_tensor(entry):
        """``entry`` ([leaf, summed gradient]) with its gradient as a Tensor on the leaf's device."""
        if on_arrays:
            leaf = entry[0]
            entry[1] = leaf._wrap(entry[1], leaf._device, backend=leaf._backend)
        return entry

    def edge_done(leaf):
        left = awaited.get(id(leaf))
        if left is None:
            return
        if left > 1:
            awaited[id(leaf)] = left - 1
            return
        del awaited[id(leaf)]
        entry = leaf_grads.pop(id(leaf), None)
        if entry is not None:
            # another node's slot may still hold this very array: the leaf gets its own copy
            _tensor_side(_finish_leaves, [leaf_tensor(entry)], root_arrays, create_graph, True)

    def deliver(node, index, g):
        if node is None:  # a leaf tensor
            leaf = index
            if inputs is not None and id(leaf) not in leaf_targets:
                return
            # Summed out of place while the pass runs: an array handed to a leaf may still be
            # waiting in another node's slot, so nothing may write into it before the end.
            entry = leaf_grads.get(id(leaf))
            if entry is None:
                leaf_grads[id(leaf)] = [leaf, g]
            else:
                entry[1] = _accumulate(entry[1], g, create_graph, leaf._backend)
            return
        slots = pending.get(node)
        if slots is None:
            if runs is not None and id(node) not in visits:
                return
            slots = pending[node] = [None] * node.n_outputs
            heapq.heappush(heap, (-node.generation, -node.sequence, node))
        slot = slots[index]
        slots[index] = g if slot is None else _accumulate(slot, g, create_graph, node._output_backend(index))

    with set_grad_enabled(create_graph), _SavedRead(on_arrays):
        for i, (root, g) in enumerate(zip(roots, grad_roots)):
            if on_arrays:
                g = g._data
            if root.grad_fn is None:
                if not root.requires_grad:
                    raise RuntimeError(f"element {i} of tensors does not require grad and does not have a "
                                       f"grad_fn")
                deliver(None, root, g)
            else:
                deliver(root.grad_fn, root._output_index, g)

        while heap:
            node = heapq.heappop(heap)[2]
            grads = pending.pop(node)
            if node._tensor_hooks is not None or node._retained is not None:
                grads = _tensor_side(node._run_tensor_hooks, node._as_tensors(grads) if on_arrays else grads,
                                     create_graph)
                if on_arrays:
                    grads = [None if g is None else g._data for g in grads]
            if node_targets:
                key = id(node)
                for index, g in enumerate(grads):
                    target = node_targets.get((key, index))
                    if target is not None and g is not None:
                        capture[target] = node._as_tensors(grads)[index] if on_arrays else g
                if key not in runs:
                    continue
            if node._freed:
                raise RuntimeError(_FREED.format(node.name()))
            dev = node.out_device
            try:
                if dev is not None and dev.type == "cuda":  # CuPy allocates on its current device
                    with placed(dev):
                        gxs = _backward_on_arrays(node, grads) if on_arrays else node.backward(*grads)
                else:
                    gxs = _backward_on_arrays(node, grads) if on_arrays else node.backward(*grads)
            except Exception as error:
                if node._forward_stack is not None:
                    error.add_note(_forward_traceback(node))
                raise
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            edges = node.next
            if 4 * len(gxs) != len(edges):
                raise RuntimeError(f"{type(node).__name__}.backward returned {len(gxs)} gradients for "
                                   f"{len(edges) // 4} inputs")
            if check_nan:
                _check_nan(node, gxs if on_arrays else [None if g is None else g._data for g in gxs])
            if not retain_graph:
                node._release()
            for k in range(0, len(edges), 4):
                fn, index, shape, dtype = edges[k:k + 4]
                if index is None:
                    continue
                gx = gxs[k >> 2]
                if gx is None:
                    if awaited and fn is None:
                        edge_done(index)
                    continue
                data = gx if on_arrays else gx._data
                if data.shape != shape:
                    raise RuntimeError(f"{type(node).__name__}.backward: gradient of shape {tuple(data.shape)} for "
                                       f"an input of shape {shape}")
                if data.dtype != dtype:
                    if on_arrays:  # cast as the Tensor op casts, on the gradient's device
                        source = index._device if fn is None else fn.out_device
                        gx = _wrap(gx, source).to(from_numpy_dtype(dtype))._data
                    else:
                        gx = gx.to(from_numpy_dtype(dtype))
                deliver(fn, index, gx)
                if awaited and fn is None:
                    edge_done(index)

        _tensor_side(_run_leaf_hooks, [leaf_tensor(entry) for entry in leaf_grads.values()])

    if inputs is not None:
        capture.update((key, g) for key, (_, g) in leaf_grads.items())
        return [capture.get(id(t)) for t in inputs]
    _store_leaf_grads(leaf_grads.values(), root_arrays, create_graph)
    return None


def _backward_on_arrays(node, grads):
    """``node``'s backward in the engine's array mode: gradient arrays in and out."""
    if node.backward_on_arrays:
        first = grads[0]
        return node._backward_of_arrays(grads, type(first if first is not None else
                                                     next(g for g in grads if g is not None)))
    gxs = _tensor_side(node.backward, *node._as_tensors(grads))
    return tuple(None if g is None else g._data for g in (gxs if isinstance(gxs, tuple) else (gxs,)))


def _run_leaf_hooks(entries):
    """Each leaf's ``register_hook`` hooks on its summed gradient (``entries``: [leaf, gradient], updated)."""
    for entry in entries:
        for hook in list((entry[0]._grad_hooks or {}).values()):
            new = hook(entry[1])
            entry[1] = entry[1] if new is None else new


def _finish_leaves(entries, root_arrays, create_graph, own_copy):
    """A leaf finished early (its post-accumulate hooks run while the pass goes on): its hooks, then ``.grad``."""
    _run_leaf_hooks(entries)
    _store_leaf_grads(entries, root_arrays, create_graph, own_copy)


def _hooked_leaf_edges(roots):
    """id of each leaf with post-accumulate hooks -> how many edges of the roots' graph lead to it."""
    counts, seen = {}, set()
    stack = [root.grad_fn for root in roots if root.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for edge in _edges(node):
            if edge is None:
                continue
            if edge[0] is not None:
                stack.append(edge[0])
            elif edge[1].__dict__.get("_post_accumulate_grad_hooks"):
                counts[id(edge[1])] = counts.get(id(edge[1]), 0) + 1
    return counts


def _nodes_leading_to(roots, leaf_targets, node_targets):
    """The ids of the nodes from which some target (a leaf, or a node's output slot) is reachable."""
    leads = {}  # id -> bool once decided; None while its inputs are being explored
    stack = [(root.grad_fn, False) for root in roots if root.grad_fn is not None]
    while stack:
        node, explored = stack.pop()
        key = id(node)
        if not explored:
            if key in leads:
                continue
            leads[key] = None
            stack.append((node, True))
            stack.extend((edge[0], False) for edge in _edges(node)
                         if edge is not None and edge[0] is not None and id(edge[0]) not in leads)
            continue
        leads[key] = any(edge is not None and (id(edge[1]) in leaf_targets if edge[0] is None else
                                               leads.get(id(edge[0])) or (id(edge[0]), edge[1]) in node_targets)
                         for edge in _edges(node))
    return {key for key, hit in leads.items() if hit}


def _check_nan(node, grads):
    """Anomaly mode's check of one backward's results (arrays)."""
    for i, g in enumerate(grads):
        if g is not None and g.dtype.kind == "f" and bool((g != g).any()):
            forward = (getattr(node, "_forward_cls", None) or type(node)).__name__
            origin = f"; it is the backward of {forward}"
            if node._forward_stack:
                last = node._forward_stack[-1]
                origin += f", whose forward ran at {last.filename}:{last.lineno} (in {last.name})"
            error = RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output{origin}.")
            if node._forward_stack is not None:
                error.add_note(_forward_traceback(node))
            raise error


def _forward_traceback(node):
    return (f"Error detected in {node.name()}. Traceback of forward call that caused the error:\n"
            + "".join(traceback.format_list(node._forward_stack)))


def _store_leaf_grads(entries, root_arrays, create_graph, own_copy=False):
    """Put each leaf's gradient into ``.grad``: added into an existing buffer, or as a new one that
    is the leaf's own (a gradient may alias another leaf's or the caller's ``gradient=`` array, and a
    later backward adds into ``.grad`` in place)."""
    from ..ops.inplace import accumulate_grad  # the ops import this module

    stored = list(root_arrays)
    for leaf, g in entries:
        if create_graph:
            leaf.grad = g if leaf.grad is None else leaf.grad + g
        elif leaf.grad is not None:
            leaf.grad = accumulate_grad(leaf.grad, g.detach())
        else:
            g = g.detach()
            if own_copy or any(type(other) is type(g._data) and g._backend.may_share_memory(g._data, other)
                               for other in stored):
                g = g.clone()
            stored.append(g._data)
            leaf.grad = g
        for hook in list(leaf.__dict__.get("_post_accumulate_grad_hooks", {}).values()):
            hook(leaf)
