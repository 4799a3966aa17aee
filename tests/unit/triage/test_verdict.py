"""Verdict rules and their precedence, on hand-built facts."""
from __future__ import annotations

import copy
import re

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.triage import verdict
from ansible_collections.mataresit.emergency.plugins.modules import triage as triage_module


def healthy_facts():
    return {
        "namespace": "shop",
        "recent_deploy_window": 3600,
        "nodes": {"total": 4, "ready": 4, "not_ready": [], "pressure": [], "unschedulable": []},
        "pods": {"total": 6, "ready": 6, "problems": {}, "pending_reasons": {}},
        "services": {"total": 1, "without_ready_endpoints": []},
        "deployments": [{
            "name": "web", "desired": 3, "updated": 3, "ready": 3, "available": 3, "failed": False,
            "reason": "Complete", "message": "",
            "revision": {"revision": 2, "replicaset": "web-2", "age_seconds": 300,
                         "images": {"app": "app:v2"}, "change_cause": "deploy v2"},
            "previous_revision": 1,
            "new_pods": {"total": 3, "ready": 3, "crash_loop": 0, "image_pull": 0, "config_error": 0,
                         "oom_killed": 0, "not_ready": 0, "pending_insufficient": 0, "samples": []},
        }],
        "metrics_available": False,
        "metrics": None,
        "extra_targets": [{"name": "database", "namespace": "db", "label_selector": "app=postgresql",
                           "required": True, "pods": 1, "ready": 1, "samples": []}],
    }


def bad_deploy(facts, age=300, key="crash_loop"):
    dep = facts["deployments"][0]
    dep["revision"]["age_seconds"] = age
    dep.update(available=2, ready=2)
    dep["new_pods"][key] = 1
    dep["new_pods"]["samples"] = [{"name": "web-2-abc", "reason": "CrashLoopBackOff", "classes": [key]}]
    return facts


def pending(facts):
    facts["pods"]["problems"]["pending_insufficient"] = {
        "count": 40, "samples": [{"name": f"web-2-p{i}", "deployment": "web"} for i in range(20)]}
    facts["pods"]["pending_reasons"] = {"0/4 nodes are available: 4 Insufficient cpu.": 40}
    facts["deployments"][0].update(available=3, desired=43)
    return facts


def node_down(facts, pods=2):
    facts["nodes"]["not_ready"] = [{"name": "node-3", "reason": "NodeStatusUnknown", "pods": pods,
                                    "pod_samples": ["web-2-a", "web-2-b"][:pods]}]
    return facts


def database_down(facts):
    facts["extra_targets"][0].update(ready=0, samples=[{"name": "postgresql-0", "reason": "CrashLoopBackOff"}])
    return facts


def test_healthy_facts_give_unknown_without_evidence():
    result = verdict.decide(healthy_facts())
    assert result["verdict"] == "unknown"
    assert result["healthy"] is True
    assert result["verdict_evidence"] == []
    assert result["recommended_action"] == "none"
    assert result["verdict_candidates"] == []


def test_recent_bad_deploy_names_deployment_revision_replicaset_image_and_pod():
    result = verdict.decide(bad_deploy(healthy_facts()))
    assert result["verdict"] == "recent_bad_deploy"
    assert result["recommended_action"] == "rollback"
    text = " ".join(result["verdict_evidence"])
    for name in ("shop/web", "revision 2", "web-2", "app=app:v2", "web-2-abc", "deploy v2", "CrashLoopBackOff"):
        assert name in text
    assert result["verdict_target"] == {"kind": "Deployment", "namespace": "shop", "name": "web",
                                        "revision": 2, "rollback_to": 1}


@pytest.mark.parametrize("key", ["crash_loop", "image_pull", "config_error", "oom_killed", "not_ready"])
def test_every_failing_class_of_new_pods_counts_as_bad_deploy(key):
    assert verdict.decide(bad_deploy(healthy_facts(), key=key))["verdict"] == "recent_bad_deploy"


def test_old_revision_is_not_a_recent_deploy_and_is_reported_as_unknown_with_the_problem():
    facts = bad_deploy(healthy_facts(), age=2 * 3600)
    facts["pods"]["problems"]["crash_loop"] = {"count": 1, "samples": [{"name": "web-2-abc"}]}
    result = verdict.decide(facts)
    assert result["verdict"] == "unknown"
    assert result["healthy"] is False
    assert any("web-2-abc" in line for line in result["verdict_evidence"])


def test_window_is_respected():
    facts = bad_deploy(healthy_facts(), age=1000)
    facts["recent_deploy_window"] = 900
    assert verdict.decide(facts)["verdict"] == "unknown"
    facts["recent_deploy_window"] = 1800
    assert verdict.decide(facts)["verdict"] == "recent_bad_deploy"


def test_single_revision_bad_deploy_says_there_is_nothing_to_roll_back_to():
    facts = bad_deploy(healthy_facts())
    facts["deployments"][0]["previous_revision"] = None
    result = verdict.decide(facts)
    assert result["verdict"] == "recent_bad_deploy"
    assert result["verdict_target"]["rollback_to"] is None
    assert result["recommended_action"] == "none"
    assert any("no earlier revision" in line for line in result["verdict_evidence"])


def test_stalled_rollout_is_bad_deploy_unless_pods_pend_for_resources():
    facts = healthy_facts()
    dep = facts["deployments"][0]
    dep.update(failed=True, reason="ProgressDeadlineExceeded", message="ReplicaSet web-2 has timed out progressing.",
               available=2)
    result = verdict.decide(facts)
    assert result["verdict"] == "recent_bad_deploy"
    assert "ProgressDeadlineExceeded" in result["verdict_evidence"][0]

    facts = pending(facts)
    facts["deployments"][0]["new_pods"]["pending_insufficient"] = 40
    result = verdict.decide(facts)
    assert result["verdict"] == "resource_exhaustion"


