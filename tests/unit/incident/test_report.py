"""The postmortem: a resolved one as before; an unresolved one says so first, with what is still broken and who
was paged, leaves the time to resolve open, and lists what triage reported for a human."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils import incident, workspace

INCIDENT = {"incident_id": "p0-20260101-abcd", "severity": "P0", "reason": "api 5xx", "clusters": ["local"],
            "environment": "staging", "opened_at": "2026-01-01T10:00:00+00:00", "response_target_minutes": 5}


def entry(task, status, phase, start, end, **more):
    return dict({"started": f"2026-01-01T10:{start}+00:00", "time": f"2026-01-01T10:{end}+00:00", "cluster": "local",
                 "phase": phase, "task": task, "action": "mataresit.emergency.recover", "status": status}, **more)


ENTRIES = [
    entry("Roll back Deployment ns/web (recent_bad_deploy, option 1 of 3)", "failed", "recover", "01:00", "01:20",
          changed=True, msg="new pods CrashLoopBackOff"),
    entry("Restart Deployment ns/web (recent_bad_deploy, option 2 of 3)", "failed", "recover", "01:20", "01:40",
          changed=True),
    entry("Guardrail: at most 1 workload(s)", "held", "recover", "01:40", "01:40"),
    entry("Check rollouts", "ok", "validate", "02:00", "02:30", action="mataresit.emergency.rollout"),
]


def test_an_unresolved_report_says_so_first_with_what_is_broken_and_who_was_paged(tmp_path):
    directory = str(tmp_path / INCIDENT["incident_id"])
    workspace.write_incident(directory, INCIDENT)
    for item in ENTRIES:
        workspace.append_timeline(directory, item)
    _changed, _path, text, figures = incident.write_report(
        directory, resolved=False, still_broken=["local: Deployment ns/web (recent_bad_deploy): tried rollback"],
        escalated_to="Team Lead", reported=["Node n-3 is NotReady (KubeletNotReady) and runs 2 pod(s)."])
    assert text.splitlines()[2].startswith("**Status: UNRESOLVED**") and "Team Lead was paged" in text
    broken = text.split("## Still broken")[1].split("##")[0]
    assert "- local: Deployment ns/web (recent_bad_deploy): tried rollback" in broken
    assert "Node n-3 is NotReady" in text.split("## Reported for a human")[1]
    assert figures["time_to_resolve_minutes"] is None and figures["resolved"] is False
    # failed steps that changed the cluster are actions taken; a guardrail that held is in the timeline only
    actions = text.split("## Actions taken")[1].split("##")[0]
    assert "Roll back Deployment ns/web" in actions and "Restart Deployment ns/web" in actions
    assert "Guardrail" not in actions and "| local | recover | Guardrail: at most 1 workload(s) | held |" in text


def test_a_resolved_report_has_no_status_line_and_a_time_to_resolve(tmp_path):
    directory = str(tmp_path / INCIDENT["incident_id"])
    workspace.write_incident(directory, INCIDENT)
    for item in ENTRIES:
        workspace.append_timeline(directory, item)
    _changed, _path, text, figures = incident.write_report(directory)
    assert "UNRESOLVED" not in text and "## Still broken" not in text and "## Reported for a human" not in text
    assert figures["time_to_resolve_minutes"] == 2.5 and figures["resolved"] is True
