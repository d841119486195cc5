"""What the benchmark scripts share: resident-memory readings and sections of RESULTS.md."""
from __future__ import annotations

import re
from pathlib import Path

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
