"""PagerDuty emulation: Events API v2 (alerts by dedup_key) and REST API v2
(incidents by incident_key, notes, escalation, responder requests). State lives
on the Sandbox (`alerts`, `incidents`, `notes`, `escalations`, `responder_requests`,
`pages`); every function runs under its lock.

As in PagerDuty, an alert triggered through the Events API opens an incident on
the service of its routing key (the incident key is the alert's dedup_key, so
the REST API finds it with `GET /incidents?incident_key=`), and acknowledging
or resolving the alert acknowledges or resolves that incident. Two services:
the production one (`pd_routing_key`, `pd_service_id`) and the drill service
(`pd_drill_routing_key`, `pd_drill_service_id`) that recovery drills page."""
from __future__ import annotations

import re
import secrets

from .clock import now

OPEN = ("triggered", "acknowledged")


def reset(box):
    box.alerts = {}      # dedup_key -> {"status", "events", "opened", "service", "incident"}
    box.incidents = {}   # REST id -> incident
    box.notes = {}       # incident id -> [note]
    box.escalations = []          # {"incident", "level", "at"}: each PUT escalation_level
    box.responder_requests = []   # {"incident", "targets", "message", "at"}


def services(box):
    """routing key -> the service its events open incidents on."""
    return {box.pd_routing_key: box.pd_service_id, box.pd_drill_routing_key: box.pd_drill_service_id}


# -- Events API v2 ---------------------------------------------------------------
def event_rejection(errors):
    return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}


def event_fault(status):
    return {"status": "error" if status >= 500 else "throttled", "message": f"sandbox injected {status}"}


def event(box, request, path, body):  # pylint: disable=unused-argument
    def invalid(*errors):
        return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}, {}
    service = services(box).get(body.get("routing_key"))
    if service is None:
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
        alert = box.alerts.setdefault(key, {"status": "resolved", "events": [], "opened": 0, "service": service})
        if alert["status"] == "resolved":
            alert["opened"] += 1
            box.pages += 1
            alert["incident"] = _open_incident(box, service, payload["summary"], key,
                                               "high" if payload.get("severity") in ("critical", "error") else "low")
        alert["status"] = "triggered"
    else:
        if not key:
            return invalid("'dedup_key' is required for " + action)
        alert = box.alerts.get(key)
        if alert and alert["status"] != "resolved":
            alert["status"] = "acknowledged" if action == "acknowledge" else "resolved"
            incident = box.incidents.get(alert.get("incident"))
            if incident and incident["status"] != "resolved":
                _set_status(incident, alert["status"])
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
    match = re.fullmatch(r"/incidents/([^/]+)(/notes|/responder_requests)?", path)
    incident = box.incidents.get(match.group(1)) if match else None
    if incident is None:
        return _error(404, "Not Found")
    if match.group(2) == "/notes":
        return _notes(box, request, incident, body)
    if match.group(2) == "/responder_requests":
        return _responder_request(box, incident, body)
    if request.method == "PUT":
        change = body["incident"]
        if change.get("status") and change["status"] != incident["status"]:
            _set_status(incident, change["status"])
        if change.get("escalation_level") is not None:
            if incident["status"] == "resolved":
                return _error(400, "Invalid Input Provided", "Incident Already Resolved")
            # PagerDuty re-assigns the incident to the policy's level: its targets are paged.
            box.escalations.append({"incident": incident["id"], "level": change["escalation_level"], "at": now()})
            incident["updated_at"] = now()
            box.pages += 1
    return 200, {"incident": incident}, {}


def _set_status(incident, status):
    incident["status"] = status
    incident["last_status_change_at"] = incident["updated_at"] = now()
    if status == "resolved":
        incident["resolved_at"] = now()
    else:
        incident.pop("resolved_at", None)


def _responder_request(box, incident, body):
    if incident["status"] == "resolved":
        return _error(400, "Invalid Input Provided", "Incident Already Resolved")
    targets = [t["responder_request_target"] for t in body["responder_request_targets"]]
    box.responder_requests.append({"incident": incident["id"], "targets": targets, "message": body["message"],
                                   "requester": body["requester_id"], "at": now()})
    box.pages += len(targets)
    requester = {"id": body["requester_id"], "type": "user_reference", "summary": box.pd_user_email,
                 "self": f"https://api.pagerduty.com/users/{body['requester_id']}",
                 "html_url": f"https://sandbox.pagerduty.com/users/{body['requester_id']}"}
    reference = {"id": incident["id"], "type": "incident_reference", "summary": incident["summary"],
                 "self": incident["self"], "html_url": incident["html_url"]}
    return 200, {"responder_request": {
        "incident": reference, "requester": requester, "requested_at": now(), "message": body["message"],
        "responder_request_targets": [{"responder_request_target": {
            "type": "user" if t["type"].startswith("user") else "escalation_policy", "id": t["id"],
            "incidents_responders": []}} for t in targets]}}, {}


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
    if fields["service"]["id"] not in (box.pd_service_id, box.pd_drill_service_id):
        return _error(400, "Invalid Input Provided", "Service not found")
    key = fields.get("incident_key")
    if key and any(i["incident_key"] == key and i["status"] in OPEN for i in box.incidents.values()):
        return _error(400, "Invalid Input Provided", "Open incident with matching dedup key already exists on this service")
    iid = _open_incident(box, fields["service"]["id"], fields["title"], key, fields.get("urgency", "high"))
    box.pages += 1
    return 201, {"incident": box.incidents[iid]}, {}


def _open_incident(box, svc, title, key, urgency):
    number = next(box.ids)
    iid = f"PINC{number:05d}"
    name = "Paperless Maverick (drills)" if svc == box.pd_drill_service_id else "Paperless Maverick"
    box.incidents[iid] = {
        "id": iid, "type": "incident", "summary": f"[#{number}] {title}",
        "self": f"https://api.pagerduty.com/incidents/{iid}",
        "html_url": f"https://sandbox.pagerduty.com/incidents/{iid}", "incident_number": number,
        "title": title, "created_at": now(), "updated_at": now(), "status": "triggered",
        "incident_key": key or secrets.token_hex(16), "urgency": urgency,
        "service": {"id": svc, "type": "service_reference", "summary": name,
                    "self": f"https://api.pagerduty.com/services/{svc}",
                    "html_url": f"https://sandbox.pagerduty.com/service-directory/{svc}"},
        "assignments": [], "assigned_via": "escalation_policy", "last_status_change_at": now(),
        "teams": [],
    }
    return iid
