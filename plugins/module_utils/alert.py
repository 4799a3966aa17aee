"""Alerts as data: what the collection's Alertmanager event source accepts, and how an alert reaches a playbook.

ansible-core treats extra vars as trusted templates, and ansible-rulebook hands `run_playbook` extra vars (and
the whole matching event, as `ansible_eda.event`) to ansible-playbook. So no alert text ever travels as itself:
the event source (extensions/eda/plugins/event_source/alertmanager.py) forwards only fields it validated against
strict patterns, plus the alert group as `data`, base64url of JSON (an alphabet without `{`, `%` or `#`),
signed with an HMAC keyed by the webhook's bearer token. The incident module decodes `data` and returns it as
module results, which ansible-core never templates.

One alert group (Alertmanager's group key, per alert name) is one incident: the first firing alert opens an
episode, alerts that join it later or are sent again start nothing, and the episode closes when none of its
alerts fires any more.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import os
import re

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.incident import checked_reason, open_incident

ENCODING_VERSION = 1
SIGNATURE_CONTEXT = b"mataresit.emergency alert v1\n"
FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")
# Prometheus alerting rule names are metric names.
ALERTNAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]{0,199}$")
SEVERITY = re.compile(r"^[a-z]{1,20}$")
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
NAMESPACE_LABELS = ("kubernetes_namespace", "namespace")
STATUSES = ("firing", "resolved")
DATA = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_DATA_CHARS = 512 * 1024
MAX_ALERTS = 50  # per event; the rest are counted, not carried
MAX_TEXT = 4096  # per label or annotation value


def _text_map(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigError(f"{what} must be a map of strings")
    return {k: v[:MAX_TEXT] for k, v in value.items()}


def parse_time(value, what="startsAt"):
    """An RFC 3339 time with a timezone, as UTC."""
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$", value):
        raise ConfigError(f"{what} must be an RFC 3339 time with a timezone")
    # Python 3.11 parses at most microseconds: drop the extra digits of Go's nanoseconds.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.datetime.fromisoformat(value).astimezone(datetime.timezone.utc)
    except ValueError:
        raise ConfigError(f"{what} must be an RFC 3339 time with a timezone") from None


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_alert(alert):
    """One alert of an Alertmanager webhook (payload version 4), checked; return it normalised.

    Raises ConfigError naming the first field that is not what Alertmanager sends.
    """
    if not isinstance(alert, dict):
        raise ConfigError("an alert must be an object")
    status = alert.get("status")
    if status not in STATUSES:
        raise ConfigError("status must be firing or resolved")
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not FINGERPRINT.match(fingerprint):
        raise ConfigError("fingerprint must be 16 lowercase hex digits")
    labels = _text_map(alert.get("labels"), "labels")
    annotations = _text_map(alert.get("annotations"), "annotations")
    if not ALERTNAME.match(labels.get("alertname", "")):
        raise ConfigError("labels.alertname must be a Prometheus rule name ([A-Za-z_:][A-Za-z0-9_:]*)")
    starts_at = parse_time(alert.get("startsAt"))
    ends_at = alert.get("endsAt")
    ends = parse_time(ends_at, "endsAt") if ends_at and not str(ends_at).startswith("0001-") else None
    generator = alert.get("generatorURL") or ""
    if not isinstance(generator, str):
        raise ConfigError("generatorURL must be a string")
    return {"status": status, "fingerprint": fingerprint, "labels": labels, "annotations": annotations,
            "startsAt": iso(starts_at), "endsAt": iso(ends) if ends else "", "generatorURL": generator[:MAX_TEXT]}


def _severity(labels):
    value = labels.get("severity", "")
    return value if SEVERITY.match(value) else "unknown"


def _namespace(labels):
    """The namespace the alert is about: "" when it names none, "-" (no namespace's name) when it is not one."""
    for key in NAMESPACE_LABELS:
        if key in labels:
            return labels[key] if NAMESPACE.match(labels[key]) else "-"
    return ""


def incident_id(group_key, alertname, starts_at):
    """alert-<12 hex of the group>-<when the episode's first alert started>: stable for the whole episode."""
    digest = hashlib.sha256(f"{group_key}\n{alertname}".encode()).hexdigest()[:12]
    return f"alert-{digest}-{starts_at.replace('-', '').replace(':', '')}"


# -- the encoding ------------------------------------------------------------------
def encode(payload):
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(data):
    if not isinstance(data, str) or not data or len(data) > MAX_DATA_CHARS or not DATA.match(data):
        raise ConfigError("the alert is not in the encoding of mataresit.emergency.alertmanager (base64url JSON)")
    try:
        payload = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError):
        raise ConfigError("the alert is not in the encoding of mataresit.emergency.alertmanager (base64url JSON)") from None
    if not isinstance(payload, dict) or payload.get("version") != ENCODING_VERSION:
        raise ConfigError(f"the alert encoding must be version {ENCODING_VERSION} of mataresit.emergency.alertmanager")
    return payload


