"""A local stand-in for PagerDuty (Events v2, REST v2 incidents and notes),
Statuspage (incidents, components) and Slack incoming webhooks.

Every request is validated against the providers' OpenAPI documents before it
is acted on (a request the document rejects gets a 400 in the provider's error
format and changes nothing), and every response the sandbox returns is
validated too. Everything received is recorded for tests to inspect. Tests can
make the next N requests fail (429 / 420 / 5xx / any status, with Retry-After
or ratelimit-reset) or be slow.

URL layout under the base URL (what the modules' URL options point at):
  /pagerduty/events/v2/enqueue        events_url = <base>/pagerduty/events
  /pagerduty/api/incidents...         api_url    = <base>/pagerduty/api
  /statuspage/v1/pages/...            api_url    = <base>/statuspage/v1
  /slack/services/<T>/<B>/<token>     webhook_url
  /_sandbox/status, /_sandbox/requests, /_sandbox/reset, /_sandbox/faults  (control, JSON)
"""
from __future__ import annotations

import copy
import itertools
import json
import re
import secrets
import sys
import threading
import time
from datetime import datetime, timezone

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from .specs import SpecSet

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
OPEN_PD = ("triggered", "acknowledged")
RESOLVED_SP = ("resolved", "completed")
COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
IMPACT_ORDER = ["none", "minor", "major", "critical"]
STATUS_IMPACT = {"operational": "none", "under_maintenance": "none", "degraded_performance": "minor",
                 "partial_outage": "major", "major_outage": "critical"}
SLACK_BLOCK_TYPES = {"section", "header", "context", "divider", "actions", "image", "rich_text", "input", "file", "video"}


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    """stdlib HTTP/1.1 server with keep-alive (werkzeug's dev server closes every connection),
    handing a werkzeug Request to the sandbox."""
    protocol_version = "HTTP/1.1"

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        environ = EnvironBuilder(path=url.path, query_string=url.query, method=self.command,
                                 headers=list(self.headers.items()), data=body).get_environ()
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = self.client_address[0], str(self.client_address[1])
        response = self.server.sandbox.dispatch(Request(environ))
        data = response.get_data()
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout) before the answer

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


