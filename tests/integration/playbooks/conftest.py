"""Fixtures of the playbook tests (helpers in helpers.py): each test gets a sandbox of its own."""
from __future__ import annotations

import pytest

from tools.sandbox import Sandbox


@pytest.fixture
def sandbox():
    box = Sandbox().start()
    yield box
    box.stop()
