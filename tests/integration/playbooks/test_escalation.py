"""The escalation clock end to end, deadlines in seconds: started by the declaration of a playbook run (detached),
it pages the next level through PagerDuty's REST API when recovery fails, and stops when the recovery succeeds or
the incident is acknowledged. Against the local control plane and the OpenAPI-validating SaaS sandbox."""
from __future__ import annotations

import fcntl
import json
import time
import uuid

import httpx
import pytest

from tests.integration.playbooks.helpers import APP, break_app, deployment, run_playbook
from tests.integration.playbooks.test_incident import pagerduty_rest

CHAIN = [
    {"role": "On-Call Engineer", "after": 0},
    {"role": "Team Lead", "after": "3s", "pagerduty_escalation_level": 2},
    {"role": "Engineering Manager", "after": "6s", "pagerduty_escalation_level": 3},
    {"role": "CTO", "after": "6s", "severities": ["P0"], "pagerduty_responder": {"id": "PCTO001", "type": "user_reference"}},
]


def clock_args(tmp_path, sandbox, chain):
    path = tmp_path / "chain.json"
    path.write_text(json.dumps({"emergency_escalation_chain": chain, "escalation_poll_interval": 0.5,
                                "emergency_pagerduty_requester_id": "PREQ001"}))
    return ["-e", f"@{path}", *pagerduty_rest(sandbox)]


def clock_running(workspace):
    """Whether a clock process holds the incident's clock lock."""
    lock = workspace / "escalation" / "clock.lock"
    if not lock.exists():
        return False
    with open(lock, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        return False


def wait_for(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def timeline(workspace):
    return [json.loads(line) for line in (workspace / "timeline.jsonl").read_text().splitlines()]


@pytest.fixture
def deployed(cluster, namespace, workload):
    if not cluster.get("local"):
        pytest.skip("the health targets are the local cluster's health server")
    return workload(namespace, wait=True)


def test_recovery_fails_and_the_clock_pages_each_next_level(k8s, cluster, sandbox, namespace, deployed, tmp_path):
    # Two bad revisions in a row: rolling back lands on another bad image, so no option restores the service.
    break_app(k8s, namespace)
    k8s.apps.patch_namespaced_deployment(APP, namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": APP, "image": "paperless-maverick:v3-bad"}]}}}})
    incident_id = f"esc-{uuid.uuid4().hex[:8]}"
    proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, *clock_args(tmp_path, sandbox, CHAIN),
                        "-e", json.dumps({"p0_outage_escalation": ["rollback"], "p0_outage_wait_timeout": 10}))
    # Every option of the plan fails (rollback, restart, scale up): the run pages the team lead and fails naming it.
    assert proc.returncode != 0 and "local did not recover" in proc.stdout, proc.stdout[-4000:]
    assert "Paged Team Lead" in proc.stdout
    workspace = tmp_path / incident_id

    # Neither acknowledged nor recovered: the team lead at 3 s, the engineering manager and (P0) the CTO at 6 s.
    wait_for("every level paged", lambda: len(sandbox.escalations) == 2 and sandbox.responder_requests, 60)
    (incident,) = sandbox.incidents.values()  # the declaration's page opened it
    assert incident["incident_key"] == f"mataresit-{incident_id}"
    assert [(e["incident"], e["level"]) for e in sandbox.escalations] == [(incident["id"], 2), (incident["id"], 3)]
    (request,) = sandbox.responder_requests
    assert request["targets"] == [{"id": "PCTO001", "type": "user_reference"}] and request["requester"] == "PREQ001"
    assert "paging CTO" in request["message"]
    writes = sandbox.writes("pagerduty-rest")
    assert all(w["headers"]["From"] == sandbox.pd_user_email for w in writes) and not sandbox.rejected()

    # Each page is in the timeline (and so in the postmortem); the clock has ended: no process is left behind.
    wait_for("the clock to end", lambda: not clock_running(workspace), 30)
    pages = [e for e in timeline(workspace) if e["phase"] == "escalate" and e["status"] == "changed"]
    assert [e["task"] for e in pages] == ["Page Team Lead (escalation level 2)",
                                          "Page Engineering Manager (escalation level 3)", "Page CTO (escalation level 4)"]
    assert all(e["action"] == "mataresit.emergency.escalation" for e in pages)
    started = json.loads((workspace / "escalation" / "clock.json").read_text())["started_at"]
    assert pages[0]["time"] > started
    assert not (workspace / "escalation" / "stopped.json").exists()

    # Paging again by hand (a run whose recovery failed for good) pages no one twice.
    proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, *clock_args(tmp_path, sandbox, CHAIN),
                        "-e", "escalation_level=next", playbook="playbooks/escalate.yml")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "every level of the escalation chain was already paged" in proc.stdout
    assert len(sandbox.escalations) == 2 and len(sandbox.responder_requests) == 1


def test_a_recovery_stops_the_clock_before_anyone_else_is_paged(k8s, cluster, sandbox, namespace, deployed, tmp_path):
    break_app(k8s, namespace)
    incident_id = f"esc-{uuid.uuid4().hex[:8]}"
    chain = [dict(level, after="60s") if level["after"] else level for level in CHAIN]
    proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, *clock_args(tmp_path, sandbox, chain))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    workspace = tmp_path / incident_id

    assert (workspace / "escalation" / "clock.json").exists()  # the declaration started it
    assert json.loads((workspace / "escalation" / "stopped.json").read_text())["reason"] == "recovered"
    wait_for("the clock to end", lambda: not clock_running(workspace), 30)
    assert sandbox.escalations == [] and sandbox.responder_requests == []
    stops = [e for e in timeline(workspace) if e["task"] == "Stop the escalation clock: recovered"]
    assert len(stops) == 1 and stops[0]["phase"] == "escalate"
    report = (workspace / "postmortem.md").read_text()
    assert "| 2 | Team Lead | 60s | not needed (recovered) |" in report