class Sandbox:
    """The sandbox server. `start()` runs it in a daemon thread; `base_url` is where it listens."""

    def __init__(self, host="127.0.0.1", port=0, specs_dir=None, credentials=None):
        self.specs = SpecSet(specs_dir)
        self.host, self.port = host, port
        self.lock = threading.RLock()
        self.idle = threading.Condition(self.lock)
        self.in_flight = 0
        creds = credentials or {}
        self.pd_routing_key = creds.get("pd_routing_key") or f"R{secrets.token_hex(16)}"
        self.pd_api_token = creds.get("pd_api_token") or f"u+{secrets.token_urlsafe(15)}"
        self.pd_user_email = creds.get("pd_user_email") or "oncall@mataresit.example"
        self.pd_service_id = creds.get("pd_service_id") or "PSVC001"
        self.sp_api_key = creds.get("sp_api_key") or secrets.token_hex(32)
        self.sp_page_id = creds.get("sp_page_id") or "pg0mataresit"
        self.slack_path = creds.get("slack_path") or f"/slack/services/T0MATARESIT/B0INCIDENT/{secrets.token_urlsafe(18)}"
        self._server = self._thread = None
        self.reset()

    # -- lifecycle -------------------------------------------------------------
    def start(self):
        self._server = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._server.daemon_threads = True
        self._server.sandbox = self
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="saas-sandbox", daemon=True)
        self._thread.start()
        if not self.specs.enabled:
            print(f"WARNING: SaaS sandbox OpenAPI validation SKIPPED: {self.specs.skipped_reason}", file=sys.stderr)
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def urls(self):
        return {
            "pagerduty_events_url": f"{self.base_url}/pagerduty/events",
            "pagerduty_api_url": f"{self.base_url}/pagerduty/api",
            "statuspage_api_url": f"{self.base_url}/statuspage/v1",
            "slack_webhook_url": f"{self.base_url}{self.slack_path}",
        }

    def settings(self):
        """Everything a client needs to talk to this sandbox (test credentials included)."""
        return dict(self.urls, base_url=self.base_url, pagerduty_routing_key=self.pd_routing_key,
                    pagerduty_api_token=self.pd_api_token, pagerduty_from=self.pd_user_email,
                    pagerduty_service_id=self.pd_service_id, statuspage_api_key=self.sp_api_key,
                    statuspage_page_id=self.sp_page_id)

    # -- state, faults, records --------------------------------------------------
    def reset(self):
        with self.lock:
            self.log = []
            self.faults = []      # [{service, status, headers, body, remaining}]
            self.slowness = []    # [{service, seconds, remaining}]
            self.tampers = []     # [(service, fn(dict) -> dict)]
            self.alerts = {}      # dedup_key -> {"status", "events", "opened"}
            self.pages = 0        # how many times someone was paged (alerts opened + incidents created)
            self.incidents = {}   # PagerDuty REST id -> incident
            self.notes = {}       # PagerDuty incident id -> [note]
            self.sp_incidents = {}
            self.slack_messages = []
            self.components = {}
            self._ids = itertools.count(1)
            for position, name in enumerate(["API", "Web app", "Document processing", "Database"], start=1):
                cid = f"cmp{position:09d}"
                self.components[cid] = {"id": cid, "page_id": self.sp_page_id, "group": False, "name": name,
                                        "description": f"{name} of Paperless Maverick", "position": position,
                                        "status": "operational", "showcase": True, "only_show_if_degraded": False,
                                        "created_at": now(), "updated_at": now()}

    def inject(self, status, count=1, service=None, method=None, retry_after=None, headers=None, body=None,
               after_handling=False):
        """Answer the next `count` (valid) requests of `service` / `method` (None: any) with `status`.

        after_handling=True acts on the request first and then answers the fault: the "server did it but
        the answer was lost" case that makes blind retries of a POST dangerous.
        """
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs["Retry-After"] = str(retry_after)
        with self.lock:
            self.faults.append({"service": service, "method": method, "status": status, "headers": hdrs, "body": body,
                                "remaining": count, "after_handling": after_handling})

    def slow(self, seconds, count=1, service=None):
        """Delay the next `count` requests of `service` by `seconds`."""
        with self.lock:
            self.slowness.append({"service": service, "seconds": seconds, "remaining": count})

    def tamper_next_response(self, service, fn):
        """Pass the next JSON response body of `service` through fn (to prove response validation works)."""
        with self.lock:
            self.tampers.append((service, fn))

    def records(self, service=None, method=None):
        with self.lock:
            return [r for r in self.log if (service is None or r["service"] == service)
                    and (method is None or r["method"] == method)]

    def writes(self, service=None):
        """Every recorded write attempt (POST/PUT/PATCH/DELETE), whatever the answer."""
        return [r for r in self.records(service) if r["method"] in WRITE_METHODS]

    def accepted_writes(self, service=None):
        """Write requests that were valid, not faulted, and answered with success."""
        return [r for r in self.writes(service)
                if not r["faulted"] and not r["request_validation"]["errors"] and (r["status"] or 500) < 400]

    def rejected(self):
        return [r for r in self.records() if r["request_validation"]["errors"]]

    def response_errors(self):
        return [r for r in self.records() if r["response_validation"]["errors"]]

    def status(self):
        return {
            "base_url": self.base_url,
            "validation": "enabled" if self.specs.enabled else "SKIPPED",
            "skipped_reason": self.specs.skipped_reason,
            "specs_dir": str(self.specs.directory),
            "requests": len(self.log),
            "validated_requests": sum(1 for r in self.log if r["request_validation"]["checked"]),
            "validated_responses": sum(1 for r in self.log if r["response_validation"]["checked"]),
            "rejected": len(self.rejected()),
            "response_errors": len(self.response_errors()),
            "connections": len({r["client"] for r in self.log}),
            "pages": self.pages,
        }

    def _take(self, queue, service, method=None):
        with self.lock:
            for item in queue:
                if item["remaining"] > 0 and item["service"] in (None, service) and item.get("method") in (None, method):
                    item["remaining"] -= 1
                    return item
        return None

    # -- requests ------------------------------------------------------------------
    def dispatch(self, request):
        path = request.path
        if path.startswith("/_sandbox/"):
            return self.control(request)
        service, spec_path = self.route(path)
        if service is None:
            return Response("not found", status=404, mimetype="text/plain")
        body = request.get_data()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record = {
            "id": len(self.log) + 1, "time": time.time(), "service": service, "method": request.method,
            "path": path, "spec_path": spec_path, "query": request.args.to_dict(flat=False),
            "headers": dict(request.headers), "json": parsed, "body": body.decode(errors="replace"),
            "client": f"{request.remote_addr}:{request.environ.get('REMOTE_PORT')}",
            "faulted": False, "status": None,
            "request_validation": {"checked": False, "errors": []},
            "response_validation": {"checked": False, "errors": [], "notes": []},
        }
        with self.lock:
            self.log.append(record)
            self.in_flight += 1
        try:
            return self._answer(service, request, record, spec_path, body, parsed)
        finally:
            with self.idle:
                self.in_flight -= 1
                self.idle.notify_all()

    def wait_idle(self, timeout=30):
        """Wait until every request received has been answered (slow ones included)."""
        with self.idle:
            return self.idle.wait_for(lambda: self.in_flight == 0, timeout=timeout)

    def _answer(self, service, request, record, spec_path, body, parsed):
        path = request.path
        verdict = self.check_request(service, request, spec_path, body, parsed)
        record["request_validation"] = {"checked": verdict.checked, "errors": verdict.errors}
        if verdict.errors:
            status, payload = self.rejection(service, verdict.errors)
            headers = {}
        else:
            delay = self._take(self.slowness, service)
            if delay:
                time.sleep(delay["seconds"])
            fault = self._take(self.faults, service, request.method)
            if fault and fault["after_handling"]:
                self.handle(service, request, spec_path, parsed)
            if fault:
                record["faulted"] = True
                status, payload, headers = fault["status"], self.fault_body(service, fault), fault["headers"]
            else:
                status, payload, headers = self.handle(service, request, spec_path, parsed)
        with self.lock:
            tamper = next((t for t in self.tampers if t[0] == service), None)
            if tamper and isinstance(payload, (dict, list)):
                self.tampers.remove(tamper)
                payload = tamper[1](copy.deepcopy(payload))
        if isinstance(payload, (dict, list)):
            data, mimetype = json.dumps(payload).encode(), "application/json"
        else:
            data, mimetype = (payload or "").encode(), "text/plain"
        response = Response(data, status=status, mimetype=mimetype, headers=headers)
        record.update(status=status, response_body=data.decode(errors="replace"),
                      response_json=payload if isinstance(payload, (dict, list)) else None)
        verdict = self.specs.validate_response(
            service, request.method, spec_path, request.args, request.headers, body, request.content_type,
            status, dict(response.headers), data, mimetype) if service != "slack" else _unchecked()
        record["response_validation"] = {"checked": verdict.checked, "errors": verdict.errors, "notes": verdict.notes}
        if verdict.errors:
            print(f"SaaS sandbox: RESPONSE FAILS THE SPEC {request.method} {path}: {verdict.errors}", file=sys.stderr)
        return response

    def control(self, request):
        """JSON control API for processes that do not share memory with the sandbox (the demo, the CLI)."""
        action = request.path[len("/_sandbox/"):]
        args = request.get_json(silent=True) or {}
        if action == "status" and request.method == "GET":
            payload = dict(self.status(), settings=self.settings())
        elif action == "requests" and request.method == "GET":
            payload = self.records()
        elif action == "reset" and request.method == "POST":
            self.reset()
            payload = {"reset": True}
        elif action == "faults" and request.method == "POST":
            self.inject(int(args["status"]), count=int(args.get("count", 1)), service=args.get("service"),
                        method=args.get("method"), retry_after=args.get("retry_after"), headers=args.get("headers"), body=args.get("body"))
            payload = {"queued": len(self.faults)}
        elif action == "slow" and request.method == "POST":
            self.slow(float(args["seconds"]), count=int(args.get("count", 1)), service=args.get("service"))
            payload = {"queued": len(self.slowness)}
        else:
            return Response(json.dumps({"error": f"unknown control {request.method} {action}"}), status=404,
                            mimetype="application/json")
        return Response(json.dumps(payload, default=str), mimetype="application/json")

    def route(self, path):
        if path == "/pagerduty/events/v2/enqueue" or path.startswith("/pagerduty/events/"):
            return "pagerduty-events", path[len("/pagerduty/events"):]
        if path.startswith("/pagerduty/api/"):
            return "pagerduty-rest", path[len("/pagerduty/api"):]
        if path.startswith("/statuspage/v1/"):
            return "statuspage", path[len("/statuspage"):]
        if path.startswith("/slack/"):
            return "slack", path
        return None, None

    def check_request(self, service, request, spec_path, body, parsed):
        if service == "slack":
            return _Verdict(True, slack_problems(request, parsed))
        return self.specs.validate_request(service, request.method, spec_path, request.args, request.headers,
                                           body, request.content_type)

    @staticmethod
    def rejection(service, errors):
        if service == "pagerduty-events":
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        if service == "pagerduty-rest":
            return 400, {"error": {"message": "Invalid Input Provided", "code": 2001, "errors": errors}}
        if service == "statuspage":
            return 400, {"message": "; ".join(errors)}
        return 400, "invalid_blocks" if any(e.startswith("block ") for e in errors) else "invalid_payload"

    @staticmethod
    def fault_body(service, fault):
        if fault["body"] is not None:
            return fault["body"]
        status = fault["status"]
        if service == "slack":
            return "rate_limited" if status == 429 else "internal_error"
        if service == "pagerduty-events":
            return {"status": "error" if status >= 500 else "throttled", "message": f"sandbox injected {status}"}
        if service == "pagerduty-rest":
            return {"error": {"message": "Rate Limit Exceeded" if status == 429 else f"sandbox injected {status}",
                              "code": 2020 if status == 429 else 2000}}
        return {"message": "Rate limit exceeded" if status in (420, 429) else f"sandbox injected {status}"}

    # -- providers -----------------------------------------------------------------
    def handle(self, service, request, path, body):
        with self.lock:
            if service == "pagerduty-events":
                return self.pd_event(body)
            if service == "pagerduty-rest":
                return self.pd_rest(request, path, body)
            if service == "statuspage":
                return self.statuspage(request, path, body)
            return self.slack(request, body)

    def pd_event(self, body):
        def invalid(*errors):
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}, {}
        if body.get("routing_key") != self.pd_routing_key:
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
            alert = self.alerts.setdefault(key, {"status": "resolved", "events": [], "opened": 0})
            if alert["status"] == "resolved":
                alert["opened"] += 1
                self.pages += 1
            alert["status"] = "triggered"
        else:
            if not key:
                return invalid("'dedup_key' is required for " + action)
            alert = self.alerts.get(key)
            if alert and alert["status"] != "resolved":
                alert["status"] = "acknowledged" if action == "acknowledge" else "resolved"
        if alert is not None:
            alert["events"].append({k: v for k, v in body.items() if k != "routing_key"})
        return 202, {"status": "success", "message": "Event processed", "dedup_key": key}, {}

    def _pd_error(self, status, message, *errors):
        error = {"message": message, "code": {401: 2006, 404: 2100}.get(status, 2001)}
        if errors:
            error["errors"] = list(errors)
        return status, {"error": error}, {}

    def pd_rest(self, request, path, body):
        if request.headers.get("Authorization") != f"Token token={self.pd_api_token}":
            return self._pd_error(401, "Unauthorized")
        if request.method != "GET" and request.headers.get("From") != self.pd_user_email:
            return self._pd_error(400, "Invalid Input Provided", "Requester User Not Found")
        if path == "/incidents" and request.method == "GET":
            key = request.args.get("incident_key")
            statuses = request.args.getlist("statuses[]")
            found = [i for i in self.incidents.values()
                     if (key is None or i["incident_key"] == key) and (not statuses or i["status"] in statuses)]
            return 200, {"incidents": found, "limit": 25, "offset": 0, "more": False, "total": None}, {}
        if path == "/incidents" and request.method == "POST":
            return self.pd_create(body["incident"])
        match = re.fullmatch(r"/incidents/([^/]+)(/notes)?", path)
        incident = self.incidents.get(match.group(1)) if match else None
        if incident is None:
            return self._pd_error(404, "Not Found")
        if match.group(2):
            notes = self.notes.setdefault(incident["id"], [])
            if request.method == "GET":
                return 200, {"notes": notes}, {}
            note = {"id": f"PN{next(self._ids):05d}", "content": body["note"]["content"], "created_at": now(),
                    "user": {"id": "PUSER01", "type": "user_reference", "summary": self.pd_user_email},
                    "channel": {"summary": "The PagerDuty website or APIs"}}
            notes.append(note)
            return 200, {"note": note}, {}
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
        return 200, {"incident": incident}, {}

    def pd_create(self, fields):
        if fields["service"]["id"] != self.pd_service_id:
            return self._pd_error(400, "Invalid Input Provided", "Service not found")
        key = fields.get("incident_key")
        if key and any(i["incident_key"] == key and i["status"] in OPEN_PD for i in self.incidents.values()):
            return self._pd_error(400, "Invalid Input Provided",
                                  "Open incident with matching dedup key already exists on this service")
        number = next(self._ids)
        iid = f"PINC{number:05d}"
        svc = self.pd_service_id
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
        self.incidents[iid] = incident
        self.pages += 1
        return 201, {"incident": incident}, {}

    def statuspage(self, request, path, body):
        if request.headers.get("Authorization") != f"OAuth {self.sp_api_key}":
            return 401, {"message": "Could not authenticate"}, {}
        match = re.fullmatch(r"/v1/pages/([^/]+)/(incidents|components)(?:/([^/]+))?", path)
        if not match or match.group(1) != self.sp_page_id:
            return 404, {"message": "The requested resource could not be found."}, {}
        kind, item = match.group(2), match.group(3)
        if kind == "components":
            if item is None:
                return 200, sorted(self.components.values(), key=lambda c: c["position"]), {}
            comp = self.components.get(item)
            if comp is None:
                return 404, {"message": "The requested resource could not be found."}, {}
            if request.method == "PATCH":
                comp.update({k: v for k, v in body.get("component", {}).items() if v is not None}, updated_at=now())
            return 200, comp, {}
        if item == "unresolved":
            open_ = [i for i in self.sp_incidents.values() if i["status"] not in RESOLVED_SP]
            return 200, sorted(open_, key=lambda i: i["created_at"], reverse=True), {}
        if item is None and request.method == "POST":
            return self.sp_write(None, body["incident"])
        incident = self.sp_incidents.get(item)
        if incident is None:
            return 404, {"message": "The requested resource could not be found."}, {}
        if request.method == "PATCH":
            return self.sp_write(incident, body["incident"])
        return 200, incident, {}

    def sp_write(self, incident, fields):
        changes = fields.get("components") or {}
        unknown = [cid for cid in list(changes) + list(fields.get("component_ids") or []) if cid not in self.components]
        if unknown:
            return 422, {"message": f"Components not found: {', '.join(unknown)}"}, {}
        bad = [f"{cid}={st}" for cid, st in changes.items() if st not in COMPONENT_STATUSES]
        if bad:
            return 422, {"message": f"Invalid component status: {', '.join(bad)}"}, {}
        created = incident is None
        if created:
            iid = f"inc{secrets.token_hex(5)}"
            incident = {"id": iid, "page_id": self.sp_page_id, "name": fields["name"], "status": "investigating",
                        "created_at": now(), "shortlink": f"http://stspg.io/{iid[-6:]}", "incident_updates": [],
                        "components": [], "impact": "none"}
            self.sp_incidents[iid] = incident
        affected = [c["id"] for c in incident["components"]]
        for cid in list(changes) + list(fields.get("component_ids") or []):
            if cid not in affected:
                affected.append(cid)
        updates = []
        for cid, status in changes.items():
            old = self.components[cid]["status"]
            self.components[cid].update(status=status, updated_at=now())
            updates.append({"code": cid, "name": self.components[cid]["name"], "old_status": old, "new_status": status})
        for key in ("name", "impact_override"):
            if fields.get(key):
                incident[key] = fields[key]
        status_changed = fields.get("status") and fields["status"] != incident["status"]
        if fields.get("status"):
            incident["status"] = fields["status"]
            if fields["status"] == "monitoring":
                incident["monitoring_at"] = now()
            if fields["status"] in RESOLVED_SP:
                incident["resolved_at"] = now()
        if created or status_changed or fields.get("body") or updates:
            incident["incident_updates"].insert(0, {
                "id": f"upd{secrets.token_hex(5)}", "incident_id": incident["id"], "status": incident["status"],
                "body": fields.get("body") or "", "affected_components": updates, "created_at": now(),
                "display_at": now(), "updated_at": now(), "deliver_notifications": fields.get("deliver_notifications", True),
            })
        incident["components"] = [dict(self.components[cid]) for cid in affected]
        worst = max((STATUS_IMPACT[c["status"]] for c in incident["components"]), key=IMPACT_ORDER.index, default="none")
        incident["impact"] = incident.get("impact_override") or worst
        incident["updated_at"] = now()
        return (201 if created else 200), incident, {}

    def slack(self, request, body):
        if request.path != self.slack_path:
            return 404, "no_service", {}
        self.slack_messages.append(body)
        return 200, "ok", {}


