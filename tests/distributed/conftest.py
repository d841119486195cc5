"""Runs small programs under ``mpirun -np N`` (skipped only when MPI is not installed: pip install
'lumen[distributed]'), with a time limit, and hands back the finished process. Under --cuda-emulator the
ranks, too, get tests/cuda_emu's CuPy double. ``recipe_runs`` runs a recipe alone or under mpirun."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"


def _mpirun():
    beside_python = Path(sys.executable).parent / "mpirun"  # the launcher of the wheel pip installed here
    return str(beside_python) if beside_python.exists() else shutil.which("mpirun") or shutil.which("mpiexec")


def _mpirun_or_skip():
    launcher = _mpirun()
    if importlib.util.find_spec("mpi4py") is None or launcher is None:
        pytest.skip("needs MPI and mpi4py: pip install 'lumen[distributed]'")
    return launcher


@pytest.fixture
def mpirun(request):
    launcher = _mpirun_or_skip()

    def run(script, *args, np=2, timeout=60, check=True):
        """With ``check``, asserts a clean exit and every rank's closing ``ok rank R`` line."""
        # one thread per rank: the ranks share the machine's cores
        paths = [str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")]
        if request.config.getoption("--cuda-emulator"):  # the ranks import the CuPy double too
            tests = Path(__file__).parents[1]
            paths[:0] = [str(tests), str(tests / "cuda_emu" / "double")]
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join(paths))
        command = [launcher, "-np", str(np), sys.executable, str(SCRIPTS / script), *map(str, args)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        if check:
            detail = f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            assert result.returncode == 0, detail
            for rank in range(np):
                assert f"ok rank {rank}" in result.stdout, detail
        return result

    return run


# A recipe with dropout off, so that one process at batch 2 and two ranks at batch 1 draw no masks to differ in;
# STOP_AT=k stops it after iteration k as Ctrl-C would.
_RECIPE_DRIVER = """
import importlib, os, sys
import lumen
lumen.nn.Dropout.forward = lambda self, x: x
recipe, argv = importlib.import_module(sys.argv[1]), sys.argv[2:]
stop_at = int(os.environ["STOP_AT"])
if stop_at:
    recipe.run(recipe.parse_args(argv), on_iteration=lambda it: "stop" if it == stop_at else None)
else:
    sys.exit(recipe.main(argv))
"""


@pytest.fixture
def recipe_runs(tmp_path):
    """``recipe_runs(module, args)`` gives ``run(out, ranks, *more, stop_at=0, status=0)``: the recipe
    ``module`` with ``args``, ``--out tmp_path/out`` and ``more``, in one process or under ``mpirun -np ranks``
    (one thread per rank); it asserts the exit status and returns the output folder, or the finished process
    when ``status`` is not 0."""
    launcher = _mpirun_or_skip()
    driver = tmp_path / "recipe_driver.py"
    driver.write_text(_RECIPE_DRIVER)
    root = Path(__file__).parents[2]

    def runs(module, args, timeout=240):
        def run(out, ranks, *more, stop_at=0, status=0):
            command = [sys.executable, str(driver), module, *args, "--out", str(tmp_path / out), *more]
            if ranks > 1:
                command = [launcher, "-np", str(ranks), *command]
            env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", STOP_AT=str(stop_at),
                       PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
            done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
            assert done.returncode == status, done.stdout + done.stderr
            return done if status else tmp_path / out

        return run

    return runs
