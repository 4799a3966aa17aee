"""The recover module's plan execution on the fake API: only the workloads of the plan change, each escalates
through its options when an action or its validation fails, every step is in the timeline, and the guardrails
(hold, max_workloads, max_remediations_per_hour) change nothing beyond their limit."""
from __future__ import annotations

import json
import pathlib
import time

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils import recovery, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import execute
from ansible_collections.mataresit.emergency.plugins.module_utils.services import recover
from tests.unit.deployments.builders import deployment, replicaset

DEPS = "/apis/apps/v1/namespaces/ns/deployments/"
RS = "/apis/apps/v1/namespaces/ns/replicasets/"
PODS = "/api/v1/namespaces/ns/pods/"


@pytest.fixture
def incident(tmp_path):
    """An incident workspace with the cluster `local`; returns the cluster's part of it."""
    directory = tmp_path / "p0-test"
    workspace.write_incident(str(directory), {"incident_id": "p0-test"})
    return workspace.cluster_dir(str(directory), "local")


def timeline(cluster_dir):
    incident, _cluster = workspace.incident_of(cluster_dir)
    return workspace.read_timeline(incident)


def add_app(api, name="web", uid=None, revision=3, complete=True):
    uid = uid or f"uid-{name}"
    dep = deployment(name=name, uid=uid, image=f"{name}:v{revision}-bad",
                     status=None if complete else {"availableReplicas": 1, "readyReplicas": 1, "updatedReplicas": 1})
    dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(revision)
    api.add(DEPS + name, dep)
    api.add(DEPS + name + "/scale", {"spec": {"replicas": 3}, "status": {"replicas": 3}})
    for rev in range(1, revision + 1):
        rs = replicaset(f"{name}-{rev}{rev}{rev}{rev}{rev}", rev, f"{name}:v{rev}", owner_uid=uid, app=name)
        api.add(RS + rs["metadata"]["name"], rs)
    return dep