def sign(token, data):
    return hmac.new(token.encode(), SIGNATURE_CONTEXT + data.encode(), hashlib.sha256).hexdigest()


def verified(token, data, signature):
    return bool(token and signature) and hmac.compare_digest(sign(token, data), str(signature))


def read(data, signature="", token="", require_authenticated=False):
    """Decode the alert a run was started with; return (payload, authenticated).

    A signature that does not match the token is always an error; an alert that cannot be verified (no
    signature, or no token to check it with) is one only where the policy requires authenticated alerts.
    """
    if signature and token:
        if not verified(token, data, signature):
            raise ConfigError("the alert's signature does not match: it did not come through "
                              "mataresit.emergency.alertmanager with this inventory's webhook token")
        authenticated = True
    else:
        authenticated = False
    if require_authenticated and not authenticated:
        raise ConfigError("the policy runs alert-driven plays only from the authenticated event source "
                          "mataresit.emergency.alertmanager: " + (
                              "set incident_alert_token (vault_alertmanager_webhook_token) to verify its signature"
                              if signature else "the alert carries no signature"))
    payload = decode(data)
    for key, pattern in (("incident_id", re.compile(r"^alert-[0-9a-f]{12}-\d{8}T\d{6}Z$")), ("alertname", ALERTNAME),
                         ("fingerprint", FINGERPRINT), ("severity", SEVERITY)):
        if not isinstance(payload.get(key), str) or not pattern.match(payload[key]):
            raise ConfigError(f"the alert's {key} is not valid")
    if payload.get("status") not in STATUSES:
        raise ConfigError("the alert's status must be firing or resolved")
    parse_time(payload.get("starts_at"), "the alert's starts_at")
    if not isinstance(payload.get("alerts"), list) or not isinstance(payload.get("group"), dict):
        raise ConfigError("the alert carries no alerts list or group")
    payload["alerts"] = [validate_alert(alert) for alert in payload["alerts"]]
    payload["group"] = {key: _safe_map(value) if key.endswith("labels") or key.endswith("annotations") else str(value)
                        for key, value in payload["group"].items()}
    return payload, authenticated


def summary(payload):
    """What the incident record and the report keep of an alert (all of it data, shown literally)."""
    first = (payload.get("alerts") or [{}])[0]
    annotations = dict(payload.get("group", {}).get("common_annotations") or {}, **(first.get("annotations") or {}))
    return {
        "alertname": payload["alertname"], "status": payload["status"], "severity": payload["severity"],
        "namespace": payload.get("namespace", ""), "starts_at": payload["starts_at"],
        "ends_at": payload.get("ends_at", ""), "fingerprint": payload["fingerprint"],
        "summary": annotations.get("summary", ""), "description": annotations.get("description", ""),
        "labels": first.get("labels") or {}, "annotations": annotations,
        "alerts": len(payload.get("alerts") or []) + int(payload.get("alerts_left_out") or 0),
        "group_labels": payload.get("group", {}).get("labels") or {},
        "external_url": payload.get("group", {}).get("external_url", ""),
    }


def describe(payload):
    text = summary(payload)
    return f"{text['alertname']}: {text['summary']}" if text["summary"] else text["alertname"]


def open_for_alert(workspace_root, params, check_mode=False):
    """The incident module with an alert: decode and verify it, then open (or close) the incident it names."""
    try:
        payload, authenticated = read(params["alert"], params.get("alert_signature") or "",
                                      params.get("alert_token") or "", params.get("require_authenticated_alert"))
    except ConfigError as exc:
        raise ConfigError(f"Failed to open the incident of the alert: {exc}") from None
    if params.get("incident_id") and params["incident_id"] != payload["incident_id"]:
        raise ConfigError(f"Failed to open the incident of the alert: incident_id {params['incident_id']} is not "
                          f"the alert's ({payload['incident_id']}); omit it")
    text = summary(payload)
    reason = params.get("reason") or checked_reason(describe(payload), strict=False)
    changed, incident = open_incident(workspace_root, params["severity"], reason,
                                      params.get("clusters") or [], payload["incident_id"], params.get("environment"),
                                      payload["starts_at"], check_mode, alert=text)
    message = f"Alertmanager alert {text['alertname']} ({text['severity']}) {text['status']}"
    message += f": {text['summary']}" if text["summary"] else ""
    return dict(incident, changed=changed, alert_authenticated=authenticated, msg=message)


