"""Every severity (playbooks/incident.yml) and the post-incident follow-through, end to end: against the local control
plane, the OpenAPI-validating SaaS sandbox and a real SMTP server."""
from __future__ import annotations

import datetime
import email
import json
import uuid

import pytest

from tests.integration.playbooks.helpers import APP, WORKERS, deployment, recap_changed, run_playbook

INCIDENT = "playbooks/incident.yml"
INCIDENT_LIST = "incident-response@mataresit.example"


@pytest.fixture
def deployed(cluster, namespace, workload):
    if not cluster.get("local"):
        pytest.skip("the health targets are the local cluster's health server")
    return workload(namespace, wait=True)


def pagerduty_rest(sandbox):
    """The PagerDuty REST settings (the postmortem note, the escalation clock) of the sandbox."""
    settings = sandbox.settings()
    return ["-e", f"emergency_pagerduty_api_token={settings['pagerduty_api_token']}",
            "-e", f"emergency_pagerduty_api_url={settings['pagerduty_api_url']}",
            "-e", f"emergency_pagerduty_from={settings['pagerduty_from']}"]


def smtp(server):
    return ["-e", f"notify_email_host={server.host}", "-e", f"notify_email_port={server.port}",
            "-e", "notify_email_secure=never"]


def generations(k8s, namespace):
    return {name: deployment(k8s, namespace, name).metadata.generation for name in (APP, WORKERS)}


def events(sandbox):
    return [w["json"] for w in sandbox.accepted_writes("pagerduty-events")]


def slack_texts(sandbox):
    return [json.dumps(m) for m in sandbox.slack_messages]


def test_p2_follows_its_policy_triages_without_change_and_is_raised_to_p0(
        k8s, cluster, sandbox, smtp_server, namespace, deployed, tmp_path):
    incident_id = f"p2-{uuid.uuid4().hex[:8]}"
    before = generations(k8s, namespace)
    proc = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, "-e", "severity=P2", *smtp(smtp_server),
                        playbook=INCIDENT, reason="search is slow")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    workspace = tmp_path / incident_id

    # P2's policy: PagerDuty at high urgency, Slack without @channel, the incident list; no public status page.
    (trigger,) = events(sandbox)
    assert trigger["event_action"] == "trigger" and trigger["payload"]["severity"] == "error"
    assert trigger["payload"]["summary"].startswith("P2 incident - Paperless Maverick (search is slow)")
    assert trigger["payload"]["custom_details"]["escalation"] == [
        "On-Call Engineer after 0", "Team Lead after 15m", "Engineering Manager after 30m", "VP Engineering after 60m"]
    assert sandbox.writes("statuspage") == []
    (slack,) = slack_texts(sandbox)
    assert "<!channel>" not in slack
    assert [m["to"] for m in smtp_server.messages] == [[INCIDENT_LIST]]
    # Triage for the record: the verdict is in the timeline, and nothing in the cluster changed.
    timeline = [json.loads(line) for line in (workspace / "timeline.jsonl").read_text().splitlines()]
    triage = next(e for e in timeline if e["action"].endswith(".triage"))
    assert triage["status"] == "ok" and triage["phase"] == "assess" and "verdict" in triage["summary"]
    assert not [e for e in timeline if e["status"] == "changed" and e["phase"] in ("assess", "recover")]
    assert generations(k8s, namespace) == before
    report = (workspace / "postmortem.md").read_text()
    assert "# Postmortem: " + incident_id + " (P2)" in report and "time to act (target 60 for P2)" in report
    assert json.loads((workspace / "incident.json").read_text())["severity"] == "P2"

    # Raised mid-incident: the same incident at P0 - the status page, @channel and a critical page; both severities
    # in the report.
    raised = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, "-e", "severity=P0", *smtp(smtp_server),
                          playbook=INCIDENT, reason="checkout is down too")
    assert raised.returncode == 0, raised.stdout[-4000:] + raised.stderr[-2000:]
    record = json.loads((workspace / "incident.json").read_text())
    assert record["severity"] == "P0" and record["response_target_minutes"] == 5
    assert [(h["severity"], h.get("raised_from")) for h in record["severity_history"]] == [("P2", None), ("P0", "P2")]
    second = events(sandbox)[1]
    assert second["event_action"] == "trigger" and second["dedup_key"] == trigger["dedup_key"]
    assert second["payload"]["severity"] == "critical" and "CTO after 60m" in second["payload"]["custom_details"]["escalation"]
    assert [w["json"]["incident"]["status"] for w in sandbox.accepted_writes("statuspage")] == ["investigating"]
    assert "<!channel>" in slack_texts(sandbox)[1]
    report = (workspace / "postmortem.md").read_text()
    assert f"- Severity raised from P2 to P0 at {record['severity_history'][1]['at']} (checkout is down too)" in report
    rows = [line for line in report.splitlines() if line.startswith("| P2 |") or line.startswith("| P0 |")]
    assert len(rows) == 2 and "| 60 |" in rows[0] and "| 5 |" in rows[1], rows
    assert generations(k8s, namespace) == before

    # The same run again: nothing to declare, nothing sent, nothing changed.
    writes = len(sandbox.accepted_writes())
    again = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, "-e", "severity=P0", *smtp(smtp_server),
                         playbook=INCIDENT, reason="checkout is down too")
    assert again.returncode == 0 and recap_changed(again.stdout) == 0, again.stdout[-3000:]
    assert len(sandbox.accepted_writes()) == writes and len(smtp_server.messages) == 2


