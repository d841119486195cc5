"""A rank that raises, is killed or stalls makes the whole job stop with an error naming it, never a hang."""
import re

import pytest


@pytest.mark.parametrize("fault, says", [
    ("raise", "rank 1 of 2 failed with ValueError: a bad batch on purpose"),
    ("kill", "PID {pid1}"),  # MPICH's launcher reports the process that died by its pid
    ("stall", "all_reduce(SUM) on rank 0 timed out after 3 s"),
])
def test_a_failing_rank_stops_the_job_within_a_minute(mpirun, fault, says):
    result = mpirun("faults.py", fault, timeout=60, check=False)
    assert result.returncode != 0
    assert "ok rank 0" not in result.stdout
    output = result.stdout + result.stderr
    pid1 = re.search(r"rank 1 is pid (\d+)", output).group(1)
    assert says.format(pid1=pid1) in output, output
