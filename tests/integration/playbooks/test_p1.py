"""The P1 playbooks end to end (worker queue backlog, performance degradation) and the post-incident
revert, against the local control plane and the OpenAPI-validating SaaS sandbox."""
from __future__ import annotations

import json
import stat
import threading
import uuid
from contextlib import contextmanager

import httpx
import pytest

from tests.integration.playbooks.helpers import APP, WORKERS, deployment, recap_changed, run_playbook

BACKLOG = "playbooks/p1-queue-backlog.yml"
PERFORMANCE = "playbooks/p1-performance.yml"
REVERT = "playbooks/revert-changes.yml"
# 260 jobs at 50 a worker: ceil(5.2) = 6 workers, within the default bounds [2, 10].
BACKLOG_VARS = ["-e", "queue_backlog_jobs_per_worker=50", "-e", "queue_backlog_drain_delay=1",
                "-e", "queue_backlog_drain_retries=300", "-e", "queue_backlog_increase_resources=true",
                "-e", "queue_backlog_restart=true"]
# Any measured p95 is above 0.001 ms: every endpoint counts as slow.
SLOW_VARS = ["-e", "performance_degradation_max_latency_ms=0.001"]


@pytest.fixture
def deployed(cluster, namespace, workload):
    if not cluster.get("local"):
        pytest.skip("the queue depth and health targets are the local cluster's health server")
    return workload(namespace, wait=True)


def set_queue_depth(cluster, namespace, value):
    httpx.post(f"{cluster['health_url']}/control/queue_depth",
               json={"value": value, "namespace": namespace}).raise_for_status()


@contextmanager
def queue_drains_once_scaled_to(k8s, cluster, namespace, replicas, depth):
    """The backlog drains (the depth falls to `depth`) once the workers are scaled to `replicas`."""
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if deployment(k8s, namespace, WORKERS).spec.replicas == replicas:
                set_queue_depth(cluster, namespace, depth)
                return
            stop.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def worker_resources(dep):
    return next(c for c in dep.spec.template.spec.containers if c.name == "embedding-worker").resources


def env_of(dep, container):
    spec = next(c for c in dep.spec.template.spec.containers if c.name == container)
    return {e.name: e for e in spec.env or []}


def notifications(sandbox):
    writes = sandbox.accepted_writes()
    return ([w["json"]["event_action"] for w in writes if w["service"] == "pagerduty-events"],
            [w["json"]["incident"]["status"] for w in writes if w["service"] == "statuspage"],
            len([w for w in writes if w["service"] == "slack"]))


def assert_no_secret(deployed, sandbox, *texts):
    settings = sandbox.settings()
    secrets = [settings["pagerduty_routing_key"], settings["statuspage_api_key"],
               settings["slack_webhook_url"].rsplit("/", 1)[-1]]
    secrets += [v for values in deployed["secrets"].values() for v in values.values()]
    written = "".join(texts)
    for value in secrets:
        assert value not in written


