"""The P0 security breach and database playbooks end to end: against the local control plane,
the OpenAPI-validating SaaS sandbox and a local SMTP server."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import stat
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.playbooks.helpers import APP, REPO, WORKERS, deployment, recap_changed, run_playbook

BREACH = "playbooks/p0-security-breach.yml"
RESTORE = "playbooks/security-restore.yml"
DATABASE = "playbooks/p0-database.yml"
ISOLATION = "mataresit-emergency-isolation"
WORKER_POLICY = "embedding-queue-workers-netpol"


# -- shared -------------------------------------------------------------------------------------------

def timeline(workspace):
    return [json.loads(line) for line in (workspace / "timeline.jsonl").read_text().splitlines()]


def secret_values(k8s, ns, names):
    out = {}
    for name in names:
        data = k8s.core.read_namespaced_secret(name, ns).data or {}
        out[name] = {k: base64.b64decode(v).decode() for k, v in data.items()}
    return out


def assert_no_secret(texts, values):
    written = "\n".join(texts)
    leaked = [v[:6] + "..." for v in values if v and v in written]
    assert not leaked, f"secret values in the output: {leaked}"


def email_args(smtp):
    return ["-e", f"notify_email_host={smtp.host}", "-e", f"notify_email_port={smtp.port}",
            "-e", "notify_email_secure=never", "-e", f"notify_email_username={smtp.user}",
            "-e", f"notify_email_password={smtp.password}"]


def sandbox_credentials(sandbox):
    settings = sandbox.settings()
    return [settings["pagerduty_routing_key"], settings["statuspage_api_key"],
            settings["slack_webhook_url"].rsplit("/", 1)[-1]]


# -- security breach ------------------------------------------------------------------------------------

@pytest.fixture
def vault(tmp_path):
    """security_breach_backup_key in an Ansible Vault encrypted vars file, as in production."""
    folder = tmp_path / "vault"
    folder.mkdir(mode=0o700)
    password = folder / "password"
    password.write_text(secrets.token_urlsafe(24))
    password.chmod(0o600)
    key = f"backup-{secrets.token_urlsafe(24)}"
    vars_file = folder / "vault.yml"
    vars_file.write_text(f"security_breach_backup_key: {key}\n")
    subprocess.run([str(Path(sys.executable).parent / "ansible-vault"), "encrypt", str(vars_file),
                    "--vault-password-file", str(password)], check=True, capture_output=True, cwd=REPO)
    assert key not in vars_file.read_text()
    return key, ["-e", f"@{vars_file}", "--vault-password-file", str(password)]


@pytest.fixture
def deployed(cluster, namespace, workload):
    if not cluster.get("local"):
        pytest.skip("the playbooks' health targets are the local cluster's health server")
    return workload(namespace, wait=True)


def test_security_breach_captures_isolates_notifies_contains_and_restores(
        k8s, cluster, sandbox, smtp_server, namespace, deployed, vault, tmp_path):  # noqa: F811
    key, vault_args = vault
    incident_id = f"sb-{uuid.uuid4().hex[:8]}"
    incidents = tmp_path / "incidents"
    incidents.mkdir()
    names = sorted(deployed["secrets"])
    original = secret_values(k8s, namespace, names)
    replicas = {name: deployment(k8s, namespace, name).spec.replicas for name in (APP, WORKERS)}
    assert replicas[APP] > 1 and replicas[WORKERS] > 0
    worker_policy = k8s.networking.read_namespaced_network_policy(WORKER_POLICY, namespace)

    proc = run_playbook(cluster, sandbox, namespace, incident_id, incidents, *vault_args, *email_args(smtp_server),
                        playbook=BREACH, reason="credential leak")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    workspace = incidents / incident_id

    # Evidence: a private bundle with its manifest, captured before anything changed.
    bundles = list((workspace / "evidence" / "local").glob(f"forensics-{namespace}-*.tar.gz"))
    assert len(bundles) == 1 and stat.S_IMODE(bundles[0].stat().st_mode) == 0o600
    with tarfile.open(bundles[0]) as tar:
        contents = {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    manifest = json.loads(contents.pop("manifest.json"))
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        path: hashlib.sha256(data).hexdigest() for path, data in contents.items()}
    assert "events.yaml" in contents and WORKER_POLICY.encode() in contents["objects/networkpolicies.yaml"]
    # Captured before the isolation existed, and with secret metadata only.
    assert ISOLATION.encode() not in contents["objects/networkpolicies.yaml"]
    assert_no_secret([data.decode(errors="replace") for data in contents.values()],
                     [v for kv in original.values() for v in kv.values()])
    acted = [e["action"].rsplit(".", 1)[-1] for e in timeline(workspace) if e["status"] == "changed"]
    order = [a for a in acted if a in ("forensics", "isolation", "secret_rotation", "scale")]
    assert order[:3] == ["forensics", "isolation", "secret_rotation"] and "scale" in order, acted

    # Isolation: a namespace-wide default-deny policy; the workers' own policy untouched.
    policy = k8s.networking.read_namespaced_network_policy(ISOLATION, namespace)
    assert policy.spec.pod_selector.match_labels is None and sorted(policy.spec.policy_types) == ["Egress", "Ingress"]
    after = k8s.networking.read_namespaced_network_policy(WORKER_POLICY, namespace)
    assert after.metadata.resource_version == worker_policy.metadata.resource_version

    # Secrets: every value replaced, the old ones kept in an encrypted private backup.
    rotated = secret_values(k8s, namespace, names)
    for name in names:
        for item, value in original[name].items():
            assert rotated[name][item] != value, f"{name}/{item} was not rotated"
    backups = list((workspace / "clusters" / "local" / "secrets").glob("backup-*.json"))
    assert backups and all(stat.S_IMODE(b.stat().st_mode) == 0o600 for b in backups)

    # Minimum viable service.
    assert deployment(k8s, namespace, APP).spec.replicas == 1
    assert deployment(k8s, namespace, WORKERS).spec.replicas == 0
    assert (deployment(k8s, namespace, WORKERS).status.replicas or 0) == 0

    # Paged, Slack told, the security team emailed; nothing on the public status page; nothing resolved.
    writes = sandbox.accepted_writes()
    assert [w["json"]["event_action"] for w in writes if w["service"] == "pagerduty-events"] == ["trigger"]
    assert len([w for w in writes if w["service"] == "slack"]) == 1
    assert not [w for w in writes if w["service"] == "statuspage"] and not sandbox.rejected()
    assert [m["to"] for m in smtp_server.messages] == [["security@mataresit.com"]]
    report = (workspace / "postmortem.md").read_text()

    # No secret value (old, new, the backup key, credentials) anywhere the run printed or wrote.
    values = [v for s in (original, rotated) for kv in s.values() for v in kv.values()]
    values += [key, smtp_server.password, *sandbox_credentials(sandbox)]
    assert_no_secret([proc.stdout, proc.stderr, report, (workspace / "timeline.jsonl").read_text()], values)

    # A re-run of the same incident has nothing left to do: no change, nobody paged or emailed again.
    before = len(sandbox.accepted_writes())
    again = run_playbook(cluster, sandbox, namespace, incident_id, incidents, *vault_args, *email_args(smtp_server),
                         playbook=BREACH, reason="credential leak")
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap_changed(again.stdout) == 0
    assert len(sandbox.accepted_writes()) == before and len(smtp_server.messages) == 1
    assert secret_values(k8s, namespace, names) == rotated

    # A mistyped incident id restores nothing and opens no incident of its own: the isolation stays.
    typo = run_playbook(cluster, sandbox, namespace, incident_id + "x", incidents, playbook=RESTORE,
                        reason="credential leak")
    assert typo.returncode != 0 and f"No incident workspace {incidents / (incident_id + 'x')}" in typo.stdout
    assert not (incidents / (incident_id + "x")).exists()
    assert k8s.networking.read_namespaced_network_policy(ISOLATION, namespace)

    # Restore: isolation lifted (only it), replica counts and, on request, the secret values back.
    restore = run_playbook(cluster, sandbox, namespace, incident_id, incidents, *vault_args,
                           "-e", "restore_secrets=true", playbook=RESTORE, reason="credential leak")
    assert restore.returncode == 0, restore.stdout[-4000:] + restore.stderr[-2000:]
    assert ISOLATION not in [p.metadata.name for p in k8s.networking.list_namespaced_network_policy(namespace).items]
    after = k8s.networking.read_namespaced_network_policy(WORKER_POLICY, namespace)
    assert after.metadata.resource_version == worker_policy.metadata.resource_version
    for name, count in replicas.items():
        dep = deployment(k8s, namespace, name)
        assert dep.spec.replicas == count and dep.status.ready_replicas == count
    assert secret_values(k8s, namespace, names) == original
    assert_no_secret([restore.stdout, restore.stderr, (workspace / "timeline.jsonl").read_text()], values)
    restored_again = run_playbook(cluster, sandbox, namespace, incident_id, incidents, *vault_args,
                                  "-e", "restore_secrets=true", playbook=RESTORE, reason="credential leak")
    assert restored_again.returncode == 0 and recap_changed(restored_again.stdout) == 0, restored_again.stdout[-3000:]


def test_security_breach_without_backup_key_fails_before_anything_changes(
        k8s, cluster, sandbox, namespace, deployed, tmp_path):
    secrets_before = {s.metadata.name: s.metadata.resource_version
                      for s in k8s.core.list_namespaced_secret(namespace).items}
    proc = run_playbook(cluster, sandbox, namespace, "sb-nokey", tmp_path, playbook=BREACH, reason="credential leak")
    assert proc.returncode != 0
    assert "security_breach_backup_key is not set" in proc.stdout and "Ansible Vault" in proc.stdout
    assert ISOLATION not in [p.metadata.name for p in k8s.networking.list_namespaced_network_policy(namespace).items]
    assert {s.metadata.name: s.metadata.resource_version
            for s in k8s.core.list_namespaced_secret(namespace).items} == secrets_before
    assert deployment(k8s, namespace, WORKERS).spec.replicas > 0
    assert not (tmp_path / "sb-nokey" / "evidence").exists() and sandbox.writes() == []


def test_security_breach_check_mode_changes_nothing(k8s, cluster, sandbox, namespace, deployed, vault, tmp_path):
    key, vault_args = vault
    secrets_before = {s.metadata.name: s.metadata.resource_version
                      for s in k8s.core.list_namespaced_secret(namespace).items}
    generations = {name: deployment(k8s, namespace, name).metadata.generation for name in (APP, WORKERS)}
    proc = run_playbook(cluster, sandbox, namespace, "sb-check", tmp_path, *vault_args, "--check",
                        playbook=BREACH, reason="credential leak")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert ISOLATION not in [p.metadata.name for p in k8s.networking.list_namespaced_network_policy(namespace).items]
    assert {s.metadata.name: s.metadata.resource_version
            for s in k8s.core.list_namespaced_secret(namespace).items} == secrets_before
    assert {name: deployment(k8s, namespace, name).metadata.generation for name in (APP, WORKERS)} == generations
    workspace = tmp_path / "sb-check"
    assert not list(workspace.glob("evidence/**/*.tar.gz")) and not list(workspace.glob("clusters/local/secrets/*"))
    assert sandbox.writes() == []
    assert key not in proc.stdout + proc.stderr


# -- database connectivity loss ---------------------------------------------------------------------------

@pytest.fixture
def database(k8s, cluster, namespace):
    """Deploy the workload with its PostgreSQL in a database namespace of this test and break that database.

    `database(fixed=True)`: a bad image crash-loops the pod, then the image is put right in the StatefulSet,
    but a StatefulSet does not replace a pod that never became Ready (the runbook's "database pod issues"):
    only deleting it does. `database(fixed=False)`: the StatefulSet keeps the bad image.
    """
    if not cluster.get("local"):
        pytest.skip("the playbooks' health targets are the local cluster's health server")
    from tools import workload as workload_tool

    db_namespace = f"{namespace}-db"

    def image(tag):
        return {"spec": {"template": {"spec": {"containers": [{"name": "postgresql", "image": tag}]}}}}

    def _break(fixed=True):
        deployed = workload_tool.deploy(cluster["kubeconfig"], namespace=namespace, db_namespace=db_namespace)
        k8s.apps.patch_namespaced_stateful_set("postgresql", db_namespace, image("postgres:15.8-bad"))
        deadline = time.monotonic() + 60
        while not any(p.spec.containers[0].image.endswith("-bad") and p.status.container_statuses
                      for p in k8s.core.list_namespaced_pod(db_namespace).items):
            assert time.monotonic() < deadline, "the bad database image never crash-looped"
            time.sleep(0.5)
        if fixed:
            k8s.apps.patch_namespaced_stateful_set("postgresql", db_namespace, image("postgres:15.8"))
        return dict(deployed, db_namespace=db_namespace)

    yield _break
    try:
        k8s.core.delete_namespace(db_namespace, propagation_policy="Background", grace_period_seconds=0)
    except Exception:  # noqa: BLE001 - cleanup best effort
        pass


@pytest.fixture
def database_down(database):
    return database(fixed=True)


def db_pod(k8s, db_namespace):
    (pod,) = k8s.core.list_namespaced_pod(db_namespace, label_selector="app=postgresql").items
    return pod


def db_health(cluster, db_namespace):
    return httpx.get(f"{cluster['health_url']}/health/database", params={"db_namespace": db_namespace}).status_code


def app_env(k8s, namespace):
    container = deployment(k8s, namespace).spec.template.spec.containers[0]
    return {e.name: e.value for e in container.env or []}


def test_p0_database_sets_retries_recycles_the_database_drains_and_recovers(
        k8s, cluster, sandbox, namespace, database_down, tmp_path):
    db_namespace = database_down["db_namespace"]
    broken = db_pod(k8s, db_namespace)
    assert db_health(cluster, db_namespace) == 503
    replicas = deployment(k8s, namespace).spec.replicas
    incident_id = f"db-{uuid.uuid4().hex[:8]}"

    proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path,
                        "-e", f"emergency_database_namespace={db_namespace}",
                        "-e", "database_outage_drain_pool=true", "-e", "database_outage_drain_seconds=1",
                        playbook=DATABASE, reason="database timeouts")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    workspace = tmp_path / incident_id

    # The app restarted with database retries; what it replaced is recorded for the revert.
    env = app_env(k8s, namespace)
    assert env["DB_RETRY_ATTEMPTS"] == "10" and env["DB_RETRY_DELAY"] == "5000"
    dep = deployment(k8s, namespace)
    assert dep.status.updated_replicas == dep.status.available_replicas == replicas == dep.spec.replicas
    records = list(workspace.rglob("*.json"))
    assert any("DB_RETRY_ATTEMPTS" in r.read_text() for r in records if "container" in str(r))

    # The stuck database pod was replaced by a Ready one, and /health/database answers again.
    pod = db_pod(k8s, db_namespace)
    assert pod.metadata.uid != broken.metadata.uid and pod.spec.containers[0].image == "postgres:15.8"
    assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)
    assert db_health(cluster, db_namespace) == 200

    # The database pods by their procedure first, then the app's retries, then the drain cycle (asked for), which
    # put back the count it found.
    events = timeline(workspace)
    acted = [e["task"] if "option" in e.get("summary", {}) else e["action"].rsplit(".", 1)[-1]
             for e in events if e["status"] == "changed" and e["phase"] == "recover"]
    assert acted == [f"Recycle the pods of dependency database ({db_namespace}, app=postgresql) "
                     "(dependency_down, option 1 of 2)", "recover", "container_patch", "scale"], acted

    # Paged, status page opened and resolved, Slack told twice, each request valid against its spec.
    writes = sandbox.accepted_writes()
    assert [w["json"]["event_action"] for w in writes if w["service"] == "pagerduty-events"] == ["trigger", "resolve"]
    assert [w["json"]["incident"]["status"] for w in writes if w["service"] == "statuspage"] == [
        "investigating", "resolved"]
    assert len([w for w in writes if w["service"] == "slack"]) == 2 and not sandbox.rejected()
    report = (workspace / "postmortem.md").read_text()
    values = [v for kv in database_down["secrets"].values() for v in kv.values()] + sandbox_credentials(sandbox)
    assert_no_secret([proc.stdout, proc.stderr, report, (workspace / "timeline.jsonl").read_text()], values)

    # A second run finds the database healthy: nothing changes, nobody is paged again.
    before = len(sandbox.accepted_writes())
    generation = deployment(k8s, namespace).metadata.generation
    again = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path,
                         "-e", f"emergency_database_namespace={db_namespace}",
                         playbook=DATABASE, reason="database timeouts")
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap_changed(again.stdout) == 0 and len(sandbox.accepted_writes()) == before
    assert deployment(k8s, namespace).metadata.generation == generation
    assert db_pod(k8s, db_namespace).metadata.uid == pod.metadata.uid


def test_p0_database_check_mode_changes_nothing(k8s, cluster, sandbox, namespace, database_down, tmp_path):
    db_namespace = database_down["db_namespace"]
    broken = db_pod(k8s, db_namespace)
    generation = deployment(k8s, namespace).metadata.generation
    proc = run_playbook(cluster, sandbox, namespace, "db-check", tmp_path,
                        "-e", f"emergency_database_namespace={db_namespace}", "--check",
                        playbook=DATABASE, reason="database timeouts")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "recovery needed: True" in proc.stdout
    assert deployment(k8s, namespace).metadata.generation == generation
    assert "DB_RETRY_ATTEMPTS" not in app_env(k8s, namespace)
    assert db_pod(k8s, db_namespace).metadata.uid == broken.metadata.uid
    assert db_health(cluster, db_namespace) == 503
    assert sandbox.writes() == []


def test_p0_database_escalates_when_recycling_does_not_bring_the_database_back(
        k8s, cluster, sandbox, namespace, database, tmp_path):
    db_namespace = database(fixed=False)["db_namespace"]
    broken = db_pod(k8s, db_namespace)
    proc = run_playbook(cluster, sandbox, namespace, "db-escalate", tmp_path,
                        "-e", f"emergency_database_namespace={db_namespace}", "-e", "database_outage_wait_timeout=5",
                        playbook=DATABASE, reason="database timeouts")
    assert proc.returncode != 0
    (failure,) = [line for line in proc.stdout.splitlines() if line.startswith("fatal:") and "did not recover" in line]
    # Recycling brought back a crash-looping pod; the restart of its StatefulSet did not help either.
    assert "(dependency_down): tried recycle_pods: " in failure and "; restart: " in failure
    assert "CrashLoopBackOff" in failure and "Paged Team Lead" in failure
    assert "Traceback" not in proc.stdout + proc.stderr
    # The pod was recycled (and recorded) before the escalation; the pages went out, nothing was resolved.
    assert db_pod(k8s, db_namespace).metadata.uid != broken.metadata.uid
    assert list((tmp_path / "db-escalate").rglob("*postgresql*.json"))
    events = [w["json"]["event_action"] for w in sandbox.accepted_writes() if w["service"] == "pagerduty-events"]
    assert events == ["trigger", "trigger"]
    assert "**Status: UNRESOLVED**" in (tmp_path / "db-escalate" / "postmortem.md").read_text()
