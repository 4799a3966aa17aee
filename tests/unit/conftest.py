"""Fixtures of the unit tests (the fakes are in fakes.py): `api`, the one fake Kubernetes API;
`client`, a K8sClient talking to it through httpx.MockTransport (the transport seam)."""
from __future__ import annotations

import httpx
import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.connection import Connection
from tests.unit.fakes import FakeKubeApi


@pytest.fixture
def api():
    return FakeKubeApi()


@pytest.fixture
def client(api):
    conn = Connection(server="https://k8s.test", verify=False)
    with K8sClient(conn, transport=httpx.MockTransport(api.handler)) as k8s_client:
        yield k8s_client
