"""Findings: one entry per affected workload or dependency, each rule on its own and in combination
(hand-built facts, as verdict.decide sees them)."""
from __future__ import annotations

import copy
import re

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.triage import verdict
from ansible_collections.mataresit.emergency.plugins.modules import triage as triage_module
from tests.unit.triage.test_verdict import bad_deploy, database_down, healthy_facts


def pods(total=3, ready=3, **counts):
    out = {"total": total, "ready": ready, "on_not_ready_nodes": 0, "ready_on_not_ready_nodes": 0, "near_limit": 0,
           "samples": []}
    out.update(counts)
    return out


def two_workloads():
    """web (the app) and worker, both healthy, worker at revision 3 with 2 before it."""
    facts = healthy_facts()
    facts["deployments"][0]["pods"] = pods()
    worker = copy.deepcopy(facts["deployments"][0])
    worker.update(name="worker", previous_revision=2,
                  revision={"revision": 3, "replicaset": "worker-3", "age_seconds": 7200, "images": {"w": "w:v1"}})
    facts["deployments"].append(worker)
    return facts


def by_name(found):
    return {f["name"]: f for f in found}


def test_healthy_workloads_get_no_finding():
    assert verdict.findings(two_workloads()) == []


def test_a_recent_bad_deploy_rolls_that_workload_back_and_nothing_else():
    facts = bad_deploy(two_workloads())
    (finding,) = verdict.findings(facts)
    assert (finding["kind"], finding["namespace"], finding["name"]) == ("Deployment", "shop", "web")
    assert finding["cause"] == "recent_bad_deploy" and finding["action"] == "rollback"
    assert finding["options"] == ["rollback", "restart", "scale_up"]
    assert (finding["revision"], finding["rollback_to"]) == (2, 1)
    assert "CrashLoopBackOff" in finding["evidence"][0] and "web-2-abc" in finding["evidence"][0]
    assert finding["signals"] == [] and finding["also"] == []  # `pods` of the hand-built web counts no problem


def test_without_an_earlier_revision_the_options_start_at_restart():
    facts = bad_deploy(two_workloads())
    facts["deployments"][0]["previous_revision"] = None
    (finding,) = verdict.findings(facts)
    assert finding["options"] == ["restart", "scale_up"] and finding["action"] == "restart"
    assert "no earlier revision" in finding["evidence"][-1]


def node_lost(facts, workload, on_node=1, ready_on_node=0, ready=2):
    dep = next(d for d in facts["deployments"] if d["name"] == workload)
    dep["pods"] = pods(ready=ready + ready_on_node, on_not_ready_nodes=on_node, ready_on_not_ready_nodes=ready_on_node)
    dep.update(ready=ready + ready_on_node, available=ready + ready_on_node)
    facts["nodes"]["not_ready"] = [{"name": "node-3", "reason": "KubeletNotReady", "pods": on_node,
                                    "pod_samples": [f"{workload}-a"]}]
    return facts


def test_node_failure_restarts_only_the_workload_that_lost_capacity_and_reports_the_node():
    facts = node_lost(two_workloads(), "worker")
    found = by_name(verdict.findings(facts))
    assert set(found) == {"worker", "node-3"}
    assert found["worker"]["cause"] == "node_failure" and found["worker"]["options"] == ["restart", "scale_up"]
    assert "only 2 of 3 replicas are ready elsewhere" in found["worker"]["evidence"][0]
    node = found["node-3"]
    assert (node["kind"], node["action"], node["options"], node["workloads"]) == ("Node", "none", [], ["worker"])


def test_a_workload_with_enough_ready_replicas_elsewhere_is_left_alone():
    # 4 ready, 1 of them on the failed node: 3 elsewhere are as many as desired
    facts = node_lost(two_workloads(), "worker", on_node=1, ready_on_node=1, ready=3)
    found = by_name(verdict.findings(facts))
    assert "worker" not in found and found["node-3"]["workloads"] == ["worker"]


def test_oom_killed_pods_of_an_old_revision_are_resource_exhaustion():
    facts = two_workloads()
    facts["deployments"][1]["pods"] = pods(ready=1, oom_killed=2)
    facts["deployments"][1].update(available=1, ready=1)
    (finding,) = verdict.findings(facts)
    assert finding["name"] == "worker" and finding["cause"] == "resource_exhaustion"
    assert finding["options"] == ["scale_up", "restart"] and "2 pod(s) OOMKilled" in finding["evidence"][0]
    assert finding["signals"] == ["oom_killed"]


def test_pending_for_resources_and_usage_near_limits_are_resource_exhaustion():
    facts = two_workloads()
    facts["deployments"][0]["pods"] = pods(pending_insufficient=2, near_limit=1)
    (finding,) = verdict.findings(facts)
    assert finding["cause"] == "resource_exhaustion"
    assert "Pending for insufficient resources" in finding["evidence"][0] and "usage threshold" in finding["evidence"][0]


