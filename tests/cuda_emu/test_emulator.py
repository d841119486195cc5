"""The kernel emulator itself: thread orders, barriers, shared memory filling, argument checks, the build.

These need only g++ (no CuPy, no GPU) and run in every suite run.
"""
import shutil
import subprocess

import numpy as np
import pytest

from cuda_emu import build, runtime

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="the CUDA emulator needs g++")

SOURCE = r"""
template <typename T>
__global__ void __launch_bounds__(128) neighbour(const T* __restrict__ x, T* __restrict__ y, int n, int sync) {
    __shared__ T s[128];
    const int i = threadIdx.x;
    s[i] = x[blockIdx.x * n + i];
    if (sync) __syncthreads();
    y[blockIdx.x * n + i] = s[(i + 1) % n];
}

// Reads its shared array before writing it: what every block starts with.
template <typename T>
__global__ void first_read(T* __restrict__ y) {
    __shared__ T a[4], b[4];
    if (threadIdx.x == 0) { y[2 * blockIdx.x] = a[1]; y[2 * blockIdx.x + 1] = b[3]; a[1] = T(1); b[3] = T(1); }
}

template <typename T>
__global__ void early_exit(T* __restrict__ y) {
    if (threadIdx.x < 3) return;
    __syncthreads();
    y[threadIdx.x] = T(1);
}

template <typename T>
__global__ void two_barriers(T* __restrict__ y) {
    if (threadIdx.x % 2) { y[threadIdx.x] = T(1); __syncthreads(); }
    else { y[threadIdx.x] = T(2); __syncthreads(); }
}

template <typename T>
__global__ void histogram(const long long* __restrict__ bins, T* __restrict__ counts, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x)
        atomicAdd(counts + bins[i], T(1));
}
"""
CTYPE = {np.float32: "float", np.float64: "double", np.float16: "__half"}
NAMES = [f"{k}<{t}>" for k in ("neighbour", "first_read", "early_exit", "two_barriers", "histogram")
         for t in ("float", "double", "__half")]


@pytest.fixture(scope="module")
def lib():
    return runtime.load(SOURCE, ("-std=c++17",), NAMES)


def _neighbour(lib, sync, order, seed=0, dtype=np.float32, blocks=3, n=128):
    x = np.arange(blocks * n, dtype=dtype)
    y = np.full_like(x, -7)
    with runtime.thread_order(order, seed):
        lib.kernels[f"neighbour<{CTYPE[dtype]}>"]((blocks,), (n,), (x, y, np.int32(n), np.int32(sync)))
    return x, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_orders_agree_bitwise_with_the_barrier(lib, dtype):
    results = [_neighbour(lib, 1, order, seed, dtype)[1]
               for order, seed in [("forward", 0), ("reverse", 0), ("random", 1), ("random", 2)]]
    x = np.arange(3 * 128, dtype=dtype).reshape(3, 128)
    expected = np.roll(x, -1, axis=1).ravel()
    for y in results:
        assert y.tobytes() == expected.tobytes()


def test_a_missing_barrier_shows_under_some_order(lib):
    # Forward order: thread i reads s[i+1] before thread i+1 wrote it (NaN); reverse order hides the race
    # except at the wrap-around; random orders show it too.
    _, forward = _neighbour(lib, 0, "forward")
    _, reverse = _neighbour(lib, 0, "reverse")
    assert np.isnan(forward.reshape(3, 128)[:, :-1]).all()
    assert np.isnan(reverse.reshape(3, 128)[:, -1]).all() and not np.isnan(reverse.reshape(3, 128)[:, :-1]).any()
    for seed in range(3):
        assert np.isnan(_neighbour(lib, 0, "random", seed)[1]).sum() > 100


def test_shared_memory_is_nan_before_every_block(lib):
    y = np.zeros(8, np.float64)
    lib.kernels["first_read<double>"]((4,), (32,), (y,))
    assert np.isnan(y).all()


def test_barrier_divergence_is_an_error(lib):
    y = np.zeros(32, np.float32)
    with pytest.raises(runtime.EmulatorError, match=r"thread \(0,0,0\) of block \(0,0,0\) returned while "
                                                    r"thread \(\d+,0,0\) .* waits at the __syncthreads\(\) of line "
                                                    r"\d+ \(barrier divergence\)"):
        with runtime.thread_order("forward"):
            lib.kernels["early_exit<float>"]((1,), (32,), (y,))


