"""``python -m benchmarks``: issue 8's one table (see benchmarks/run.py)."""
from benchmarks.run import main

main()
