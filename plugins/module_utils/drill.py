"""The report of a recovery drill ("Test recovery procedures", "Conduct team training"): how long the procedure took
to detect, act on and recover from the staged fault, against the severity's response target, and whether the
cluster was put back exactly as it was found.

Measured from the timeline, from the moment the fault showed (`staged_at`):
  detect   the procedure's assessment concluded (the last assess task)
  act      its first recovery action started
  recover  its validation passed (the last validate task that succeeded)
"""
from __future__ import annotations

import datetime
import json
import re

from ansible_collections.mataresit.emergency.plugins.module_utils.incident import RESPONSE_TARGET_MINUTES


def _ts(value):
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def _seconds(later, earlier):
    return round((later - earlier).total_seconds(), 1) if later and earlier else None


def score(incident, entries, drill):
    """The drill's figures (seconds from the fault) and its verdict."""
    staged = _ts(drill["staged_at"])
    after = [e for e in entries if _ts(e["time"]) >= staged and e.get("status") != "skipped"]
    assessed = [_ts(e["time"]) for e in after if e.get("phase") == "assess"]
    acted = [_ts(e["started"]) for e in after if e.get("phase") == "recover"]
    validated = [_ts(e["time"]) for e in after if e.get("phase") == "validate" and e.get("status") in ("ok", "changed")]
    failed = [e["task"] for e in after if e.get("status") == "failed" and e.get("phase") in ("recover", "validate")]
    target = RESPONSE_TARGET_MINUTES[incident["severity"]] * 60
    figures = {
        "time_to_detect_seconds": _seconds(max(assessed), staged) if assessed else None,
        "time_to_act_seconds": _seconds(min(acted), staged) if acted else None,
        "time_to_recover_seconds": _seconds(max(validated), staged) if validated and not failed else None,
        "target_seconds": target,
    }
    figures["act_within_target"] = figures["time_to_act_seconds"] is not None and figures["time_to_act_seconds"] <= target
    problems = []
    if failed:
        problems.append(f"the procedure failed: {'; '.join(failed[:3])}")
    elif figures["time_to_recover_seconds"] is None:
        problems.append("the procedure never validated a recovery")
    if figures["time_to_act_seconds"] is None:
        problems.append("the procedure never acted")
    elif not figures["act_within_target"]:
        problems.append(f"it acted after {figures['time_to_act_seconds']} s, over the {incident['severity']} target")
    if not drill.get("put_back"):
        problems.append("the cluster was not put back as found: " + "; ".join((drill.get("differences") or [])[:5]))
    return dict(figures, passed=not problems, problems=problems)


def document(incident, drill, figures):
    return {"incident_id": incident["incident_id"], "severity": incident["severity"],
            "environment": incident.get("environment"), "clusters": incident.get("clusters") or [],
            "scenario": drill["scenario"], "procedure": drill.get("procedure"), "fault": drill.get("fault"),
            "staged_at": drill["staged_at"], "figures": figures, "put_back": bool(drill.get("put_back")),
            "restored": drill.get("restored") or [], "differences": drill.get("differences") or []}


def render(doc):
    f = doc["figures"]

    def show(value):
        return f"{value} s" if value is not None else "n/a"

    lines = [
        f"# Drill report: {doc['scenario']} ({doc['incident_id']})", "",
        f"- Result: {'PASSED' if f['passed'] else 'FAILED'}" + (f" - {_one_line('; '.join(f['problems']))}" if f["problems"] else ""),
        f"- Environment: {doc.get('environment') or '-'}; clusters: {', '.join(doc['clusters']) or '-'}",
        f"- Procedure: {doc.get('procedure') or '-'} ({doc['severity']}, act within {f['target_seconds'] // 60} min)",
        f"- Fault: {_one_line(doc.get('fault') or '-')}, showing at {doc['staged_at']}", "",
        "| measure (from the fault) | seconds |", "|---|---|",
        f"| time to detect | {show(f['time_to_detect_seconds'])} |",
        f"| time to act | {show(f['time_to_act_seconds'])} ({'within' if f['act_within_target'] else 'OVER'} the "
        f"{doc['severity']} target of {f['target_seconds']} s) |",
        f"| time to recover | {show(f['time_to_recover_seconds'])} |", "",
        "## Put back", "",
        "The cluster is as it was found." if doc["put_back"] else "The cluster is NOT as it was found:", "",
    ]
    lines += [f"- {_one_line(item)}" for item in doc["differences"]]
    lines += [f"- put back: {_one_line(item)}" for item in doc["restored"]]
    return "\n".join(lines) + "\n"


def _one_line(text):
    return re.sub(r"\s+", " ", str(text)).replace("|", "/")[:300]


def serialise(doc):
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
