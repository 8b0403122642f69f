"""The benchmarks run (a tiny desk) and tell the truth about the quiet sync."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def test_bench_sync_smoke_run_reports_each_target() -> None:
    args = ["--referrals", "40", "--departments", "4", "--repeat", "1"]
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_sync.py"), *args], capture_output=True, text=True, timeout=300
    )
    out = done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    quiet = next(line for line in out.splitlines() if "(quiet)" in line)
    assert "target <= 200 ms: met" in quiet and "nothing read" in quiet
    edits = next(line for line in out.splitlines() if "rows edited  " in line or "of rows edited" in line)
    assert "target <= 2x" in edits
    memory = next(line for line in out.splitlines() if "peak memory of the sync" in line)
    assert "target <= 300 MiB: met" in memory
    assert done.returncode == (0 if "MISSED" not in out else 1)  # a missed target is a failing exit


def test_bench_intake_smoke_run_reports_ratio_and_scaling() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_intake.py"), "--rows", "200", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(" formatted rows")[0].strip() for line in lines[:2]] == ["20", "200"]
    assert all("target <= 1.5x" in line and "imported R7-0001, R7-0002" in line for line in lines[:2])
    assert lines[2].startswith("scaling:") and "(linear)" in lines[2]
    assert done.returncode == (0 if "MISSED" not in done.stdout else 1)
