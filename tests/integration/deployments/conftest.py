"""Fixtures for the deployments integration tests (local control plane)."""
from __future__ import annotations

import pytest

from tests.integration.deployments.helpers import APP


@pytest.fixture
def app(namespace, workload, kubeconfig):
    """The reference workload in a fresh namespace; returns the base module args for it."""
    deployed = workload(namespace)
    return {"kubeconfig": kubeconfig, "namespace": namespace, "name": APP, "_secrets": deployed["secrets"]}
