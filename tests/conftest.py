"""Shared test harness.

- `run_module(name, args, check_mode=False)`: runs a collection module the way
  Ansible does (tools/run_module.py: a subprocess given ANSIBLE_MODULE_ARGS, real
  AnsibleModule, no_log and check mode) and returns its JSON result.
- `cluster` (session): the local control plane from tools/localcluster.py, or
  the cluster that KUBECONFIG names; `kubeconfig` is its path.
- `k8s`: an independent client (the official `kubernetes` package) for
  asserting effects, so tests never check our code with our code.
- `namespace`: a fresh namespace per test, deleted afterwards (`make_namespace()` for more).
- `workload(namespace)`: deploys the reference workload into a namespace.
Markers: `unit` (no servers) and `integration` (real servers); every test in
tests/unit and tests/integration gets its marker automatically.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tools.run_module import run_module_process

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(REPO / "tests").parts[0]
        if rel in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, rel))


@pytest.fixture
def run_module():
    def _run(name, args, check_mode=False, diff=False, expect_failure=False):
        result, stdout_unused, stderr = run_module_process(name, args, check_mode=check_mode, diff=diff)
        if not expect_failure:
            assert not result.get("failed"), f"{name} failed: {result.get('msg')}\n{stderr}"
        assert "Traceback" not in stderr and "Traceback" not in result.get("msg", ""), stderr
        return result
    return _run


@pytest.fixture
def run_module_output():
    """run_module_process itself: (result, stdout, stderr), for tests that search the raw module output."""
    return run_module_process


@pytest.fixture(scope="session")
def cluster():
    """Cluster info dict: kubeconfig, and (local cluster only) health server URLs."""
    from tools import localcluster

    if os.environ.get("KUBECONFIG") and not os.environ.get("MRE_LOCAL_CLUSTER"):
        return {"kubeconfig": os.environ["KUBECONFIG"], "local": False}
    info = localcluster.ensure_up()
    return dict(info, local=True)


@pytest.fixture(scope="session")
def kubeconfig(cluster):
    return cluster["kubeconfig"]


@pytest.fixture(scope="session")
def k8s(kubeconfig):
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)

    class Clients:
        core = client.CoreV1Api(api)
        apps = client.AppsV1Api(api)
        networking = client.NetworkingV1Api(api)
        api_client = api

    return Clients


@pytest.fixture
def make_namespace(k8s):
    """Create fresh namespaces on demand (`make_namespace()` returns a name); all deleted afterwards."""
    from kubernetes import client

    created = []

    def _make():
        name = f"t-{uuid.uuid4().hex[:8]}"
        k8s.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"mataresit.test": "true"})))
        created.append(name)
        return name

    yield _make
    for name in created:
        try:
            k8s.core.delete_namespace(name, propagation_policy="Background", grace_period_seconds=0)
        except Exception:  # noqa: BLE001 - cleanup best effort
            pass


@pytest.fixture
def namespace(make_namespace):
    return make_namespace()


@pytest.fixture
def workload(cluster):
    """Deploy the reference workload into a namespace and wait until it is Available."""
    from tools import workload as workload_tool

    def _deploy(ns, wait=True):
        return workload_tool.deploy(cluster["kubeconfig"], namespace=ns, wait=wait)

    return _deploy
