"""Statuspage: create, update and resolve an incident with component statuses.

Idempotent by incident name among the page's unresolved incidents: an open
incident with the same name is updated (only what differs), never duplicated;
resolving sets every affected component back to operational. Requests are
paced (about one per second per key, as Statuspage asks) and 420/429 honour
Retry-After. Check mode reads, sends no write, and returns the exact request.
"""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils import http, notifications

DEFAULT_API_URL = "https://api.statuspage.io/v1"
PER_PAGE = 100
OPERATIONAL = "operational"


def operation(ctx):
    """The statuspage module: create, update or resolve an incident, found by name."""
    params = ctx.params
    headers = {"Authorization": f"OAuth {params['api_key']}", "Accept": "application/json"}
    api_url = http.checked_url(params["api_url"], "api_url", "update the status page") if params.get("api_url") \
        else DEFAULT_API_URL
    with notifications.client(ctx, "Statuspage", api_url, [params["api_key"]],
                              "statuspage api_key", "api_url", headers=headers,
                              min_interval=params["request_interval"], pace_key=params["api_key"]) as client:
        return _Statuspage(client, params, ctx.check_mode).apply()


class _Statuspage:
    def __init__(self, client, params, check_mode):
        self.client, self.params, self.check_mode = client, params, check_mode
        self.page = f"/pages/{params['page_id']}"
        self.requests = []

    def unresolved(self):
        incidents, page = [], 1
        while True:
            response = self.client.request("GET", f"{self.page}/incidents/unresolved",
                                           params={"page": page, "per_page": PER_PAGE},
                                           action="list the unresolved Statuspage incidents",
                                           hints={404: "check page_id"})
            batch = self.client.answer(response, list, "list the unresolved Statuspage incidents")
            incidents.extend(batch)
            if len(batch) < PER_PAGE:
                return incidents
            page += 1

    def component_ids(self, wanted):
        """Map the components option (names or ids -> status) to ids, listing the page's components once."""
        if not wanted:
            return {}, {}
        response = self.client.request("GET", f"{self.page}/components", params={"per_page": PER_PAGE},
                                       action="list the Statuspage components", hints={404: "check page_id"})
        known = self.client.answer(response, list, "list the Statuspage components")
        by_id = {c["id"]: c for c in known if c.get("id")}
        by_name = {c.get("name"): c for c in known}
        out, missing = {}, []
        for ref, status in wanted.items():
            comp = by_id.get(ref) or by_name.get(ref)
            if comp is None:
                missing.append(ref)
            else:
                out[comp["id"]] = status
        if missing:
            names = ", ".join(sorted(str(c.get("name")) for c in known)) or "none"
            raise ConfigError(f"Failed to update the Statuspage incident: unknown component(s) {', '.join(map(str, missing))} (page has: {names})")
        return out, {cid: by_id[cid].get("status") for cid in out}

    def write(self, method, path, body, action, hints=None):
        request = self.client.describe(method, path, body)
        self.requests.append(request)
        if self.check_mode:
            return None
        answer = self.client.answer(self.client.request(method, path, body, action=action, hints=hints), action=action)
        # The record says the status page was told (a resolution goes to every channel that was).
        notifications.remember_sent(self.params.get("incident_dir"), "statuspage", self.params["name"],
                                    notifications.fingerprint(request), request, answer)
        return answer

    def apply(self):
        p = self.params
        name, state = p["name"], p["status"]
        current = next((i for i in self.unresolved() if i.get("name") == name), None)
        wanted, current_status = self.component_ids(p.get("components") or {})
        if current is None and state == "resolved":
            return self.result(False, None, None, msg=f"no unresolved Statuspage incident named '{name}': nothing to resolve")
        if current is None:
            fields = {"name": name, "status": state, "deliver_notifications": p["deliver_notifications"]}
            if p.get("impact_override"):
                fields["impact_override"] = p["impact_override"]
            if p.get("body"):
                fields["body"] = p["body"]
            if wanted:
                fields["components"] = wanted
                fields["component_ids"] = list(wanted)
            created = self.write("POST", f"{self.page}/incidents", {"incident": fields},
                                 f"create the Statuspage incident '{name}'",
                                 hints={500: "the incident may have been created: re-run, it is found by name"})
            return self.result(True, None, created or dict(fields, id="<new>"))
        return self.update(current, wanted, current_status)

    def update(self, incident, wanted, current_status):
        p = self.params
        state = p["status"]
        affected = {c["id"]: c.get("status") for c in incident.get("components") or [] if c.get("id")}
        affected.update({cid: st for cid, st in current_status.items() if st is not None})
        if state == "resolved":  # every affected component back to operational, unless told otherwise
            wanted = {**{cid: OPERATIONAL for cid in affected}, **wanted}
        fields = {}
        if incident.get("status") != state:
            fields["status"] = state
        if p.get("impact_override") and incident.get("impact_override") != p["impact_override"]:
            fields["impact_override"] = p["impact_override"]
        changed_components = {cid: st for cid, st in wanted.items() if affected.get(cid) != st}
        if changed_components:
            fields["components"] = changed_components
            fields["component_ids"] = sorted(set(affected) | set(wanted))
        updates = incident.get("incident_updates") or []
        latest_body = updates[0].get("body") if updates else None
        if p.get("body") and (fields or latest_body != p["body"]):
            fields["body"] = p["body"]
        if not fields:
            return self.result(False, incident, incident)
        fields["deliver_notifications"] = p["deliver_notifications"]
        updated = self.write("PATCH", f"{self.page}/incidents/{incident['id']}", {"incident": fields},
                             f"update the Statuspage incident '{incident.get('name')}'")
        after = updated or _merged(incident, fields)
        return self.result(True, incident, after)

    def result(self, changed, before, after, msg=None):
        out = {"changed": changed, "requests": self.requests, "attempts": self.client.attempts}
        if after:
            out["incident"] = _summary(after)
        if msg:
            out["msg"] = msg
        out["diff"] = {"before": _summary(before) if before else {}, "after": _summary(after) if after else {}}
        return out


def _merged(incident, fields):
    merged = dict(incident, **{k: v for k, v in fields.items() if k in ("status", "impact_override")})
    statuses = {c["id"]: c.get("status") for c in incident.get("components") or [] if c.get("id")}
    statuses.update(fields.get("components") or {})
    merged["components"] = [{"id": cid, "status": st} for cid, st in statuses.items()]
    return merged


def _summary(incident):
    comps = incident.get("components")
    if isinstance(comps, dict):  # a create request: {id: status}
        comps = [{"id": cid, "status": st} for cid, st in comps.items()]
    return {
        "id": incident.get("id"), "name": incident.get("name"), "status": incident.get("status"),
        "impact": incident.get("impact_override") or incident.get("impact"), "shortlink": incident.get("shortlink"),
        "components": {c.get("name") or c.get("id"): c.get("status") for c in comps or []},
    }
