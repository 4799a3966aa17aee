"""The P0 playbook end to end, as an on-call engineer or CI runs it: against the
local control plane and the OpenAPI-validating SaaS sandbox."""
from __future__ import annotations

import json
import stat
import uuid

import httpx
import pytest
import yaml

from tests.integration.playbooks.helpers import BAD, REPO, break_app, deployment, recap_changed, run_playbook


def every_encoding(value):
    import base64
    from urllib.parse import quote, quote_plus

    raw = value.encode()
    return {value, base64.b64encode(raw).decode().rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("="),
            quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}


@pytest.fixture
def broken(k8s, cluster, namespace, workload):
    if not cluster.get("local"):
        pytest.skip("the playbook's health targets are the local cluster's health server")
    deployed = workload(namespace, wait=True)
    break_app(k8s, namespace)
    return deployed


def test_p0_outage_rolls_back_pages_once_and_writes_the_report(k8s, cluster, sandbox, namespace, broken, tmp_path):
    incident_id = f"it-{uuid.uuid4().hex[:8]}"
    health = f"{cluster['health_url']}/health"
    assert httpx.get(health, params={"namespace": namespace}).status_code == 503

    proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

    # Recovered: the good image is back, fully rolled out, and the app answers healthy.
    dep = deployment(k8s, namespace)
    assert dep.spec.template.spec.containers[0].image == "paperless-maverick:latest"
    assert dep.status.available_replicas == dep.spec.replicas == dep.status.updated_replicas == 3
    assert httpx.get(health, params={"namespace": namespace}).status_code == 200

    # Paged, status page opened and resolved, Slack told: each request valid against the provider's spec.
    writes = sandbox.accepted_writes()
    events = [w["json"]["event_action"] for w in writes if w["service"] == "pagerduty-events"]
    assert events == ["trigger", "resolve"]
    assert len({w["json"]["dedup_key"] for w in writes if w["service"] == "pagerduty-events"}) == 1
    statuspage = [w["json"]["incident"]["status"] for w in writes if w["service"] == "statuspage"]
    assert statuspage == ["investigating", "resolved"]
    assert len([w for w in writes if w["service"] == "slack"]) == 2
    assert not sandbox.rejected()

    # The incident workspace: backup of the rolled-back Deployment, timeline and report, all private.
    workspace = tmp_path / incident_id
    report = (workspace / "postmortem.md").read_text()
    assert "time to act (target 5 for P0)" in report and "Roll back" in report
    timeline = [json.loads(line) for line in (workspace / "timeline.jsonl").read_text().splitlines()]
    # each step of the recover module is an entry of its own (the module's task is one more)
    rollback = [e for e in timeline if e["action"].endswith("recover") and e["status"] == "changed"
                and "option" in e.get("summary", {})]
    assert [e["task"] for e in rollback] == [f"Roll back Deployment {namespace}/paperless-maverick "
                                             "(recent_bad_deploy, option 1 of 3)"]
    assert rollback[0]["phase"] == "recover" and rollback[0]["cluster"] == "local"
    # The recovery started before the declaration, so it never waited for it (issue 10), and the wave's step
    # reported it: started in the background (ok), the page, then the recovery's result (changed).
    steps = [(i, e["status"]) for i, e in enumerate(timeline) if e["action"] == "mataresit.emergency.recover"
             and e["task"].endswith("Recover each affected workload, escalating per workload")]
    page = next(i for i, e in enumerate(timeline) if e["action"] == "mataresit.emergency.pagerduty")
    assert [status for index, status in steps] == ["ok", "changed"] and steps[0][0] < page < steps[1][0], \
        [(e["task"], e["action"], e["status"]) for e in timeline]
    backups = list((workspace / "clusters" / "local" / "rollout").glob("*.json"))
    assert backups and json.loads(backups[0].read_text())
    for path in [workspace / "postmortem.md", workspace / "timeline.jsonl", *backups]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # No credential or secret value anywhere the run wrote or printed, in any encoding (issue 7): the
    # timeline, the report, the notification records, every other file of the workspace, the output.
    settings = sandbox.settings()
    webhook_path = settings["slack_webhook_url"].split("://", 1)[1].split("/", 1)[1]
    secrets = [settings["pagerduty_routing_key"], settings["statuspage_api_key"], webhook_path,
               webhook_path.rsplit("/", 1)[-1]]
    secrets += [v for values in broken["secrets"].values() for v in values.values() if len(v) >= 6]
    written = proc.stdout + proc.stderr + "".join(p.read_text(errors="replace") for p in workspace.rglob("*")
                                                  if p.is_file() and p.suffix in (".json", ".jsonl", ".md"))
    assert list(workspace.rglob("notifications/*.json"))  # the records of what was sent are searched too
    for value in secrets:
        for encoded in every_encoding(value):
            assert encoded not in written, f"a secret value is in what the run wrote ({encoded[:4]}...)"

    # A second run finds the service healthy: nothing changes, nobody is paged again.
    revision = deployment(k8s, namespace).metadata.annotations["deployment.kubernetes.io/revision"]
    before = len(sandbox.accepted_writes())
    again = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path)
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap_changed(again.stdout) == 0
    assert len(sandbox.accepted_writes()) == before
    assert deployment(k8s, namespace).metadata.annotations["deployment.kubernetes.io/revision"] == revision


