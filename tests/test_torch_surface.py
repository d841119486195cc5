"""Lumen's coverage of PyTorch's public names, namespace by namespace.

Every public name of each torch namespace below is either present in Lumen's mirror of it, or left out on
purpose, by a rule of ``LEFT_OUT`` that says why (a feature outside Lumen's scope: complex numbers,
quantization, sparse layouts, TorchScript, recurrent layers, ...). A name that is neither fails the test,
so a gap is either closed or stated; a rule that no longer matches anything missing fails too, so the
list does not go stale. ``python tests/test_torch_surface.py`` prints the counts per namespace.
"""
import re
import types

import pytest

import lumen

torch = pytest.importorskip("torch")

NAMESPACES = {
    "torch": ("torch", "lumen"),
    "torch.Tensor": ("torch.Tensor", "lumen.Tensor"),
    "torch.nn": ("torch.nn", "lumen.nn"),
    "torch.nn.functional": ("torch.nn.functional", "lumen.nn.functional"),
    "torch.nn.init": ("torch.nn.init", "lumen.nn.init"),
    "torch.nn.utils": ("torch.nn.utils", "lumen.nn.utils"),
    "torch.optim": ("torch.optim", "lumen.optim"),
    "torch.optim.lr_scheduler": ("torch.optim.lr_scheduler", "lumen.optim.lr_scheduler"),
    "torch.utils.data": ("torch.utils.data", "lumen.utils.data"),
    "torch.autograd": ("torch.autograd", "lumen.autograd"),
    "torch.autograd.functional": ("torch.autograd.functional", "lumen.autograd.functional"),
    "torch.linalg": ("torch.linalg", "lumen.linalg"),
}

