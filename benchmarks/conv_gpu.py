"""Lumen's GPU convolutions against cuDNN, per VGG16 layer.

For every distinct VGG16 convolution (224x224 input) and batch size, times
forward, backward-data and backward-filter for each of Lumen's algorithms
("gemm": im2col + cuBLAS, "implicit": implicit-GEMM kernels) and for cuDNN
through torch on the same card: CUDA events, warm-up runs, median of
``--repeat`` runs, milliseconds. TF32 is off on both sides unless ``--tf32``.

    python benchmarks/conv_gpu.py [--batch 1 32] [--dtype float32] [--repeat 10]
"""
from __future__ import annotations

import argparse
import statistics
import sys

# name, C_in, C_out, spatial size (3x3 kernels, stride 1, padding 1)
VGG16 = [
    ("conv1_1", 3, 64, 224), ("conv1_2", 64, 64, 224),
    ("conv2_1", 64, 128, 112), ("conv2_2", 128, 128, 112),
    ("conv3_1", 128, 256, 56), ("conv3_2/3", 256, 256, 56),
    ("conv4_1", 256, 512, 28), ("conv4_2/3", 512, 512, 28),
    ("conv5_x", 512, 512, 14),
]
GEO = ((1, 1), (1, 1), (1, 1), 1)


def _gpu_or_exit():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy
        reason = "CuPy sees no CUDA device"
    except Exception as exc:  # noqa: BLE001 - CuPy raises many kinds without a driver
        reason = f"{type(exc).__name__}: {exc}"
    sys.exit(f"conv_gpu.py needs an NVIDIA GPU and CuPy (pip install 'lumen[cuda]'); {reason}")


def _median_ms(cupy, fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(repeat):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end))
    return statistics.median(times)


def _torch_cuda(tf32):
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    return torch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in cuBLAS and cuDNN")
    args = ap.parse_args(argv)

    cupy = _gpu_or_exit()
    from lumen.backends.cuda import conv

    conv.set_tf32(args.tf32)
    torch = _torch_cuda(args.tf32)
    device = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()
    print(f"# device: {device}; dtype {args.dtype}; TF32 {'on' if args.tf32 else 'off'}; "
          f"median of {args.repeat} after {args.warmup} warm-up runs; ms")
    if torch is None:
        print("# torch with CUDA not available: cuDNN column left empty")
    print(f"{'layer':10} {'N':>3} {'pass':7} {'gemm':>9} {'implicit':>9} {'cudnn':>9} "
          f"{'best/cudnn':>10}")

    for n in args.batch:
        for name, cin, cout, hw in VGG16:
            rs = cupy.random.RandomState(0)
            x, w, gy = (rs.standard_normal(s, dtype="float32").astype(args.dtype)
                         for s in ((n, cin, hw, hw), (cout, cin, 3, 3), (n, cout, hw, hw)))
            ours = {
                "forward": lambda a: conv.conv2d_forward(x, w, None, *GEO, algo=a),
                "data": lambda a: conv.conv2d_backward_data(gy, w, x.shape, *GEO, algo=a),
                "filter": lambda a: conv.conv2d_backward_filter(x, gy, w.shape, *GEO, algo=a),
            }
            theirs = {}
            if torch is not None:
                tx, tw, tgy = (torch.as_tensor(a, device="cuda") for a in (x, w, gy))
                theirs = {
                    "forward": lambda: torch.nn.functional.conv2d(tx, tw, None, 1, 1),
                    "data": lambda: torch.nn.grad.conv2d_input(tx.shape, tw, tgy, 1, 1),
                    "filter": lambda: torch.nn.grad.conv2d_weight(tx, tw.shape, tgy, 1, 1),
                }
            for direction, run in ours.items():
                t = {a: _median_ms(cupy, lambda a=a: run(a), args.warmup, args.repeat)
                     for a in conv.ALGORITHMS}
                ref = float("nan")
                if direction in theirs:
                    ref = _median_ms(cupy, theirs[direction], args.warmup, args.repeat)
                print(f"{name:10} {n:>3} {direction:7} {t['gemm']:9.3f} {t['implicit']:9.3f} "
                      f"{ref:9.3f} {min(t.values()) / ref:10.2f}", flush=True)
            del x, w, gy
            cupy.get_default_memory_pool().free_all_blocks()


if __name__ == "__main__":
    main()