def test_check_mode_changes_nothing_and_sends_nothing(k8s, cluster, sandbox, namespace, broken, tmp_path):
    before = deployment(k8s, namespace)
    proc = run_playbook(cluster, sandbox, namespace, f"chk-{uuid.uuid4().hex[:8]}", tmp_path, "--check")
    assert proc.returncode == 0, proc.stdout[-4000:]
    after = deployment(k8s, namespace)
    # The controller may still update the status; the object itself must be as it was.
    assert after.metadata.generation == before.metadata.generation
    assert after.metadata.annotations == before.metadata.annotations
    assert after.spec.template.spec.containers[0].image == BAD
    assert sandbox.writes() == []


def test_an_option_refused_by_a_role_argument_spec_shows_no_credential(cluster, sandbox, namespace, tmp_path):
    """A refused role option fails the role's argument validation, whose result (printed with -v, kept in AWX job
    events) carries the role's whole spec: the spec documents where a default comes from and renders none, so no
    credential of the inventory is in it."""
    # The inventory holds the (vaulted) credentials and the wrong value; operator_input would refuse the wrong value
    # as an extra var before any role validates.
    settings = sandbox.settings()
    credentials = {"emergency_pagerduty_api_token": settings["pagerduty_api_token"],
                   "notify_email_password": f"pw-{uuid.uuid4().hex}"}
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(json.dumps({"all": {"vars": {**credentials, "post_incident_email_port": "not-a-port"}}}))
    proc = run_playbook(cluster, sandbox, namespace, f"spec-{uuid.uuid4().hex[:8]}", tmp_path, "-v",
                        "--tags", "preflight,assess", inventories=("inventories/local", wrong))
    assert proc.returncode != 0 and "argument_spec_data" in proc.stdout, proc.stdout[-3000:]
    assert "post_incident_email_port' is of type str" in proc.stdout
    written = proc.stdout + proc.stderr + "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*")
                                                  if p.is_file() and p.name not in ("sandbox.json", "wrong.yml"))
    for value in (*credentials.values(), settings["pagerduty_routing_key"], settings["statuspage_api_key"]):
        for encoded in every_encoding(value):
            assert encoded not in written, f"a credential is in what the run printed or wrote ({encoded[:4]}...)"


def test_no_role_argument_spec_holds_a_template():
    """ansible-core renders a role's spec at every validation of it: a template in it would put the value it reads
    (a credential) into the validation's result, and costs a compile per cluster for nothing."""
    def strings(node):
        if isinstance(node, dict):
            return [s for value in node.values() for s in strings(value)]
        if isinstance(node, list):
            return [s for value in node for s in strings(value)]
        return [node] if isinstance(node, str) else []

    specs = sorted((REPO / "roles").glob("*/meta/argument_specs.yml"))
    assert len(specs) >= 10
    templated = [(spec.parent.parent.name, s) for spec in specs for s in strings(yaml.safe_load(spec.read_text()))
                 if "{{" in s or "{%" in s]
    assert templated == []


def test_production_policy_requires_reason_and_confirmation(cluster, sandbox, namespace, tmp_path):
    env_vars = ["-e", "incident_require_reason=true", "-e", "incident_require_confirmation=true"]
    proc = run_playbook(cluster, sandbox, namespace, "policy-1", tmp_path, *env_vars, "-e", "reason=")
    assert proc.returncode != 0 and "requires a reason" in proc.stdout
    proc = run_playbook(cluster, sandbox, namespace, "policy-2", tmp_path, *env_vars)
    assert proc.returncode != 0 and "requires confirmation" in proc.stdout
    assert not (tmp_path / "policy-2").exists() and sandbox.writes() == []
