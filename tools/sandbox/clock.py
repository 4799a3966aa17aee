"""Timestamps as the providers write them."""
from __future__ import annotations

from datetime import datetime, timezone


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
