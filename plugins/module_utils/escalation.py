"""The runbook's escalation chain as data, and the clock that walks it.

emergency-procedures.md, "Escalation Chain": on-call engineer (0-15 min), team lead (15-30), engineering manager
(30-60), VP engineering (60+), CTO (critical incidents only). A level is a dict:

    role: Team Lead                      who (printed in pages, the timeline and the postmortem)
    after: 15m                           paged when the incident is neither acknowledged nor recovered this long
                                         after the declaration (a duration: 15m, 1h, 90s; 0 = the declaration)
    severities: [P0]                     only for these severities (default: every severity)
    pagerduty_escalation_level: 2        PagerDuty REST: escalate the incident to this escalation-policy level
    pagerduty_responder: {id, type}      or: a responder request to this user / escalation policy
    contact: "..."                       how to reach them (printed)

Paging a level is one PagerDuty REST call on the incident whose incident key is the collection's dedup key (the
Events API alert of the declaration opens it). Each page is claimed once in the incident workspace
(`escalation/level-<n>.json`), so the clock and an explicit page (`page_level`, for a run whose recovery failed
for good) never page a level twice, and every page is written to the timeline. The clock stops when a stop is
recorded (recovered, acknowledged, resolved), when PagerDuty shows the incident acknowledged or resolved, when
the incident is resolved in its record, when every level is paged, or after `max_runtime`.
"""
from __future__ import annotations

import datetime
import os
import time

from ansible_collections.mataresit.emergency.plugins.module_utils import notifications, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, EmergencyError
from ansible_collections.mataresit.emergency.plugins.module_utils.durations import format_duration, parse_duration

SEVERITIES = ("P0", "P1", "P2", "P3")
RESPONDER_TYPES = ("user_reference", "escalation_policy_reference")
STOP_REASONS = ("recovered", "acknowledged", "resolved", "cancelled")
CATEGORY = workspace.ESCALATION
CLOCK, STOPPED, LOCK = "clock", "stopped", "clock"
TIMELINE_ACTION = "mataresit.emergency.escalation"


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(moment):
    return moment.isoformat(timespec="seconds")


def seconds_since(moment):
    return (_now() - moment).total_seconds()


# -- the chain ---------------------------------------------------------------------------------------
def read_chain(chain):
    """The chain as levels numbered from 1, checked; ConfigError names the first level that is wrong."""
    if not isinstance(chain, list) or not chain:
        raise ConfigError("Failed to read the escalation chain: it must be a non-empty list of levels")
    levels = []
    for number, raw in enumerate(chain, 1):
        where = f"escalation chain level {number}"
        if not isinstance(raw, dict) or not str(raw.get("role") or "").strip():
            raise ConfigError(f"Failed to read the {where}: each level needs a role (who is paged)")
        where += f" ({raw['role']})"
        after = parse_duration(raw.get("after", 0), f"the {where}: after")
        severities = list(raw.get("severities") or SEVERITIES)
        unknown = [s for s in severities if s not in SEVERITIES]
        if unknown:
            raise ConfigError(f"Failed to read the {where}: severities {unknown} are not {', '.join(SEVERITIES)}")
        level = raw.get("pagerduty_escalation_level")
        responder = raw.get("pagerduty_responder")
        if level is not None and responder:
            raise ConfigError(f"Failed to read the {where}: set pagerduty_escalation_level or pagerduty_responder, "
                              "not both")
        if after > 0 and level is None and not responder:
            raise ConfigError(f"Failed to read the {where}: a level paged after the declaration needs "
                              "pagerduty_escalation_level or pagerduty_responder")
        if responder and (not isinstance(responder, dict) or not responder.get("id")
                          or responder.get("type") not in RESPONDER_TYPES):
            raise ConfigError(f"Failed to read the {where}: pagerduty_responder needs an id and a type "
                              f"({' or '.join(RESPONDER_TYPES)})")
        levels.append({"level": number, "role": str(raw["role"]), "after_seconds": after, "severities": severities,
                       "pagerduty_escalation_level": int(level) if level is not None else None,
                       "pagerduty_responder": dict(responder) if responder else None,
                       "contact": str(raw.get("contact") or "")})
    return levels


def for_severity(levels, severity):
    return [level for level in levels if severity in level["severities"]]


def choose(levels, which, paged):
    """The level `which` names: a number, a role (any case) or `next` (the first not yet paged)."""
    text = str(which).strip()
    if text == "next":
        pending = [level for level in levels if level["level"] not in paged and level["after_seconds"] > 0]
        return pending[0] if pending else None
    for level in levels:
        if text == str(level["level"]) or text.lower() == level["role"].lower():
            return level
    names = ", ".join(f"{level['level']} ({level['role']})" for level in levels)
    raise ConfigError(f"Failed to page level '{text}': the chain for this severity has {names}, or use 'next'")


# -- the workspace side -------------------------------------------------------------------------------
def _level_name(level):
    return f"level-{level['level']}"


def paged_levels(incident_dir, levels):
    """{level number: claim} of the levels already paged (or being paged) for the incident."""
    found = {}
    for level in levels:
        claim = workspace.read_claim(incident_dir, CATEGORY, _level_name(level))
        if claim:
            found[level["level"]] = claim
    return found


