"""The incident module: open (or reuse) the incident workspace, or the incident of an alert."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils import escalation, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.alert import open_for_alert
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.incident import open_incident


def operation(ctx):
    p = ctx.params
    if p["require_reason"] and not (p["reason"] or "").strip() and not p["alert"]:
        raise ConfigError(f"The {p['environment'] or 'environment'} policy requires a reason: re-run with "
                          '-e reason="what happened".')
    if p.get("escalation_chain"):
        escalation.read_chain(p["escalation_chain"])  # a wrong level fails before anything is opened
    root = workspace.root(p["workspace_root"])
    if p["alert"]:
        result = open_for_alert(root, p, ctx.check_mode)
    else:
        changed, incident = open_incident(root, p["severity"], p["reason"], p["clusters"], p["incident_id"],
                                          p["environment"], p["alert_started_at"], ctx.check_mode,
                                          create=p["create"])
        result = dict(incident, changed=changed)
    directory = result["incident_dir"]
    return dict(result, cluster_dirs={c: workspace.cluster_dir(directory, c) for c in p["clusters"]},
                evidence_dirs={c: workspace.evidence_dir(directory, c) for c in p["clusters"]})
