"""The tutorial notebooks run top to bottom in a fresh Jupyter kernel without raising.

Each notebook is executed with nbclient in a separate kernel process, so pytest's
warnings-as-errors does not reach its cells; instead a warning printed by a cell
(on stderr) fails the test. The kernel gets a non-interactive matplotlib backend,
the repository on its path and a private data cache.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NAMES = ["01_autograd", "02_convnet", "03_net_surgery", "04_fcn_segmentation"]
CELL_TIMEOUT = 600  # seconds per cell: a hang fails, a slow shared machine does not


def _load_build():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOK_DIR / "_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _deps():
    for name in ("nbformat", "nbclient", "ipykernel"):
        pytest.importorskip(name, reason=f"{name} is needed to run the notebooks (pip install 'lumen[dev]')")
    import nbclient
    import nbformat

    return nbformat, nbclient


def _kernel_env(cache: Path) -> dict:
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["LUMEN_CACHE"] = str(cache)
    env.pop("PYTHONWARNINGS", None)  # the cells' own warnings are checked on their output below
    return env


def _stderr_warnings(nb) -> list[str]:
    found = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr" and "Warning" in out["text"]:
                found.append(f"cell {index}: {out['text'].strip()[:500]}")
    return found


# 04 trains three FCNs: about a minute on 2 cores, the others well under that.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n.startswith("04") else n
                                  for n in NAMES])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # from the Jupyter stack in this process
def test_notebook_runs(name, tmp_path):
    nbformat, nbclient = _deps()
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute(env=_kernel_env(tmp_path / "cache"))
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"{name}.ipynb raised:\n{e}", pytrace=False)
    assert not _stderr_warnings(nb), f"{name}.ipynb printed warnings:\n" + "\n".join(_stderr_warnings(nb))
    figures = sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))
    assert figures >= 1, f"{name}.ipynb drew no figure"


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs(name):
    nbformat, _ = _deps()
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}.ipynb cell {index} has outputs; rebuild with python notebooks/_build.py")


def test_notebooks_match_their_source(tmp_path):
    """The .ipynb files are what notebooks/_build.py writes (edit the source, then rebuild)."""
    _deps()
    build = _load_build()
    assert sorted(build.NOTEBOOKS) == NAMES
    for name, cells in build.NOTEBOOKS.items():
        written = build.build(name, cells, out_dir=tmp_path)
        assert written.read_text() == (NOTEBOOK_DIR / f"{name}.ipynb").read_text(), (
            f"{name}.ipynb differs from notebooks/_build.py; run python notebooks/_build.py")
