"""Statuspage emulation: a page's components and incidents (create, update,
resolve, with component statuses and the impact they imply). State lives on
the Sandbox (`components`, `sp_incidents`); every function runs under its lock."""
from __future__ import annotations

import re
import secrets

from .clock import now

RESOLVED = ("resolved", "completed")
COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
IMPACT_ORDER = ["none", "minor", "major", "critical"]
STATUS_IMPACT = {"operational": "none", "under_maintenance": "none", "degraded_performance": "minor",
                 "partial_outage": "major", "major_outage": "critical"}
NOT_FOUND = (404, {"message": "The requested resource could not be found."}, {})


def reset(box):
    box.sp_incidents = {}
    box.components = {}
    for position, name in enumerate(["API", "Web app", "Document processing", "Database"], start=1):
        cid = f"cmp{position:09d}"
        box.components[cid] = {"id": cid, "page_id": box.sp_page_id, "group": False, "name": name,
                               "description": f"{name} of Paperless Maverick", "position": position,
                               "status": "operational", "showcase": True, "only_show_if_degraded": False,
                               "created_at": now(), "updated_at": now()}


def rejection(errors):
    return 400, {"message": "; ".join(errors)}


def fault(status):
    return {"message": "Rate limit exceeded" if status in (420, 429) else f"sandbox injected {status}"}


def handle(box, request, path, body):
    if request.headers.get("Authorization") != f"OAuth {box.sp_api_key}":
        return 401, {"message": "Could not authenticate"}, {}
    match = re.fullmatch(r"/v1/pages/([^/]+)/(incidents|components)(?:/([^/]+))?", path)
    if not match or match.group(1) != box.sp_page_id:
        return NOT_FOUND
    kind, item = match.group(2), match.group(3)
    if kind == "components":
        return _component(box, request, item, body)
    if item == "unresolved":
        open_ = [i for i in box.sp_incidents.values() if i["status"] not in RESOLVED]
        return 200, sorted(open_, key=lambda i: i["created_at"], reverse=True), {}
    if item is None and request.method == "POST":
        return _write(box, None, body["incident"])
    incident = box.sp_incidents.get(item)
    if incident is None:
        return NOT_FOUND
    if request.method == "PATCH":
        return _write(box, incident, body["incident"])
    return 200, incident, {}


def _component(box, request, item, body):
    if item is None:
        return 200, sorted(box.components.values(), key=lambda c: c["position"]), {}
    comp = box.components.get(item)
    if comp is None:
        return NOT_FOUND
    if request.method == "PATCH":
        comp.update({k: v for k, v in body.get("component", {}).items() if v is not None}, updated_at=now())
    return 200, comp, {}


def _write(box, incident, fields):
    """Create (incident None) or update an incident; component statuses follow the request."""
    changes = fields.get("components") or {}
    unknown = [cid for cid in list(changes) + list(fields.get("component_ids") or []) if cid not in box.components]
    if unknown:
        return 422, {"message": f"Components not found: {', '.join(unknown)}"}, {}
    bad = [f"{cid}={st}" for cid, st in changes.items() if st not in COMPONENT_STATUSES]
    if bad:
        return 422, {"message": f"Invalid component status: {', '.join(bad)}"}, {}
    created = incident is None
    if created:
        iid = f"inc{secrets.token_hex(5)}"
        incident = {"id": iid, "page_id": box.sp_page_id, "name": fields["name"], "status": "investigating",
                    "created_at": now(), "shortlink": f"http://stspg.io/{iid[-6:]}", "incident_updates": [],
                    "components": [], "impact": "none"}
        box.sp_incidents[iid] = incident
    affected = [c["id"] for c in incident["components"]]
    for cid in list(changes) + list(fields.get("component_ids") or []):
        if cid not in affected:
            affected.append(cid)
    updates = []
    for cid, status in changes.items():
        old = box.components[cid]["status"]
        box.components[cid].update(status=status, updated_at=now())
        updates.append({"code": cid, "name": box.components[cid]["name"], "old_status": old, "new_status": status})
    status_changed = _apply_fields(incident, fields)
    if created or status_changed or fields.get("body") or updates:
        incident["incident_updates"].insert(0, {
            "id": f"upd{secrets.token_hex(5)}", "incident_id": incident["id"], "status": incident["status"],
            "body": fields.get("body") or "", "affected_components": updates, "created_at": now(),
            "display_at": now(), "updated_at": now(), "deliver_notifications": fields.get("deliver_notifications", True),
        })
    incident["components"] = [dict(box.components[cid]) for cid in affected]
    worst = max((STATUS_IMPACT[c["status"]] for c in incident["components"]), key=IMPACT_ORDER.index, default="none")
    incident["impact"] = incident.get("impact_override") or worst
    incident["updated_at"] = now()
    return (201 if created else 200), incident, {}


def _apply_fields(incident, fields):
    """Name, impact override and status from the request; whether the status changed."""
    for key in ("name", "impact_override"):
        if fields.get(key):
            incident[key] = fields[key]
    status_changed = bool(fields.get("status")) and fields["status"] != incident["status"]
    if fields.get("status"):
        incident["status"] = fields["status"]
        if fields["status"] == "monitoring":
            incident["monitoring_at"] = now()
        if fields["status"] in RESOLVED:
            incident["resolved_at"] = now()
    return status_changed