def stopped(incident_dir):
    return workspace.read_claim(incident_dir, CATEGORY, STOPPED)


def stop(incident_dir, reason, check_mode=False):
    """Record why the clock stops; (changed, the stop record). The first reason wins."""
    if reason not in STOP_REASONS:
        raise ConfigError(f"Failed to stop the escalation clock: reason must be one of {', '.join(STOP_REASONS)}")
    existing = stopped(incident_dir)
    if existing:
        return False, existing
    record = {"reason": reason, "at": _iso(_now())}
    if check_mode:
        return True, record
    if not workspace.claim(incident_dir, CATEGORY, STOPPED, record):
        return False, stopped(incident_dir)
    _timeline(incident_dir, f"Stop the escalation clock: {reason}", "changed", f"escalation clock stopped: {reason}")
    return True, record


def _timeline(incident_dir, task, status, msg, summary=None, started=None):
    now = _now()
    entry = {"started": (started or now).isoformat(timespec="milliseconds"),
             "time": now.isoformat(timespec="milliseconds"),
             "duration_s": round(((now - started).total_seconds() if started else 0.0), 3), "cluster": "all",
             "play": "escalation clock", "phase": "escalate", "task": task, "action": TIMELINE_ACTION,
             "status": status, "msg": msg}
    if summary:
        entry["summary"] = summary
    workspace.append_timeline(incident_dir, entry)


# -- PagerDuty -------------------------------------------------------------------------------------------
class Pager:
    """The PagerDuty REST calls of the escalation: find the incident of the key, escalate it, request responders."""

    def __init__(self, client, key, from_email, requester_id="", drill=False):
        self.client, self.key, self.drill = client, key, drill
        self.headers = {"From": from_email} if from_email else {}
        self.requester_id = requester_id

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.client.close()

    def incident(self):
        """The incident with the key (the open one if any), or None."""
        response = self.client.request("GET", "/incidents", params={"incident_key": self.key},
                                       action=f"find PagerDuty incident {self.key}")
        found = [i for i in (response.json() or {}).get("incidents") or [] if i.get("incident_key") == self.key]
        open_ = [i for i in found if i.get("status") != "resolved"]
        return (open_ or found or [None])[-1]

    def page(self, incident, level, message):
        """Page one level on the incident; return what was done, for the record."""
        if not self.headers:
            raise ConfigError("Failed to page the escalation level: PagerDuty needs the From header on incident "
                              "writes; set from_email")
        if level["pagerduty_escalation_level"] is not None:
            body = {"incident": {"type": "incident_reference", "escalation_level": level["pagerduty_escalation_level"]}}
            self.client.request("PUT", f"/incidents/{incident['id']}", body, headers=self.headers, retry_safe=True,
                                action=f"escalate PagerDuty incident {incident['id']} to level "
                                       f"{level['pagerduty_escalation_level']}")
            return {"how": "escalation_level", "escalation_level": level["pagerduty_escalation_level"]}
        if not self.requester_id:
            raise ConfigError("Failed to page the escalation level: a responder request needs requester_id "
                              "(the PagerDuty user id of the requester)")
        target = level["pagerduty_responder"]
        body = {"requester_id": self.requester_id, "message": message[:1024],
                "responder_request_targets": [{"responder_request_target": {"id": target["id"],
                                                                            "type": target["type"]}}]}
        self.client.request("POST", f"/incidents/{incident['id']}/responder_requests", body, headers=self.headers,
                            action=f"request {level['role']} as responder on PagerDuty incident {incident['id']}")
        return {"how": "responder_request", "responder": target}


def page_message(level, severity, elapsed, drill):
    text = (f"{severity} incident neither acknowledged nor recovered {format_duration(elapsed)} after the declaration: "
            f"paging {level['role']} (escalation level {level['level']})")
    return f"[DRILL] {text}" if drill else text


def page_level(pager, incident_dir, level, severity, elapsed, check_mode=False, incident=None):
    """Page a level once: (changed, record). The claim in the workspace keeps a second caller from paging it."""
    name = _level_name(level)
    existing = workspace.read_claim(incident_dir, CATEGORY, name)
    if existing and existing.get("status") != "failed":
        return False, existing
    message = page_message(level, severity, elapsed, pager.drill)
    record = {"level": level["level"], "role": level["role"], "status": "paging", "at": _iso(_now()),
              "message": message}
    if check_mode:
        return True, dict(record, status="would page")
    if existing:
        workspace.release_claim(incident_dir, CATEGORY, name)
    if not workspace.claim(incident_dir, CATEGORY, name, record):
        return False, workspace.read_claim(incident_dir, CATEGORY, name)
    started = _now()
    try:
        incident = incident or pager.incident()
        if incident is None:
            raise ConfigError(f"Failed to page {level['role']}: no PagerDuty incident has the key {pager.key} "
                              "(the declaration's page opens it)")
        done = pager.page(incident, level, message)
    except EmergencyError as exc:
        record.update(status="failed", error=str(exc))
        workspace.update_claim(incident_dir, CATEGORY, name, record)
        _timeline(incident_dir, f"Page {level['role']} (escalation level {level['level']})", "failed", str(exc),
                  started=started)
        raise
    record.update(done, status="paged", incident=incident.get("id"), paged_at=_iso(_now()))
    workspace.update_claim(incident_dir, CATEGORY, name, record)
    _timeline(incident_dir, f"Page {level['role']} (escalation level {level['level']})", "changed", message,
              {"incident": incident.get("id"), **{k: v for k, v in done.items() if not isinstance(v, dict)}},
              started=started)
    return True, record


