"""``python -m benchmarks``: issue 22's tables, per primitive, transposed and per model (see benchmarks/run.py)."""
from benchmarks.run import main

main()
