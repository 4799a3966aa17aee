"""The incident_report module: the postmortem skeleton from the incident's timeline."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils.incident import write_report


def operation(ctx):
    p = ctx.params
    changed, path, text, figures = write_report(p["incident_dir"], p["impact"], p["follow_ups"], p["resolved_at"],
                                                ctx.check_mode, resolved=p["resolved"], still_broken=p["still_broken"],
                                                escalated_to=p["escalated_to"], reported=p["reported"])
    return dict(changed=changed, path=path, report=text, figures=figures)