# -- the clock -------------------------------------------------------------------------------------------------
def origin(incident_dir, check_mode=False):
    """When the clock started (the declaration): recorded by the first clock of the incident."""
    record = workspace.read_claim(incident_dir, CATEGORY, CLOCK)
    if record:
        return datetime.datetime.fromisoformat(record["started_at"])
    now = _now()
    if not check_mode and not workspace.claim(incident_dir, CATEGORY, CLOCK, {"started_at": _iso(now)}):
        return origin(incident_dir)
    return now


def plan(levels, started, paged, severity):
    """Each level of the severity with its deadline and what happened to it."""
    out = []
    for level in for_severity(levels, severity):
        due = started + datetime.timedelta(seconds=level["after_seconds"])
        claim = paged.get(level["level"]) or {}
        status = "declaration" if level["after_seconds"] == 0 else claim.get("status", "pending")
        out.append({"level": level["level"], "role": level["role"], "after_seconds": level["after_seconds"],
                    "due_at": _iso(due), "status": status, "paged_at": claim.get("paged_at")})
    return out


def incident_severity(incident_dir, default):
    record = workspace.read_incident(incident_dir) or {}
    return record.get("severity") or default, record


def run_clock(pager, incident_dir, levels, severity, poll_interval=30.0, max_runtime=7200, sleep=time.sleep,
              clock=time.monotonic):
    """Walk the chain until the incident is acknowledged, recovered or resolved, or every level is paged.

    Returns (reason the clock ended, the pages it sent). Holds the incident's clock lock: a second clock of the
    same incident returns ('already running', []) at once.
    """
    lock = workspace.try_lock(incident_dir, CATEGORY, LOCK)
    if lock is None:
        return "already running", []
    sent = []
    try:
        started = origin(incident_dir)
        begun = clock()
        reported = set()
        while True:
            if not os.path.isdir(incident_dir):
                return "workspace gone", sent
            stop_record = stopped(incident_dir)
            if stop_record:
                return f"stopped: {stop_record['reason']}", sent
            current, record = incident_severity(incident_dir, severity)
            if record.get("resolved_at"):
                stop(incident_dir, "resolved")
                return "stopped: resolved", sent
            chain = [level for level in for_severity(levels, current) if level["after_seconds"] > 0]
            # Every tick looks at PagerDuty: an acknowledgement there stops the clock within poll_interval.
            try:
                incident = pager.incident()
            except EmergencyError as exc:
                incident = None
                _report_once(incident_dir, reported, "Read the PagerDuty incident", str(exc))
            if incident and incident.get("status") in ("acknowledged", "resolved"):
                stop(incident_dir, "acknowledged" if incident["status"] == "acknowledged" else "resolved")
                return f"stopped: {incident['status']} in PagerDuty", sent
            if incident is None:
                _report_once(incident_dir, reported, "Find the PagerDuty incident to escalate",
                             f"no PagerDuty incident has the key {pager.key} yet")
            elapsed = seconds_since(started)
            paged = paged_levels(incident_dir, chain)
            due = [level for level in chain if level["after_seconds"] <= elapsed and incident is not None
                   and (paged.get(level["level"]) or {}).get("status") in (None, "failed")]
            for level in due:
                try:
                    changed, page = page_level(pager, incident_dir, level, current, elapsed, incident=incident)
                except EmergencyError:
                    continue  # recorded as failed; tried again on the next tick
                if changed:
                    sent.append(page)
            paged = paged_levels(incident_dir, chain)
            left = [level for level in chain if (paged.get(level["level"]) or {}).get("status") != "paged"]
            if not left:
                return "every level paged", sent
            if clock() - begun >= max_runtime:
                return "max_runtime reached", sent
            until_next = min(level["after_seconds"] for level in left) - (_now() - started).total_seconds()
            sleep(max(0.2, min(poll_interval, until_next if until_next > 0 else poll_interval)))
    finally:
        lock.close()


def _report_once(incident_dir, reported, task, msg):
    if task not in reported:
        reported.add(task)
        _timeline(incident_dir, task, "failed", msg)


def pager_from(ctx, incident_id, params):
    """The Pager of a module run (a context manager that closes its REST client), on the incident's key."""
    key = notifications.dedup_key(incident_id, params.get("dedup_key"))
    client = notifications.pagerduty_rest_client(ctx, params["api_token"], params.get("api_url"),
                                                 params.get("region") or "us")
    return Pager(client, key, params.get("from_email"), params.get("requester_id") or "", bool(params.get("drill")))
