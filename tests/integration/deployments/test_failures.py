"""One-line failures with no traceback: missing namespace or deployment, bad kubeconfig/context, unreachable API."""
from __future__ import annotations

import pytest

MODULES = {
    "rollout": {"action": "status", "name": "paperless-maverick"},
    "scale": {"replicas": 2, "name": "paperless-maverick"},
    "container_patch": {"name": "paperless-maverick", "container": "paperless-maverick", "env": {"A": "1"}},
    "pod_recycle": {"label_selector": "app=paperless-maverick"},
}


def one_line(result):
    assert result["failed"] is True and result["msg"].startswith("Failed to ")
    assert "\n" not in result["msg"] and "Traceback" not in result["msg"]
    return result["msg"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_missing_namespace(module, kubeconfig, run_module):
    args = dict(MODULES[module], kubeconfig=kubeconfig, namespace="t-does-not-exist")
    assert "namespace 't-does-not-exist' does not exist" in one_line(run_module(module, args, expect_failure=True))


@pytest.mark.parametrize("module", ["rollout", "scale", "container_patch"])
def test_missing_deployment(module, namespace, kubeconfig, run_module):
    args = dict(MODULES[module], kubeconfig=kubeconfig, namespace=namespace, name="nope")
    msg = one_line(run_module(module, args, expect_failure=True))
    assert f"deployment 'nope' does not exist in namespace '{namespace}'" in msg


@pytest.mark.parametrize("module", sorted(MODULES))
def test_bad_context(module, kubeconfig, run_module):
    args = dict(MODULES[module], kubeconfig=kubeconfig, context="no-such-context", namespace="default")
    assert "context 'no-such-context' is not defined" in one_line(run_module(module, args, expect_failure=True))


@pytest.mark.parametrize("module", ["rollout", "pod_recycle"])
def test_missing_kubeconfig(module, tmp_path, run_module):
    args = dict(MODULES[module], kubeconfig=str(tmp_path / "nope.yaml"), namespace="default")
    assert "no file at" in one_line(run_module(module, args, expect_failure=True))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_unreachable_host(module, run_module):
    # api_outage_wait 0: report the refused connection at once instead of waiting it out as a restart
    args = dict(MODULES[module], host="https://127.0.0.1:1", api_key="not-a-token", validate_certs=False,
                namespace="default", api_outage_wait=0)
    result = run_module(module, args, expect_failure=True)
    msg = one_line(result)
    assert "unreachable" in msg and "127.0.0.1:1" in msg
    assert "not-a-token" not in str(result)