def test_pods_failing_without_a_known_cause_are_unknown_and_restarted():
    facts = two_workloads()
    facts["deployments"][1]["pods"] = pods(ready=1, crash_loop=2)
    facts["deployments"][1].update(available=1, ready=1)
    (finding,) = verdict.findings(facts)
    assert finding["cause"] == "unknown" and finding["options"] == ["restart", "scale_up"]
    assert "1 of 3 replicas available: 2 pod(s) crash loop" in finding["evidence"][0]


def test_a_rollout_in_progress_is_not_a_finding():
    facts = two_workloads()
    facts["deployments"][1]["pods"] = pods(ready=2, not_ready=1)
    facts["deployments"][1].update(available=2, ready=2, updated=1)  # pods coming up, not Ready yet
    assert verdict.findings(facts) == []
    facts["deployments"][1]["updated"] = 3  # every replica updated, one stays not Ready
    assert [f["cause"] for f in verdict.findings(facts)] == ["unknown"]


def test_a_dependency_down_gets_its_procedure():
    (finding,) = verdict.findings(database_down(two_workloads()))
    assert (finding["kind"], finding["namespace"], finding["name"], finding["label_selector"]) == \
        ("ExtraTarget", "db", "database", "app=postgresql")
    assert finding["cause"] == "dependency_down" and finding["options"] == ["recycle_pods", "restart"]
    assert "postgresql-0 CrashLoopBackOff" in finding["evidence"][0]
    facts = database_down(two_workloads())
    facts["extra_targets"][0]["required"] = False
    assert verdict.findings(facts) == []


def test_a_service_without_endpoints_in_front_of_available_workloads_is_reported():
    facts = two_workloads()
    facts["services"]["without_ready_endpoints"] = [{"name": "web-svc", "not_ready_endpoints": 0, "workloads": ["web"]}]
    (finding,) = verdict.findings(facts)
    assert (finding["kind"], finding["name"], finding["action"], finding["options"]) == ("Service", "web-svc", "none", [])


def test_a_statefulset_is_restarted_never_rolled_back():
    facts = two_workloads()
    facts["statefulsets"] = [{"name": "cache", "desired": 2, "updated": 2, "ready": 0, "available": 0,
                              "failed": False, "pods": pods(total=2, ready=0, crash_loop=2)}]
    (finding,) = verdict.findings(facts)
    assert (finding["kind"], finding["cause"], finding["options"], finding["rollback_to"]) == \
        ("StatefulSet", "unknown", ["restart", "scale_up"], None)


def test_a_workload_with_several_causes_takes_the_first_in_precedence_and_lists_the_others():
    facts = node_lost(bad_deploy(two_workloads()), "web")
    web = by_name(verdict.findings(facts))["web"]
    assert web["cause"] == "recent_bad_deploy" and web["also"] == ["node_failure"]
    assert web["action"] == "rollback" and len(web["evidence"]) == 2


@pytest.mark.parametrize("arrange, expected", [
    # bad worker image + NotReady node running app pods: the app restarted, the workers rolled back
    (lambda f: node_lost(bad_worker(f), "web"),
     {"web": "node_failure", "worker": "recent_bad_deploy", "node-3": "node_failure"}),
    # bad app image + PostgreSQL down
    (lambda f: database_down(bad_deploy(f)), {"web": "recent_bad_deploy", "database": "dependency_down"}),
    # OOMKilled workers + a bad app deploy + the database down: each workload its own cause
    (lambda f: database_down(bad_deploy(oom(f))), {"web": "recent_bad_deploy", "worker": "resource_exhaustion",
                                                   "database": "dependency_down"}),
])
def test_combinations_give_each_affected_workload_its_own_cause(arrange, expected):
    found = verdict.findings(arrange(two_workloads()))
    assert {f["name"]: f["cause"] for f in found} == expected
    # the headline verdict stays the first rule in precedence
    assert verdict.decide(arrange(two_workloads()))["verdict"] == verdict.PRECEDENCE[
        min(i for i, (name, rule) in enumerate(verdict.PRECEDENCE) if name in expected.values())][0]


def bad_worker(facts):
    worker = facts["deployments"][1]
    worker["revision"]["age_seconds"] = 120
    worker.update(available=2, ready=2, new_pods=dict(worker["new_pods"], crash_loop=2, samples=[]))
    return facts


def oom(facts):
    facts["deployments"][1]["pods"] = pods(ready=1, oom_killed=2)
    facts["deployments"][1].update(available=1, ready=1)
    return facts


def test_documentation_gives_the_options_of_each_cause():
    doc = triage_module.DOCUMENTATION
    for cause in (verdict.RECENT_BAD_DEPLOY, verdict.NODE_FAILURE, verdict.RESOURCE_EXHAUSTION, verdict.UNKNOWN):
        match = re.search(r"[a-d]\. C\(" + cause + r"\) \((.*?)\): ", doc)
        assert match, cause
        assert re.findall(r"C\((\w+)\)", match.group(1)) == list(verdict.OPTIONS[cause])
    assert "C(recycle_pods)" in doc and "then C(restart)" in doc