class _Verdict:
    def __init__(self, checked, errors=(), notes=()):
        self.checked, self.errors, self.notes = checked, list(errors), list(notes)


def _unchecked():
    return _Verdict(False)


def slack_problems(request, body):
    """Slack publishes no OpenAPI document for incoming webhooks: check the documented payload rules."""
    problems = []
    if request.method != "POST":
        return [f"method {request.method} not allowed"]
    if (request.mimetype or "") != "application/json":
        return [f"content type {request.mimetype!r} is not application/json"]
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    blocks = body.get("blocks")
    if not body.get("text") and not blocks:
        problems.append("no text and no blocks")
    if body.get("text") is not None and not isinstance(body["text"], str):
        problems.append("text is not a string")
    if blocks is not None:
        if not isinstance(blocks, list) or len(blocks) > 50:
            return problems + ["blocks must be a list of at most 50 blocks"]
        for n, block in enumerate(blocks):
            problems.extend(f"block {n}: {p}" for p in _block_problems(block))
    return problems


def _text_problem(obj, limit, kinds=("plain_text", "mrkdwn")):
    if not isinstance(obj, dict) or obj.get("type") not in kinds or not isinstance(obj.get("text"), str):
        return f"text object must be {{type: {'|'.join(kinds)}, text: str}}"
    if not obj["text"] or len(obj["text"]) > limit:
        return f"text must be 1..{limit} characters"
    return None


def _block_problems(block):
    if not isinstance(block, dict) or block.get("type") not in SLACK_BLOCK_TYPES:
        return [f"unknown block type {block.get('type') if isinstance(block, dict) else block!r}"]
    kind, out = block["type"], []
    if kind == "header":
        out.append(_text_problem(block.get("text"), 150, ("plain_text",)))
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            out.append("section needs text or fields")
        if "text" in block:
            out.append(_text_problem(block["text"], 3000))
        fields = block.get("fields", [])
        if len(fields) > 10:
            out.append("section has more than 10 fields")
        out.extend(_text_problem(f, 2000) for f in fields)
    elif kind == "context":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= 10:
            out.append("context needs 1..10 elements")
        out.extend(_text_problem(e, 3000) for e in elements if isinstance(e, dict) and e.get("type") != "image")
    return [p for p in out if p]
