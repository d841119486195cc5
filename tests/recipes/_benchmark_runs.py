"""Shared by the benchmark recipes' tests: a tiny embedded run, and one stopped mid-way then resumed."""
import json

import numpy as np

import lumen

TINY = ["--n-train", "4", "--n-val", "1", "--size", "20", "--width", "0.03125", "--iters", "2", "--eval-every", "1",
        "--checkpoint-every", "100"]


def tiny(tmp_path, out, *extra):
    return TINY + ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path / out), *extra]


def interrupted_equals_whole(recipe, tmp_path, stop_at_call, *extra):
    """Run ``recipe`` whole, and stopped at its ``stop_at_call``-th iteration (counted over all stages) then
    resumed: the final weights, metrics and log.csv must be the same. Returns the whole run's metrics."""
    assert recipe.main(tiny(tmp_path, "whole", *extra)) == 0
    calls = []

    def stop(it):
        calls.append(it)
        return "stop" if len(calls) == stop_at_call else None

    assert recipe.run(recipe.parse_args(tiny(tmp_path, "cut", *extra)), on_iteration=stop) is None
    assert recipe.main(tiny(tmp_path, "cut", *extra, "--resume")) == 0
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    a, b = lumen.load(whole / "checkpoint.npz")["model_state"], lumen.load(cut / "checkpoint.npz")["model_state"]
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)
    metrics = json.loads((whole / "metrics.json").read_text())
    assert metrics == json.loads((cut / "metrics.json").read_text())

    def rows(path):  # the speed column is wall-clock time
        lines = [line.split(",") for line in (path / "log.csv").read_text().splitlines()]
        return [line[:4] + line[5:] for line in lines]

    assert rows(whole) == rows(cut)
    for name in ("curves.png", "predictions.png"):
        assert (cut / name).stat().st_size > 0
    return metrics
