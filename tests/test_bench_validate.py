"""bench_validate runs (a tiny desk) and tells the truth: each target printed with met/MISSED against
the calamine floor and the frictionless peer, the scaling table, and a failing exit on a miss."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_validate.py"


def test_bench_validate_smoke_run_reports_each_target(tmp_path: Path) -> None:
    args = ["--sizes", "30,90", "--target-size", "30", "--repeat", "1", "--keep", str(tmp_path)]
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = out.splitlines()
    floor = next(line for line in lines if line.startswith("  validate / calamine floor:"))
    assert "target ≤ 1.5x" in floor and ("met" in floor or "MISSED" in floor)
    peer = next(line for line in lines if line.startswith("  frictionless / validate"))
    assert "target ≥ 2.0x" in peer
    linear = next(line for line in lines if line.startswith("  linear to 90:"))
    assert "target ≤ 1.25x" in linear
    assert "(nothing written)" in out  # the write-back over an unchanged register wrote nothing
    table = lines[lines.index(next(line for line in lines if line.startswith("scaling"))) + 2 :][:2]
    assert [row.split()[0] for row in table] == ["30", "90"] and all(row.split()[-1].isdigit() for row in table)
    assert (tmp_path / "referrals-30" / "register.xlsx").is_file()  # --keep kept the prepared folder
    assert done.returncode == (0 if "MISSED" not in out else 1)  # a missed target is a failing exit
