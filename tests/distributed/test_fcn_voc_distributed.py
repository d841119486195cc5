"""recipes.fcn_voc under mpirun: 2 ranks x 1 image train to the weights and log of 1 process x 2 images, and a
checkpoint resumes on the other number of ranks (dropout off, so the runs can agree to float32 rounding)."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lumen

ROOT = Path(__file__).parents[2]
# The recipe with dropout off: one process at batch 2 and two at batch 1 then draw no masks to differ in.
DRIVER = """
import os, sys
import lumen
lumen.nn.Dropout.forward = lambda self, x: x
from recipes import fcn_voc
stop_at = int(os.environ.get("STOP_AT", 0))
if stop_at:
    fcn_voc.run(fcn_voc.parse_args(sys.argv[1:]), on_iteration=lambda it: "stop" if it == stop_at else None)
else:
    sys.exit(fcn_voc.main(sys.argv[1:]))
"""


@pytest.fixture
def recipe(tmp_path):
    launcher = shutil.which("mpirun", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if importlib.util.find_spec("mpi4py") is None or launcher is None:
        pytest.skip("needs MPI and mpi4py: pip install 'lumen[distributed]'")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    common = ["--init", "none", "--model", "fcn32s", "--iters", "4", "--n-train", "8", "--n-val", "5", "--size",
              "32", "--width", "0.0625", "--batch-size", "2", "--eval-every", "2", "--checkpoint-every", "2",
              "--lr", "1e-5", "--momentum", "0.9", "--cache", str(tmp_path / "cache")]

    def run(out, ranks, *more, stop_at=0):
        command = [sys.executable, str(driver), *common, "--out", str(tmp_path / out), *more]
        if ranks > 1:
            command = [launcher, "-np", str(ranks), *command]
        env = dict(os.environ, OMP_NUM_THREADS="1", STOP_AT=str(stop_at),
                   PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        return tmp_path / out

    return run


def weights(out):
    return {k: v.numpy() for k, v in lumen.load(out / "checkpoint.npz")["model_state"].items()}


def log_without_speed(out):
    return [row.split(",")[:4] + row.split(",")[5:] for row in (out / "log.csv").read_text().splitlines()]


@pytest.mark.slow
def test_two_ranks_train_as_one_process_at_the_global_batch_and_resume_across_rank_counts(recipe):
    alone = recipe("alone", 1)
    two = recipe("two", 2)
    for key, value in weights(alone).items():
        np.testing.assert_allclose(weights(two)[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    assert log_without_speed(two) == log_without_speed(alone)
    resumed = recipe("resumed", 2, stop_at=1)  # stopped by two ranks after a step, finished by one
    recipe("resumed", 1, "--resume")
    for key, value in weights(alone).items():
        np.testing.assert_allclose(weights(resumed)[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    assert log_without_speed(resumed) == log_without_speed(alone)