def test_queue_backlog_sizes_workers_from_depth_and_rerun_changes_nothing(k8s, cluster, sandbox, namespace,
                                                                          deployed, tmp_path):
    incident_id = f"qb-{uuid.uuid4().hex[:8]}"
    original_resources = worker_resources(deployment(k8s, namespace, WORKERS))
    set_queue_depth(cluster, namespace, 260)
    with queue_drains_once_scaled_to(k8s, cluster, namespace, 6, 12):
        proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, *BACKLOG_VARS,
                            playbook=BACKLOG, reason="EmbeddingQueueDepthCritical")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

    # Workers restarted, sized from the depth, with the runbook's resources, fully available; the app untouched.
    workers = deployment(k8s, namespace, WORKERS)
    assert "kubectl.kubernetes.io/restartedAt" in workers.spec.template.metadata.annotations
    assert workers.spec.replicas == workers.status.available_replicas == workers.status.updated_replicas == 6
    resources = worker_resources(workers)
    assert (resources.requests["cpu"], resources.requests["memory"]) == ("500m", "1Gi")
    assert (resources.limits["cpu"], resources.limits["memory"]) == ("2", "4Gi")
    assert deployment(k8s, namespace, APP).spec.replicas == 3

    # The count and the resources it replaced are recorded, privately, for the revert.
    workspace = tmp_path / incident_id
    cluster_dir = workspace / "clusters" / "local"
    # (A step retried after a conflict, as the controller updates the workload just restarted, records again.)
    scaled = sorted((cluster_dir / "scale").glob("*.json"))
    patched = sorted((cluster_dir / "container_patch").glob("*.json"))
    assert scaled and patched and all(stat.S_IMODE(r.stat().st_mode) == 0o600 for r in scaled + patched)
    record = json.loads(scaled[-1].read_text())
    assert (record["name"], record["original_replicas"], record["replicas"]) == (WORKERS, 3, 6)
    assert json.loads(patched[-1].read_text())["name"] == WORKERS

    # Paged at P1 severity and resolved once the queue drained; every request valid against the provider's spec.
    events, statuspage, slack = notifications(sandbox)
    assert (events, statuspage, slack) == (["trigger", "resolve"], ["investigating", "resolved"], 2)
    trigger = next(w for w in sandbox.accepted_writes() if w["service"] == "pagerduty-events")
    assert trigger["json"]["payload"]["severity"] == "error"
    assert "queue depth 260.0 on local" in trigger["json"]["payload"]["summary"]
    assert not sandbox.rejected()
    report = (workspace / "postmortem.md").read_text()
    assert "target 15 for P1" in report
    assert_no_secret(deployed, sandbox, proc.stdout, proc.stderr, report)

    # The depth is back under the threshold: a second run changes nothing and notifies nobody.
    generation = workers.metadata.generation
    before = len(sandbox.accepted_writes())
    again = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, *BACKLOG_VARS,
                         playbook=BACKLOG, reason="EmbeddingQueueDepthCritical")
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap_changed(again.stdout) == 0
    assert len(sandbox.accepted_writes()) == before
    workers = deployment(k8s, namespace, WORKERS)
    assert workers.spec.replicas == 6 and workers.metadata.generation == generation

    # Post-incident: the revert puts back the worker count and resources.
    revert = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, playbook=REVERT, reason="post-incident")
    assert revert.returncode == 0, revert.stdout[-4000:] + revert.stderr[-2000:]
    workers = deployment(k8s, namespace, WORKERS)
    assert workers.spec.replicas == workers.status.available_replicas == 3
    assert worker_resources(workers) == original_resources


def test_queue_backlog_check_mode_plans_the_bounded_count_and_changes_nothing(k8s, cluster, sandbox, namespace,
                                                                              deployed, tmp_path):
    set_queue_depth(cluster, namespace, 5000)
    before = deployment(k8s, namespace, WORKERS)
    proc = run_playbook(cluster, sandbox, namespace, f"chk-{uuid.uuid4().hex[:8]}", tmp_path, "--check",
                        "-e", "queue_backlog_increase_resources=true", "-e", "queue_backlog_restart=true",
                        playbook=BACKLOG, reason="EmbeddingQueueDepthCritical")
    assert proc.returncode == 0, proc.stdout[-4000:]
    # 5000 jobs at 10 a worker would be 500 workers: the plan stops at the upper bound.
    assert "scale the workers 3 -> 10" in proc.stdout
    after = deployment(k8s, namespace, WORKERS)
    assert after.spec.replicas == 3
    assert after.metadata.generation == before.metadata.generation
    assert after.spec.template == before.spec.template
    assert sandbox.writes() == []


def test_performance_mitigates_and_revert_restores(k8s, cluster, sandbox, namespace, deployed, tmp_path):
    incident_id = f"perf-{uuid.uuid4().hex[:8]}"
    original_env = env_of(deployment(k8s, namespace, APP), APP)
    assert original_env["LOG_LEVEL"].value_from.config_map_key_ref.key == "LOG_LEVEL"
    assert "METRICS_ENABLED" not in original_env

    proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, *SLOW_VARS,
                        playbook=PERFORMANCE, reason="p95 latency alert")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

    # Scaled up to the runbook's 8, monitoring enabled, rolled out.
    app = deployment(k8s, namespace, APP)
    assert app.spec.replicas == app.status.available_replicas == app.status.updated_replicas == 8
    env = env_of(app, APP)
    assert (env["LOG_LEVEL"].value, env["LOG_LEVEL"].value_from) == ("debug", None)
    assert env["METRICS_ENABLED"].value == "true"

    events, statuspage, slack = notifications(sandbox)
    assert (events, statuspage, slack) == (["trigger", "resolve"], ["investigating", "resolved"], 2)
    assert not sandbox.rejected()
    workspace = tmp_path / incident_id
    cluster_dir = workspace / "clusters" / "local"
    assert list((cluster_dir / "scale").glob("*.json")) and list((cluster_dir / "container_patch").glob("*.json"))
    assert_no_secret(deployed, sandbox, proc.stdout, proc.stderr, (workspace / "postmortem.md").read_text())

    # Post-incident: the revert puts back the env values and the replica count the incident found.
    revert = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, playbook=REVERT, reason="post-incident")
    assert revert.returncode == 0, revert.stdout[-4000:] + revert.stderr[-2000:]
    app = deployment(k8s, namespace, APP)
    assert app.spec.replicas == app.status.available_replicas == 3
    env = env_of(app, APP)
    assert env["LOG_LEVEL"].value is None
    assert env["LOG_LEVEL"].value_from.config_map_key_ref.name == original_env["LOG_LEVEL"].value_from.config_map_key_ref.name
    assert "METRICS_ENABLED" not in env
    assert list(env) == list(original_env)

    # Reverting again finds nothing left to put back.
    generation = app.metadata.generation
    again = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, playbook=REVERT, reason="post-incident")
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap_changed(again.stdout) == 0
    assert deployment(k8s, namespace, APP).metadata.generation == generation


