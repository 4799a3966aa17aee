"""What the benchmarks share: finding kubectl, timing a call, waiting for a stage, and the median of runs."""
from __future__ import annotations

import glob
import os
import shutil
import statistics
import time


def find_kubectl(explicit=None):
    """The given kubectl, else `kubectl` on PATH, else the newest one built locally (tools/k8s_build.py --kubectl)."""
    if explicit:
        return explicit
    built = sorted(glob.glob(os.path.expanduser("~/.cache/mataresit-emergency/bin/*/kubectl")))
    return shutil.which("kubectl") or (built[-1] if built else None)


def timed(fn):
    """Seconds that fn() took."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def until(what, check, timeout=180):
    """Wait until check() is true; SystemExit naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"Failed to stage the benchmark: {what} within {timeout}s")


def median(values):
    """The median of the runs that gave a figure (None for none), to the millisecond."""
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None