# (namespace regex, name regex, why): names deliberately not in Lumen.
LEFT_OUT = [
    (r".*", r"(Callable|Literal|Optional|ParamSpec|TypeVar|TypedDict|Any|Self|SupportsFloat|Sequence|Mapping|"
            r"TYPE_CHECKING|cast|override|overload|inf|DType|Tensor|BroadcastingList\d|boolean_dispatch|"
            r"factory_kwargs|classproperty)",
     "typing helpers and names torch's modules import for their own use, not API"),
    (r".*", r".*(handle_torch_function|has_torch_function).*|DisableTorchFunction.*|.*_notes",
     "the __torch_function__ protocol and docstring fragments"),
    (r".*", r"(?i).*(complex|conj|angle|polar|real|imag|cfloat|cdouble|chalf).*|view_as_(complex|real)|mH|adjoint",
     "complex numbers: Lumen's dtypes are real (bool, integers, float16/32/64)"),
    (r".*", r"(?i).*(quant|qint|quint|q_|qscheme|qparams|fake_quant|per_channel|per_tensor|int_repr|fbgemm).*",
     "quantization"),
    (r".*", r"(?i).*(sparse|coalesce|crow_|ccol_|col_indices|row_indices|indices|values|smm|spmm|sspaddmm|saddmm|"
            r"dsmm|hsmm|hspmm|to_dense|jagged|nested|to_padded_tensor|dense_dim).*|SparseAdam|sparse_",
     "sparse and nested layouts"),
    (r".*", r"(?i).*(script|jit|graph|trace|tracing|compile|fx|export|onnx|schema|ir_module|parse_ir|"
            r"type_comment|unify_type|Future|fork|wait|AliasDb|Argument|Block|Code|CompilationUnit|Concrete|"
            r"DeepCopyMemoTable|ErrorReport|ExecutionPlan|FileCheck|Gradient|IODescriptor|InferredType|"
            r"LiteScript|Logger|OperatorInfo|StaticModule|ThroughputBenchmark|Benchmark|Value|Use|Node|CallStack|"
            r"Capsule|Tag|PRIVATE_OPS|Aggregation|AVG|SUM|while_loop|cond|library|dispatch|Dispatch|"
            r"StreamObjType|Symbolic).*|.*Type|Sym(Int|Float|Bool)|PyTorchFile(Reader|Writer)|"
            r"(De)?[sS]erializationStorageContext|ScriptModuleSerializer",
     "TorchScript, torch.compile/fx/export and the C++ runtime's types: Lumen runs eagerly in Python"),
    (r".*", r"(?i)(RNN.*|LSTM.*|GRU.*|rnn_.*|lstm.*|gru.*|.*Cell|Transformer.*|AdaptiveLogSoftmaxWithLoss|"
            r"CTCLoss|ctc_loss|conv_tbc|pack_.*|pad_packed.*|PackedSequence)",
     "recurrent and transformer layers and sequence losses (out of issue 14's scope: convnets and segmentation)"),
    (r".*", r"(?i)(Lazy.*|Uninitialized(Parameter|Buffer))",
     "lazily shaped modules: Lumen's layers are given their input sizes"),
    (r".*", r"(?i).*(Storage|storage|data_ptr|record_stream|share_memory|pin_memory|is_pinned|is_shared|"
            r"channels_last|memory_format|contiguous_format|preserve_format|layout|strided|as_strided|"
            r"empty_strided|empty_permuted|dim_order|set_|resize|is_set_to|from_file|frombuffer|"
            r"is_storage|untyped|typed).*",
     "storage, strides and memory formats: a Lumen tensor is its backend array, whose layout the backend owns"),
    (r".*", r"(?i).*(mps|xpu|ipu|mtia|maia|vulkan|xla|mkldnn|miopen|cudnn|hip|lazy|meta|hpu|accelerator|"
            r"openmp|has_lapack|has_mkl|has_spectral|AcceleratorError|OutOfMemoryError|Stream|Event).*",
     "devices and vendor libraries other than the CPU and CUDA backends"),
    (r".*", r"(?i)(bfloat16|float8_.*|float4_.*|uint(1|2|3|4|5|6|7|16|32|64)|int(1|2|3|4|5|6|7)|bits.*|"
            r"BFloat16.*|bits16|bit)",
     "dtypes Lumen has no backend support for"),
    (r".*", r"(?i).*(autocast|GradScaler|set_float32_matmul_precision|get_float32_matmul_precision|"
            r"set_flush_denormal).*",
     "mixed-precision machinery (Lumen computes in the dtype it is given)"),
    (r".*", r"(?i).*(DataParallel|SyncBatchNorm|is_distributed|Distributed.*|RRef.*|DataPipe.*|datapipe.*|"
            r"DataChunk|argument_validation|runtime_validation.*|non_deterministic).*",
     "distributed training (issue 21) and torchdata's datapipes"),
    (r".*", r"(?i).*(deterministic|warn_always|warn_only|interop|init_num_threads|"
            r"prepare_multiprocessing_environment|get_file_path|thread_safe_generator|get_device_module|"
            r"import_ir|USE_GLOBAL_DEPS|USE_RTLD_GLOBAL_WITH_LIBTORCH|compiled_with_cxx11_abi|"
            r"set_default_tensor_type|FatalError|JITException|GraphExecutorState|TracingState).*",
     "process-level switches of torch's C++ runtime (Lumen's own are lumen.backends.conv.deterministic etc.)"),
    (r".*", r"(?i).*(_backward_elemt|_backward_reduce|_gather_stats.*|_stats|_update_stats|batch_norm_elemt|"
            r"norm_except_dim|frobenius_norm|nuclear_norm|affine_grid_generator|grid_sampler.*|_copy|"
            r"slice_inverse|nonzero_static|unsafe_.*|native_.*|segment_reduce|fused_.*|grouped_mm|scaled_mm|"
            r"scaled_grouped_mm|Scaling.*|Swizzle.*|constant_pad_nd|convolution|embedding_renorm_|"
            r"feature_dropout.*|is_inference|is_vulkan_available|index_put_|merge_type_from_type_comment|"
            r"hash_tensor|output_nr|reinforce|volatile|grad_dtype|module_load|map_|map2_|apply_|H|"
            r"BufferDict|Buffer|Container|NestedIOFunction|SavedTensor|variable|Profiler.*|kineto_available|"
            r"DeviceType|enforce_grad_layout_policy|is_multithreading_enabled|set_multithreading_enabled|"
            r"is_view_replay_enabled|is_tensor_like|swap_in_optimizer_params_and_state|"
            r"LinearCrossEntropy.*|linear_cross_entropy|assert_int_or_pair|"
            r"GRID_SAMPLE_.*|reproducibility_notes|sparse_support_notes|tf32_notes)",
     "internal kernels and legacy or experimental entry points of torch's own implementation"),
    (r".*", r"(?i)(stft|istft|.*_window|histogramdd|lobpcg|pca_lowrank|svd_lowrank|geqrf|orgqr|ormqr|"
            r"lu|lu_.*|ldl_.*|householder_product|triangular_solve|symeig|eig|eigvals|cholesky_inverse|"
            r"cholesky_solve|tensorinv|tensorsolve|i0|i0_|igamma.*|nextafter.*|mvlgamma.*|polygamma.*|"
            r"Muon|Adafactor|fractional_max_pool.*|FractionalMaxPool.*)",
     "signal processing, general (non-symmetric) eigen and LU factorisations, rare special functions and "
     "recent optimizers: outside what a convnet/segmentation/autograd researcher needs; candidates for later"),
    (r"torch(\.Tensor)?", r"(diagonal|select|slice)_scatter|histogram|index_reduce_?|vander",
     "out-of-place scatters into views, torch.histogram, index_reduce and torch.vander's column order: rare in "
     "convnet code (histc, scatter_reduce and linalg.vander exist); candidates for later"),
    (r"torch(\.Tensor)?", r"lstsq|solve|matrix_rank",
     "removed from torch's top level (torch 2.x raises, naming torch.linalg's, which Lumen has)"),
    (r"torch(\.Tensor)?", r"sym_.*|vmap|is_neg|resolve_neg|as_subclass|name|index|ModuleDict|ParameterDict",
     "symbolic shapes, functorch's vmap, the lazy negation bit, tensor subclassing, named tensors, and nn "
     "containers torch re-exports at its top level by accident (lumen.nn has them)"),
    (r"torch\.nn", r"CrossMapLRN2d",
     "torch's legacy LRN: its own backward fails gradcheck against its forward (nn.LocalResponseNorm is exact)"),
    (r"torch", r"embedding_bag",
     "torch's top-level embedding_bag returns internal bookkeeping (offset2bag, bag_size, max_indices); "
     "F.embedding_bag is the API"),
]