def crash(api, name, revision):
    """Pods of a revision that crash-loop (the fake has no controller: they stay)."""
    hash_ = str(revision) * 5
    for i in range(2):
        api.add(PODS + f"{name}-{hash_}-{i}", {
            "metadata": {"name": f"{name}-{hash_}-{i}", "namespace": "ns", "uid": f"{name}-{i}-{hash_}",
                         "labels": {"app": name, "pod-template-hash": hash_}},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": name, "image": f"{name}:v{revision}-bad", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}})


def finding(name="web", cause="recent_bad_deploy", options=("rollback", "restart", "scale_up"), rollback_to=2, **more):
    return dict({"kind": "Deployment", "namespace": "ns", "name": name, "cause": cause, "evidence": [f"{name} is bad"],
                 "options": list(options), "rollback_to": rollback_to, "signals": ["crash_loop"]}, **more)


def run(context, plan, check_mode=False, **params):
    params = dict({"plan": plan, "wait_sleep": 0.01, "fail_fast_grace": 0, "wait_timeout": 5}, **params)
    return execute(context(module="recover", check_mode=check_mode, **params), recover.operation)


def test_only_the_planned_workload_changes_and_each_step_is_in_the_timeline(api, context, incident):
    add_app(api, "web")
    add_app(api, "worker", revision=2)
    result = run(context, [finding("web"), {"kind": "Node", "name": "node-3", "cause": "node_failure", "options": []}],
                 incident_dir=incident, reason="P0 outage recovery")
    assert result["recovered"] and result["changed"] and result["still_broken"] == []
    (web,) = result["workloads"]
    assert (web["name"], web["healthy"], web["recovered_by"]) == ("web", True, "rollback")
    assert [s["option"] for s in web["steps"]] == ["rollback"] and web["steps"][0]["revision"] == 2
    assert api.objects[DEPS + "web"]["spec"]["template"]["spec"]["containers"][0]["image"] == "web:v2"
    assert not [r for r in api.writes() if "/worker" in r.path]  # not in the plan: untouched
    assert [f["name"] for f in result["reported"]] == ["node-3"]
    (entry,) = [e for e in timeline(incident) if e["action"] == recovery.ACTION]
    assert entry["status"] == "changed" and entry["phase"] == "recover" and entry["cluster"] == "local"
    assert entry["task"] == "Roll back Deployment ns/web (recent_bad_deploy, option 1 of 3)"
    assert list((pathlib.Path(incident) / "rollout").glob("*.json"))  # the Deployment as it was, for the revert
    assert result["summary"][0] == "Deployment ns/web: recent_bad_deploy -> rollback ok -> healthy"


def test_when_an_option_fails_the_next_is_tried_until_none_is_left(api, context, incident):
    add_app(api, "web", complete=False)
    crash(api, "web", 3)  # whatever is done, the pods of the current revision crash
    result = run(context, [finding("web")], incident_dir=incident)
    (web,) = result["workloads"]
    tried = [(s["option"], s["ok"]) for s in web["steps"]]
    assert tried == [("rollback", False), ("restart", False), ("scale_up", False)]
    assert all("CrashLoopBackOff" in s["msg"] for s in web["steps"])
    assert result["recovered"] is False and result["changed"] is True
    (line,) = result["still_broken"]
    assert line.startswith("Deployment ns/web (recent_bad_deploy): tried rollback: ") and "scale_up: " in line
    steps = [e for e in timeline(incident) if e["action"] == recovery.ACTION]
    assert [e["status"] for e in steps] == ["failed", "failed", "failed"] and all(e["changed"] for e in steps)
    assert api.objects[DEPS + "web/scale"]["spec"]["replicas"] == 6  # scale_up doubled it
    incident_dir, _cluster = workspace.incident_of(incident)
    assert len(workspace.remediations_since(incident_dir, "local", 0)) == 3


def test_workloads_are_recovered_in_parallel_and_independently(api, context, incident):
    add_app(api, "web", complete=False)
    crash(api, "web", 3)
    add_app(api, "worker")
    result = run(context, [finding("web", options=["restart"]), finding("worker")], incident_dir=incident)
    by_name = {w["name"]: w for w in result["workloads"]}
    assert by_name["worker"]["healthy"] and not by_name["web"]["healthy"]
    assert len(result["still_broken"]) == 1 and "ns/web" in result["still_broken"][0]


def test_max_workloads_changes_the_first_and_holds_the_rest(api, context, incident):
    add_app(api, "web")
    add_app(api, "worker")
    result = run(context, [finding("web"), finding("worker")], incident_dir=incident, max_workloads=1)
    assert [w["name"] for w in result["workloads"] if w["healthy"]] == ["web"]
    assert not [r for r in api.writes() if "/worker" in r.path]
    assert result["limits"] == ["at most 1 workload(s) may be changed in one run (max_workloads); "
                                "Deployment ns/worker left for a human"]
    assert result["warnings"] == result["limits"]
    assert "max_workloads" in result["still_broken"][0]
    held = [e for e in timeline(incident) if e["status"] == "held"]
    assert held and held[0]["task"].startswith("Guardrail: at most 1 workload(s)")


def test_the_hourly_limit_counts_changes_across_incidents_and_then_changes_nothing(api, context, incident, tmp_path):
    add_app(api, "web")
    incident_dir, _cluster = workspace.incident_of(incident)
    other = str(tmp_path / "p0-earlier")  # an earlier incident on the same cluster
    for _count in range(2):
        workspace.append_remediation(other, "local", {"incident": "p0-earlier", "workload": "x", "option": "restart"})
    result = run(context, [finding("web")], incident_dir=incident, max_remediations_per_hour=2)
    assert api.writes() == [] and result["changed"] is False and result["recovered"] is False
    assert result["limits"][0].startswith("2 automatic change(s) on local in the last hour reach the limit of 2")
    assert "a human must act" in result["still_broken"][0]
    # an hour later the budget is back
    log = workspace.remediation_log(incident_dir, "local")
    old = [dict(json.loads(line), at=time.time() - 3700) for line in open(log, encoding="utf-8")]
    with open(log, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(e) + "\n" for e in old)
    assert run(context, [finding("web")], incident_dir=incident, max_remediations_per_hour=2)["recovered"]


def test_the_budget_runs_out_between_options(api, context, incident):
    add_app(api, "web", complete=False)
    crash(api, "web", 3)
    result = run(context, [finding("web")], incident_dir=incident, max_remediations_per_hour=1)
    (web,) = result["workloads"]
    assert [s["option"] for s in web["steps"]] == ["rollback"]
    assert "was reached before restart" in web["held"]


def test_hold_changes_nothing_and_says_why(api, context, incident):
    add_app(api, "web")
    result = run(context, [finding("web")], incident_dir=incident, hold="wave 1 (alpha) did not recover")
    assert api.writes() == [] and not result["recovered"]
    assert result["still_broken"] == ["Deployment ns/web (recent_bad_deploy): wave 1 (alpha) did not recover"]
    assert [e["status"] for e in timeline(incident)] == ["held"]


def test_check_mode_sends_the_first_option_as_a_dry_run_and_records_nothing(api, context, incident):
    add_app(api, "web")
    result = run(context, [finding("web")], check_mode=True, incident_dir=incident)
    assert result["changed"] and result["msg"].startswith("would act: Deployment ns/web")
    writes = api.writes()
    assert writes and all(r.params.get("dryRun") == "All" for r in writes)
    assert timeline(incident) == [] and [s["option"] for s in result["workloads"][0]["steps"]] == ["rollback"]


def test_options_by_cause_first_option_and_kinds():
    oom = finding("worker", cause="recent_bad_deploy", signals=["oom_killed"])
    by_cause = {"oom_killed": ["increase_resources", "rollback", "restart"], "recent_bad_deploy": ["rollback"]}
    assert recovery.plan_options(oom, by_cause) == ["increase_resources", "rollback", "restart"]
    assert recovery.plan_options(finding(), by_cause) == ["rollback"]
    assert recovery.plan_options(finding(), first_option="scale_up") == ["scale_up", "rollback", "restart"]
    assert recovery.plan_options(finding(rollback_to=None)) == ["restart", "scale_up"]
    sts = finding(kind="StatefulSet", options=["rollback", "restart", "recycle_pods"])
    assert recovery.plan_options(sts) == ["restart"]
    with pytest.raises(ConfigError, match="unknown option"):
        recovery.plan_options(finding(options=["reboot"]))


@pytest.mark.parametrize("item, message", [
    ({"kind": "Deployment"}, "each needs kind"),
    ({"kind": "Pod", "name": "x"}, "each needs kind"),
    ({"kind": "Deployment", "namespace": "ns", "name": ".."}, "is not a valid Kubernetes name"),
    ({"kind": "ExtraTarget", "namespace": "db", "name": "database"}, "needs label_selector"),
])
def test_a_bad_plan_item_is_one_clear_line_before_any_request(api, context, item, message):
    with pytest.raises(ConfigError, match=message):
        run(context, [item])
    assert api.requests == []


def test_a_dependency_is_recycled_then_its_controller_restarted(api, context, incident):
    sts_path = "/apis/apps/v1/namespaces/db/statefulsets/postgresql"
    api.add(sts_path, {"kind": "StatefulSet", "metadata": {"name": "postgresql", "namespace": "db", "generation": 1},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "postgresql"}},
                                "template": {"metadata": {"labels": {"app": "postgresql"}}}},
                       "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1,
                                  "currentRevision": "r1", "updateRevision": "r1"}})
    api.add("/api/v1/namespaces/db/pods/postgresql-0", {
        "metadata": {"name": "postgresql-0", "namespace": "db", "uid": "pg-0", "labels": {"app": "postgresql"},
                     "ownerReferences": [{"kind": "StatefulSet", "name": "postgresql", "controller": True}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}})
    api.add_namespace("db")
    dependency = {"kind": "ExtraTarget", "namespace": "db", "name": "database", "label_selector": "app=postgresql",
                  "cause": "dependency_down", "options": ["recycle_pods", "restart"], "evidence": []}
    result = run(context, [dependency], incident_dir=incident, wait_timeout=1)
    (db,) = result["workloads"]
    # the fake has no controller to bring the pod back, so the recycle cannot make it Ready; the restart can
    assert [(s["option"], s["ok"]) for s in db["steps"]] == [("recycle_pods", False), ("restart", True)]
    assert "replacements not Ready" in db["steps"][0]["msg"] and db["steps"][0]["changed"]
    assert "/api/v1/namespaces/db/pods/postgresql-0" not in api.objects
    assert "kubectl.kubernetes.io/restartedAt" in api.objects[sts_path]["spec"]["template"]["metadata"]["annotations"]


def test_a_workload_that_also_lost_replicas_to_a_node_is_restarted_after_its_rollback(api, context, incident):
    add_app(api, "web")
    result = run(context, [finding("web", also=["node_failure"])], incident_dir=incident)
    (web,) = result["workloads"]
    assert [(s["option"], s["ok"]) for s in web["steps"]] == [("rollback", True), ("restart", True)]
    assert web["recovered_by"] == "rollback" and web["healthy"]
    template = api.objects[DEPS + "web"]["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "web:v2"
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    tasks = [e["task"] for e in timeline(incident)]
    assert tasks[1] == "Restart Deployment ns/web (also node_failure: after recent_bad_deploy)"
