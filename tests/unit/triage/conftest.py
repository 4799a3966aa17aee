"""Fixtures: `api` (read-only FakeApi); `client` (tests/unit/conftest.py) talks to it."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: make triage_fake importable
from triage_fake import FakeApi  # noqa: E402


@pytest.fixture
def api():
    return FakeApi()
