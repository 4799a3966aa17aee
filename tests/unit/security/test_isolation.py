"""The isolation policy builder and its operation against a fake API."""
from __future__ import annotations

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.services import isolation

PARAMS = dict(namespace="ns", name="mataresit-emergency-isolation", state="present", allow_dns=True,
              dns_namespace="kube-system", monitoring_namespaces=["monitoring"], monitoring_ports=[9090, 9091],
              evidence_store_cidrs=[], evidence_store_namespaces=[], evidence_store_ports=[],
              allow_same_namespace=False, extra_ingress=[], extra_egress=[], incident_dir=None)


def ns_peer(*names):
    return {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": list(names)}]}}


def test_default_spec_denies_everything_but_dns_and_monitoring():
    spec = isolation.build_spec(monitoring_namespaces=["monitoring"], monitoring_ports=[9090, 9091])
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["egress"] == [{"to": [ns_peer("kube-system")],
                               "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]
    assert spec["ingress"] == [{"from": [ns_peer("monitoring")],
                                "ports": [{"protocol": "TCP", "port": 9090}, {"protocol": "TCP", "port": 9091}]}]


def test_no_allow_list_is_a_total_deny():
    spec = isolation.build_spec(allow_dns=False)
    assert spec["ingress"] == [] and spec["egress"] == []
    assert spec["policyTypes"] == ["Ingress", "Egress"]


def test_evidence_store_by_cidr_and_namespace_with_ports():
    spec = isolation.build_spec(allow_dns=False, evidence_store_cidrs=["10.20.0.15/32"],
                                evidence_store_namespaces=["evidence"], evidence_store_ports=[443])
    assert spec["egress"] == [{"to": [{"ipBlock": {"cidr": "10.20.0.15/32"}}, ns_peer("evidence")],
                               "ports": [{"protocol": "TCP", "port": 443}]}]


def test_same_namespace_and_extra_rules():
    extra = [{"from": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}]
    spec = isolation.build_spec(allow_dns=False, allow_same_namespace=True, namespace="ns", extra_ingress=extra)
    assert spec["ingress"] == [{"from": [{"podSelector": {}}]}] + extra
    assert spec["egress"] == [{"to": [{"podSelector": {}}]}]


def test_spec_comparison_ignores_empty_fields_the_server_drops():
    spec = isolation.build_spec(allow_dns=False)
    assert isolation.specs_equal({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, spec)
    assert not isolation.specs_equal({"podSelector": {}, "policyTypes": ["Ingress"]}, spec)


def test_present_creates_then_is_idempotent_and_leaves_other_policies(api, context):
    api.add("networkpolicies", {"metadata": {"name": "allow-web"}, "spec": {"podSelector": {}}})
    first = isolation.operation(context("isolation", **PARAMS))
    assert first["changed"] and first["untouched_policies"] == ["allow-web"] and first["previous"] is None
    created = api.get("networkpolicies", "mataresit-emergency-isolation")
    assert created["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mataresit.emergency"
    second = isolation.operation(context("isolation", **PARAMS))
    assert not second["changed"]
    assert api.get("networkpolicies", "allow-web")["metadata"]["resourceVersion"] == "101"


def test_changed_spec_is_replaced_with_the_previous_returned(api, context, tmp_path):
    isolation.operation(context("isolation", **PARAMS))
    result = isolation.operation(context("isolation", **dict(PARAMS, monitoring_ports=[9100], incident_dir=str(tmp_path))))
    assert result["changed"] and result["previous"]["spec"]["ingress"][0]["ports"][0]["port"] == 9090
    assert result["record"].startswith(str(tmp_path / "isolation"))
    assert [m for m, *rest in api.writes()] == ["POST", "PUT"]


def test_check_mode_sends_dry_runs_only(api, context):
    result = isolation.operation(context("isolation", **PARAMS, check_mode=True))
    assert result["changed"] and api.writes(dry_run=False) == []
    assert api.get("networkpolicies", "mataresit-emergency-isolation") is None


def test_absent_removes_only_ours(api, context):
    api.add("networkpolicies", {"metadata": {"name": "allow-web"}, "spec": {"podSelector": {}}})
    isolation.operation(context("isolation", **PARAMS))
    assert isolation.operation(context("isolation", **dict(PARAMS, state="absent")))["changed"]
    assert api.get("networkpolicies", "allow-web") is not None
    assert not isolation.operation(context("isolation", **dict(PARAMS, state="absent")))["changed"]


def test_a_foreign_policy_with_our_name_is_never_overwritten(api, context):
    api.add("networkpolicies", {"metadata": {"name": "mataresit-emergency-isolation"}, "spec": {"podSelector": {}}})
    for state in ("present", "absent"):
        with pytest.raises(ConfigError, match="is not managed by mataresit.emergency"):
            isolation.operation(context("isolation", **dict(PARAMS, state=state)))
    assert api.writes(dry_run=False) == []


def test_missing_namespace(context):
    with pytest.raises(ConfigError, match="namespace does not exist"):
        isolation.operation(context("isolation", **dict(PARAMS, namespace="missing")))


@pytest.mark.parametrize("state", ["present", "absent"])
def test_what_is_replaced_is_recorded_before_it_is_replaced(api, context, tmp_path, state):
    """Issue 7: nothing lost on a crash between the change and its record."""
    api.add_namespace("ns")
    isolation.operation(context("isolation", **PARAMS))
    seen = []
    api.before_write = lambda method, path: seen.append(sorted(p.name for p in (tmp_path / "isolation").glob("*.json"))
                                                        if (tmp_path / "isolation").exists() else [])
    options = dict(PARAMS, state=state, monitoring_ports=[9100], incident_dir=str(tmp_path))
    assert isolation.operation(context("isolation", **options))["changed"]
    assert seen and all(len(names) == 1 for names in seen)
