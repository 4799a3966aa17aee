"""PagerDuty emulation: Events API v2 (alerts by dedup_key) and REST API v2
(incidents by incident_key, notes). State lives on the Sandbox (`alerts`,
`incidents`, `notes`, `pages`); every function runs under its lock."""
from __future__ import annotations

import re
import secrets

from .clock import now

OPEN = ("triggered", "acknowledged")


def reset(box):
    box.alerts = {}      # dedup_key -> {"status", "events", "opened"}
    box.incidents = {}   # REST id -> incident
    box.notes = {}       # incident id -> [note]


# -- Events API v2 ---------------------------------------------------------------
def event_rejection(errors):
    return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}


def event_fault(status):
    return {"status": "error" if status >= 500 else "throttled", "message": f"sandbox injected {status}"}


def event(box, request, path, body):  # pylint: disable=unused-argument
    def invalid(*errors):
        return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}, {}
    if body.get("routing_key") != box.pd_routing_key:
        return invalid("Invalid routing key")
    action, key = body["event_action"], body.get("dedup_key")
    if key is not None and len(key) > 255:
        return invalid("'dedup_key' is longer than 255 characters")
    if action == "trigger":
        payload = body.get("payload")
        if not payload:
            return invalid("'payload' is missing or blank")
        if len(payload.get("summary", "")) > 1024:
            return invalid("'payload.summary' is longer than 1024 characters")
        key = key or secrets.token_hex(16)
        alert = box.alerts.setdefault(key, {"status": "resolved", "events": [], "opened": 0})
        if alert["status"] == "resolved":
            alert["opened"] += 1
            box.pages += 1
        alert["status"] = "triggered"
    else:
        if not key:
            return invalid("'dedup_key' is required for " + action)
        alert = box.alerts.get(key)
        if alert and alert["status"] != "resolved":
            alert["status"] = "acknowledged" if action == "acknowledge" else "resolved"
    if alert is not None:
        alert["events"].append({k: v for k, v in body.items() if k != "routing_key"})
    return 202, {"status": "success", "message": "Event processed", "dedup_key": key}, {}


# -- REST API v2 -------------------------------------------------------------------
def rest_rejection(errors):
    return 400, {"error": {"message": "Invalid Input Provided", "code": 2001, "errors": errors}}


def rest_fault(status):
    return {"error": {"message": "Rate Limit Exceeded" if status == 429 else f"sandbox injected {status}",
                      "code": 2020 if status == 429 else 2000}}


def _error(status, message, *errors):
    error = {"message": message, "code": {401: 2006, 404: 2100}.get(status, 2001)}
    if errors:
        error["errors"] = list(errors)
    return status, {"error": error}, {}


def rest(box, request, path, body):
    if request.headers.get("Authorization") != f"Token token={box.pd_api_token}":
        return _error(401, "Unauthorized")
    if request.method != "GET" and request.headers.get("From") != box.pd_user_email:
        return _error(400, "Invalid Input Provided", "Requester User Not Found")
    if path == "/incidents" and request.method == "GET":
        key = request.args.get("incident_key")
        statuses = request.args.getlist("statuses[]")
        found = [i for i in box.incidents.values()
                 if (key is None or i["incident_key"] == key) and (not statuses or i["status"] in statuses)]
        return 200, {"incidents": found, "limit": 25, "offset": 0, "more": False, "total": None}, {}
    if path == "/incidents" and request.method == "POST":
        return _create(box, body["incident"])
    match = re.fullmatch(r"/incidents/([^/]+)(/notes)?", path)
    incident = box.incidents.get(match.group(1)) if match else None
    if incident is None:
        return _error(404, "Not Found")
    if match.group(2):
        return _notes(box, request, incident, body)
    if request.method == "PUT":
        change = body["incident"]
        if change.get("status") and change["status"] != incident["status"]:
            incident["status"] = change["status"]
            incident["last_status_change_at"] = incident["updated_at"] = now()
            if change["status"] == "resolved":
                incident["resolved_at"] = now()
            else:
                incident.pop("resolved_at", None)
    return 200, {"incident": incident}, {}


def _notes(box, request, incident, body):
    notes = box.notes.setdefault(incident["id"], [])
    if request.method == "GET":
        return 200, {"notes": notes}, {}
    note = {"id": f"PN{next(box.ids):05d}", "content": body["note"]["content"], "created_at": now(),
            "user": {"id": "PUSER01", "type": "user_reference", "summary": box.pd_user_email},
            "channel": {"summary": "The PagerDuty website or APIs"}}
    notes.append(note)
    return 200, {"note": note}, {}


def _create(box, fields):
    if fields["service"]["id"] != box.pd_service_id:
        return _error(400, "Invalid Input Provided", "Service not found")
    key = fields.get("incident_key")
    if key and any(i["incident_key"] == key and i["status"] in OPEN for i in box.incidents.values()):
        return _error(400, "Invalid Input Provided", "Open incident with matching dedup key already exists on this service")
    number = next(box.ids)
    iid = f"PINC{number:05d}"
    svc = box.pd_service_id
    incident = {
        "id": iid, "type": "incident", "summary": f"[#{number}] {fields['title']}",
        "self": f"https://api.pagerduty.com/incidents/{iid}",
        "html_url": f"https://sandbox.pagerduty.com/incidents/{iid}", "incident_number": number,
        "title": fields["title"], "created_at": now(), "updated_at": now(), "status": "triggered",
        "incident_key": key or secrets.token_hex(16), "urgency": fields.get("urgency", "high"),
        "service": {"id": svc, "type": "service_reference", "summary": "Paperless Maverick",
                    "self": f"https://api.pagerduty.com/services/{svc}",
                    "html_url": f"https://sandbox.pagerduty.com/service-directory/{svc}"},
        "assignments": [], "assigned_via": "escalation_policy", "last_status_change_at": now(),
        "teams": [],
    }
    box.incidents[iid] = incident
    box.pages += 1
    return 201, {"incident": incident}, {}
