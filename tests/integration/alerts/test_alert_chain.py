"""From alert to recovery with no human in the loop, on the real chain: Prometheus evaluating the reference rules
against the local cluster, Alertmanager, ansible-rulebook with the collection's event source, the playbooks and
the OpenAPI-validating SaaS sandbox. Waits are bounded polls of what the chain itself reports; speed is measured
by benchmarks/alerts_bench.py, never asserted here."""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tools.alert_chain import APP, BAD_IMAGE, NAMESPACE, WORKERS, wait_for

pytestmark = pytest.mark.xdist_group("alert-chain")
REPO = Path(__file__).resolve().parents[3]
CLOSE = "Alert resolved - close its incident"


def since(records, started):
    return [r for r in records if datetime.datetime.fromisoformat(r["opened_at"]).timestamp() >= int(started)]


def runs_of(chain, incident, play):
    """How many runs of `play` opened (or reopened) the incident: the timeline records each run's incident task
    (the step that opens it; the preview before the policy checks writes nothing)."""
    return sum(1 for e in chain.timeline(incident) if e["play"] == play and e["action"].endswith(".incident")
               and "Open the incident workspace" in e["task"])


def closed(chain, incident):
    """The close run (alert resolved) showed its response times, its last task: everything it does is done (the
    postmortem, the review invitation, the PagerDuty note)."""
    return any(e["play"] == CLOSE and e["task"].endswith("Show the response times against the severity target")
               and e["status"] == "ok" for e in chain.timeline(incident))


def quiet(chain, alertname):
    """Neither pending nor firing, and no pod of the namespace left from an earlier fault."""
    return not chain.prometheus_alerts(alertname)


