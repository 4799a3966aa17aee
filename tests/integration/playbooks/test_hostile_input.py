"""Issue 7 through the real ansible-playbook, on the local control plane and the SaaS sandbox: text from
outside (the operator's reason, object text from Kubernetes, SaaS answers) is data, never a template; any
other extra var holding a template is refused before anything happens; one run per incident at a time."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.playbooks.helpers import APP, REPO, break_app, deployment, run_playbook

PLAYS = Path(__file__).parent / "plays"


def payloads(marker):
    """A reason holding each kind of Jinja markup: an expression that would run a command, a statement, a comment."""
    return (f"api 5xx {{{{ lookup('pipe', 'touch {marker}') }}}} {{% if true %}}RENDERED{{% endif %}} "
            f"{{# hidden #}} end")


def timeline(workspace):
    return [json.loads(line) for line in (workspace / "timeline.jsonl").read_text().splitlines()]


@pytest.fixture
def local_only(cluster):
    if not cluster.get("local"):
        pytest.skip("the playbook's health targets are the local cluster's health server")


def test_reason_payloads_from_a_file_run_nothing_and_appear_literally(
        k8s, cluster, sandbox, namespace, workload, local_only, tmp_path):
    """-e @file: the reason, a Deployment's change-cause and a Slack error answer all hold templates."""
    marker, marker_k8s, marker_saas = (tmp_path / "ran-reason", tmp_path / "ran-k8s", tmp_path / "ran-saas")
    reason = payloads(marker)
    cause = f"deploy {{{{ lookup('pipe','touch${{IFS}}{marker_k8s}') }}}} {{% raw %}}"
    slack_error = f"invalid_blocks {{{{ lookup('pipe','touch${{IFS}}{marker_saas}') }}}}"
    workload(namespace, wait=True)
    break_app(k8s, namespace)
    k8s.apps.patch_namespaced_deployment(APP, namespace, {"metadata": {"annotations": {
        "kubernetes.io/change-cause": cause}}})
    sandbox.inject(400, service="slack", body=slack_error)
    extra = tmp_path / "reason.json"
    extra.write_text(json.dumps({"reason": reason}))
    incident_id = f"inj-{uuid.uuid4().hex[:8]}"
    incidents = tmp_path / "incidents"
    incidents.mkdir()

    proc = run_playbook(cluster, sandbox, namespace, incident_id, incidents, "-e", f"@{extra}", reason="overridden")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

    # Ran nothing: no command of any payload ran on the controller.
    assert not marker.exists() and not marker_k8s.exists() and not marker_saas.exists()
    # Changed nothing it should not: the rollback it should do, and the reason recorded as its change-cause.
    dep = deployment(k8s, namespace)
    assert dep.spec.template.spec.containers[0].image == "paperless-maverick:latest"
    assert dep.metadata.annotations["kubernetes.io/change-cause"] == f"P0 outage recovery: {reason}"
    # Shown literally: in the incident, the timeline, the postmortem and the page.
    workspace = incidents / incident_id
    assert json.loads((workspace / "incident.json").read_text())["reason"] == reason
    entries = timeline(workspace)
    text = json.dumps(entries)
    assert json.dumps(reason)[1:-1] in text
    assert json.dumps(cause)[1:-1] in text  # the triage evidence names the change-cause
    # Sent in the background (notify_async): its outcome is the entry that collects it, with Slack's own message.
    failed_slack = [e for e in entries if "Slack" in e["task"] and e["status"] in ("failed", "ignored_failure")]
    assert failed_slack and slack_error in failed_slack[0]["msg"]
    report = (workspace / "postmortem.md").read_text()
    assert f"- Reason: {reason}" in report
    trigger = next(w for w in sandbox.accepted_writes("pagerduty-events") if w["json"]["event_action"] == "trigger")
    assert reason in trigger["json"]["payload"]["summary"]


def test_reason_payloads_given_as_key_value_run_nothing_and_appear_literally(
        cluster, sandbox, namespace, workload, local_only, tmp_path):
    """-e 'reason="..."' on a healthy service: nothing to recover, the report written anyway."""
    marker = tmp_path / "ran-kv"
    reason = payloads(marker)
    workload(namespace, wait=True)
    incident_id = f"kv-{uuid.uuid4().hex[:8]}"
    proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, "-e", "post_incident_always_report=true",
                        reason=reason)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert not marker.exists()
    assert "changed=" in proc.stdout and sandbox.writes() == []  # healthy: nothing recovered, nobody paged
    opened = next(e for e in timeline(tmp_path / incident_id) if "Open the incident workspace" in e["task"])
    assert opened["summary"]["reason"] == reason
    assert f"- Reason: {reason}" in (tmp_path / incident_id / "postmortem.md").read_text()


@pytest.mark.parametrize("name", ["emergency_namespace", "incident_id", "p0_outage_scale_replicas", "notify_title",
                                  "incident_reason", "emergency_health_targets"])
def test_any_other_extra_var_holding_a_template_is_refused_before_anything(cluster, sandbox, namespace, workload,
                                                                           local_only, tmp_path, name):
    marker = tmp_path / "ran"
    payload = f"{{{{ lookup('pipe', 'touch {marker}') }}}}"
    value = [{"name": "x", "url": payload}] if name.endswith("targets") else payload
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({name: value}))
    # The hostile file comes last, as an operator's own -e would: nothing given later overrides it.
    ids = () if name == "incident_id" else ("-e", "incident_id=refused-1")
    proc = run_playbook(cluster, sandbox, None, None, tmp_path, *ids, "-e", f"@{extra}")
    assert proc.returncode != 0
    lines = [line for line in proc.stdout.splitlines() if f"Extra var {name}: it holds a template" in line]
    assert lines and "Traceback" not in proc.stdout + proc.stderr
    assert not marker.exists() and [p for p in tmp_path.iterdir() if p.is_dir()] == [] and sandbox.records() == []


def test_one_run_per_incident_at_a_time(cluster, sandbox, namespace, workload, local_only, tmp_path):
    """A re-fired alert while the first run works: the second run stops at once, says why, pages nobody."""
    workload(namespace, wait=True)
    incident_id = f"lock-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, MRE_INCIDENTS_DIR=str(tmp_path), MRE_KUBECONFIG=cluster["kubeconfig"],
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="default")
    holder = subprocess.Popen([str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYS / "hold.yml"),
                               "-i", "inventories/local", "-e", f"incident_id={incident_id}", "-e", "reason=first",
                               "-e", "hold_seconds=60"], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        lock = tmp_path / incident_id / "run.lock"
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert json.loads(lock.read_text())["pid"] == holder.pid
        second = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, reason="first")
        assert second.returncode != 0
        assert f"another run is working on it (ansible-playbook pid {holder.pid}" in second.stdout
        assert sandbox.records() == [] and "Traceback" not in second.stdout + second.stderr
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: its lock is taken over by the next run.
    third = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, "--tags", "preflight", reason="first")
    assert third.returncode == 0, third.stdout[-3000:]
