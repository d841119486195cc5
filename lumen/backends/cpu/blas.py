"""Matrix products for the CPU convolutions, with the ``beta`` that numpy.matmul lacks, on NumPy's own BLAS.

The implicit-GEMM convolution (``implicit.py``) accumulates each kernel tap into the same
output (``beta = 1``), which ``numpy.matmul`` cannot express, so this module calls BLAS
``?gemm`` itself through ctypes (which releases the GIL during the call). It uses the OpenBLAS
that NumPy's wheel bundles when it can find it, and SciPy's Cython BLAS table
(``scipy.linalg.cython_blas``, a public API) otherwise: NumPy's and SciPy's wheels each bundle
their own OpenBLAS, and a thread pool that has just worked spins for a while, so alternating
the two libraries (a convolution here, a linear layer in NumPy there) makes their threads fight
for the cores (measured: AlexNet training 2x slower, ``benchmarks/NOTES.md``). Every GEMM of
the convolutions goes through here for the same reason.

Operands are NumPy 2-D views with contiguous rows or contiguous columns (a transposed view),
passed to BLAS with their own strides as leading dimensions, so BLAS only ever touches memory
the view covers.
"""
from __future__ import annotations

import contextlib
import ctypes
import threading
from pathlib import Path

import numpy as np

from . import parallel

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS enums
_SCALARS = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double}
DTYPES = tuple(_SCALARS)


def _numpy_cblas():
    """({dtype: row-major gemm}, set_num_threads or None) over cblas_?gemm of the OpenBLAS in
    NumPy's wheel, or None."""
    root = Path(np.__file__).parent
    for path in sorted([*root.parent.glob("numpy.libs/*openblas*"), *root.glob(".dylibs/*openblas*")]):
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:
            continue
        for prefix, suffix, int_t in (("scipy_cblas_", "64_", ctypes.c_int64), ("cblas_", "64_", ctypes.c_int64),
                                      ("scipy_cblas_", "", ctypes.c_int), ("cblas_", "", ctypes.c_int)):
            fns = [getattr(lib, f"{prefix}{t}gemm{suffix}", None) for t in "sd"]
            gemvs = [getattr(lib, f"{prefix}{t}gemv{suffix}", None) for t in "sd"]
            if None in fns or None in gemvs:
                continue
            table = {}
            for dtype, fn, gemv in zip(DTYPES, fns, gemvs):
                scalar = _SCALARS[dtype]
                fn.restype = gemv.restype = None
                fn.argtypes = [ctypes.c_int] * 3 + [int_t] * 3 + [scalar, ctypes.c_void_p, int_t,
                                                                  ctypes.c_void_p, int_t, scalar, ctypes.c_void_p, int_t]
                gemv.argtypes = [ctypes.c_int] * 2 + [int_t] * 2 + [scalar, ctypes.c_void_p, int_t, ctypes.c_void_p,
                                                                    int_t, scalar, ctypes.c_void_p, int_t]

                def gemm(ta, tb, m, n, k, pa, lda, pb, ldb, beta, pc, ldc, fn=fn, gemv=gemv):
                    # A product with one output row or column is a matrix-vector product: ?gemm would
                    # pack the whole matrix first (3x slower on a linear layer at batch 1).
                    if m == 1:  # out row = a row @ op(B): y = op(B)^T x, x strided by lda if a is stored (k, 1)
                        gemv(_ROW_MAJOR, _NO_TRANS if tb else _TRANS, *((n, k) if tb else (k, n)), 1.0, pb, ldb,
                             pa, lda if ta else 1, beta, pc, 1)
                    elif n == 1:  # out column = op(A) @ b column, y strided by ldc
                        gemv(_ROW_MAJOR, _TRANS if ta else _NO_TRANS, *((k, m) if ta else (m, k)), 1.0, pa, lda,
                             pb, 1 if tb else ldb, beta, pc, ldc)
                    else:
                        fn(_ROW_MAJOR, _TRANS if ta else _NO_TRANS, _TRANS if tb else _NO_TRANS, m, n, k, 1.0,
                           pa, lda, pb, ldb, beta, pc, ldc)
                table[dtype] = gemm
            set_threads = getattr(lib, f"{prefix[:-6]}openblas_set_num_threads{suffix}", None)
            get_threads = getattr(lib, f"{prefix[:-6]}openblas_get_num_threads{suffix}", None)
            if set_threads is None or get_threads is None:
                return table, None
            set_threads.restype, set_threads.argtypes, get_threads.restype = None, [ctypes.c_int], ctypes.c_int
            return table, (set_threads, get_threads)
    return None


