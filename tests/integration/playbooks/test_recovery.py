"""The P0 playbook when more than one thing is wrong, against the local control plane and the sandbox:
two faults at once recovered per workload, escalation when the first option fails, a failed run that still
leaves its record, the guardrails, and a kube-apiserver restart in the middle of a rollback."""
from __future__ import annotations

import json
import os
import threading
import time
import uuid

import httpx
import pytest

from tests.integration.helpers import wait_for
from tests.integration.playbooks.helpers import APP, WORKERS, break_app, deployment, run_playbook

WORKER_CONTAINER = "embedding-worker"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
FAST = ["-e", "p0_outage_fail_fast_grace=3"]


@pytest.fixture
def local(cluster):
    if not cluster.get("local"):
        pytest.skip("the playbook's health targets are the local cluster's health server")
    return cluster


def timeline(workspace):
    return [json.loads(line) for line in (workspace / "timeline.jsonl").read_text().splitlines()]


def steps(workspace):
    """The recover module's steps: (task, status) in the order they ended."""
    return [(e["task"], e["status"]) for e in timeline(workspace)
            if e["action"].endswith("recover") and "option" in e.get("summary", {})]


def pagerduty(sandbox):
    return [(w["json"]["event_action"], w["json"]["dedup_key"]) for w in sandbox.accepted_writes()
            if w["service"] == "pagerduty-events"]


def set_worker_image(k8s, ns, image):
    k8s.apps.patch_namespaced_deployment(WORKERS, ns, {"spec": {"template": {"spec": {"containers": [
        {"name": WORKER_CONTAINER, "image": image}]}}}})


def pods_of(k8s, ns, app):
    return [p for p in k8s.core.list_namespaced_pod(ns, label_selector=f"app={app}").items
            if not p.metadata.deletion_timestamp]


def crash_looping(k8s, ns, app, image):
    return [p for p in pods_of(k8s, ns, app) if p.spec.containers[0].image == image and p.status.container_statuses
            and p.status.container_statuses[0].state.waiting
            and p.status.container_statuses[0].state.waiting.reason == "CrashLoopBackOff"]


def untouched(before, after):
    return (after.metadata.generation == before.metadata.generation
            and after.spec.template == before.spec.template and after.spec.replicas == before.spec.replicas)


