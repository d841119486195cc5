"""A training log as a CSV file that spreadsheets, pandas and plotting tools read while it grows.

``CSVLog(path, fields)`` starts a new log; ``CSVLog(path, fields, keep=...)`` continues one after a
resume: the rows ``keep`` accepts (those up to the checkpoint the run resumes from) stay, the later ones
(written after that checkpoint by the interrupted run, and about to be written again) go, so a resumed
run's log equals the uninterrupted run's. Each row is appended and the file closed again at once, so the
log is complete whenever a run stops, and nothing has to be closed.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from lumen.serialization import atomic_write

__all__ = ["CSVLog"]


class CSVLog:
    def __init__(self, path, fields, keep=None):
        self.path = Path(path)
        self.fields = list(fields)
        kept = []
        if keep is not None and self.path.exists():
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                if reader.fieldnames != self.fields:
                    raise ValueError(f"{self.path}: a log with the columns {reader.fieldnames}, expected "
                                     f"{self.fields}; move it away to start a new one")
                kept = [row for row in reader if keep(row)]
        text = io.StringIO()
        writer = csv.DictWriter(text, self.fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.path) as f:  # the kept rows replace the old file all at once
            f.write(text.getvalue().encode("utf-8"))

    def write(self, **row):
        """Append one row; columns not given stay empty, an unknown column is a ValueError."""
        unknown = set(row) - set(self.fields)
        if unknown:
            raise ValueError(f"{self.path}: unknown column(s) {sorted(unknown)}; the log has {self.fields}")
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.fields, lineterminator="\n").writerow({k: _plain(v) for k, v in row.items()})


def _plain(value):
    return f"{value:.6g}" if isinstance(value, float) else value