def _resolve(path):
    module, _, attr = path.partition(".Tensor") if path.endswith(".Tensor") else (path, "", "")
    obj = __import__(module.split(".")[0])
    for part in module.split(".")[1:]:
        obj = getattr(obj, part)
    return obj.Tensor if attr == "" and path.endswith(".Tensor") else obj


def _public(obj):
    return sorted(n for n in dir(obj) if not n.startswith("_")
                  and not isinstance(getattr(obj, n, None), types.ModuleType))


def survey():
    """{namespace: (torch names, names Lumen has, names left out by a rule, names neither)}, plus the set of
    rules that matched a missing name."""
    table, used = {}, set()
    for name, (theirs, ours) in NAMESPACES.items():
        torch_names = _public(_resolve(theirs))
        mirror = _resolve(ours)
        present = [n for n in torch_names if hasattr(mirror, n)]
        left, missing = [], []
        for n in torch_names:
            if hasattr(mirror, n):
                continue
            rule = next((i for i, (ns, pattern, _) in enumerate(LEFT_OUT)
                         if re.fullmatch(ns, name) and re.fullmatch(pattern, n)), None)
            (left if rule is not None else missing).append(n)
            if rule is not None:
                used.add(rule)
        table[name] = (torch_names, present, left, missing)
    return table, used


def test_every_torch_name_is_in_lumen_or_left_out_with_a_reason():
    table, _ = survey()
    gaps = {name: missing for name, (_, _, _, missing) in table.items() if missing}
    assert not gaps, "torch names neither in Lumen nor left out on purpose: " + "; ".join(
        f"{name}: {' '.join(missing)}" for name, missing in gaps.items())


def test_every_left_out_rule_still_matches_a_missing_name():
    _, used = survey()
    stale = [LEFT_OUT[i][2] for i in range(len(LEFT_OUT)) if i not in used]
    assert not stale, f"rules that match nothing missing any more (delete them): {stale}"


if __name__ == "__main__":
    table, _ = survey()
    for name, (names, present, left, missing) in table.items():
        print(f"{name:28s} {len(names):4d} names: {len(present):4d} in Lumen, {len(left):4d} left out, "
              f"{len(missing):4d} missing")
