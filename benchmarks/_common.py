"""What the benchmark scripts share: resident-memory readings and sections of RESULTS.md."""
from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


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
