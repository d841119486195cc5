"""Small PyTorch programs in the style of the official tutorials and examples, each run twice in its own
process: once as written, with torch, and once ported the way a user ports one, every word ``torch``
replaced by ``lumen`` (``torch.utils.data`` becomes ``lumen.utils.data``). The two runs must give the same
numbers.

A program prints, as its last line, ``RESULT`` and a JSON object of numbers (or lists of numbers) that
characterise the run; they are compared within the program's ``# tolerance: RTOL ATOL`` line (float32
training drifts by rounding between two libraries' BLAS kernels; the default is 1e-4 and 1e-6).
Where a program draws random numbers, it draws them from numpy, because the two libraries' generators
give different streams; what depends on a library's own generator (dropout masks, multinomial samples,
random splits) is checked for what it must satisfy inside the program, not compared."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
PROGRAMS = sorted(HERE.glob("p[0-9][0-9]_*.py"))

_RUNNER = """
import re, sys
path, port = sys.argv[1], sys.argv[2] == "lumen"
source = open(path).read()
if port:
    source = re.sub(r"\\btorch\\b", "lumen", source)
exec(compile(source, path, "exec"), {"__name__": "__main__", "__file__": path})
"""


def run(program, lib, tmp_path):
    # this checkout's lumen, whatever is installed; each program runs in a folder of its own for its files
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", _RUNNER, str(program), lib], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600, env=env)
    if done.returncode:
        raise AssertionError(f"{program.name} with {lib} failed:\n{done.stderr[-3000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"{program.name} with {lib} printed no RESULT line:\n{done.stdout[-2000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def tolerance(program):
    found = re.search(r"^# tolerance: (\S+) (\S+)$", program.read_text(), re.M)
    return (float(found.group(1)), float(found.group(2))) if found else (1e-4, 1e-6)


def test_there_are_at_least_twelve_programs():
    assert len(PROGRAMS) >= 12


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_program_gives_torchs_numbers_on_lumen(program, tmp_path):
    (tmp_path / "torch").mkdir()
    (tmp_path / "lumen").mkdir()
    expected = run(program, "torch", tmp_path / "torch")
    got = run(program, "lumen", tmp_path / "lumen")
    assert got.keys() == expected.keys()
    rtol, atol = tolerance(program)
    for key in expected:
        assert_close(got[key], expected[key], rtol, atol, f"{program.name}: {key}")


def assert_close(got, expected, rtol, atol, where):
    """Equal nesting (lists may be ragged) and numbers within tolerance (booleans and strings exactly)."""
    if isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), f"{where}: {got!r:.200} != {expected!r:.200}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_close(g, e, rtol, atol, f"{where}[{i}]")
    elif isinstance(expected, (bool, str)) or expected is None:
        assert got == expected, f"{where}: {got!r} != {expected!r}"
    else:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=where)
