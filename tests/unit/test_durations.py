"""Durations: the one parser of the duration options and the one writer of the spans in verdicts and pages."""
from __future__ import annotations

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.durations import format_duration, parse_duration
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError


@pytest.mark.parametrize("text, seconds", [("1h", 3600), ("30m", 1800), ("1h30m", 5400), ("45s", 45),
                                           ("3600", 3600), ("2d", 172800)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "h", "1h junk"])
def test_parse_duration_rejects_garbage_naming_the_option(text):
    with pytest.raises(ConfigError, match="recent_deploy_window"):
        parse_duration(text, "recent_deploy_window")


@pytest.mark.parametrize("seconds, text, compact", [
    (0, "0s", "0s"), (119, "119s", "119s"), (120, "2 min", "2m"), (7199, "119 min", "119m"),
    (7200, "2h00", "2h00m"), (3 * 3600 + 5 * 60 + 59, "3h05", "3h05m"), ("90", "90s", "90s")])
def test_format_duration(seconds, text, compact):
    assert format_duration(seconds) == text
    assert format_duration(seconds, compact=True) == compact
