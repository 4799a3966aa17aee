"""Fixtures: `api` with the namespace the security tests work in ("ns") already there."""
from __future__ import annotations

import pytest

from tests.unit.fakes import FakeKubeApi


@pytest.fixture
def api():
    fake = FakeKubeApi()
    fake.add_namespace("ns")
    return fake
