"""Durations, read and written the same way everywhere: parse_duration reads the collection's duration options
(recent_deploy_window, escalation levels' `after`, max_runtime, review.offset), format_duration writes the spans
printed in verdicts and pages. Pure functions."""
from __future__ import annotations

import re

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value, what="the duration"):
    """'1h', '90m', '1h30m', '45s' or plain seconds ('3600') -> seconds (int); `what` names it in the error."""
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return int(float(text))
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"Failed to read {what}: '{value}' is not a duration; "
                          "use seconds or a form such as 30m, 1h, 1h30m")
    return int(sum(float(n) * _UNITS[u] for n, u in parts))


def format_duration(seconds, compact=False):
    """Seconds -> '45s', '12 min', '2h05' (under 2 min in seconds, under 2 h in minutes);
    compact: '45s', '12m', '2h05m'."""
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m" if compact else f"{seconds // 60} min"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}" + ("m" if compact else "")
