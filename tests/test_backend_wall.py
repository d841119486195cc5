"""The backend wall: above ``lumen/backends/`` nothing computes on numpy or cupy arrays directly.

Every op reaches the device through its backend's named primitives (``lumen/backends/base.py``),
so a new backend is one folder and an op has one home. The scan below reads the source (AST) and
fails on: importing numpy or cupy outside the folders that work on host data by nature; touching
an array module through ``.xp``; reading a tensor's array (``._data``) outside the core.
"""
import ast
from pathlib import Path

import pytest

import lumen

PACKAGE = Path(lumen.__file__).parent
ROOT = PACKAGE.parent

# May import numpy: they handle host arrays by nature, never device tensors' math.
HOST_DATA = {
    "lumen/vision/datasets/": "decodes image and label files into host arrays",
    "lumen/vision/transforms.py": "augments host images before they become tensors",
    "lumen/vision/palette.py": "colours host label maps",
    "lumen/vision/inference.py": "batches host images and writes the host label maps and scores it returns",
    "lumen/vision/plot.py": "draws host arrays with matplotlib",
    "lumen/vision/metrics.py": "confusion matrices of predictions already copied to the host",
    "lumen/vision/convert.py": "reads and writes weight files",
    "lumen/vision/models/npz.py": "reads and writes weight files",
    "lumen/serialization.py": "the npz checkpoint format holds host arrays",
    "lumen/distributed/nccl.py": "hands device pointers to CuPy's NCCL communicator (no array math: NCCL reduces)",
    "lumen/data/": "sampling orders and collation of host samples",
    "lumen/dtypes.py": "numpy dtypes name each dtype's storage (metadata, no arrays)",
    "lumen/random.py": "generator states travel as host bytes",
    "lumen/autograd/gradcheck.py": "finite differences in float64 on host copies, independent of the "
                                   "backend under test",
}
# The core wraps and unwraps arrays: only it may read ``._data``.
CORE = ("lumen/tensor.py", "lumen/creation.py", "lumen/ops/", "lumen/autograd/", "lumen/random.py")


def _allowed(path, table):
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in table)


def violations(path, source):
    """The wall's violations in one file above the backends: ``(line, what)`` pairs."""
    found = []
    for node in ast.walk(ast.parse(source, path)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] in ("numpy", "cupy") and not _allowed(path, HOST_DATA):
                found.append((node.lineno, f"imports {name}"))
        if isinstance(node, ast.Attribute):
            if node.attr == "xp":
                found.append((node.lineno, "uses an array module through .xp"))
            elif node.attr == "_data" and not _allowed(path, CORE):
                found.append((node.lineno, "reads a tensor's array (._data) outside the core"))
    return found


def _sources():
    for folder in (PACKAGE, ROOT / "recipes"):
        for file in sorted(folder.rglob("*.py")):
            rel = file.relative_to(ROOT).as_posix()
            if not rel.startswith("lumen/backends/"):
                yield rel, file.read_text()


def test_nothing_above_the_backends_reaches_around_them():
    problems = [f"{path}:{line}: {what}" for path, source in _sources() for line, what in violations(path, source)]
    assert not problems, "the backend wall is breached:\n" + "\n".join(problems)


@pytest.mark.parametrize("source, what", [
    ("import numpy as np\n", "imports numpy"),
    ("from cupy import asarray\n", "imports cupy"),
    ("y = self.xp.exp(x)\n", ".xp"),
    ("a = t._data\n", "._data"),
])
def test_the_scan_catches_each_kind_of_breach(source, what):
    assert any(what in w for _, w in violations("lumen/nn/example.py", source))


def test_host_data_folders_and_the_core_are_the_only_exceptions():
    assert not violations("lumen/vision/datasets/voc.py", "import numpy\n")
    assert not violations("lumen/ops/example.py", "a = t._data\n")
    assert violations("lumen/ops/example.py", "import numpy\n")