def _scipy_blas():
    """{dtype: row-major gemm} over the Fortran ?gemm of SciPy's Cython BLAS table."""
    from scipy.linalg import cython_blas
    get_name, get_pointer = ctypes.pythonapi.PyCapsule_GetName, ctypes.pythonapi.PyCapsule_GetPointer
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    table = {}
    for dtype, name in zip(DTYPES, ("sgemm", "dgemm")):
        capsule = cython_blas.__pyx_capi__[name]
        scalar = _SCALARS[dtype]
        int_p, scalar_p = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(scalar)
        # Fortran ?gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), all by reference.
        fn = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, int_p, int_p, int_p, scalar_p, ctypes.c_void_p,
                              int_p, ctypes.c_void_p, int_p, scalar_p, ctypes.c_void_p, int_p)(
            get_pointer(capsule, get_name(capsule)))

        def gemm(ta, tb, m, n, k, pa, lda, pb, ldb, beta, pc, ldc, fn=fn, scalar=scalar):
            i = ctypes.c_int
            # Row-major C = A B is column-major C^T = B^T A^T: swap the operands, keep each stride.
            fn(b"T" if tb else b"N", b"T" if ta else b"N", i(n), i(m), i(k), scalar(1.0),
               pb, i(ldb), pa, i(lda), scalar(beta), pc, i(ldc))
        table[dtype] = gemm
    return table


_NUMPY_GEMM, _THREADS = _numpy_cblas() or (None, None)
_GEMM = _NUMPY_GEMM or _scipy_blas()
LIBRARY = "NumPy's OpenBLAS" if _NUMPY_GEMM else "scipy.linalg.cython_blas"
_threads_lock = threading.Lock()
_inside, _saved_threads = 0, None  # callers inside _openblas_single_threaded, the count to restore
# A GEMM of at least this many multiply-adds is split over Lumen's worker threads.
SPLIT_MIN_MACS = 1 << 22
# matmul leaves products below this many multiply-adds to NumPy (a Python loop per matrix would cost more).
_SMALL_MACS = 1 << 15
_MANY, _MID_MACS = 8, 1 << 20  # and batches of more than _MANY products below _MID_MACS each
_INT_MAX = 2 ** 31 - 1


def _layout(m):
    """(leading dimension, transposed) of a 2-D view as BLAS sees it, or None if BLAS cannot read it.

    Row-major with row stride ld is column-major transposed with the same ld; the stride of a
    dimension of size 1 is never used, so it does not count."""
    (r, c), (s0, s1), it = m.shape, m.strides, m.itemsize
    if s1 == it or c == 1:
        ld = c if r == 1 else s0 // it
        if (r == 1 or s0 % it == 0) and max(1, c) <= ld <= _INT_MAX:
            return ld, False
    if s0 == it or r == 1:
        ld = r if c == 1 else s1 // it
        if (c == 1 or s1 % it == 0) and max(1, r) <= ld <= _INT_MAX:
            return ld, True
    return None


