"""The incident_records module: what an incident's steps recorded for one cluster, or for the incident as a whole."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils import workspace


def operation(ctx):
    p = ctx.params
    records_dir = workspace.cluster_dir(p["incident_dir"], p["cluster"]) if p["cluster"] else p["incident_dir"]
    found = {}
    for category in p["categories"]:
        if category == workspace.EVIDENCE and p["cluster"]:
            found[category] = workspace.evidence(p["incident_dir"], p["cluster"])
        else:
            found[category] = workspace.records(records_dir, category)
    return {"changed": False, "records": found, "cluster_dir": records_dir}
