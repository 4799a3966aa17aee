"""`client`: a K8sClient that talks through httpx.MockTransport (the transport seam) to the `api` fixture
that each area's conftest provides (its own fake API server)."""
from __future__ import annotations

import httpx
import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.connection import Connection


@pytest.fixture
def client(api):
    conn = Connection(server="https://k8s.test", verify=False)
    with K8sClient(conn, transport=httpx.MockTransport(api.handler)) as k8s_client:
        yield k8s_client