def test_threads_at_different_barriers_is_an_error(lib):
    y = np.zeros(32, np.float32)
    with pytest.raises(runtime.EmulatorError, match=r"waits at the __syncthreads\(\) of line (\d+) while .* line "
                                                    r"(?!\1)\d+"):
        lib.kernels["two_barriers<float>"]((1,), (32,), (y,))


def test_atomics(lib):
    bins = np.random.default_rng(0).integers(0, 5, 1000).astype(np.int64)
    counts = np.zeros(5, np.float32)
    lib.kernels["histogram<float>"]((2,), (256,), (bins, counts, np.int64(bins.size)))
    np.testing.assert_array_equal(counts, np.bincount(bins, minlength=5))


@pytest.mark.parametrize("args,message", [
    (lambda x, y: (x, y, 128, np.int32(1)), r"argument 2 is a Python int, parameter 2 is int: pass numpy.int32"),
    (lambda x, y: (x, y, np.int64(128), np.int32(1)), r"argument 2 is int64, parameter 2 is int \(int32\)"),
    (lambda x, y: (x.astype(np.float64), y, np.int32(128), np.int32(1)),
     r"argument 0 is an array of float64, parameter 0 is float\* \(an array of float32\)"),
    (lambda x, y: (x[::2], y, np.int32(128), np.int32(1)), r"argument 0 is a non-contiguous array"),
    (lambda x, y: (x, y, np.int32(128)), r"3 arguments for 4 parameters \(float\*, float\*, int, int\)"),
    (lambda x, y: (x, 5.0, np.int32(128), np.int32(1)), r"argument 1 is float, parameter 1 is float\* \(an array\)"),
])
def test_arguments_are_checked_against_the_parameter_types(lib, args, message):
    x, y = np.zeros(256, np.float32), np.zeros(128, np.float32)
    with pytest.raises(runtime.EmulatorError, match=message):
        lib.kernels["neighbour<float>"]((1,), (128,), args(x, y))


def test_launch_shape_is_checked(lib):
    x, y = np.zeros(256, np.float32), np.zeros(256, np.float32)
    with pytest.raises(runtime.EmulatorError, match=r"256 threads, more than the kernel's limit of 128"):
        lib.kernels["neighbour<float>"]((1,), (256,), (x, y, np.int32(256), np.int32(1)))
    with pytest.raises(runtime.EmulatorError, match=r"grid \(1, 70000, 1\) is outside the device's limits"):
        lib.kernels["first_read<float>"]((1, 70000), (1,), (y,))


def test_rewrite_keeps_lines_and_registers_every_declarator():
    src = "a\n  __shared__ float u[BK][BM + 1], v[4];\nb\n__shared__ A sm[N];\n"
    out = build.rewrite_shared(src)
    assert out.count("\n") == src.count("\n")
    assert "static float u[BK][BM + 1], v[4]; ::emu::shared(&u, sizeof u); ::emu::shared(&v, sizeof v);" in out
    assert "static A sm[N]; ::emu::shared(&sm, sizeof sm);" in out
    with pytest.raises(build.BuildError, match="dynamic shared memory"):
        build.rewrite_shared("extern __shared__ float dyn[];")


def test_libraries_share_no_state(lib):
    # Template statics (the rewritten shared arrays) must not be STB_GNU_UNIQUE, or a second library loaded in
    # the process would bind to the first one's.
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(lib.path)], capture_output=True, text=True,
                             check=True).stdout.split("\n")
    assert not [s for s in symbols if " u " in s]
    exported = {s.split()[-1] for s in symbols if s.strip()}
    assert {"emu_kernel_launch", "emu_kernel_count"} <= exported and not any("emu" in s and "kernel" not in s
                                                                            for s in exported)


def test_build_is_cached_by_content(lib):
    again = build.build(SOURCE, ("-std=c++17",), NAMES)
    assert again == lib.path
    assert build.build(SOURCE + "\n// changed\n", ("-std=c++17",), NAMES[:1]) != lib.path
    with pytest.raises(build.BuildError, match="has no meaning to the emulator"):
        build.build(SOURCE, ("--use_fast_math",), NAMES)
