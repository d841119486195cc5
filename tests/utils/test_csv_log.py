"""lumen.utils.csv_log.CSVLog: rows appended as written, a resume keeps only the rows before its checkpoint."""
import csv

import pytest

from lumen.utils.csv_log import CSVLog


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_rows_are_on_disk_as_soon_as_written(tmp_path):
    log = CSVLog(tmp_path / "run" / "log.csv", ["step", "loss", "note"])
    log.write(step=1, loss=0.123456789)
    assert rows(tmp_path / "run" / "log.csv") == [{"step": "1", "loss": "0.123457", "note": ""}]
    log.write(step=2, note="done")
    assert [r["step"] for r in rows(tmp_path / "run" / "log.csv")] == ["1", "2"]
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['lr'\]"):
        log.write(step=3, lr=0.1)


def test_a_new_log_replaces_an_old_one_and_a_resume_keeps_what_it_accepts(tmp_path):
    path = tmp_path / "log.csv"
    log = CSVLog(path, ["step", "loss"])
    for step in range(1, 6):
        log.write(step=step, loss=1.0 / step)
    CSVLog(path, ["step", "loss"], keep=lambda row: int(row["step"]) <= 3).write(step=4, loss=0.0)
    assert [(r["step"], r["loss"]) for r in rows(path)] == [("1", "1"), ("2", "0.5"), ("3", "0.333333"), ("4", "0")]
    CSVLog(path, ["step", "loss"])
    assert rows(path) == []


def test_a_log_of_other_columns_is_refused_not_mixed(tmp_path):
    path = tmp_path / "log.csv"
    CSVLog(path, ["step", "loss"]).write(step=1, loss=2.0)
    with pytest.raises(ValueError, match="a log with the columns \\['step', 'loss'\\], expected \\['step', 'acc'\\]"):
        CSVLog(path, ["step", "acc"], keep=lambda row: True)
    assert rows(path) == [{"step": "1", "loss": "2"}]