def test_pending_for_insufficient_cpu_is_resource_exhaustion():
    result = verdict.decide(pending(healthy_facts()))
    assert result["verdict"] == "resource_exhaustion"
    assert result["recommended_action"] == "scale_up"
    text = result["verdict_evidence"][0]
    assert "40 pod(s)" in text and "Insufficient cpu" in text and "web-2-p0" in text and "35 more" in text
    assert result["verdict_target"] == {"kind": "Deployment", "namespace": "shop", "name": "web"}


def test_oom_killed_is_resource_exhaustion():
    facts = healthy_facts()
    facts["pods"]["problems"]["oom_killed"] = {"count": 2, "samples": [{"name": "web-1-a"}, {"name": "web-1-b"}]}
    result = verdict.decide(facts)
    assert result["verdict"] == "resource_exhaustion"
    assert "web-1-a, web-1-b" in result["verdict_evidence"][0]


def test_node_pressure_counts_only_where_our_pods_run():
    facts = healthy_facts()
    facts["nodes"]["pressure"] = [{"name": "node-2", "conditions": ["MemoryPressure"], "pods": 0}]
    assert verdict.decide(facts)["verdict"] == "unknown"
    facts["nodes"]["pressure"][0]["pods"] = 3
    result = verdict.decide(facts)
    assert result["verdict"] == "resource_exhaustion"
    assert "node-2" in result["verdict_evidence"][0] and "MemoryPressure" in result["verdict_evidence"][0]


def test_usage_near_limits_is_resource_exhaustion():
    facts = healthy_facts()
    facts["metrics_available"] = True
    facts["metrics"] = {"pods_near_limit": [{"name": "web-2-a", "container": "app", "resource": "memory",
                                             "percent": 97.0}], "nodes_near_capacity": []}
    result = verdict.decide(facts)
    assert result["verdict"] == "resource_exhaustion"
    assert "web-2-a" in result["verdict_evidence"][0] and "97.0%" in result["verdict_evidence"][0]


def test_node_failure_needs_pods_on_the_node():
    assert verdict.decide(node_down(healthy_facts(), pods=0))["verdict"] == "unknown"
    result = verdict.decide(node_down(healthy_facts()))
    assert result["verdict"] == "node_failure"
    assert result["recommended_action"] == "restart"
    assert "node-3" in result["verdict_evidence"][0] and "web-2-a" in result["verdict_evidence"][0]
    assert result["verdict_target"] == {"kind": "Node", "name": "node-3"}


def test_required_extra_target_without_ready_pods_is_dependency_down():
    result = verdict.decide(database_down(healthy_facts()))
    assert result["verdict"] == "dependency_down"
    assert "database" in result["verdict_evidence"][0] and "postgresql-0" in result["verdict_evidence"][0]
    assert result["verdict_target"]["namespace"] == "db"


def test_extra_target_without_any_pod_is_dependency_down():
    facts = healthy_facts()
    facts["extra_targets"][0].update(pods=0, ready=0)
    result = verdict.decide(facts)
    assert result["verdict"] == "dependency_down"
    assert "no pods match" in result["verdict_evidence"][0]


def test_optional_extra_target_is_not_a_dependency():
    facts = database_down(healthy_facts())
    facts["extra_targets"][0]["required"] = False
    assert verdict.decide(facts)["verdict"] == "unknown"


def test_service_without_endpoints_is_dependency_down_only_while_its_workloads_are_fine():
    facts = healthy_facts()
    facts["services"]["without_ready_endpoints"] = [{"name": "web-svc", "not_ready_endpoints": 0, "workloads": ["web"]}]
    result = verdict.decide(facts)
    assert result["verdict"] == "dependency_down"
    assert "shop/web-svc" in result["verdict_evidence"][0] and "(web)" in result["verdict_evidence"][0]
    facts["deployments"][0]["available"] = 1
    assert verdict.decide(facts)["verdict"] == "unknown"


def test_service_that_selects_no_deployment_is_no_evidence():
    facts = healthy_facts()
    facts["services"]["without_ready_endpoints"] = [{"name": "orphan-svc", "not_ready_endpoints": 0, "workloads": []}]
    result = verdict.decide(facts)
    assert result["verdict"] == "unknown" and result["healthy"] is True and result["verdict_evidence"] == []


@pytest.mark.parametrize("builders, expected", [
    ((node_down, database_down, bad_deploy, pending), "node_failure"),
    ((database_down, bad_deploy, pending), "dependency_down"),
    ((bad_deploy, pending), "recent_bad_deploy"),
    ((pending,), "resource_exhaustion"),
])
def test_precedence(builders, expected):
    facts = healthy_facts()
    for build in builders:
        facts = build(facts)
    result = verdict.decide(facts)
    assert result["verdict"] == expected
    assert [c["verdict"] for c in result["verdict_candidates"]][0] == expected
    assert len(result["verdict_candidates"]) == len(builders)


def test_candidates_follow_precedence_order():
    facts = pending(bad_deploy(database_down(node_down(healthy_facts()))))
    order = [c["verdict"] for c in verdict.decide(copy.deepcopy(facts))["verdict_candidates"]]
    assert order == ["node_failure", "dependency_down", "recent_bad_deploy", "resource_exhaustion"]


def test_documentation_lists_the_rules_in_precedence_order():
    doc = triage_module.DOCUMENTATION
    found = re.findall(r"\d\. C\((\w+)\) \(action C\((\w+)\)", doc)
    assert [v for v, action in found] == [name for name, rule in verdict.PRECEDENCE] + ["unknown"]
    assert dict(found) == verdict.ACTIONS
