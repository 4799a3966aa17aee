"""Fixtures of the notification modules' integration tests: see tests/sandbox/fixtures.py."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.sandbox.fixtures import *  # noqa: E402,F401,F403
from tests.sandbox.fixtures import REPO, assert_clean, free_port  # noqa: E402,F401
