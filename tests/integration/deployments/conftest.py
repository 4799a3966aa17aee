"""Fixtures for the deployments integration tests (local control plane)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: make deployments_it importable
from deployments_it import APP  # noqa: E402


@pytest.fixture
def app(namespace, workload, kubeconfig):
    """The reference workload in a fresh namespace; returns the base module args for it."""
    deployed = workload(namespace)
    return {"kubeconfig": kubeconfig, "namespace": namespace, "name": APP, "_secrets": deployed["secrets"]}
