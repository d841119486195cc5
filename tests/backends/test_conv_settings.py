"""lumen.backends.conv: the benchmark / deterministic / algorithm switches shared by the CPU and CUDA backends."""
import subprocess
import sys

import numpy as np
import pytest

from lumen.backends import conv as conv_settings
from lumen.backends.cpu import blas, conv, parallel

ARGS = ((1, 1), (1, 1), (1, 1), 1)  # stride, padding, dilation, groups: every CPU algorithm runs these


@pytest.fixture(autouse=True)
def _default_selector():
    with conv_settings.flags():
        yield
    conv_settings.clear_cache()


def _all_three(x, w, gy, args=ARGS):
    return (conv.conv2d_forward(x, w, None, *args), conv.conv2d_backward_data(gy, w, x.shape, *args),
            conv.conv2d_backward_filter(x, gy, w.shape, *args))


def _data(seed, x_shape=(2, 5, 9, 8), w_shape=(6, 5, 3, 3), args=ARGS, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    y_shape = conv.conv2d_forward(x, w, None, *args).shape
    return x, w, rng.standard_normal(y_shape).astype(dtype)


def test_defaults_and_reachable_from_lumen():
    code = ("import lumen; c = lumen.backends.conv; "
            "print(c.benchmark, c.deterministic, c.algorithm, c.CPU.names, c.CUDA.names)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[0] == ("False False None ('im2col', 'implicit', 'winograd2', 'winograd4', 'phase', 'direct') "
                                  "('gemm', 'implicit')")
    assert conv.ALGORITHMS == conv_settings.CPU.names


@pytest.mark.parametrize("algo", ["implicit", "winograd2", "winograd4"])
@pytest.mark.parametrize("padding", [(1, 1), (3, 0)])  # (3, 0): backward-data's forward form has padding -1 on H
def test_forcing_each_cpu_algorithm_matches_im2col(monkeypatch, algo, padding):
    ran = []
    for name in ("_forward_by", "_backward_data_by", "_backward_filter_by"):
        fn = getattr(conv, name)
        monkeypatch.setattr(conv, name, lambda a, *args, fn=fn: ran.append(a) or fn(a, *args))
    args = ((1, 1), padding, (1, 1), 1)
    x, w, gy = _data(0, args=args)
    conv_settings.algorithm = "im2col"
    ref = _all_three(x, w, gy, args)
    scale = [np.abs(r).max() for r in _all_three(np.abs(x), np.abs(w), np.abs(gy), args)]
    ran.clear()
    conv_settings.algorithm = algo
    for dtype, bound in ((np.float64, 1e-13), (np.float32, 1e-5)):
        got = _all_three(*(a.astype(dtype) for a in (x, w, gy)), args)
        for r, s, g in zip(ref, scale, got):
            assert g.dtype == dtype and g.shape == r.shape
            assert np.abs(g - r).max() <= bound * s
    assert ran == [algo] * 6


def test_implicit_runs_pointwise_layers_when_forced(monkeypatch):
    x, w, gy = _data(1, w_shape=(6, 5, 1, 1), args=((1, 1), (0, 0), (1, 1), 1))
    args = ((1, 1), (0, 0), (1, 1), 1)
    ref = _all_three(x, w, gy, args)  # the heuristic: im2col's single GEMM
    calls = []
    monkeypatch.setattr(conv.implicit, "forward", lambda *a, fn=conv.implicit.forward: calls.append(1) or fn(*a))
    conv_settings.algorithm = "implicit"
    for r, g in zip(ref, _all_three(x, w, gy, args)):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
    assert len(calls) == 2  # forward and backward-data


def test_invalid_or_unrunnable_algorithm_errors():
    x, w, gy = _data(2)
    with pytest.raises(ValueError, match=r"flags: unknown convolution algorithm 'fft'; expected None or one of "
                                         r"\('im2col', 'implicit', 'winograd2', 'winograd4', 'phase', 'direct'\) \(cpu\) or "
                                         r"\('gemm', 'implicit'\) \(cuda\)"):
        with conv_settings.flags(algorithm="fft"):
            pass
    assert conv_settings.algorithm is None
    conv_settings.algorithm = "gemm"  # a CUDA name, set directly: checked when a CPU convolution runs
    with pytest.raises(ValueError, match=r"conv2d_forward on cpu: unknown cpu convolution algorithm 'gemm'.*"
                                         r"\('im2col', 'implicit', 'winograd2', 'winograd4', 'phase', 'direct'\)"):
        conv.conv2d_forward(x, w, None, *ARGS)
    conv_settings.algorithm = "implicit"
    with pytest.raises(ValueError, match=r"conv2d_backward_filter on cpu: the forced algorithm 'implicit' cannot "
                                         r"run input \(2, 5, 9, 8\).*stride=\(2, 2\).*the ones that can: \('im2col', 'phase'\)"):
        conv.conv2d_backward_filter(x, gy[:, :, ::2, ::2], w.shape, (2, 2), (1, 1), (1, 1), 1)


def test_flags_set_all_three_and_restore():
    conv_settings.benchmark = True
    conv_settings.algorithm = "winograd2"
    with conv_settings.flags(deterministic=True):
        # As torch.backends.cudnn.flags: what is left out takes its default inside the block.
        assert (conv_settings.benchmark, conv_settings.deterministic, conv_settings.algorithm) == (False, True, None)
        with conv_settings.flags(benchmark=True, algorithm="implicit"):
            assert (conv_settings.benchmark, conv_settings.deterministic, conv_settings.algorithm) == \
                (True, False, "implicit")
        assert (conv_settings.benchmark, conv_settings.deterministic, conv_settings.algorithm) == (False, True, None)
    assert (conv_settings.benchmark, conv_settings.deterministic, conv_settings.algorithm) == (True, False, "winograd2")
    with pytest.raises(KeyError), conv_settings.flags(algorithm="im2col"):
        raise KeyError("restored on an exception too")
    assert conv_settings.algorithm == "winograd2"


def test_benchmark_caches_per_shape_and_clears(monkeypatch):
    timed = []
    forward_by = conv._forward_by
    monkeypatch.setattr(conv, "_forward_by", lambda a, *args: timed.append(a) or forward_by(a, *args))
    conv_settings.benchmark = True
    small, large = _data(3, (1, 4, 6, 6), (4, 4, 3, 3)), _data(4, (1, 4, 10, 10), (4, 4, 3, 3))
    for x, w, _ in (small, large, small):
        conv_settings.algorithm = "im2col"
        ref = conv.conv2d_forward(x, w, None, *ARGS)
        conv_settings.algorithm = None
        timed.clear()
        np.testing.assert_allclose(conv.conv2d_forward(x, w, None, *ARGS), ref, rtol=1e-12, atol=1e-12)
        timed_now = timed[:-1]
    assert not timed_now  # the third call repeats the first shape: cached, nothing timed
    cache = conv_settings.CPU.cache
    assert [(key[0], key[1][:2]) for key in cache] == [("forward", ((1, 4, 6, 6), (4, 4, 3, 3))),
                                                       ("forward", ((1, 4, 10, 10), (4, 4, 3, 3)))]
    assert set(cache.values()) <= set(conv.ALGORITHMS)
    conv_settings.CUDA.cache["stand-in"] = "gemm"  # as a CUDA run would leave it
    conv_settings.clear_cache()
    assert not conv_settings.CPU.cache and not conv_settings.CUDA.cache
    x, w, _ = small
    timed.clear()
    conv.conv2d_forward(x, w, None, *ARGS)
    assert timed[:-1] == [a for a in conv.ALGORITHMS for _ in ("warm-up", "timed")]  # timed afresh


# ---- the shared chooser on a made-up table: "atomic" sums with atomics, so it is not deterministic

def _fake_table():
    return conv_settings.Algorithms("fake", {"forward": ("plain", "atomic", "tiled"), "backward_data": ("plain",),
                                             "backward_filter": ("plain", "atomic")}, nondeterministic=("atomic",))


def _choose(table, candidates=("plain", "atomic", "tiled"), key="shape", times=None, forced=None, log=None):
    times = times or {"plain": 3.0, "atomic": 1.0, "tiled": 2.0}
    log = [] if log is None else log

    def heuristic(names):
        log.append(("heuristic", names))
        return names[-1]

    def time(name):
        log.append(("time", name))
        return times[name]

    return table.choose("forward", key, candidates, heuristic, time, lambda: "input (1, 2, 3, 4)", forced=forced)


def test_chooser_forced_heuristic_and_timed():
    table, log = _fake_table(), []
    assert table.names == ("plain", "atomic", "tiled")
    assert _choose(table, log=log) == "tiled" and log == [("heuristic", ("plain", "atomic", "tiled"))]
    conv_settings.benchmark = True
    log.clear()
    assert _choose(table, log=log) == "atomic" and [name for _, name in log] == ["plain", "atomic", "tiled"]
    log.clear()
    assert _choose(table, log=log) == "atomic" and not log  # cached for this key
    assert _choose(table, key="other", log=log) == "atomic" and len(log) == 3
    assert _choose(table, candidates=("plain",), log=log) == "plain" and len(log) == 3  # nothing to time
    conv_settings.algorithm = "tiled"
    assert _choose(table) == "tiled"
    assert _choose(table, forced="plain") == "plain"  # a per-call choice (CUDA's algo=) wins over algorithm
    with pytest.raises(ValueError, match=r"conv2d_forward on fake: the forced algorithm 'tiled' cannot run "
                                         r"input \(1, 2, 3, 4\); the ones that can: \('plain', 'atomic'\)"):
        _choose(table, candidates=("plain", "atomic"))
    with pytest.raises(ValueError, match=r"unknown fake convolution algorithm 'fft'.*\('plain', 'atomic', 'tiled'\)"):
        _choose(table, forced="fft")


def test_chooser_deterministic_excludes_nondeterministic_algorithms():
    table, log = _fake_table(), []
    conv_settings.deterministic = True
    assert _choose(table, candidates=("plain", "atomic"), log=log) == "plain" and not log  # the only one left
    assert _choose(table, log=log) == "tiled" and log == [("heuristic", ("plain", "tiled"))]
    conv_settings.benchmark = True
    log.clear()
    assert _choose(table, log=log) == "tiled" and [name for _, name in log] == ["plain", "tiled"]
    conv_settings.deterministic = False
    log.clear()
    assert _choose(table, log=log) == "atomic" and len(log) == 3  # a separate cache entry, timed with "atomic"
    conv_settings.deterministic = True
    with pytest.raises(RuntimeError, match=r"none of the algorithms that can run input \(1, 2, 3, 4\) \('atomic',\) "
                                           r"is deterministic, but lumen.backends.conv.deterministic is True"):
        _choose(table, candidates=("atomic",))
    conv_settings.algorithm = "atomic"
    with pytest.raises(RuntimeError, match=r"algorithm 'atomic' is not deterministic"):
        _choose(table)


def test_every_cpu_algorithm_is_deterministic(monkeypatch):
    """No CPU algorithm is marked non-deterministic, so each one must give bit-identical results on
    repeated calls (on fresh copies of the arguments), also with every step split over the threads."""
    assert not conv_settings.CPU.nondeterministic and not conv_settings.CUDA.nondeterministic
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(blas, "SPLIT_MIN_MACS", 1)
    x, w, gy = _data(5, (2, 16, 20, 18), (24, 16, 3, 3), dtype=np.float32)
    conv_settings.deterministic = True
    for algo in conv.ALGORITHMS:
        conv_settings.algorithm = algo
        first = _all_three(x, w, gy)
        for _ in range(3):
            for a, b in zip(first, _all_three(x.copy(), w.copy(), gy.copy())):
                assert a.tobytes() == b.tobytes(), algo