def test_an_acknowledgement_stops_the_clock(cluster, sandbox, namespace, deployed, tmp_path):
    incident_id = f"esc-{uuid.uuid4().hex[:8]}"
    chain = [dict(level, after="30s") if level["after"] else level for level in CHAIN]
    proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, *clock_args(tmp_path, sandbox, chain),
                        "-e", "severity=P1", playbook="playbooks/incident.yml", reason="exports stuck")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    workspace = tmp_path / incident_id
    assert clock_running(workspace)

    # Someone acknowledges in PagerDuty before the team lead's deadline.
    (incident,) = sandbox.incidents.values()
    settings = sandbox.settings()
    response = httpx.put(f"{settings['pagerduty_api_url']}/incidents/{incident['id']}",
                         json={"incident": {"type": "incident_reference", "status": "acknowledged"}},
                         headers={"Authorization": f"Token token={settings['pagerduty_api_token']}",
                                  "Accept": "application/vnd.pagerduty+json;version=2", "From": settings["pagerduty_from"]})
    assert response.status_code == 200

    wait_for("the clock to end", lambda: not clock_running(workspace), 60)
    assert sandbox.escalations == [] and sandbox.responder_requests == []
    assert json.loads((workspace / "escalation" / "stopped.json").read_text())["reason"] == "acknowledged"


@pytest.mark.parametrize("level, why", [
    ({"role": "Team Lead", "after": "3s"}, "a level paged after the declaration needs pagerduty_escalation_level"),
    ({"role": "Team Lead", "after": "soon", "pagerduty_escalation_level": 2}, "after"),
])
def test_a_wrong_escalation_chain_fails_before_anything_is_opened(k8s, cluster, sandbox, namespace, deployed,
                                                                  tmp_path, level, why):
    """The inventory's chain is read by the escalation clock's own rules in the preflight: a run with a level that
    could never be paged stops there, naming the level, with no incident opened, no page and nothing changed."""
    break_app(k8s, namespace)
    image = deployment(k8s, namespace).spec.template.spec.containers[0].image
    incident_id = f"esc-{uuid.uuid4().hex[:8]}"
    proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path,
                        *clock_args(tmp_path, sandbox, [CHAIN[0], level]))
    assert proc.returncode != 0
    assert "escalation chain level 2 (Team Lead)" in proc.stdout and why in proc.stdout, proc.stdout[-3000:]
    assert not (tmp_path / incident_id).exists()
    assert sandbox.writes("pagerduty-rest") == [] and sandbox.incidents == {}
    assert deployment(k8s, namespace).spec.template.spec.containers[0].image == image
