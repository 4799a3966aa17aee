"""Fixtures of the playbook tests (helpers in helpers.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture
def sandbox():
    from tests.sandbox.server import Sandbox

    box = Sandbox().start()
    yield box
    box.stop()
