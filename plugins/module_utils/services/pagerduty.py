"""PagerDuty: Events API v2 (trigger / acknowledge / resolve an alert by
dedup_key) and REST API v2 (create / acknowledge / resolve an incident by
incident_key, add a note). Every write is derived from incident_id so a re-run
never pages twice; check mode sends no write and returns the exact requests."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ApiError, ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils import http, notifications

REGIONS = notifications.PAGERDUTY_REGIONS
EVENT_ACTIONS = {"triggered": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}
OPEN_STATUSES = ("triggered", "acknowledged")
MAX_SUMMARY = 1024
DUPLICATE_HINT = "matching dedup key"


# api -> (its credential option, its URL option and region key, what a run of it does)
APIS = {"events": ("routing_key", "events_url", "events", "send the PagerDuty event"),
        "rest": ("api_token", "api_url", "api", "manage the PagerDuty incident")}


def operation(ctx):
    """The pagerduty module: an Events API v2 alert or a REST API v2 incident."""
    params = ctx.params
    credential, url_option, region_key, purpose = APIS[params["api"]]
    if params["state"] == "noted" and params["api"] != "rest":
        raise ConfigError("Failed to send the PagerDuty event: state=noted adds a note to an incident; use api=rest")
    if not params.get(credential):
        raise ConfigError(f"Failed to {purpose}: api={params['api']} needs {credential}")
    key = notifications.dedup_key(params.get("incident_id"), params.get("dedup_key"))
    base = http.checked_url(params[url_option], url_option, purpose) if params.get(url_option) \
        else REGIONS[params["region"]][region_key]
    return (_rest if params["api"] == "rest" else _events)(ctx, params, key, base)


# -- Events API v2 -----------------------------------------------------------
def build_event(params, key):
    """The Events API v2 body for params (routing key included)."""
    action = EVENT_ACTIONS[params["state"]]
    body = {"routing_key": params["routing_key"], "event_action": action, "dedup_key": key}
    if action == "trigger":
        if not params.get("summary"):
            raise ConfigError("Failed to build the PagerDuty event: state=triggered needs summary")
        payload = {
            "summary": params["summary"][:MAX_SUMMARY],
            "severity": params["severity"],
            "source": params["source"],
        }
        for option, field in (("component", "component"), ("group", "group"), ("event_class", "class"),
                              ("custom_details", "custom_details")):
            if params.get(option):
                payload[field] = params[option]
        body["payload"] = payload
        if params.get("client"):
            body["client"] = params["client"]
        if params.get("client_url"):
            body["client_url"] = params["client_url"]
        links = [{k: v for k, v in link.items() if v} for link in params.get("links") or []]
        if links:
            body["links"] = links
    return body


def _events(ctx, params, key, base):
    body = build_event(params, key)
    action = f"{body['event_action']} PagerDuty alert {key}"
    with notifications.client(ctx, "PagerDuty", base, [params["routing_key"]], "the pagerduty routing_key",
                              "events_url / region") as client:
        request = client.describe("POST", "/v2/enqueue", body)
        digest = notifications.fingerprint(body)
        result = {"changed": False, "dedup_key": key, "api": "events", "event_action": body["event_action"], "requests": []}
        if notifications.already_sent(params.get("incident_dir"), "pagerduty-event", key, digest):
            result["msg"] = f"this {body['event_action']} event was already sent for {key} (recorded in incident_dir)"
            return result
        result.update(changed=True, requests=[request])
        if ctx.check_mode:
            return result
        # The dedup_key makes a repeated enqueue harmless, so a 5xx may be retried.
        response = client.request("POST", "/v2/enqueue", body, action=action, retry_safe=True,
                                  hints={400: "check routing_key and the event fields"})
        answer = client.answer(response, action=action)
        result["response"] = answer
        result["attempts"] = client.attempts
        record = notifications.remember_sent(params.get("incident_dir"), "pagerduty-event", key, digest, request, answer)
        if record:
            result["record"] = record
        return result


# -- REST API v2 ---------------------------------------------------------------
def _rest(ctx, params, key, base):
    write_headers = {"From": params["from_email"]} if params.get("from_email") else {}
    with notifications.pagerduty_rest_client(ctx, params["api_token"], base) as client:
        rest = _Rest(client, params, key, write_headers, ctx.check_mode)
        return rest.apply()


class _Rest:
    VERBS = {"triggered": "create", "acknowledged": "acknowledge", "resolved": "resolve", "noted": "add a note to"}

    def __init__(self, client, params, key, write_headers, check_mode):
        self.client, self.params, self.key = client, params, key
        self.write_headers, self.check_mode = write_headers, check_mode
        self.requests = []
        # Every request of the run fails under the run's purpose: "Failed to create PagerDuty incident <key>: ..."
        self.action = f"{self.VERBS[params['state']]} PagerDuty incident {key}"

    def find_open(self, statuses=OPEN_STATUSES):
        query = {"incident_key": self.key}
        if statuses:
            query["statuses[]"] = list(statuses)
        response = self.client.request("GET", "/incidents", params=query, action=self.action)
        listed = self.client.answer(response, list, self.action, key="incidents")
        incidents = [i for i in listed if i.get("incident_key") == self.key]
        return incidents[-1] if incidents else None

    def write(self, method, path, body, action, retry_safe=False):
        if not self.write_headers:
            raise ConfigError(f"Failed to {action}: PagerDuty needs the From header on incident writes; set from_email")
        self.requests.append(self.client.describe(method, path, body, headers=self.write_headers))
        if self.check_mode:
            return None
        return self.client.answer(self.client.request(method, path, body, headers=self.write_headers, action=action,
                                                      retry_safe=retry_safe,
                                                      hints={400: "check service_id and the incident fields"}),
                                  action=action)

    def apply(self):
        state, key = self.params["state"], self.key
        incident = self.find_open()
        changed = False
        created = False
        if state in ("triggered", "acknowledged") and incident is None:
            incident = self.create()
            changed = created = True
        if state == "noted":
            return self.note_only(incident)
        if incident is None:  # resolved, nothing open
            return self.result(False, None, f"no open PagerDuty incident with incident_key {key}: nothing to resolve")
        if state in ("acknowledged", "resolved") and incident.get("status") != state:
            body = {"incident": {"type": "incident_reference", "status": state}}
            if state == "resolved" and self.params.get("resolution"):
                body["incident"]["resolution"] = self.params["resolution"]
            updated = self.write("PUT", f"/incidents/{incident.get('id', '<new>')}", body, self.action)
            incident = (updated or {}).get("incident") or dict(incident, status=state)
            changed = True
        if self.params.get("note"):
            changed = self.add_note(incident, fresh=created) or changed
        return self.result(changed, incident)

    def note_only(self, incident):
        """state=noted: the note on the incident with the key, open or resolved (the postmortem link)."""
        if not self.params.get("note"):
            raise ConfigError(f"Failed to {self.action}: state=noted needs note")
        incident = incident or self.find_open(statuses=None)
        if incident is None:
            return self.result(False, None, f"no PagerDuty incident with incident_key {self.key}: nothing to note")
        return self.result(self.add_note(incident), incident)

    def create(self):
        p = self.params
        if not p.get("service_id") or not p.get("summary"):
            raise ConfigError(f"Failed to {self.action}: creating an incident needs service_id and summary")
        incident = {"type": "incident", "title": p["summary"][:MAX_SUMMARY],
                    "service": {"id": p["service_id"], "type": "service_reference"},
                    "urgency": p["urgency"], "incident_key": self.key}
        if p.get("details"):
            incident["body"] = {"type": "incident_body", "details": p["details"]}
        action = self.action
        try:
            # incident_key makes a repeat safe: PagerDuty rejects a second open incident with the same key.
            created = self.write("POST", "/incidents", {"incident": incident}, action, retry_safe=True)
        except ApiError as exc:
            if exc.status == 400 and DUPLICATE_HINT in str(exc) and self.client.retried:
                existing = self.find_open()  # an earlier attempt of ours went through
                if existing:
                    return existing
            raise
        if created is None:  # check mode
            return {"id": "<new>", "status": "triggered", "incident_key": self.key, "title": incident["title"]}
        return created.get("incident") or {}

    def add_note(self, incident, fresh=False):
        content = self.params["note"]
        if not fresh and incident.get("id") not in (None, "<new>"):  # a new incident has no notes yet
            response = self.client.request("GET", f"/incidents/{incident['id']}/notes",
                                           action=f"add a note to PagerDuty incident {self.key}")
            notes = self.client.answer(response, list, f"add a note to PagerDuty incident {self.key}", key="notes")
            if any(n.get("content") == content for n in notes):
                return False
        self.write("POST", f"/incidents/{incident.get('id', '<new>')}/notes", {"note": {"content": content}},
                   f"add a note to PagerDuty incident {self.key}")
        return True

    def result(self, changed, incident, msg=None):
        out = {"changed": changed, "api": "rest", "incident_key": self.key, "dedup_key": self.key,
               "requests": self.requests, "attempts": self.client.attempts}
        if incident:
            out["incident"] = {k: incident.get(k) for k in ("id", "incident_number", "status", "title", "html_url",
                                                            "incident_key", "urgency") if incident.get(k) is not None}
        if msg:
            out["msg"] = msg
        return out
