"""Incidents: the id that drives every dedup key, opening the workspace, what
the timeline keeps of a task result, and the post-incident report built from
the timeline (files are read and written through workspace.py)."""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re

from ansible_collections.mataresit.emergency.plugins.module_utils import followup, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.redact import Redactor

# Runbook response times: minutes within which the response must act.
RESPONSE_TARGET_MINUTES = {"P0": 5, "P1": 15, "P2": 60, "P3": 1440}
# Result keys worth keeping in the timeline (values are redacted again when written).
SUMMARY_KEYS = ("reason", "verdict", "recommended_action", "action", "healthy", "previous_replicas", "replicas",
                "revision", "to_revision", "image", "images", "deleted", "rotated", "skipped_secrets", "bundle", "sha256",
                "backup", "backup_path", "dedup_key", "incident_key", "incident_url", "status", "elapsed",
                "policy", "breaches", "duration_s", "external_rotation_required", "recovered", "still_broken",
                "limits")
# Bookkeeping tasks that the report's timeline leaves out (the timeline file keeps them).
INTERNAL_ACTIONS = ("validate_argument_spec", "set_fact", "debug", "include_role", "include_tasks", "import_tasks")


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def derive_incident_id(severity, reason, clusters, day=None):
    """Stable id for one incident: the same severity, reason and clusters on the same UTC day give the same id."""
    day = day or now_utc().strftime("%Y%m%d")
    digest = hashlib.sha256("|".join([severity, reason or "", ",".join(sorted(clusters or []))]).encode()).hexdigest()
    return f"{severity.lower()}-{day}-{digest[:8]}"


MAX_REASON = 2000


def checked_reason(reason, strict=True):
    """The reason as data: one line of text (whitespace runs become one space), at most MAX_REASON characters.

    strict (an operator's reason): control characters or more than MAX_REASON characters are an error;
    otherwise (text from an alert) they are replaced and cut.
    """
    if reason is None:
        return None
    text = " ".join(str(reason).split())
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        if strict:
            raise ConfigError("Failed to open incident: reason contains control characters; give plain text.")
        text = "".join("\ufffd" if ord(c) < 32 or ord(c) == 127 else c for c in text)
    if len(text) > MAX_REASON:
        if strict:
            raise ConfigError(f"Failed to open incident: reason is {len(text)} characters, the limit is "
                              f"{MAX_REASON}; give a shorter reason (details belong in the report).")
        text = text[:MAX_REASON - 1] + "\u2026"
    return text