def test_p3_is_low_urgency_without_status_page_or_mention(cluster, sandbox, namespace, deployed, tmp_path):
    proc = run_playbook(cluster, sandbox, namespace, f"p3-{uuid.uuid4().hex[:8]}", tmp_path, "-e", "severity=P3",
                        "-e", "statuspage_page_id=pg0mataresit", playbook=INCIDENT, reason="typo on the login page")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    (trigger,) = events(sandbox)
    assert trigger["payload"]["severity"] == "info"  # low urgency
    assert sandbox.writes("statuspage") == [] and "<!channel>" not in slack_texts(sandbox)[0]


def test_an_unknown_severity_is_one_clear_line(cluster, sandbox, namespace, tmp_path):
    proc = run_playbook(cluster, sandbox, namespace, "sev-bad", tmp_path, "-e", "severity=P5", playbook=INCIDENT)
    assert proc.returncode != 0 and "Traceback" not in proc.stdout + proc.stderr
    assert "incident_severity" in proc.stdout and "P0, P1, P2, P3" in proc.stdout
    assert sandbox.writes() == [] and not (tmp_path / "sev-bad").exists()


def test_resolution_tells_every_channel_schedules_the_review_and_writes_the_checklist(
        cluster, sandbox, smtp_server, namespace, deployed, tmp_path):
    from icalendar import Calendar

    incident_id = f"fu-{uuid.uuid4().hex[:8]}"
    declared = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, "-e", "severity=P1",
                            "-e", "statuspage_page_id=", *smtp(smtp_server), playbook=INCIDENT, reason="uploads fail")
    assert declared.returncode == 0, declared.stdout[-4000:]
    told = {w["service"] for w in sandbox.accepted_writes()}
    assert told == {"pagerduty-events", "slack"}  # and email: the status page was left out this time

    # Resolved with -e resolved=true: the review two hours after the resolution.
    closed = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, "-e", "resolved=true",
                          "-e", "post_incident_review_offset=2h", "-e", "statuspage_page_id=pg0mataresit",
                          *smtp(smtp_server), *pagerduty_rest(sandbox), playbook=INCIDENT, reason="uploads fail")
    assert closed.returncode == 0, closed.stdout[-4000:] + closed.stderr[-2000:]
    workspace = tmp_path / incident_id
    record = json.loads((workspace / "incident.json").read_text())
    resolved_at = datetime.datetime.fromisoformat(record["resolved_at"])

    # The resolution went to each channel told of the incident, and only to those (no status page incident).
    assert [e["event_action"] for e in events(sandbox)] == ["trigger", "resolve"]
    assert len(sandbox.slack_messages) == 2 and "Resolved" in slack_texts(sandbox)[1]
    assert sandbox.writes("statuspage") == []
    subjects = [email.message_from_string(m["data"])["Subject"] for m in smtp_server.messages]
    assert subjects[1].startswith("[RESOLVED] Resolved - Paperless Maverick") and len(subjects) == 3

    # The review: an invitation to the incident list, parsed as a calendar client would.
    invite = email.message_from_string(smtp_server.messages[2]["data"])
    assert smtp_server.messages[2]["to"] == [INCIDENT_LIST] and invite["Subject"].startswith("Invitation: Post-incident review")
    (part,) = [p for p in invite.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REQUEST"
    calendar = Calendar.from_ical(part.get_payload(decode=True))
    assert str(calendar["METHOD"]) == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert [str(a) for a in ([event["ATTENDEE"]] if not isinstance(event["ATTENDEE"], list) else event["ATTENDEE"])] == [
        f"mailto:{INCIDENT_LIST}"]
    assert event.decoded("DTSTART") == resolved_at + datetime.timedelta(hours=2)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == datetime.timedelta(minutes=60)
    assert str(event["SUMMARY"]) == f"Post-incident review: {incident_id} (P1)"
    assert str(event["ORGANIZER"]) == "mailto:mataresit-emergency@localhost"
    assert (workspace / "review.ics").read_bytes() == part.get_payload(decode=True)

    # The postmortem link as a note on the PagerDuty incident the declaration opened.
    (incident,) = sandbox.incidents.values()
    (note,) = sandbox.notes[incident["id"]]
    assert note["content"].startswith(f"Postmortem: {workspace / 'postmortem.md'}") and "review" in note["content"]

    # The checklist, with owners and due dates from the runbook's windows: in the postmortem and as JSON.
    follow_ups = json.loads((workspace / "follow_ups.json").read_text())
    assert datetime.datetime.fromisoformat(follow_ups["counted_from"]) == resolved_at
    items = {i["item"]: i for i in follow_ups["items"]}
    due = {window: resolved_at + delta for window, delta in (
        ("immediate", datetime.timedelta(minutes=30)), ("short_term", datetime.timedelta(hours=24)),
        ("long_term", datetime.timedelta(days=7)))}
    for item in follow_ups["items"]:
        assert datetime.datetime.fromisoformat(item["due"]) == due[item["window"]].replace(second=0, microsecond=0)
    assert items["Update incident status to resolved"]["done"] and items["Schedule post-incident review"]["done"]
    assert items["Notify stakeholders of resolution"]["owner"] == "On-Call Engineer"
    assert not items["Conduct post-incident review meeting"]["done"] and items["Conduct post-incident review meeting"][
        "owner"] == "Team Lead"
    assert not items["Verify all systems operational"]["done"]  # a declaration alone recovered nothing
    report = (workspace / "postmortem.md").read_text()
    assert "### Short-term follow-up (1-24 hours)" in report
    assert "- [ ] Implement preventive measures - owner: Engineering Manager; due " in report
    assert "- Legal/Compliance (Mon-Fri 09:00-17:00 UTC)" in report and "## Escalation" in report

    # Closing it again sends nothing: every channel, the invitation and the note were already done.
    writes, mails = len(sandbox.accepted_writes()), len(smtp_server.messages)
    again = run_playbook(cluster, sandbox, namespace, incident_id, tmp_path, "-e", "resolved=true",
                         "-e", "post_incident_review_offset=2h", *smtp(smtp_server), *pagerduty_rest(sandbox),
                         playbook=INCIDENT, reason="uploads fail")
    assert again.returncode == 0 and recap_changed(again.stdout) == 0, again.stdout[-3000:]
    assert len(sandbox.accepted_writes()) == writes and len(smtp_server.messages) == mails
