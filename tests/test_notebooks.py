"""The tutorial notebooks: their jupytext sources use only the library's public API, the committed
.ipynb files are those sources without outputs, and each runs top to bottom in a fresh Jupyter kernel.

The source of each notebook is ``notebooks/NN_name.py`` (jupytext percent format); the .ipynb next to
it is generated with ``jupytext --update --to ipynb notebooks/[0-9]*.py``.

Each notebook is executed with nbclient in a separate kernel process, so pytest's
warnings-as-errors does not reach its cells; instead a warning printed by a cell
(on stderr) fails the test. The kernel gets a non-interactive matplotlib backend,
the repository on its path and a private data cache.
"""
from __future__ import annotations

import ast
import importlib
import os
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
REGENERATE = "jupytext --update --to ipynb notebooks/[0-9]*.py"
CELL_TIMEOUT = 600  # seconds per cell: a hang fails, a slow shared machine does not
# The array module behind a backend: a Function's forward computes through self.backend's primitives,
# so reaching for the raw module ties a notebook to one backend's internals.
INTERNAL_ATTRIBUTES = {"xp"}
CODE_SPAN = re.compile(r"`([^`]+)`")
DOTTED_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def _deps(*names):
    for name in names:
        pytest.importorskip(name, reason=f"{name} is needed for the notebooks (pip install 'lumen[dev]')")
    return [importlib.import_module(name) for name in names]


def _source(name):
    (jupytext,) = _deps("jupytext")
    return jupytext.read(NOTEBOOK_DIR / f"{name}.py")


def test_every_source_has_its_notebook():
    assert NAMES, f"no notebook sources in {NOTEBOOK_DIR}"
    committed = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    assert committed == NAMES, f"notebooks/*.ipynb {committed} != sources {NAMES}; run {REGENERATE}"


# ---- the sources use only what the library offers --------------------------------------------------
def _lumen_attribute(obj, path: str, attr: str):
    """``obj.attr`` where ``obj`` is the lumen object at ``path``, refusing what is not public."""
    if attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__")):
        raise AttributeError(f"{path}.{attr} is private")
    if hasattr(obj, attr):
        value = getattr(obj, attr)
        exported = getattr(obj, "__all__", None) if isinstance(obj, types.ModuleType) else None
        if exported is not None and attr not in exported and not isinstance(value, types.ModuleType):
            raise AttributeError(f"{path}.{attr} is not in {obj.__name__}.__all__")
        return value
    if isinstance(obj, types.ModuleType):
        try:
            return importlib.import_module(f"{obj.__name__}.{attr}")  # a submodule not imported yet
        except ModuleNotFoundError as e:
            if e.name != f"{obj.__name__}.{attr}":
                raise
    raise AttributeError(f"{path} has no attribute {attr!r}")


def _resolve(dotted: str):
    first, *rest = dotted.split(".")
    obj, path = importlib.import_module(first), first
    for attr in rest:
        obj, path = _lumen_attribute(obj, path, attr), f"{path}.{attr}"
    return obj


def _attribute_chain(node):
    """``a.b.c`` as ["a", "b", "c"], or None when the chain does not start at a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else None


def _lumen_aliases(tree: ast.Module) -> dict[str, str]:
    """The names a notebook's imports bind to lumen objects: {"F": "lumen.nn.functional", ...}."""
    aliases = {"lumen": "lumen"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "lumen":
                    aliases[a.asname or "lumen"] = a.name if a.asname else "lumen"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "lumen":
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _api_problems(tree: ast.Module) -> list[str]:
    """What a notebook's code uses of lumen that lumen does not (publicly) have, one line each."""
    aliases, problems = _lumen_aliases(tree), []
    for node in ast.walk(tree):  # a reassigned alias would make the names resolved below wrong
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id in aliases:
            problems.append(f"line {node.lineno}: {node.id!r} is imported from lumen and assigned again")
    uses = {dotted for name, dotted in aliases.items() if name != "lumen"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in INTERNAL_ATTRIBUTES or (node.attr.startswith("_") and not node.attr.startswith("__")):
                problems.append(f"line {node.lineno}: .{node.attr} is not public API")
            chain = _attribute_chain(node)
            if chain and chain[0] in aliases:
                uses.add(".".join([aliases[chain[0]], *chain[1:]]))
    broken_imports = {}  # one line per module that fails to import, not one per name used from it
    for dotted in sorted(uses):
        try:
            _resolve(dotted)
        except ImportError as e:
            broken_imports.setdefault(str(e), f"{dotted}: {e!r}")
        except AttributeError as e:
            problems.append(f"{dotted}: {e}")
    return problems + list(broken_imports.values())


@pytest.mark.parametrize("name", NAMES)
def test_source_uses_only_public_api(name):
    """Every code cell parses and every lumen name it uses (or a markdown cell cites) exists and is public."""
    path = NOTEBOOK_DIR / f"{name}.py"
    tree = ast.parse(path.read_text(), filename=str(path))  # jupytext comments out the cells' %magics
    problems, aliases = _api_problems(tree), _lumen_aliases(tree)
    for index, cell in enumerate(_source(name).cells):
        if cell.cell_type == "markdown":
            for cited in (n for span in CODE_SPAN.findall(cell.source) for n in DOTTED_NAME.findall(span)):
                root, _, rest = cited.partition(".")
                if root not in aliases:
                    continue
                try:
                    _resolve(".".join(filter(None, [aliases[root], rest])))
                except (AttributeError, ImportError) as e:
                    problems.append(f"markdown cell {index} cites `{cited}`: {e}")
    assert not problems, f"notebooks/{name}.py uses what lumen does not offer:\n" + "\n".join(problems)


def test_api_check_catches_what_the_library_lacks():
    tree = ast.parse("import lumen\nfrom lumen import nn\nfrom lumen.nn import functional as F\n"
                     "x = lumen.no_such_op(1)\ny = nn.init.bilinear_\nz = F.relu(x)._data\n"
                     "w = lumen.autograd._no_such\nv = node.xp.exp\n")
    problems = _api_problems(tree)
    assert any("lumen.no_such_op" in p for p in problems), problems
    assert any("._data" in p for p in problems) and any(".xp" in p for p in problems), problems
    assert any("_no_such" in p and "private" in p for p in problems), problems
    assert not any("bilinear_" in p or "F.relu" in p or "functional.relu" in p for p in problems), problems


# ---- the committed notebooks are their sources ------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_matches_source(name):
    (nbformat,) = _deps("nbformat")
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}.ipynb cell {index} has outputs; regenerate it with {REGENERATE}")
    committed = [(cell.cell_type, cell.source) for cell in nb.cells]
    source = [(cell.cell_type, cell.source) for cell in _source(name).cells]
    for index, (got, want) in enumerate(zip(committed, source)):
        assert got == want, (f"{name}.ipynb cell {index} differs from notebooks/{name}.py "
                             f"({got[0]} {got[1][:80]!r} vs {want[0]} {want[1][:80]!r}); run {REGENERATE}")
    assert len(committed) == len(source), (f"{name}.ipynb has {len(committed)} cells, notebooks/{name}.py "
                                           f"{len(source)}; run {REGENERATE}")


# ---- the notebooks run -----------------------------------------------------------------------------
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


# 04 trains three FCNs: about a minute and a half on 2 cores, the others a few seconds each.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n.startswith("04") else n
                                  for n in NAMES])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # from the Jupyter stack in this process
def test_notebook_runs(name, tmp_path):
    """The committed notebook (the same cells as its source, checked above) runs without error or warning."""
    nbformat, nbclient, _ = _deps("nbformat", "nbclient", "ipykernel")
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
