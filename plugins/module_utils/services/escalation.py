"""The escalation module: run the escalation clock of an incident, page one level now, or stop the clock."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils import escalation, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.durations import parse_duration


def operation(ctx):
    p = ctx.params
    directory = p["incident_dir"]
    incident = workspace.read_incident(directory)
    if incident is None:
        raise ConfigError(f"Failed to work the escalation clock: no incident at {directory}; "
                          "open it with mataresit.emergency.incident first")
    if p["state"] == "stopped":
        changed, record = escalation.stop(directory, p["reason"], ctx.check_mode)
        return {"changed": changed, "stopped": record, "msg": f"escalation clock stopped: {record['reason']}"}
    levels = escalation.read_chain(p["chain"])
    severity = p["severity"] or incident["severity"]
    if not p.get("api_token"):
        raise ConfigError(f"Failed to {'run the escalation clock' if p['state'] == 'running' else 'page a level'}: "
                          "set api_token (PagerDuty REST API v2 key)")
    started = escalation.origin(directory, check_mode=True) if ctx.check_mode else escalation.origin(directory)
    result = {"changed": False, "severity": severity}
    with escalation.pager_from(ctx, incident["incident_id"], p) as pager:
        if p["state"] == "paged":
            result.update(_page(ctx, pager, directory, levels, severity, started))
        elif not ctx.check_mode:
            reason, sent = escalation.run_clock(pager, directory, levels, severity, p["poll_interval"],
                                                parse_duration(p["max_runtime"], "max_runtime"))
            result.update(changed=bool(sent), ended=reason, pages=sent,
                          msg=f"escalation clock of {incident['incident_id']} ended: {reason}")
    paged = escalation.paged_levels(directory, levels)
    result["levels"] = escalation.plan(levels, started, paged, severity)
    return result


def _page(ctx, pager, directory, levels, severity, started):
    chain = escalation.for_severity(levels, severity)
    level = escalation.choose(chain, ctx.params["level"], escalation.paged_levels(directory, chain))
    if level is None:
        return {"msg": "every level of the escalation chain was already paged"}
    elapsed = escalation.seconds_since(started)
    changed, record = escalation.page_level(pager, directory, level, severity, elapsed, ctx.check_mode)
    return {"changed": changed, "page": record,
            "msg": f"{'paged' if changed else 'already paged'}: {level['role']} (level {level['level']})"}
