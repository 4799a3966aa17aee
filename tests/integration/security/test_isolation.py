"""isolation against the local control plane, effects checked with the kubernetes client."""
from __future__ import annotations

import pytest

NAME = "mataresit-emergency-isolation"


@pytest.fixture
def isolated_ns(namespace, workload):
    workload(namespace)
    return namespace


def policies(k8s, ns):
    return {p.metadata.name: p for p in k8s.networking.list_namespaced_network_policy(ns).items}


def test_present_is_idempotent_leaves_others_and_absent_removes_only_ours(
        run_module, kubeconfig, k8s, isolated_ns, tmp_path):
    before = policies(k8s, isolated_ns)
    assert before, "the reference workload brings a NetworkPolicy of its own"
    foreign = {name: p.metadata.resource_version for name, p in before.items()}
    args = {"kubeconfig": kubeconfig, "namespace": isolated_ns, "incident_dir": str(tmp_path),
            "evidence_store_cidrs": ["10.20.0.15/32"], "evidence_store_ports": [443]}

    first = run_module("isolation", args, diff=True)
    assert first["changed"] and first["previous"] is None
    assert sorted(first["untouched_policies"]) == sorted(foreign)
    assert first["diff"]["after"]["spec"]["podSelector"] == {}
    now = policies(k8s, isolated_ns)
    ours = now[NAME]
    assert ours.metadata.labels["app.kubernetes.io/managed-by"] == "mataresit.emergency"
    spec = k8s.api_client.sanitize_for_serialization(ours.spec)
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Ingress", "Egress"]
    dns, evidence = spec["egress"]
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert dns["to"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system"]
    assert evidence == {"to": [{"ipBlock": {"cidr": "10.20.0.15/32"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert spec["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9090}, {"protocol": "TCP", "port": 9091}]
    assert {n: p.metadata.resource_version for n, p in now.items() if n != NAME} == foreign
    assert first["record"].startswith(str(tmp_path / "isolation"))

    second = run_module("isolation", args)
    assert not second["changed"]
    assert policies(k8s, isolated_ns)[NAME].metadata.resource_version == ours.metadata.resource_version

    changed = run_module("isolation", dict(args, monitoring_ports=[9100]))
    assert changed["changed"] and changed["previous"]["spec"]["ingress"][0]["ports"][0]["port"] == 9090

    removed = run_module("isolation", dict(args, state="absent"))
    assert removed["changed"] and removed["previous"]["metadata"]["name"] == NAME
    after = policies(k8s, isolated_ns)
    assert NAME not in after
    assert {n: p.metadata.resource_version for n, p in after.items()} == foreign
    assert not run_module("isolation", dict(args, state="absent"))["changed"]


def test_check_mode_creates_nothing(run_module, kubeconfig, k8s, isolated_ns):
    before = {n: p.metadata.resource_version for n, p in policies(k8s, isolated_ns).items()}
    result = run_module("isolation", {"kubeconfig": kubeconfig, "namespace": isolated_ns}, check_mode=True)
    assert result["changed"] and result["policy"]["spec"]["podSelector"] == {}
    assert {n: p.metadata.resource_version for n, p in policies(k8s, isolated_ns).items()} == before

    run_module("isolation", {"kubeconfig": kubeconfig, "namespace": isolated_ns})
    rv = policies(k8s, isolated_ns)[NAME].metadata.resource_version
    assert run_module("isolation", {"kubeconfig": kubeconfig, "namespace": isolated_ns, "state": "absent"},
                      check_mode=True)["changed"]
    assert policies(k8s, isolated_ns)[NAME].metadata.resource_version == rv


def test_refuses_to_take_over_a_policy_it_does_not_own(run_module, kubeconfig, k8s, isolated_ns):
    existing = next(iter(policies(k8s, isolated_ns).values()))
    result = run_module("isolation", {"kubeconfig": kubeconfig, "namespace": isolated_ns,
                                      "name": existing.metadata.name, "state": "absent"}, expect_failure=True)
    assert "is not managed by mataresit.emergency" in result["msg"]
    assert policies(k8s, isolated_ns)[existing.metadata.name].metadata.resource_version == \
        existing.metadata.resource_version


def test_missing_namespace_is_a_clear_failure(run_module, kubeconfig, cluster):
    result = run_module("isolation", {"kubeconfig": kubeconfig, "namespace": "no-such-namespace-x1"},
                        expect_failure=True)
    assert result["msg"] == ("Failed to isolate namespace no-such-namespace-x1: the namespace does not exist; check "
                             "the namespace name and the kubeconfig context.")


def test_bad_context_is_a_clear_failure(run_module, kubeconfig, cluster):
    result = run_module("isolation", {"kubeconfig": kubeconfig, "context": "nope", "namespace": "x"},
                        expect_failure=True)
    assert "context 'nope' is not defined" in result["msg"]