def checked_time(value, option, action="open incident"):
    """An ISO 8601 time with a timezone, as UTC (2026-11-27T10:00:00Z); ConfigError naming the option otherwise."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        when = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ConfigError(f"Failed to {action}: {option} {text[:60]!r} is not an ISO 8601 time with a timezone "
                          f"(for example 2026-11-27T10:00:00Z); check '{option}'.")
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_incident(workspace_root, severity, reason, clusters, incident_id=None, environment=None,
                  alert_started_at=None, check_mode=False, create=True, alert=None):
    """Create (or reuse) the incident workspace; return (changed, incident dict).

    create=False fails unless the incident exists (a run that works on an earlier incident).
    `alert` (module_utils.alert.summary of the alert that started the run) is kept in the record; a resolved
    alert only closes an incident that exists (`found: false` otherwise, and nothing is created).
    """
    reason = checked_reason(reason)
    alert_started_at = checked_time(alert_started_at, "alert_started_at")
    if not create and not incident_id:
        raise ConfigError("Failed to open incident: this run works on an earlier incident; name it with "
                          "-e incident_id=<id> (its workspace holds what to revert or restore).")
    incident_id = incident_id or derive_incident_id(severity, reason, clusters)
    directory = workspace.incident_path(workspace_root, incident_id)
    existing = workspace.read_incident(directory)
    if alert and alert["status"] == "resolved":
        return _close_from_alert(directory, existing, alert, check_mode)
    if existing:
        # A run on an earlier incident (revert, restore: create=False) never changes its severity.
        raised = raise_severity(existing, severity, reason) if create else existing
        if raised is not existing and not check_mode:
            workspace.write_incident(directory, raised)
        return raised is not existing, dict(raised, found=True, notified=_notified(directory))
    if not create:
        raise ConfigError(f"No incident workspace {directory}: pass the id of an earlier incident with "
                          "-e incident_id=<id> (and -e incident_workspace_root=<dir> if it is elsewhere).")
    incident = {
        "incident_id": incident_id, "incident_dir": directory, "severity": severity, "reason": reason,
        "clusters": sorted(clusters or []), "environment": environment,
        "opened_at": now_utc().isoformat(timespec="seconds"),
        "alert_started_at": alert_started_at,
        "response_target_minutes": RESPONSE_TARGET_MINUTES[severity],
    }
    if alert:
        incident["alert"] = alert
    if not check_mode:
        workspace.write_incident(directory, incident)
    return True, dict(incident, found=True, notified=False)


SEVERITY_ORDER = ("P3", "P2", "P1", "P0")


def raise_severity(incident, severity, reason=None):
    """The incident at `severity` when that is higher than its own (P2 -> P0 mid-incident), with the change in
    its severity history and the new severity's response target; the same incident otherwise (never lowered)."""
    current = incident.get("severity")
    if severity not in SEVERITY_ORDER or SEVERITY_ORDER.index(severity) <= SEVERITY_ORDER.index(current):
        return incident
    history = list(incident.get("severity_history") or [{"severity": current, "at": incident["opened_at"]}])
    history.append({"severity": severity, "at": now_utc().isoformat(timespec="seconds"),
                    "reason": reason or "", "raised_from": current})
    return dict(incident, severity=severity, severity_history=history,
                response_target_minutes=RESPONSE_TARGET_MINUTES[severity])


def _notified(directory):
    """Whether any notification was sent for the incident (the notify modules record each one)."""
    return bool(workspace.records(directory, workspace.NOTIFICATIONS))


def _close_from_alert(directory, existing, alert, check_mode):
    if not existing:
        return False, {"incident_id": os.path.basename(directory), "incident_dir": directory, "found": False,
                       "notified": False, "alert": alert}
    updated = dict(existing, alert=dict(existing.get("alert") or {}, status="resolved", ends_at=alert["ends_at"]),
                   resolved_at=existing.get("resolved_at") or alert["ends_at"])
    changed = updated != existing
    if changed and not check_mode:
        workspace.write_incident(directory, updated)
    return changed, dict(updated, found=True, notified=_notified(directory))


def summarize_result(raw, censored, known=()):
    """The part of a task result the timeline keeps: message, changed objects, a short summary.

    Redacted as data before it is written: secret-looking keys and text, and the `known` secret values
    (the credentials the run used) in every encoding.
    """
    if censored:
        return {"msg": "(output hidden by no_log)", "censored": True}
    out = {}
    if raw.get("msg"):
        out["msg"] = str(raw["msg"])[:500]
    objects = raw.get("objects") or raw.get("changed_objects")
    if objects:
        # a list of changed objects, or counts per kind (forensics)
        out["objects"] = objects[:50] if isinstance(objects, list) else objects
    summary = {k: raw[k] for k in SUMMARY_KEYS if k in raw and raw[k] not in (None, "", [], {})}
    if summary:
        out["summary"] = summary
    return Redactor(known).data(out)