def alertmanager_notifications(chain):
    with urllib.request.urlopen(f"{chain.monitoring['alertmanager_url']}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith('alertmanager_notifications_total{integration="webhook"'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def read_incident(record):
    return json.loads((Path(record["incident_dir"]) / "incident.json").read_text())


def test_bad_image_is_detected_rolled_back_and_the_incident_resolved(chain):
    chain.reset_workload()
    wait_for("EmbeddingServiceDown quiet before the fault", lambda: quiet(chain, "EmbeddingServiceDown"), 120)
    statuspage_before = len(chain.sandbox.accepted_writes("statuspage"))
    fault = chain.break_app()

    opened = wait_for("an incident opened by EmbeddingServiceDown",
                      lambda: since(chain.incidents_of("EmbeddingServiceDown"), fault), 240)
    incident = opened[0]
    wait_for("the incident closed by the alert's resolution", lambda: closed(chain, incident), 240)

    # One incident for the whole outage, though every crashing pod fired its own alert.
    assert len(since(chain.incidents_of("EmbeddingServiceDown"), fault)) == 1
    assert runs_of(chain, incident, "P0 complete system outage") == 1
    assert runs_of(chain, incident, CLOSE) == 1
    # The P0 playbook rolled the bad image back ...
    image = chain.deployment(APP)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image != BAD_IMAGE
    rollbacks = [e for e in chain.timeline(incident) if e["action"].endswith(".recover") and e["status"] == "changed"
                 and (e.get("summary") or {}).get("option") == "rollback"]
    assert rollbacks and rollbacks[0]["phase"] == "recover"
    # ... so Prometheus scrapes every pod again and the alert is gone.
    assert chain.query('count(up{job="paperless-maverick", kubernetes_namespace="paperless-maverick"} == 0)') == []
    assert chain.query('min(up{job="paperless-maverick", kubernetes_namespace="paperless-maverick"})')[0]["value"][1] == "1"
    assert not chain.prometheus_alerts("EmbeddingServiceDown", "firing")
    # Paged once, status page and Slack opened then resolved; the postmortem measures from the alert's start.
    page = chain.pagerduty(incident["incident_id"])
    assert page["opened"] == 1 and [e["event_action"] for e in page["events"]] == ["trigger", "resolve"]
    statuspage = [w["json"]["incident"]["status"] for w in chain.sandbox.accepted_writes("statuspage")[statuspage_before:]]
    assert statuspage[0] == "investigating" and statuspage[-1] == "resolved"
    slack = [w["json"] for w in chain.sandbox.accepted_writes("slack")]
    assert any("Resolved" in json.dumps(m) and incident["incident_id"] in json.dumps(m) for m in slack)
    record = read_incident(incident)
    assert record["alert"]["status"] == "resolved" and record["resolved_at"] >= record["alert_started_at"]
    # The declaration started the escalation clock; the recovery stopped it before the team lead's deadline.
    escalation = Path(incident["incident_dir"]) / "escalation"
    assert (escalation / "clock.json").exists()
    assert json.loads((escalation / "stopped.json").read_text())["reason"] == "recovered"
    assert not clock_running(escalation) and not chain.sandbox.escalations
    report = (Path(incident["incident_dir"]) / "postmortem.md").read_text()
    assert "## Alert" in report and "Embedding service is down" in report
    assert "| time to detect | n/a |" not in report and "| time to resolve | n/a |" not in report


def test_queue_backlog_alert_scales_workers_within_bounds_until_it_resolves(chain):
    chain.reset_workload()
    wait_for("EmbeddingQueueDepthCritical quiet before the fault", lambda: quiet(chain, "EmbeddingQueueDepthCritical"), 120)
    notifications_before = alertmanager_notifications(chain)
    # Jobs arrive as fast as the 3 workers process them (5 a second each): the backlog of 400 stays until there
    # are more workers; 10 drain it in seconds.
    fault = time.time()
    chain.set_queue(depth=400, arrival_rate=15, worker_rate=5)

    opened = wait_for("an incident opened by EmbeddingQueueDepthCritical",
                      lambda: since(chain.incidents_of("EmbeddingQueueDepthCritical"), fault), 300)
    incident = opened[0]
    wait_for("the incident closed by the alert's resolution", lambda: closed(chain, incident), 300)
    assert chain.pagerduty(incident["incident_id"])["status"] == "resolved"

    # ceil(400 / 10 jobs a worker) = 40, bounded by queue_backlog_max_workers (10).
    assert chain.deployment(WORKERS)["spec"]["replicas"] == 10
    depth = max(float(s["value"][1]) for s in chain.query(f'embedding_queue_depth{{kubernetes_namespace="{NAMESPACE}"}}'))
    assert depth < 100
    assert runs_of(chain, incident, "P1 worker queue backlog") == 1
    assert chain.pagerduty(incident["incident_id"])["opened"] == 1
    # Alertmanager told the rulebook of the firing group and of its resolution (and again while it fired, when the
    # backlog outlasted repeat_interval), and none of that started a second run.
    assert alertmanager_notifications(chain) - notifications_before >= 2
    assert len(since(chain.incidents_of("EmbeddingQueueDepthCritical"), fault)) == 1


def clock_running(escalation):
    """Whether an escalation clock process still holds the incident's clock lock."""
    import fcntl

    with open(escalation / "clock.lock", "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
    return False


def test_an_alert_nobody_acts_on_escalates_until_someone_acknowledges(chain):
    """No automation for a critical cost alert: the page goes out, nobody acknowledges, the clock pages the team
    lead at 60 s; an acknowledgement in PagerDuty then stops it before the engineering manager's turn."""
    started = time.time()
    start = datetime.datetime.now(datetime.timezone.utc).isoformat()
    alert = {"startsAt": start, "labels": {"alertname": "EmbeddingCostCritical", "severity": "critical",
                                           "cluster": "escalation"}, "annotations": {"summary": "Spend over budget"}}
    chain.post_alertmanager([alert])
    (incident,) = wait_for("the EmbeddingCostCritical incident",
                           lambda: [i for i in since(chain.incidents_of("EmbeddingCostCritical"), started)
                                    if (chain.pagerduty(i["incident_id"]) or {}).get("status") == "triggered"], 120)
    key = f"mataresit-{incident['incident_id']}"
    (paged,) = wait_for("the team lead paged", lambda: [
        e for e in chain.sandbox.escalations if chain.sandbox.incidents[e["incident"]]["incident_key"] == key], 120)
    assert paged["level"] == 2 and read_incident(incident)["severity"] == "P1"

    pd_incident = chain.sandbox.incidents[paged["incident"]]
    settings = chain.sandbox.settings()
    request = urllib.request.Request(
        f"{settings['pagerduty_api_url']}/incidents/{pd_incident['id']}", method="PUT",
        data=json.dumps({"incident": {"type": "incident_reference", "status": "acknowledged"}}).encode(),
        headers={"Authorization": f"Token token={settings['pagerduty_api_token']}", "From": settings["pagerduty_from"],
                 "Accept": "application/vnd.pagerduty+json;version=2", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
    escalation = Path(incident["incident_dir"]) / "escalation"
    wait_for("the clock stopped by the acknowledgement", lambda: not clock_running(escalation), 30)
    assert json.loads((escalation / "stopped.json").read_text())["reason"] == "acknowledged"
    assert [e["level"] for e in chain.sandbox.escalations if e["incident"] == pd_incident["id"]] == [2]
    pages = [e for e in chain.timeline(incident) if e["phase"] == "escalate" and e["status"] == "changed"]
    assert [e["task"] for e in pages] == ["Page Team Lead (escalation level 2)", "Stop the escalation clock: acknowledged"]

    chain.post_alertmanager([dict(alert, endsAt=datetime.datetime.now(datetime.timezone.utc).isoformat())])
    wait_for("the incident closed", lambda: closed(chain, incident), 300)


FORGED = {"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "x", "alerts": [{
    "status": "firing", "fingerprint": "0123456789abcdef", "startsAt": "2026-12-02T10:00:00Z",
    "labels": {"alertname": "EmbeddingServiceDown", "severity": "critical", "kubernetes_namespace": NAMESPACE},
    "annotations": {"summary": "forged"}}]}


def test_unauthenticated_or_forged_alerts_are_refused_and_start_nothing(chain):
    log_before = chain.rulebook_log()
    incidents_before = sorted(os.listdir(chain.incidents))
    writes_before = len(chain.sandbox.writes())
    token = chain.token
    refused = [
        chain.post_webhook(FORGED),
        chain.post_webhook(FORGED, {"Authorization": "Bearer not-the-token-0123456789"}),
        chain.post_webhook(FORGED, {"Authorization": f"Basic {token}"}),
        chain.post_webhook(FORGED, {"Authorization": f"Bearer {token}x"}),
        chain.post_webhook(FORGED, {"X-Token": token}),
    ]
    assert refused == [401] * 5
    forged_fields = [{"fingerprint": "{{ 7 * 7 }}"}, {"status": "{% raw %}"}, {"startsAt": "{# now #}"},
                     {"labels": {"alertname": "{{ lookup('pipe', 'id') }}"}}]
    bearer = {"Authorization": f"Bearer {token}"}
    for change in forged_fields:
        body = json.loads(json.dumps(FORGED))
        body["alerts"][0].update(change)
        assert chain.post_webhook(body, bearer) == 400
    assert chain.post_webhook(None, dict(bearer, **{"Content-Type": "application/json"}), raw=b"{not json") == 400

    time.sleep(3)  # anything started would have opened its incident by now
    log = chain.rulebook_log()[len(log_before):]
    assert log.count("refused a request") == 6 and log.count("dropped alert") == 4
    assert "forwarding" not in log and "PLAY [" not in log
    assert sorted(os.listdir(chain.incidents)) == incidents_before
    assert len(chain.sandbox.writes()) == writes_before
    assert token not in chain.rulebook_log()


def test_production_refuses_alert_driven_runs_whose_source_was_not_authenticated(tmp_path):
    """ansible-rulebook adds `ansible_eda` to every run it starts: production requires a verified alert with it."""
    from ansible_collections.mataresit.emergency.plugins.module_utils import alert as alerts

    event = alerts.Episodes("the-real-webhook-token-0123").update(FORGED)[0][0]["alert"]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), MRE_INCIDENTS_DIR=str(tmp_path),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    base = [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/p0-outage.yml", "-i", "inventories/production",
            "-e", "incident_confirmed=true"]
    cases = {
        # a rulebook with another event source (no signed alert), e.g. ansible.eda.alertmanager
        "unsigned": ["-e", json.dumps({"ansible_eda": {"ruleset": "x", "rule": "y"}, "reason": "alert"})],
        # signed with another token than the inventory's
        "forged": ["-e", json.dumps({"ansible_eda": {"ruleset": "x"}, "incident_alert": event["data"],
                                     "incident_alert_signature": event["signature"],
                                     "vault_alertmanager_webhook_token": "the-inventory-token-0123456"})],
    }
    messages = {}
    for name, extra in cases.items():
        proc = subprocess.run(base + extra, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode != 0 and "Traceback" not in proc.stdout + proc.stderr
        messages[name] = proc.stdout
    assert "policy runs alert-driven plays only from the collection's authenticated event" in messages["unsigned"]
    assert "signature does not match" in messages["forged"]
    assert os.listdir(tmp_path) == []  # no incident opened, nothing paged, no cluster touched


PAYLOADS = {
    "expression": "{{ lookup('pipe', 'touch %s') }}",
    "statement": "{%% set x = lookup('pipe', 'touch %s') %%}{{ x }}",
    "comment": "{# a comment #}{{ lookup('pipe', 'touch %s') }}",
}


def test_template_payloads_in_alert_fields_run_nothing_and_appear_literally(chain, tmp_path):
    chain.reset_workload()
    marks = {name: tmp_path / f"ran-{name}" for name in PAYLOADS}
    text = {name: PAYLOADS[name] % marks[name] for name in PAYLOADS}
    generations = {name: chain.deployment(name)["metadata"]["generation"] for name in (APP, WORKERS)}
    log_before, started = chain.rulebook_log(), time.time()
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now.isoformat()

    def alerts(ends=None):
        window = {"startsAt": start, **({"endsAt": ends} if ends else {})}
        return [
            # An automated alert: the P0 playbook runs, finds the service healthy and changes nothing.
            dict(window, labels={"alertname": "EmbeddingServiceDown", "severity": "critical", "cluster": "payloads",
                                 "kubernetes_namespace": NAMESPACE, "team": text["statement"]},
                 annotations={"summary": text["expression"], "description": text["statement"],
                              "runbook_url": text["comment"]}, generatorURL="http://prometheus/" + text["expression"]),
            # No automation: an incident and a page, no cluster touched. Payloads in the group label and severity.
            dict(window, labels={"alertname": "EmbeddingCostCritical", "severity": text["comment"],
                                 "cluster": text["expression"]},
                 annotations={"summary": text["comment"], "description": text["expression"]}),
            # An alert name that no Prometheus rule can have: dropped by the event source.
            dict(window, labels={"alertname": text["expression"], "severity": "critical", "cluster": "payloads"},
                 annotations={"summary": text["statement"]}),
        ]

    chain.post_alertmanager(alerts())
    down = wait_for("the EmbeddingServiceDown incident", lambda: since(chain.incidents_of("EmbeddingServiceDown"), started), 120)
    cost = wait_for("the EmbeddingCostCritical page",
                    lambda: [i for i in since(chain.incidents_of("EmbeddingCostCritical"), started)
                             if (chain.pagerduty(i["incident_id"]) or {}).get("status") == "triggered"], 120)
    chain.post_alertmanager(alerts())  # sent again, as a client retrying would: starts nothing
    chain.post_alertmanager(alerts(ends=datetime.datetime.now(datetime.timezone.utc).isoformat()))
    for record in (down[0], cost[0]):
        # Alertmanager may see a group resolved only at its resolve_timeout (5 minutes): a bounded wait past it.
        wait_for(f"{record['incident_id']} closed", lambda r=record: closed(chain, r), 420)

    assert not any(mark.exists() for mark in marks.values()), "an alert field was evaluated as a template"
    assert {name: chain.deployment(name)["metadata"]["generation"] for name in (APP, WORKERS)} == generations
    log = chain.rulebook_log()[len(log_before):]
    assert log.count("forwarding firing") == 2 and "dropped alert" in log and "TemplateSyntaxError" not in log
    assert runs_of(chain, down[0], "P0 complete system outage") == 1
    assert runs_of(chain, cost[0], "Alert without runbook automation - open an incident and page") == 1
    assert chain.pagerduty(cost[0]["incident_id"])["status"] == "resolved"
    # Data, shown as received: in the incident record, the timeline, the postmortem and the page.
    down_record, cost_record = read_incident(down[0]), read_incident(cost[0])
    assert down_record["alert"]["annotations"] == {"summary": text["expression"], "description": text["statement"],
                                                   "runbook_url": text["comment"]}
    assert down_record["alert"]["labels"]["team"] == text["statement"]
    assert cost_record["alert"]["severity"] == "unknown" and cost_record["severity"] == "P2"
    assert cost_record["alert"]["group_labels"]["cluster"] == text["expression"]
    timeline = (Path(down[0]["incident_dir"]) / "timeline.jsonl").read_text()
    assert json.dumps(text["expression"])[1:-1] in timeline
    for record, expected in ((down[0], ("expression", "statement", "comment")), (cost[0], ("expression", "comment"))):
        report = (Path(record["incident_dir"]) / "postmortem.md").read_text()
        assert all(text[name] in report for name in expected), report
    page = chain.pagerduty(cost[0]["incident_id"])
    assert page["opened"] == 1 and text["comment"] in page["events"][0]["payload"]["summary"]
    assert chain.pagerduty(down[0]["incident_id"]) is None  # healthy: the P0 run paged no one