def test_bad_worker_image_and_a_not_ready_node(k8s, local, sandbox, namespace, workload, own_node, tmp_path):
    workload(namespace)
    node = own_node["name"]
    # The workers run on the test's own node (the app does not tolerate it, so it stays elsewhere).
    k8s.apps.patch_namespaced_deployment(WORKERS, namespace, {"spec": {"template": {"spec": {
        "tolerations": [own_node["toleration"]],
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": {
            "matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}}]}}}}}})

    def rolled_out_onto_the_node():
        dep = deployment(k8s, namespace, WORKERS)
        done = dep.status.updated_replicas == dep.status.replicas == dep.status.available_replicas == 3
        return done and [p for p in pods_of(k8s, namespace, "embedding-queue-worker") if p.spec.node_name == node]

    # (the scheduler spreads them too: some, not all, land there)
    wait_for("workers Ready on the test's node", rolled_out_onto_the_node, timeout=180)
    app_before = deployment(k8s, namespace, APP)
    # Fault 1: the node goes NotReady. Fault 2: a bad worker image is rolled out.
    k8s.core.patch_node(node, {"metadata": {"labels": {"mataresit.test/fault": "notready"}}})
    wait_for(f"node {node} NotReady", lambda: any(
        c.type == "Ready" and c.status != "True" for c in k8s.core.read_node(node).status.conditions or []))
    set_worker_image(k8s, namespace, "paperless-maverick-worker:v2-bad")
    wait_for("the bad workers crash-looping", lambda: crash_looping(
        k8s, namespace, "embedding-queue-worker", "paperless-maverick-worker:v2-bad"))
    incident_id = f"dbl-{uuid.uuid4().hex[:8]}"

    proc = run_playbook(local, sandbox, namespace, incident_id, tmp_path)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]

    # Changed: the workers are rolled back, then restarted off the failed node, all Ready elsewhere.
    workers = deployment(k8s, namespace, WORKERS)
    container = next(c for c in workers.spec.template.spec.containers if c.name == WORKER_CONTAINER)
    assert container.image == "paperless-maverick-worker:latest"
    assert workers.status.available_replicas == workers.status.updated_replicas == workers.spec.replicas == 3
    assert RESTARTED_AT in workers.spec.template.metadata.annotations
    assert not [p for p in pods_of(k8s, namespace, "embedding-queue-worker") if p.spec.node_name == node]
    workspace = tmp_path / incident_id
    assert steps(workspace) == [
        (f"Roll back Deployment {namespace}/{WORKERS} (recent_bad_deploy, option 1 of 3)", "changed"),
        (f"Restart Deployment {namespace}/{WORKERS} (also node_failure: after recent_bad_deploy)", "changed")]
    # Left alone: the app (it lost nothing to the node), the node itself (reported for a human).
    assert untouched(app_before, deployment(k8s, namespace, APP))
    assert f"Node {node}" in proc.stdout and "reported for a human" in proc.stdout
    # Paged once and resolved; the endpoints answer.
    assert [action for action, _key in pagerduty(sandbox)] == ["trigger", "resolve"]
    assert sandbox.status()["pages"] == 1 and not sandbox.rejected()
    assert httpx.get(f"{local['health_url']}/health", params={"namespace": namespace}).status_code == 200
    report = (workspace / "postmortem.md").read_text()
    assert "UNRESOLVED" not in report and f"Roll back Deployment {namespace}/{WORKERS}" in report
    reported = report.split("## Reported for a human")[1].split("##")[0]
    assert f"Node {node} is NotReady" in reported


@pytest.fixture
def database_broken(k8s, local, namespace):
    """The workload with a PostgreSQL of its own whose pod is stuck: a bad image crash-looped it, then the
    StatefulSet was put right, but a StatefulSet does not replace a pod that never became Ready."""
    from tools import workload as workload_tool

    db_namespace = f"{namespace}-db"
    workload_tool.deploy(local["kubeconfig"], namespace=namespace, db_namespace=db_namespace)

    def image(tag):
        return {"spec": {"template": {"spec": {"containers": [{"name": "postgresql", "image": tag}]}}}}

    k8s.apps.patch_namespaced_stateful_set("postgresql", db_namespace, image("postgres:15.8-bad"))
    wait_for("the database pod crash-looping", lambda: crash_looping(k8s, db_namespace, "postgresql", "postgres:15.8-bad"),
             timeout=90)
    k8s.apps.patch_namespaced_stateful_set("postgresql", db_namespace, image("postgres:15.8"))
    yield db_namespace
    try:
        k8s.core.delete_namespace(db_namespace, propagation_policy="Background", grace_period_seconds=0)
    except Exception:  # noqa: BLE001 - cleanup best effort
        pass


def test_bad_app_image_and_postgresql_down(k8s, local, sandbox, namespace, database_broken, tmp_path):
    db_namespace = database_broken
    (stuck,) = pods_of(k8s, db_namespace, "postgresql")
    break_app(k8s, namespace)
    workers_before = deployment(k8s, namespace, WORKERS)
    db_health = f"{local['health_url']}/health/database"
    assert httpx.get(db_health, params={"db_namespace": db_namespace}).status_code == 503
    incident_id = f"dbl-{uuid.uuid4().hex[:8]}"

    proc = run_playbook(local, sandbox, namespace, incident_id, tmp_path, "-e", f"emergency_database_namespace={db_namespace}")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]

    # Changed: the app rolled back; the stuck database pod replaced by a Ready one (the dependency's procedure).
    app = deployment(k8s, namespace, APP)
    assert app.spec.template.spec.containers[0].image == "paperless-maverick:latest"
    assert app.status.available_replicas == app.spec.replicas == 3
    (pod,) = pods_of(k8s, db_namespace, "postgresql")
    assert pod.metadata.uid != stuck.metadata.uid and pod.spec.containers[0].image == "postgres:15.8"
    assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)
    workspace = tmp_path / incident_id
    assert sorted(steps(workspace)) == sorted([
        (f"Roll back Deployment {namespace}/{APP} (recent_bad_deploy, option 1 of 3)", "changed"),
        (f"Recycle the pods of dependency {db_namespace}/app=postgresql ({db_namespace}, app=postgresql) "
         "(dependency_down, option 1 of 2)", "changed")])
    # Left alone: the workers, the database's StatefulSet (only its stuck pod went).
    assert untouched(workers_before, deployment(k8s, namespace, WORKERS))
    # Paged once, resolved, and both the app and the database answer again.
    assert [action for action, _key in pagerduty(sandbox)] == ["trigger", "resolve"] and sandbox.status()["pages"] == 1
    assert httpx.get(f"{local['health_url']}/health", params={"namespace": namespace}).status_code == 200
    assert httpx.get(db_health, params={"db_namespace": db_namespace}).status_code == 200


def test_when_the_rollback_target_is_bad_too_it_escalates_and_pages_the_next_level(
        k8s, local, sandbox, namespace, workload, tmp_path):
    workload(namespace)
    break_app(k8s, namespace)  # revision 2: bad
    k8s.apps.patch_namespaced_deployment(APP, namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": APP, "image": "paperless-maverick:v3-bad"}]}}}})  # revision 3: bad again; "previous" is revision 2
    wait_for("revision 3 crash-looping", lambda: crash_looping(k8s, namespace, APP, "paperless-maverick:v3-bad"))
    workers_before = deployment(k8s, namespace, WORKERS)
    incident_id = f"esc-{uuid.uuid4().hex[:8]}"

    proc = run_playbook(local, sandbox, namespace, incident_id, tmp_path, *FAST)

    # Every option was tried on the app, each failing fast on its crash-looping pods, then the play failed.
    assert proc.returncode != 0
    workspace = tmp_path / incident_id
    assert steps(workspace) == [
        (f"Roll back Deployment {namespace}/{APP} (recent_bad_deploy, option 1 of 3)", "failed"),
        (f"Restart Deployment {namespace}/{APP} (recent_bad_deploy, option 2 of 3)", "failed"),
        (f"Scale up Deployment {namespace}/{APP} (recent_bad_deploy, option 3 of 3)", "failed")]
    failed = [e for e in timeline(workspace) if e.get("msg") and "option" in e.get("summary", {})]
    assert all("CrashLoopBackOff" in e["msg"] and "wait_timeout was not waited out" in e["msg"] for e in failed)
    assert f"local did not recover: Deployment {namespace}/{APP} (recent_bad_deploy): tried rollback" in proc.stdout
    assert "Paged Team Lead" in proc.stdout
    # The workers were healthy: left alone.
    assert untouched(workers_before, deployment(k8s, namespace, WORKERS))
    # Paged the on-call engineer, then the next level with the evidence; nothing resolved.
    pages = pagerduty(sandbox)
    assert pages == [("trigger", f"mataresit-{incident_id}"), ("trigger", f"mataresit-{incident_id}-level-2")]
    escalation = [w["json"] for w in sandbox.accepted_writes() if w["service"] == "pagerduty-events"][1]
    assert escalation["payload"]["summary"].startswith("Escalation to Team Lead - Recovery gave up")
    assert any(APP in line and "scale_up" in line for line in escalation["payload"]["custom_details"]["still_broken"])
    assert sandbox.status()["pages"] == 2
    assert [w["json"]["incident"]["status"] for w in sandbox.accepted_writes() if w["service"] == "statuspage"] == \
        ["investigating"]
    # The postmortem exists, marked unresolved, with what is still broken and each action taken.
    report = (workspace / "postmortem.md").read_text()
    assert "**Status: UNRESOLVED**" in report and "Team Lead was paged" in report
    assert f"- local: Deployment {namespace}/{APP} (recent_bad_deploy): tried rollback" in report
    assert f"Scale up Deployment {namespace}/{APP}" in report.split("## Actions taken")[1]


def test_a_recovery_step_that_fails_for_good_leaves_the_record_and_the_incident_open(
        k8s, local, sandbox, namespace, workload, tmp_path):
    workload(namespace)
    break_app(k8s, namespace)
    # An endpoint that never answers healthy: the rollback works, the validation cannot.
    never = [{"name": "never healthy", "url": f"{local['health_url']}/health?namespace=no-such-namespace"}]
    incident_id = f"val-{uuid.uuid4().hex[:8]}"
    proc = run_playbook(local, sandbox, namespace, incident_id, tmp_path, "-e", json.dumps({"p0_outage_health_targets": never}))

    assert proc.returncode != 0
    assert "local did not recover: endpoints unhealthy: never healthy" in proc.stdout
    assert deployment(k8s, namespace, APP).spec.template.spec.containers[0].image == "paperless-maverick:latest"
    workspace = tmp_path / incident_id
    report = (workspace / "postmortem.md").read_text()
    assert "**Status: UNRESOLVED**" in report and "- local: endpoints unhealthy: never healthy" in report
    assert "time to resolve | n/a" in report
    # The incident is still open in the sandbox: triggered, escalated, never resolved.
    assert [a for a, _k in pagerduty(sandbox)] == ["trigger", "trigger"]
    assert all(alert["status"] == "triggered" for alert in sandbox.alerts.values())
    assert timeline(workspace)[-1]["task"].endswith("Fail the clusters that did not recover, naming what is still broken")


def test_guardrails_change_at_most_max_workloads_and_page_a_human(k8s, local, sandbox, namespace, workload, tmp_path):
    workload(namespace)
    break_app(k8s, namespace)
    set_worker_image(k8s, namespace, "paperless-maverick-worker:v2-bad")
    wait_for("the bad workers crash-looping", lambda: crash_looping(
        k8s, namespace, "embedding-queue-worker", "paperless-maverick-worker:v2-bad"))
    app_before = deployment(k8s, namespace, APP)
    incident_id = f"cap-{uuid.uuid4().hex[:8]}"

    proc = run_playbook(local, sandbox, namespace, incident_id, tmp_path, "-e", "emergency_max_workloads=1")

    assert proc.returncode != 0
    # The first workload of the plan (the workers) is recovered; the app is left for a human, unchanged.
    workers = deployment(k8s, namespace, WORKERS)
    assert next(c for c in workers.spec.template.spec.containers if c.name == WORKER_CONTAINER).image == \
        "paperless-maverick-worker:latest"
    assert untouched(app_before, deployment(k8s, namespace, APP))
    message = (f"at most 1 workload(s) may be changed in one run (max_workloads); Deployment {namespace}/{APP} "
               "left for a human")
    assert message in proc.stdout
    held = [e for e in timeline(tmp_path / incident_id) if e["status"] == "held"]
    assert [e["msg"] for e in held] == [message]
    assert [a for a, _k in pagerduty(sandbox)] == ["trigger", "trigger"]  # the next level paged


def test_the_hourly_limit_pages_a_human_and_changes_nothing(k8s, local, sandbox, namespace, workload, tmp_path):
    workload(namespace)
    break_app(k8s, namespace)
    app_before = deployment(k8s, namespace, APP)
    # Two automatic changes on this cluster within the hour, by an earlier incident.
    log = tmp_path / ".remediations" / "local.jsonl"
    log.parent.mkdir()
    earlier = json.dumps({"at": time.time() - 600, "incident": "p0-earlier", "option": "restart",
                          "workload": "Deployment x/y"})
    log.write_text(f"{earlier}\n{earlier}\n")
    incident_id = f"hr-{uuid.uuid4().hex[:8]}"

    proc = run_playbook(local, sandbox, namespace, incident_id, tmp_path, "-e", "emergency_max_remediations_per_hour=2")

    assert proc.returncode != 0 and untouched(app_before, deployment(k8s, namespace, APP))
    assert "2 automatic change(s) on local in the last hour reach the limit of 2" in proc.stdout
    assert [e["status"] for e in timeline(tmp_path / incident_id) if e["action"].endswith("recover")
            and e["task"].startswith("Guardrail")] == ["held"]
    assert [a for a, _k in pagerduty(sandbox)] == ["trigger", "trigger"]


def test_waves_hold_the_next_cluster_when_the_first_does_not_recover(k8s, local, sandbox, make_namespace, workload,
                                                                     tmp_path):
    hosts = {"alpha": make_namespace(), "beta": make_namespace()}
    for ns in hosts.values():
        workload(ns)
        break_app(k8s, ns)
    # alpha cannot be recovered: its previous revision is bad too
    k8s.apps.patch_namespaced_deployment(APP, hosts["alpha"], {"spec": {"template": {"spec": {"containers": [
        {"name": APP, "image": "paperless-maverick:v3-bad"}]}}}})
    wait_for("alpha's revision 3 crash-looping", lambda: crash_looping(k8s, hosts["alpha"], APP, "paperless-maverick:v3-bad"))
    beta_before = deployment(k8s, hosts["beta"], APP)
    inventory = tmp_path / "clusters.yml"
    inventory.write_text(json.dumps({"clusters": {"hosts": {
        host: {"emergency_namespace": ns, "k8s_kubeconfig": local["kubeconfig"]} for host, ns in hosts.items()}}}))
    incident_id = f"wave-{uuid.uuid4().hex[:8]}"

    proc = run_playbook(local, sandbox, None, incident_id, tmp_path, "--limit", "alpha,beta", "-e", "emergency_wave_size=1",
                        *FAST, inventories=("inventories/local", inventory))

    assert proc.returncode != 0
    # beta's wave never started: the gate held it, nothing changed there
    assert untouched(beta_before, deployment(k8s, hosts["beta"], APP))
    gate = "health gate: alpha of an earlier wave did not recover, so this wave changes nothing"
    assert f"beta did not recover: Deployment {hosts['beta']}/{APP} (recent_bad_deploy): {gate}" in proc.stdout
    held = [e for e in timeline(tmp_path / incident_id) if e["status"] == "held"]
    assert [(e["cluster"], e["msg"]) for e in held] == [("beta", f"beta is held: {gate}; nothing was changed")]


def test_the_cap_on_clusters_leaves_the_rest_to_a_human(k8s, local, sandbox, make_namespace, workload, tmp_path):
    hosts = {"alpha": make_namespace(), "beta": make_namespace()}
    for ns in hosts.values():
        workload(ns)
        break_app(k8s, ns)
    beta_before = deployment(k8s, hosts["beta"], APP)
    inventory = tmp_path / "clusters.yml"
    inventory.write_text(json.dumps({"clusters": {"hosts": {
        host: {"emergency_namespace": ns, "k8s_kubeconfig": local["kubeconfig"]} for host, ns in hosts.items()}}}))
    incident_id = f"cap-{uuid.uuid4().hex[:8]}"

    proc = run_playbook(local, sandbox, None, incident_id, tmp_path, "--limit", "alpha,beta", "-e", "emergency_max_clusters=1",
                        inventories=("inventories/local", inventory))

    assert proc.returncode != 0
    assert deployment(k8s, hosts["alpha"], APP).spec.template.spec.containers[0].image == "paperless-maverick:latest"
    assert untouched(beta_before, deployment(k8s, hosts["beta"], APP))
    cap = "at most 1 cluster(s) may be changed in one run (max_clusters); beta is left for a human"
    assert f"beta did not recover: Deployment {hosts['beta']}/{APP} (recent_bad_deploy): {cap}" in proc.stdout
    held = [e for e in timeline(tmp_path / incident_id) if e["status"] == "held"]
    assert [(e["cluster"], e["msg"]) for e in held] == [("beta", f"beta is held: {cap}; nothing was changed")]


@pytest.mark.exclusive
def test_an_api_server_restart_during_the_rollback_is_ridden_out(k8s, local, sandbox, namespace, workload, tmp_path):
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        pytest.skip("restarts the API server that the other workers use: run with -m exclusive, without -n")
    from tools import localcluster

    workload(namespace)
    break_app(k8s, namespace)
    restarted = {}

    def restart_once_rolling_back():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not restarted:
            try:
                image = deployment(k8s, namespace, APP).spec.template.spec.containers[0].image
            except Exception:  # noqa: BLE001 - the API may be busy; look again
                image = None
            if image == "paperless-maverick:latest":  # the undo has landed: the rollout is under way
                restarted.update(localcluster.restart_apiserver(down_seconds=15))
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=restart_once_rolling_back, daemon=True)
    watcher.start()
    incident_id = f"api-{uuid.uuid4().hex[:8]}"
    proc = run_playbook(local, sandbox, namespace, incident_id, tmp_path)
    watcher.join(timeout=120)

    assert restarted.get("down_seconds", 0) >= 15, "the API server was not restarted during the run"
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    app = deployment(k8s, namespace, APP)
    assert app.spec.template.spec.containers[0].image == "paperless-maverick:latest"
    assert app.status.available_replicas == app.spec.replicas == 3
    assert [a for a, _k in pagerduty(sandbox)] == ["trigger", "resolve"] and sandbox.status()["pages"] == 1
    assert httpx.get(f"{local['health_url']}/health", params={"namespace": namespace}).status_code == 200