def test_performance_check_mode_changes_nothing(k8s, cluster, sandbox, namespace, deployed, tmp_path):
    before = deployment(k8s, namespace, APP)
    proc = run_playbook(cluster, sandbox, namespace, f"chk-{uuid.uuid4().hex[:8]}", tmp_path, "--check", *SLOW_VARS,
                        playbook=PERFORMANCE, reason="p95 latency alert")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "mitigation needed: True" in proc.stdout
    after = deployment(k8s, namespace, APP)
    assert after.spec.replicas == 3
    assert after.metadata.generation == before.metadata.generation
    assert after.spec.template == before.spec.template
    assert sandbox.writes() == []


def test_revert_needs_a_known_incident(cluster, sandbox, namespace, tmp_path):
    proc = run_playbook(cluster, sandbox, namespace, "no-such-incident", tmp_path, playbook=REVERT, reason="x")
    assert proc.returncode != 0 and "No incident workspace" in proc.stdout
    assert not (tmp_path / "no-such-incident").exists()


def test_oom_killed_workers_and_a_queue_backlog_each_get_their_own_action(k8s, cluster, sandbox, namespace, deployed,
                                                                          tmp_path):
    from tests.integration.helpers import wait_for

    app_before = deployment(k8s, namespace, APP)
    # Fault 1: the workers are OOMKilled (their image needs more memory than its 1Gi limit). Fault 2: a backlog.
    k8s.apps.patch_namespaced_deployment(WORKERS, namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "embedding-worker", "image": "paperless-maverick-worker:v2-oom"}]}}}})
    wait_for("the workers OOMKilled", lambda: [
        p for p in k8s.core.list_namespaced_pod(namespace, label_selector="app=embedding-queue-worker").items
        if p.status.container_statuses and p.status.container_statuses[0].last_state.terminated
        and p.status.container_statuses[0].last_state.terminated.reason == "OOMKilled"])
    set_queue_depth(cluster, namespace, 260)
    incident_id = f"oom-{uuid.uuid4().hex[:8]}"
    # the depth read from the health server's own view, not through the worker pods that the fault breaks
    metrics = ["-e", f"queue_backlog_metrics_url={cluster['health_url']}/metrics?namespace={namespace}"]
    with queue_drains_once_scaled_to(k8s, cluster, namespace, 6, 12):
        proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, *BACKLOG_VARS[:6], *metrics,
                            playbook=BACKLOG, reason="EmbeddingQueueDepthCritical")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]

    # Changed: the OOMKilled workers got the runbook's resources (not a restart, which cures no OOM), then they were
    # sized from the depth; all Ready.
    workers = deployment(k8s, namespace, WORKERS)
    resources = worker_resources(workers)
    assert (resources.limits["memory"], resources.requests["memory"]) == ("4Gi", "1Gi")
    assert next(c for c in workers.spec.template.spec.containers if c.name == "embedding-worker").image == \
        "paperless-maverick-worker:v2-oom"
    assert workers.spec.replicas == workers.status.available_replicas == workers.status.updated_replicas == 6
    assert "kubectl.kubernetes.io/restartedAt" not in (workers.spec.template.metadata.annotations or {})
    steps = [(e["task"], e["status"]) for e in
             (json.loads(line) for line in (tmp_path / incident_id / "timeline.jsonl").read_text().splitlines())
             if e["action"].endswith("recover") and "option" in e.get("summary", {})]
    assert steps == [
        (f"Raise the resources of Deployment {namespace}/{WORKERS} (recent_bad_deploy, option 1 of 3)", "changed"),
        (f"Size Deployment {namespace}/{WORKERS} (queue_backlog, option 1 of 1)", "changed")]
    # Left alone: the app.
    app = deployment(k8s, namespace, APP)
    assert app.metadata.generation == app_before.metadata.generation and app.spec.template == app_before.spec.template
    # Paged at P1 once, resolved once the queue drained.
    events, statuspage, slack = notifications(sandbox)
    assert (events, statuspage, slack) == (["trigger", "resolve"], ["investigating", "resolved"], 2)
    assert "UNRESOLVED" not in (tmp_path / incident_id / "postmortem.md").read_text()
