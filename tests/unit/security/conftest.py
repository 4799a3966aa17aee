"""Fixtures: `api` (an in-memory FakeApi) and `client` (K8sClient talking to it through httpx.MockTransport)."""
from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: make security_fake importable
from security_fake import FakeApi  # noqa: E402

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient  # noqa: E402
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.connection import Connection  # noqa: E402


@pytest.fixture
def api():
    return FakeApi()


@pytest.fixture
def client(api):
    conn = Connection(server="https://k8s.test", verify=False)
    with K8sClient(conn, transport=httpx.MockTransport(api.handler)) as k8s_client:
        yield k8s_client