def gemm(a, b, out, beta=0.0):
    """out = a @ b + beta * out, written into ``out``.

    a (m, k), b (k, n), out (m, n): 2-D arrays of one dtype in ``DTYPES`` whose rows or columns
    are contiguous (a transposed view is fine; a and b are copied otherwise, out must be). An
    operand that overlaps ``out`` is copied first, as numpy.matmul does.
    """
    op = "gemm"
    if not (a.dtype == b.dtype == out.dtype) or a.dtype not in _GEMM:
        raise TypeError(f"{op}: expected arrays of one dtype among {[str(d) for d in DTYPES]}, "
                        f"got {a.dtype}, {b.dtype}, {out.dtype}")
    if a.ndim != 2 or b.ndim != 2 or out.shape != (a.shape[0], b.shape[1]) or a.shape[1] != b.shape[0]:
        raise ValueError(f"{op}: shapes {a.shape} @ {b.shape} -> {out.shape} do not match (m, k) @ (k, n) -> (m, n)")
    m, k = a.shape
    n = b.shape[1]
    if max(m, n, k) > _INT_MAX:
        raise ValueError(f"{op}: sizes m={m}, n={n}, k={k} exceed BLAS's 32-bit ints")
    if min(m, n) == 0:
        return out
    if k == 0:  # an empty sum: beta * out, with no NaN of an uninitialised out surviving beta = 0
        if beta == 0:
            out[...] = 0
        else:
            out *= beta
        return out
    lc = _layout(out)
    if lc is None or not out.flags.writeable:
        raise ValueError(f"{op}: out {out.shape} with strides {out.strides} is not a writeable BLAS matrix")
    result = out
    if lc[1]:  # out is column-major: compute out^T = b^T a^T instead
        a, b, out, m, n = b.T, a.T, out.T, n, m
    if _layout(a) is None or np.may_share_memory(a, out):
        a = a.copy()
    if _layout(b) is None or np.may_share_memory(b, out):
        b = b.copy()
    fn = _GEMM[a.dtype]
    if _THREADS is None:
        _run(fn, a, b, out, beta)
        return result
    # Lumen's threads each run one block of out with OpenBLAS single-threaded, instead of OpenBLAS
    # running its own pool: its idle threads spin for ~0.1 s after every call and steal the cores
    # from the NumPy copies that run on Lumen's threads between GEMMs (measured: VGG16 training at
    # batch 8 1.3x slower). The wider dimension of out is cut into contiguous blocks.
    if n >= m:
        def block(j0, j1):
            _run(fn, a, b[:, j0:j1], out[:, j0:j1], beta)
    else:
        def block(i0, i1):
            _run(fn, a[i0:i1], b, out[i0:i1], beta)
    with _openblas_single_threaded():
        parallel.over_range(block, max(m, n), parallel.MIN_ELEMENTS if m * n * k >= SPLIT_MIN_MACS else 0,
                            ranges_per_thread=1)
    return result


@contextlib.contextmanager
def _openblas_single_threaded():
    """OpenBLAS at one thread while any caller is inside, then back to the count the first one found
    (a count per caller would let two overlapping callers leave it at one for good)."""
    global _inside, _saved_threads
    set_threads, get_threads = _THREADS
    with _threads_lock:
        if _inside == 0:
            _saved_threads = get_threads()
            set_threads(1)
        _inside += 1
    try:
        yield
    finally:
        with _threads_lock:
            _inside -= 1
            if _inside == 0:
                set_threads(_saved_threads)


def _run(fn, a, b, out, beta):
    (lda, ta), (ldb, tb) = _layout(a), _layout(b)
    fn(ta, tb, out.shape[0], out.shape[1], a.shape[1], a.ctypes.data, lda, b.ctypes.data, ldb, beta,
       out.ctypes.data, _layout(out)[0])


def matmul(a, b, out=None, beta=0.0):
    """``out = a @ b + beta * out`` with NumPy's matmul broadcasting of batch dimensions.

    Float32/float64 products large enough to matter run one GEMM per batch element through
    ``gemm``; small ones, many mid-sized ones (a Python call each would cost more than the work)
    and other dtypes run in NumPy, whose BLAS stays single-threaded on them.
    """
    if a.dtype != b.dtype or a.dtype not in _GEMM or a.ndim < 2 or b.ndim < 2:
        small = True
    else:
        macs = a.shape[-2] * a.shape[-1] * b.shape[-1]
        count = int(np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2])))
        small = macs < _SMALL_MACS or (count > _MANY and macs < _MID_MACS)
    if small:
        if out is None or beta == 0:
            return np.matmul(a, b, out=out)
        out *= beta
        out += np.matmul(a, b)
        return out
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if out is None:
        out = np.empty(batch + (a.shape[-2], b.shape[-1]), a.dtype)
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    for index in np.ndindex(*batch):
        gemm(a[index], b[index], out[index], beta)
    return out
