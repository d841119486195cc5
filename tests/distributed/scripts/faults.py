"""A rank that raises, dies or stalls in the middle of training (run by test_dist_faults.py with the fault's
name): the other rank, waiting in an all-reduce, must not hang."""
import os
import signal
import sys
import time

import lumen
import lumen.distributed as dist
from lumen import nn

fault = sys.argv[1]
dist.init_process_group("mpi", timeout=3 if fault == "stall" else None)
rank = dist.get_rank()
print(f"rank {rank} is pid {os.getpid()}", flush=True)  # MPICH's launcher names a killed process by pid
model = nn.parallel.DistributedDataParallel(nn.Linear(4, 2))
for step in range(3):
    if rank == 1 and step == 1:
        if fault == "raise":
            raise ValueError("a bad batch on purpose")
        if fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if fault == "stall":
            time.sleep(30)
    model(lumen.randn(3, 4)).sum().backward()
print(f"ok rank {rank}", flush=True)
