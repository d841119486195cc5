"""What the benchmark scripts share: resident-memory readings and sections of RESULTS.md."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


class OtherLoad:
    """What else ran on the machine while a benchmark did, from ``/proc/stat`` (Linux).

    The 1-min load average counts the benchmark's own threads (two busy ones read ~2 on a quiet 2-core
    machine), so it cannot say whether a run was quiet. ``others``: cores' worth of CPU time that processes
    other than this one and its waited-for children used since the start; ``steal``: the fraction of the
    CPUs' time the hypervisor gave to other machines. Both None where /proc/stat is absent.
    """

    QUIET_CORES = 0.25
    QUIET_STEAL = 0.05

    def __init__(self):
        self._start = self._sample()

    @staticmethod
    def _sample():
        try:
            ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return None
        user, nice, system, idle, iowait, irq, softirq, steal = ticks
        hz = os.sysconf("SC_CLK_TCK")
        own = os.times()
        return (time.perf_counter(), (user + nice + system + irq + softirq) / hz, steal / hz, sum(ticks) / hz,
                own.user + own.system + own.children_user + own.children_system)

    def read(self):
        """(others, steal) since this object was made."""
        now = self._sample()
        if now is None or self._start is None:
            return None, None
        wall, busy, steal, total, own = (b - a for a, b in zip(self._start, now))
        return max(0.0, (busy - own) / wall), (steal / total if total else 0.0)

    def quiet(self, reading=None):
        others, steal = reading or self.read()
        return others is None or (others <= self.QUIET_CORES and steal <= self.QUIET_STEAL)

    def describe(self):
        reading = self.read()
        others, steal = reading
        if others is None:
            return "other processes' CPU use unknown (no /proc/stat)"
        verdict = "quiet" if self.quiet(reading) else "NOT quiet"
        return (f"other processes used {others:.2f} cores on average and the hypervisor stole {100 * steal:.0f} % "
                f"of the CPUs' time during these measurements ({verdict}: quiet means <= {self.QUIET_CORES} cores "
                f"and <= {100 * self.QUIET_STEAL:.0f} %)")


def memory_mib():
    """(current, peak) resident set of this process in MiB (Linux /proc)."""
    status = Path("/proc/self/status").read_text()
    get = lambda key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1)) / 1024  # noqa: E731
    return get("VmRSS"), get("VmHWM")


def reset_peak() -> bool:
    """Restart VmHWM at the current RSS (Linux >= 4.0), so the peak excludes building the net."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def time_and_measure(run, repeats: int) -> dict:
    """Run ``run()`` once to warm up, then ``repeats`` timed times, in this process.

    Returns {"ms": median ms, "runs": [...], "weights_mib": RSS before the first run (the built net),
    "peak_mib": VmHWM over the runs (from process start if "peak_reset" is False)}.
    """
    weights_mib = memory_mib()[0]
    peak_reset = reset_peak()
    run()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        runs.append((time.perf_counter() - t0) * 1e3)
    return {"ms": float(np.median(runs)), "runs": runs, "weights_mib": weights_mib,
            "peak_mib": memory_mib()[1], "peak_reset": peak_reset}


def write_section(heading: str, text: str, first: bool = False) -> Path:
    """Replace the ``heading`` section of RESULTS.md with ``text`` (which starts with the heading);
    a new section goes last, or right under the title with ``first``."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", old, count=1).rstrip("\n") + "\n"
    elif first:
        head, _, rest = old.partition("\n")
        new = f"{head}\n\n{text.rstrip(chr(10))}\n\n{rest.lstrip(chr(10))}"
    else:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    RESULTS.write_text(new)
    return RESULTS