# -- the event source's bookkeeping ---------------------------------------------------
class Episodes:
    """Alert groups to incident episodes, for the event source.

    `update(webhook_payload)` returns the events to forward: one `firing` when a group (per alert name) starts
    firing, one `resolved` when none of its alerts fires any more, nothing for repeats and re-groupings.
    With `state_file`, open episodes survive a restart of ansible-rulebook.
    """

    def __init__(self, token, state_file=None):
        self._token = token
        self._state_file = state_file
        self.open = {}
        if state_file and os.path.exists(state_file):
            try:
                with open(state_file, encoding="utf-8") as handle:
                    self.open = json.load(handle)
            except (OSError, ValueError):
                self.open = {}

    def _save(self):
        if not self._state_file:
            return
        tmp = f"{self._state_file}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.open, handle)
        os.replace(tmp, self._state_file)

    def update(self, payload, received_at=None):
        """Validate a webhook payload; return (events, rejected) where rejected lists (index, reason)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
            raise ConfigError("the body is not an Alertmanager webhook payload (no alerts list)")
        group_key = payload.get("groupKey") if isinstance(payload.get("groupKey"), str) else ""
        group = {"key": group_key[:MAX_TEXT], "receiver": str(payload.get("receiver") or "")[:MAX_TEXT],
                 "labels": _safe_map(payload.get("groupLabels")), "common_labels": _safe_map(payload.get("commonLabels")),
                 "common_annotations": _safe_map(payload.get("commonAnnotations")),
                 "external_url": str(payload.get("externalURL") or "")[:MAX_TEXT]}
        by_name, rejected = {}, []
        for index, raw in enumerate(payload["alerts"]):
            try:
                alert = validate_alert(raw)
            except ConfigError as exc:
                rejected.append((index, str(exc)))
                continue
            by_name.setdefault(alert["labels"]["alertname"], []).append(alert)
        events = []
        now = iso(received_at or datetime.datetime.now(datetime.timezone.utc))
        for alertname, alerts in sorted(by_name.items()):
            key = f"{group_key}\n{alertname}"
            firing = [a for a in alerts if a["status"] == "firing"]
            episode = self.open.get(key)
            if firing and episode is None:
                starts_at = min(a["startsAt"] for a in firing)
                episode = {"incident_id": incident_id(group_key, alertname, starts_at), "starts_at": starts_at}
                self.open[key] = episode
                events.append(self._event("firing", alertname, episode, firing, group, now))
            elif not firing:
                if episode is None:  # not seen firing (a restart without state_file): close what it names
                    starts_at = min(a["startsAt"] for a in alerts)
                    episode = {"incident_id": incident_id(group_key, alertname, starts_at), "starts_at": starts_at}
                self.open.pop(key, None)
                ends_at = max((a["endsAt"] for a in alerts if a["endsAt"]), default=now)
                events.append(self._event("resolved", alertname, episode, alerts, group, now, ends_at))
        if events:
            self._save()
        return events, rejected

    def _event(self, status, alertname, episode, alerts, group, received_at, ends_at=""):
        first = alerts[0]
        payload = {
            "version": ENCODING_VERSION, "incident_id": episode["incident_id"], "status": status,
            "alertname": alertname, "severity": _severity(first["labels"]), "namespace": _namespace(first["labels"]),
            "fingerprint": first["fingerprint"], "starts_at": episode["starts_at"], "ends_at": ends_at,
            "received_at": received_at, "group": group, "alerts": alerts[:MAX_ALERTS],
            "alerts_left_out": max(0, len(alerts) - MAX_ALERTS),
        }
        data = encode(payload)
        # Only validated fields travel outside `data`: a rulebook can match on them and pass them on safely.
        fields = {key: payload[key] for key in ("incident_id", "status", "alertname", "severity", "namespace",
                                                "fingerprint", "starts_at", "ends_at")}
        return {"alert": dict(fields, data=data, signature=sign(self._token, data))}


def _safe_map(value):
    try:
        return _text_map(value, "map")
    except ConfigError:
        return {}