def _ts(value):
    """An ISO time as an aware datetime (naive ones are UTC); None when absent or unreadable."""
    if not value or not isinstance(value, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def _cell(value):
    """Text for one Markdown line or table cell: on one line, no column separators."""
    return " ".join(str(value if value is not None else "").split()).replace("|", "/")


def _minutes(delta):
    return round(delta.total_seconds() / 60, 2) if delta is not None else None


def phase_figures(incident, entries, resolved_at=None, resolved=True):
    """Durations of each phase and the detect / act / mitigate / resolve times, against the severity target."""
    opened = _ts(incident["opened_at"])
    phases = {}
    entries = [e for e in entries if _ts(e.get("started")) and _ts(e.get("time"))]
    for entry in entries:
        if not entry.get("phase") or entry.get("status") == "skipped":
            continue
        start, end = _ts(entry["started"]), _ts(entry["time"])
        first, last = phases.get(entry["phase"], (start, end))
        phases[entry["phase"]] = (min(first, start), max(last, end))
    recover_done = [_ts(e["time"]) for e in entries if e.get("phase") == "recover" and e.get("status") == "changed"]
    recover_started = [_ts(e["started"]) for e in entries if e.get("phase") == "recover" and e.get("status") != "skipped"]
    validated = [_ts(e["time"]) for e in entries if e.get("phase") == "validate" and e.get("status") in ("ok", "changed")]
    alert = _ts(incident.get("alert_started_at"))
    target = incident["response_target_minutes"]
    act = _minutes(min(recover_started) - opened) if recover_started else None
    responded = _responses(entries, opened)
    respond = _minutes(min(responded) - opened) if responded else None
    figures = {
        "phases": {name: {"started": s.isoformat(timespec="seconds"), "ended": e.isoformat(timespec="seconds"),
                          "minutes": _minutes(e - s)} for name, (s, e) in sorted(phases.items(), key=lambda i: i[1][0])},
        "time_to_detect_minutes": _minutes(opened - alert) if alert else None,
        "time_to_act_minutes": act,
        "time_to_mitigate_minutes": _minutes(max(recover_done) - opened) if recover_done else None,
        "time_to_resolve_minutes": _minutes((_ts(resolved_at) if _ts(resolved_at) else max(validated)) - opened)
        if resolved and (_ts(resolved_at) or validated) else None,
        "time_to_respond_minutes": respond,
        "response_target_minutes": target,
        "response_target_met": _met(act if act is not None else respond, target),
        "severities": severity_figures(incident, entries),
    }
    return figures


def _met(minutes, target):
    return minutes is not None and minutes <= target


def _responses(entries, since):
    """When the response reached people: each notification a run sent (notify phase, changed) after `since`."""
    return [_ts(e["time"]) for e in entries
            if e.get("phase") == "notify" and e.get("status") == "changed" and _ts(e["time"]) >= since]


def severity_figures(incident, entries):
    """Per severity the incident had (raised mid-incident: each from when it was raised), the time to respond and
    to act against that severity's target."""
    history = incident.get("severity_history") or [{"severity": incident["severity"], "at": incident["opened_at"]}]
    out = []
    for item in history:
        since = _ts(item["at"])
        acted = [_ts(e["started"]) for e in entries
                 if e.get("phase") == "recover" and e.get("status") != "skipped" and _ts(e["started"]) >= since]
        responded = _responses(entries, since)
        target = RESPONSE_TARGET_MINUTES[item["severity"]]
        respond = _minutes(min(responded) - since) if responded else None
        act = _minutes(min(acted) - since) if acted else None
        out.append({"severity": item["severity"], "since": item["at"], "raised_from": item.get("raised_from"),
                    "target_minutes": target, "time_to_respond_minutes": respond, "time_to_act_minutes": act,
                    "target_met": _met(act if act is not None else respond, target)})
    return out


def render_report(incident, entries, figures, impact=None, follow_ups=None, resolved=True, still_broken=(),
                  escalated_to=None, reported=(), followthrough=None):
    """A postmortem skeleton in Markdown; an unresolved one says so first, with what is still broken.
    `followthrough` (post_incident) adds the checklist with owners and due dates, the review, the contacts and
    the escalation chain with what was paged."""
    sev = incident["severity"]
    extra = followthrough or {}
    lines = [f"# Postmortem: {incident['incident_id']} ({sev})", ""]
    if not resolved:
        lines += ["**Status: UNRESOLVED** - the automated recovery gave up; the incident and its notifications stay "
                  "open" + (f", and {escalated_to} was paged." if escalated_to else "."), "",
                  "## Still broken", ""]
        lines += [f"- {item}" for item in still_broken] or ["- (not recorded)"]
        lines.append("")
    lines += [
        "## Summary", "",
        f"- Reason: {_cell(incident.get('reason')) or '(not given)'}",
        f"- Environment: {_cell(incident.get('environment')) or '-'}; "
        f"clusters: {_cell(', '.join(incident.get('clusters') or [])) or '-'}",
        f"- Opened: {incident['opened_at']}",
        *_severity_lines(incident),
        *([f"- Postmortem: {extra['link']}"] if extra.get("link") else []),
        *([f"- A recovery drill ({'PASSED' if extra['drill']['passed'] else 'FAILED'}): {extra['drill']['path']}"]
          if extra.get("drill") else []),
        "",
        *_alert_section(incident.get("alert")),
        "## Impact", "", impact or "_Describe who was affected, how, and for how long._", "",
        "## Response times", "",
        "| measure | minutes |", "|---|---|",
        f"| time to detect | {figures['time_to_detect_minutes'] if figures['time_to_detect_minutes'] is not None else 'n/a'} |",
        f"| time to act (target {figures['response_target_minutes']} for {sev}) | "
        f"{figures['time_to_act_minutes'] if figures['time_to_act_minutes'] is not None else 'n/a'} "
        f"({'met' if figures['response_target_met'] else 'MISSED'}) |",
        f"| time to mitigate | {figures['time_to_mitigate_minutes'] if figures['time_to_mitigate_minutes'] is not None else 'n/a'} |",
        f"| time to resolve | {figures['time_to_resolve_minutes'] if figures['time_to_resolve_minutes'] is not None else 'n/a'} |",
        "", *_severity_table(figures), "## Phases", "", "| phase | started | ended | minutes |", "|---|---|---|---|",
    ]
    for name, phase in figures["phases"].items():
        lines.append(f"| {name} | {phase['started']} | {phase['ended']} | {phase['minutes']} |")
    lines += ["", "## Timeline (UTC)", "", "| time | cluster | phase | task | status |", "|---|---|---|---|---|"]
    for e in entries:
        if e.get("status") == "skipped" or (str(e.get("action", "")).endswith(INTERNAL_ACTIONS)
                                            and e.get("status") != "failed"):
            continue
        lines.append(f"| {str(e.get('time', ''))[11:19]} | {_cell(e.get('cluster'))} | {_cell(e.get('phase'))} | "
                     f"{_cell(e.get('task'))} | {_cell(e.get('status'))} |")
    actions = [e for e in entries if e.get("status") == "changed" or e.get("status") == "failed" and e.get("changed")]
    lines += ["", "## Actions taken", ""]
    lines += [f"- {str(e.get('time', ''))[11:19]} {_cell(e.get('cluster'))}: {_cell(e.get('task'))}" + _detail(e)
              for e in actions] or ["- none"]
    if reported:
        lines += ["", "## Reported for a human", ""] + [f"- {_cell(item)}" for item in reported]
    lines += ["", "## Follow-ups", ""]
    if extra.get("checklist"):
        lines += followup.render_checklist(extra["checklist"])
    else:
        lines += [f"- [ ] {item}" for item in (follow_ups or [
            "Conduct the post-incident review meeting", "Document the root cause analysis",
            "Identify preventive measures", "Update monitoring and alerting", "Update runbooks and procedures"])]
    if extra.get("review"):
        lines += ["", "## Post-incident review", "",
                  f"- {followup.utc_text(extra['review']['start'])}, {extra['review']['minutes']} minutes; invited: "
                  f"{', '.join(extra['review']['attendees'])} (invitation: {extra['review']['path']})"]
    lines += _escalation_section(extra.get("escalation"))
    lines += _contacts_section(extra.get("contacts"))
    return "\n".join(lines) + "\n"


def _severity_lines(incident):
    history = incident.get("severity_history") or []
    return [f"- Severity raised from {item['raised_from']} to {item['severity']} at {item['at']}"
            + (f" ({_one_line(item['reason'])})" if item.get("reason") else "") for item in history[1:]]


def _severity_table(figures):
    """Response against each severity's target, when the incident had more than one."""
    rows = figures.get("severities") or []
    if len(rows) < 2:
        return []
    out = ["| severity | from | target (min) | time to respond | time to act | target |", "|---|---|---|---|---|---|"]
    for row in rows:
        def show(value):
            return value if value is not None else "n/a"
        out.append(f"| {row['severity']} | {row['since']} | {row['target_minutes']} | {show(row['time_to_respond_minutes'])}"
                   f" | {show(row['time_to_act_minutes'])} | {'met' if row['target_met'] else 'MISSED'} |")
    return out + [""]


def _one_line(text):
    return " ".join(str(text).replace("|", "/").split())[:200]


def _escalation_section(levels):
    if not levels:
        return []
    lines = ["", "## Escalation", "", "| level | role | after | status | paged at | contact |", "|---|---|---|---|---|---|"]
    for level in levels:
        lines.append(f"| {level['level']} | {_one_line(level['role'])} | {level['after']} | {level['status']} | "
                     f"{level.get('paged_at') or '-'} | {_one_line(level.get('contact') or '-')} |")
    return lines


def _contacts_section(contacts):
    if not contacts:
        return []
    lines = ["", "## Contacts", ""]
    for person in contacts.get("on_call") or []:
        lines.append(f"- On-call {_one_line(person.get('team'))}: " + _reach(person))
    for person in contacts.get("external") or []:
        hours = person.get("hours") or ("24/7" if (person.get("availability") or "24/7") == "24/7" else "business hours")
        lines.append(f"- {_one_line(person.get('name'))} ({_one_line(hours)}): " + _reach(person))
    for name, addresses in sorted((contacts.get("lists") or {}).items()):
        lines.append(f"- List {_one_line(name)}: {_one_line(', '.join(addresses or []))}")
    if contacts.get("hotline"):
        lines.append(f"- Emergency hotline: {_one_line(contacts['hotline'])}")
    return lines


def _reach(person):
    parts = [_one_line(person[key]) for key in ("phone", "email", "url", "pagerduty_schedule") if person.get(key)]
    return ", ".join(parts) or "-"


def _alert_section(alert):
    """The alert that started the incident, as received: its text is data, so it goes in a code block."""
    if not alert:
        return []
    keys = ("alertname", "status", "severity", "starts_at", "ends_at", "summary", "description", "labels",
            "annotations", "alerts")
    text = json.dumps({k: alert.get(k) for k in keys}, indent=2, ensure_ascii=False)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return ["## Alert", "", f"Started by Alertmanager alert {alert.get('alertname')} ({alert.get('status')}), "
            f"as received:", "", fence + "json", text, fence, ""]


def _detail(entry):
    """A short account of what a changed task did, from its recorded summary."""
    summary = entry.get("summary") or {}
    parts = [f"{k}={_cell(v)}" for k, v in summary.items() if isinstance(v, (str, int, float, bool))][:4]
    if entry.get("msg"):
        parts.insert(0, _cell(entry["msg"]))
    return f" ({'; '.join(parts)})" if parts else ""


def write_report(incident_dir, impact=None, follow_ups=None, resolved_at=None, check_mode=False, resolved=True,
                 still_broken=(), escalated_to=None, reported=(),
                 followthrough=None):
    resolved_at = checked_time(resolved_at, "resolved_at", "write the incident report")
    incident = workspace.read_incident(incident_dir)
    if incident is None:
        raise ConfigError(f"Failed to write the incident report: no incident at {incident_dir}; "
                          "open it with mataresit.emergency.incident first.")
    entries = workspace.read_timeline(incident_dir)
    figures = phase_figures(incident, entries, resolved_at or incident.get("resolved_at"), resolved)
    figures["resolved"] = resolved
    text = render_report(incident, entries, figures, impact, follow_ups, resolved, still_broken, escalated_to, reported,
                         followthrough)
    path = workspace.report_path(incident_dir)
    changed = write_if_changed(path, text, check_mode)
    return changed, path, text, figures


def write_if_changed(path, text, check_mode=False):
    """Write text to a workspace file unless it already holds exactly that; whether it changed."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            changed = handle.read() != text
    except OSError:
        changed = True
    if changed and not check_mode:
        workspace.write_private(path, text)
    return changed
