"""The post-incident follow-through: the runbook's checklist with owners and due dates, and the invitation to the
post-incident review as an iCalendar (RFC 5545) event.

emergency-procedures.md, "Post-Incident Procedures": immediate post-recovery (0-30 minutes), short-term follow-up
(1-24 hours), long-term actions (1-7 days). An item is due at the end of its window, counted from the resolution.
"""
from __future__ import annotations

import datetime
import re

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError

# window -> (what the runbook calls it, when its items are due after the resolution)
WINDOWS = {
    "immediate": ("Immediate post-recovery (0-30 minutes)", datetime.timedelta(minutes=30)),
    "short_term": ("Short-term follow-up (1-24 hours)", datetime.timedelta(hours=24)),
    "long_term": ("Long-term actions (1-7 days)", datetime.timedelta(days=7)),
}
# What an item's `done_when` may name: facts the post-incident step knows.
DONE_FACTS = ("recovered", "resolved", "notified", "documented", "review_scheduled")


def checklist(items, base, facts):
    """The checklist items with their due time (UTC, from `base`) and whether they are done."""
    out = []
    for number, raw in enumerate(items or [], 1):
        if not isinstance(raw, dict) or not str(raw.get("item") or "").strip():
            raise ConfigError(f"Failed to write the follow-ups: checklist item {number} needs an item (what to do)")
        window = raw.get("window") or "long_term"
        if window not in WINDOWS:
            raise ConfigError(f"Failed to write the follow-ups: checklist item {number} ({raw['item']}): window must "
                              f"be one of {', '.join(WINDOWS)}")
        done_when = raw.get("done_when") or ""
        if done_when and done_when not in DONE_FACTS:
            raise ConfigError(f"Failed to write the follow-ups: checklist item {number} ({raw['item']}): done_when "
                              f"must be one of {', '.join(DONE_FACTS)}")
        due = base + WINDOWS[window][1]
        out.append({"item": str(raw["item"]), "window": window, "owner": str(raw.get("owner") or "Incident commander"),
                    "due": due.isoformat(timespec="minutes"),
                    "done": bool(done_when and facts.get(done_when))})
    return out


def render_checklist(items):
    """Markdown: one section per window, each item a checkbox with its owner and due time."""
    lines = []
    for window, (title, _delta) in WINDOWS.items():
        mine = [item for item in items if item["window"] == window]
        if not mine:
            continue
        lines += [f"### {title}", ""]
        lines += [f"- [{'x' if item['done'] else ' '}] {_md(item['item'])} - owner: {_md(item['owner'])}; "
                  f"due {utc_text(item['due'])}" for item in mine]
        lines.append("")
    return lines


def utc_text(iso):
    """An ISO 8601 time as printed for people: '2026-12-02 18:30 UTC' (naive times are UTC)."""
    moment = datetime.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    if moment.tzinfo:
        moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _md(text):
    """Markdown-inert one-line text (it may come from an operator or an alert)."""
    return re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", " ".join(str(text).split()))


# -- iCalendar (RFC 5545) ------------------------------------------------------------------------
def _ical_text(value):
    """A TEXT value: backslash, semicolon, comma and newlines escaped (3.3.11)."""
    text = str(value).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _param(value):
    """A parameter value (CN=...): quoted, with the characters a quoted value cannot hold removed (3.2)."""
    return '"' + re.sub(r'["\r\n\x00-\x1f]', "", str(value)) + '"'


def _fold(line):
    """Lines longer than 75 octets folded with CRLF + space (3.1), never inside a UTF-8 sequence."""
    data = line.encode()
    parts = []
    while len(data) > 75:
        cut = 75 if not parts else 74
        while cut > 0 and (data[cut] & 0xC0) == 0x80:
            cut -= 1
        parts.append(data[:cut])
        data = data[cut:]
    parts.append(data)
    return b"\r\n ".join(parts).decode()


def _stamp(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _address(value, what):
    address = str(value or "").strip()
    if not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+", address):
        raise ConfigError(f"Failed to write the review invitation: {what} '{address}' is not an email address")
    return address


def invitation(uid, start, duration, summary, description, organizer, attendees, location="", now=None):
    """A METHOD:REQUEST calendar with one event (the post-incident review); CRLF line ends, folded lines."""
    if not attendees:
        raise ConfigError("Failed to write the review invitation: no attendees (set the incident list in "
                          "emergency_contacts.lists.incident or post_incident_review_attendees)")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    lines = [
        "BEGIN:VCALENDAR", "PRODID:-//mataresit//mataresit.emergency//EN", "VERSION:2.0", "CALSCALE:GREGORIAN",
        "METHOD:REQUEST", "BEGIN:VEVENT",
        f"UID:{_ical_text(uid)}", f"DTSTAMP:{_stamp(now)}", f"DTSTART:{_stamp(start)}",
        f"DTEND:{_stamp(start + duration)}", f"SUMMARY:{_ical_text(summary)}",
        f"DESCRIPTION:{_ical_text(description)}",
        f"ORGANIZER;CN={_param(organizer)}:mailto:{_address(organizer, 'the organizer')}",
    ]
    for attendee in attendees:
        address = _address(attendee, "attendee")
        lines.append(f"ATTENDEE;CN={_param(address)};CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;"
                     f"RSVP=TRUE:mailto:{address}")
    if location:
        lines.append(f"LOCATION:{_ical_text(location)}")
    lines += ["SEQUENCE:0", "STATUS:CONFIRMED", "TRANSP:OPAQUE", "END:VEVENT", "END:VCALENDAR"]
    return "".join(_fold(line) + "\r\n" for line in lines)
