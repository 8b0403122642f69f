"""How the jobs that read a whole register run inside Python."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Reading and checking or merging a register makes millions of small objects (cells, rows,
    findings, plans) and no reference cycles worth collecting, and Python's cycle collector would
    walk all of them again and again as they pile up: a sixth of a run. Plain reference counting
    still frees everything; the collector is back on as it was when the job is done."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
