"""The incident_report module: the postmortem from the incident's timeline and, after an incident, the
follow-through - the checklist with owners and due dates (also as follow_ups.json), the review invitation
(review.ics), the contacts and the escalation chain with what was paged."""
from __future__ import annotations

import datetime
import json

from ansible_collections.mataresit.emergency.plugins.module_utils import drill, escalation, followup, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.incident import now_utc, write_if_changed, write_report
from ansible_collections.mataresit.emergency.plugins.module_utils.durations import parse_duration


def operation(ctx):
    p = ctx.params
    directory = p["incident_dir"]
    incident = workspace.read_incident(directory)
    if incident is None:
        raise ConfigError(f"Failed to write the incident report: no incident at {directory}; "
                          "open it with mataresit.emergency.incident first.")
    resolved_at = p["resolved_at"] or incident.get("resolved_at")
    if "resolved" in (p["done"] or []) and not resolved_at:
        # The incident is over: its record says when, so a re-run counts due dates and the review from the same time.
        resolved_at = now_utc().isoformat(timespec="seconds")
        if not ctx.check_mode:
            workspace.write_incident(directory, dict(incident, resolved_at=resolved_at))
    base = _time(resolved_at, "resolved_at") if resolved_at else now_utc()
    link = (p["postmortem_url"] or "").replace("{incident_id}", incident["incident_id"]) or workspace.report_path(directory)
    extra = {"link": link, "contacts": p["contacts"], "escalation": _escalation(directory, incident, p["escalation_chain"])}
    result = {"changed": False, "postmortem_link": link}
    if p["review"]:
        review, text = _review(incident, base, p["review"], link)
        path = workspace.review_path(directory)
        result["changed"] |= write_if_changed(path, text, ctx.check_mode)
        extra["review"] = dict(review, path=path)
        result.update(review=extra["review"], invitation=text)
    if p["checklist"]:
        done = dict.fromkeys(p["done"] or [], True)
        done.update(documented=True, review_scheduled="review" in extra)
        items = followup.checklist(p["checklist"] + [{"item": item, "window": "long_term"} for item in p["follow_ups"] or []],
                                   base, done)
        path = workspace.follow_ups_path(directory)
        document = {"incident_id": incident["incident_id"], "severity": incident["severity"],
                    "counted_from": base.isoformat(timespec="seconds"), "items": items}
        result["changed"] |= write_if_changed(path, json.dumps(document, indent=2) + "\n", ctx.check_mode)
        extra["checklist"] = items
        result.update(follow_ups=items, follow_ups_path=path)
    if p["drill"]:
        result["drill"] = _drill(directory, incident, p["drill"], ctx.check_mode)
        result["changed"] |= result["drill"].pop("changed")
        extra["drill"] = result["drill"]
    changed, path, text, figures = write_report(directory, p["impact"], p["follow_ups"], resolved_at, ctx.check_mode,
                                                resolved=p["resolved"], still_broken=p["still_broken"],
                                                escalated_to=p["escalated_to"], reported=p["reported"],
                                                followthrough=extra)
    result.update(changed=result["changed"] or changed, path=path, report=text, figures=figures)
    return result


def _drill(directory, incident, given, check_mode):
    """The drill report (drill.json, drill.md): times to detect / act / recover from the fault, and the put-back."""
    _time(given["staged_at"], "drill.staged_at")
    figures = drill.score(incident, workspace.read_timeline(directory), given)
    doc = drill.document(incident, given, figures)
    json_path, md_path = workspace.drill_paths(directory)
    changed = write_if_changed(json_path, drill.serialise(doc), check_mode)
    changed |= write_if_changed(md_path, drill.render(doc), check_mode)
    return dict(figures, changed=changed, path=md_path, json_path=json_path)


def _time(value, what):
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"Failed to write the incident report: {what} '{value}' is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def _review(incident, base, review, link):
    start = _time(review["start"], "review.start") if review.get("start") else \
        base + datetime.timedelta(seconds=parse_duration(review.get("offset") or "1d", "review.offset"))
    minutes = parse_duration(review.get("duration") or "60m", "review.duration") // 60 or 60
    attendees = list(dict.fromkeys(review.get("attendees") or []))
    summary = f"Post-incident review: {incident['incident_id']} ({incident['severity']})"
    description = (f"Post-incident review of {incident['incident_id']} ({incident['severity']}, "
                   f"{incident.get('environment') or '-'}): {incident.get('reason') or 'no reason given'}.\n"
                   f"Postmortem: {link}")
    text = followup.invitation(f"{incident['incident_id']}-review@mataresit.emergency", start,
                               datetime.timedelta(minutes=minutes), summary, description, review["organizer"],
                               attendees, review.get("location") or "", now=base)
    start_utc = start.astimezone(datetime.timezone.utc).isoformat(timespec="minutes")
    return {"start": start_utc, "start_text": followup.utc_text(start_utc), "minutes": minutes,
            "attendees": attendees, "summary": summary}, text


def _escalation(directory, incident, chain):
    """The chain's levels for the incident's severity, with what the clock (or an explicit page) did."""
    if not chain:
        return None
    levels = escalation.for_severity(escalation.read_chain(chain), incident["severity"])
    paged = escalation.paged_levels(directory, levels)
    stop = escalation.stopped(directory)
    out = []
    for level in levels:
        claim = paged.get(level["level"]) or {}
        status = "declaration" if level["after_seconds"] == 0 else claim.get("status") or (
            f"not needed ({stop['reason']})" if stop else "not paged")
        after = next(raw.get("after") for number, raw in enumerate(chain, 1) if number == level["level"])
        out.append({"level": level["level"], "role": level["role"], "after": after, "status": status,
                    "paged_at": claim.get("paged_at"), "contact": level["contact"]})
    return out
