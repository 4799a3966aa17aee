"""A local stand-in for PagerDuty (Events v2, REST v2 incidents, notes, escalation and responder requests),
Statuspage (incidents, components) and Slack incoming webhooks.

Every request is validated against the providers' OpenAPI documents before it
is acted on (a request the document rejects gets a 400 in the provider's error
format and changes nothing), and every response the sandbox returns is
validated too. Everything received is recorded for tests to inspect. Tests can
make the next N requests fail (429 / 420 / 5xx / any status, with Retry-After
or ratelimit-reset) or be slow.

The providers live in pagerduty.py, statuspage.py and slack.py; this file is
the HTTP server, the request log, fault injection and validation.

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
import secrets
import sys
import threading
import time
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from . import pagerduty, slack, statuspage
from .specs import SpecSet

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# What the sandbox needs of each emulated service: the handler that acts on a valid request, the body of
# a request the spec (or Slack's rules) rejects, the body of an injected fault, and the request check
# for services without an OpenAPI document.
Service = namedtuple("Service", "handle rejection fault check", defaults=(None,))
SERVICES = {
    "pagerduty-events": Service(pagerduty.event, pagerduty.event_rejection, pagerduty.event_fault),
    "pagerduty-rest": Service(pagerduty.rest, pagerduty.rest_rejection, pagerduty.rest_fault),
    "statuspage": Service(statuspage.handle, statuspage.rejection, statuspage.fault),
    "slack": Service(slack.handle, slack.rejection, slack.fault, check=slack.problems),
}


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
        # The service recovery drills page (playbooks/drill.yml): its own routing key.
        self.pd_drill_routing_key = creds.get("pd_drill_routing_key") or f"R{secrets.token_hex(16)}"
        self.pd_drill_service_id = creds.get("pd_drill_service_id") or "PSVCDRILL"
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
                    pagerduty_service_id=self.pd_service_id, pagerduty_drill_routing_key=self.pd_drill_routing_key,
                    pagerduty_drill_service_id=self.pd_drill_service_id, statuspage_api_key=self.sp_api_key,
                    statuspage_page_id=self.sp_page_id)

    # -- state, faults, records --------------------------------------------------
    def reset(self):
        with self.lock:
            self.log = []
            self.faults = []      # [{service, status, headers, body, remaining}]
            self.slowness = []    # [{service, seconds, remaining}]
            self.tampers = []     # [(service, fn(dict) -> dict)]
            self.pages = 0        # how many times someone was paged (alerts opened + incidents created)
            self.ids = itertools.count(1)
            for provider in (pagerduty, statuspage, slack):
                provider.reset(self)

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
            status, dict(response.headers), data, mimetype) if SERVICES[service].check is None else _unchecked()
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
        check = SERVICES[service].check
        if check is not None:
            return _Verdict(True, check(request, parsed))
        return self.specs.validate_request(service, request.method, spec_path, request.args, request.headers,
                                           body, request.content_type)

    @staticmethod
    def rejection(service, errors):
        return SERVICES[service].rejection(errors)

    @staticmethod
    def fault_body(service, fault):
        if fault["body"] is not None:
            return fault["body"]
        return SERVICES[service].fault(fault["status"])

    def handle(self, service, request, path, body):
        with self.lock:
            return SERVICES[service].handle(self, request, path, body)


class _Verdict:
    def __init__(self, checked, errors=(), notes=()):
        self.checked, self.errors, self.notes = checked, list(errors), list(notes)


def _unchecked():
    return _Verdict(False)
