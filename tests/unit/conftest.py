"""Fixtures of the unit tests (the fakes are in fakes.py): `api`, the one fake Kubernetes API;
`client`, a K8sClient talking to it through httpx.MockTransport (the transport seam); `context`,
module runs for operations: context(module=None, check_mode=False, diff=False, transport=None, **params),
their HTTP on `api` unless a transport is given."""
from __future__ import annotations

import httpx
import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.connection import Connection
from tests.unit.fakes import FakeKubeApi, fake_context


@pytest.fixture
def api():
    return FakeKubeApi()


@pytest.fixture
def client(api):
    conn = Connection(server="https://k8s.test", verify=False)
    with K8sClient(conn, transport=httpx.MockTransport(api.handler)) as k8s_client:
        yield k8s_client


@pytest.fixture
def context(api):
    def _make(module=None, check_mode=False, diff=False, transport=None, **params):
        return fake_context(module, check_mode, diff, transport or httpx.MockTransport(api.handler), **params)

    return _make
