"""The post-incident follow-through: the checklist with owners and due dates, the review invitation as a calendar
client reads it (icalendar), severities raised mid-incident, and the drill's score."""
from __future__ import annotations

import datetime

import pytest
from icalendar import Calendar

from ansible_collections.mataresit.emergency.plugins.module_utils import drill, followup
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.incident import (
    phase_figures, raise_severity, render_report,
)

BASE = datetime.datetime(2026, 12, 2, 10, 4, 30, tzinfo=datetime.timezone.utc)


def test_checklist_items_are_due_at_the_end_of_their_window():
    items = followup.checklist([
        {"item": "Verify all systems operational", "window": "immediate", "owner": "On-Call Engineer",
         "done_when": "recovered"},
        {"item": "Conduct post-incident review meeting", "window": "short_term", "owner": "Team Lead"},
        {"item": "Test recovery procedures"},
    ], BASE, {"recovered": True})
    assert [(i["window"], i["due"], i["done"]) for i in items] == [
        ("immediate", "2026-12-02T10:34+00:00", True), ("short_term", "2026-12-03T10:04+00:00", False),
        ("long_term", "2026-12-09T10:04+00:00", False)]
    assert items[2]["owner"] == "Incident commander"
    text = "\n".join(followup.render_checklist(items))
    assert "### Immediate post-recovery (0-30 minutes)\n\n- [x] Verify all systems operational - owner: On-Call" in text
    assert "- [x] Verify all systems operational - owner: On-Call Engineer; due 2026-12-02 10:34 UTC\n" in text
    assert "- [ ] Test recovery procedures - owner: Incident commander; due 2026-12-09 10:04 UTC\n" in text
    assert "+00:00" not in text


@pytest.mark.parametrize("iso, text", [
    ("2026-12-02T18:30+00:00", "2026-12-02 18:30 UTC"), ("2026-12-02T18:30:59Z", "2026-12-02 18:30 UTC"),
    ("2026-12-02T20:30+02:00", "2026-12-02 18:30 UTC"), ("2026-12-02T18:30", "2026-12-02 18:30 UTC")])
def test_times_for_people_say_utc_once(iso, text):
    assert followup.utc_text(iso) == text


@pytest.mark.parametrize("item, message", [
    ({"window": "soon"}, "needs an item"),
    ({"item": "x", "window": "soon"}, "window must be one of immediate, short_term, long_term"),
    ({"item": "x", "done_when": "magic"}, "done_when must be one of"),
])
def test_a_wrong_checklist_item_is_one_clear_line(item, message):
    with pytest.raises(ConfigError, match=message):
        followup.checklist([item], BASE, {})


def test_the_invitation_is_what_a_calendar_client_reads():
    hostile = "Checkout down; users see 500s, \\ and \n a second line " + "long " * 40
    text = followup.invitation("inc-1-review@mataresit.emergency", BASE + datetime.timedelta(days=1),
                               datetime.timedelta(minutes=45), "Post-incident review: inc-1 (P0)", hostile,
                               "oncall@mataresit.example", ["incident-response@mataresit.example", "lead@mataresit.example"],
                               location="Room 4, floor 2", now=BASE)
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n")) and text.endswith("END:VCALENDAR\r\n")
    calendar = Calendar.from_ical(text)
    assert str(calendar["METHOD"]) == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == BASE + datetime.timedelta(days=1)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == datetime.timedelta(minutes=45)
    assert str(event["DESCRIPTION"]) == hostile and str(event["LOCATION"]) == "Room 4, floor 2"
    assert [str(a) for a in event["ATTENDEE"]] == ["mailto:incident-response@mataresit.example",
                                                   "mailto:lead@mataresit.example"]
    assert event["ATTENDEE"][0].params["RSVP"] == "TRUE" and str(event["ORGANIZER"]) == "mailto:oncall@mataresit.example"


@pytest.mark.parametrize("organizer, attendees, message", [
    ("oncall@mataresit.example", [], "no attendees"),
    ("oncall@mataresit.example", ["not an address"], "attendee 'not an address' is not an email address"),
    ("x\r\nATTENDEE:mailto:evil@example.com", ["a@b.example"], "the organizer"),
])
def test_an_invitation_that_cannot_be_sent_is_one_clear_line(organizer, attendees, message):
    with pytest.raises(ConfigError, match=message):
        followup.invitation("u", BASE, datetime.timedelta(hours=1), "s", "d", organizer, attendees)


INCIDENT = {"incident_id": "inc-1", "severity": "P2", "opened_at": "2026-12-02T10:00:00+00:00",
            "response_target_minutes": 60, "reason": "search is slow"}


def entry(minute, phase, status="changed", task="t"):
    at = f"2026-12-02T10:{minute:02d}:00.000+00:00"
    return {"started": at, "time": at, "phase": phase, "status": status, "task": task, "action": "x.y", "cluster": "c"}


def test_a_raised_severity_keeps_its_history_and_is_never_lowered():
    raised = raise_severity(INCIDENT, "P0", "checkout down too")
    assert raised["severity"] == "P0" and raised["response_target_minutes"] == 5
    assert [(h["severity"], h.get("raised_from")) for h in raised["severity_history"]] == [("P2", None), ("P0", "P2")]
    assert raise_severity(raised, "P1") is raised and raise_severity(INCIDENT, "P2") is INCIDENT


def test_the_report_shows_each_severity_against_its_own_target():
    raised = dict(raise_severity(INCIDENT, "P0", "checkout down too"))
    raised["severity_history"][1]["at"] = "2026-12-02T10:20:00+00:00"
    entries = [entry(2, "notify"), entry(21, "notify"), entry(29, "recover")]
    figures = phase_figures(raised, entries)
    p2, p0 = figures["severities"]
    assert (p2["time_to_respond_minutes"], p2["target_met"]) == (2.0, True)
    assert (p0["time_to_respond_minutes"], p0["time_to_act_minutes"], p0["target_met"]) == (1.0, 9.0, False)
    report = render_report(raised, entries, figures)
    assert "- Severity raised from P2 to P0 at 2026-12-02T10:20:00+00:00 (checkout down too)" in report
    assert "| P0 | 2026-12-02T10:20:00+00:00 | 5 | 1.0 | 9.0 | MISSED |" in report


def test_the_report_prints_due_dates_and_the_review_start_in_utc_once():
    entries = [entry(2, "notify"), entry(6, "recover")]
    items = followup.checklist([{"item": "Update runbooks", "window": "short_term", "owner": "Team Lead"}], BASE, {})
    review = {"start": "2026-12-03T12:04+00:00", "minutes": 60, "attendees": ["lead@example.com"],
              "path": "/x/review.ics"}
    report = render_report(INCIDENT, entries, phase_figures(INCIDENT, entries),
                           followthrough={"checklist": items, "review": review})
    assert "- [ ] Update runbooks - owner: Team Lead; due 2026-12-03 10:04 UTC\n" in report
    assert "- 2026-12-03 12:04 UTC, 60 minutes; invited: lead@example.com (invitation: /x/review.ics)" in report
    assert "+00:00 UTC" not in report


def test_the_drill_is_scored_from_the_moment_the_fault_showed():
    incident = dict(INCIDENT, severity="P0", response_target_minutes=5)
    entries = [entry(0, "assess", "ok"), entry(3, "assess", "ok"), entry(4, "recover"), entry(6, "validate", "ok")]
    given = {"scenario": "bad_deploy", "staged_at": "2026-12-02T10:01:00Z", "put_back": True}
    figures = drill.score(incident, entries, given)
    assert (figures["time_to_detect_seconds"], figures["time_to_act_seconds"], figures["time_to_recover_seconds"]) == (
        120.0, 180.0, 300.0)
    assert figures["act_within_target"] and figures["passed"] and figures["problems"] == []
    late = drill.score(incident, [entry(9, "assess", "ok"), entry(9, "recover", "failed")],
                       dict(given, put_back=False, differences=["Node/n: labels"]))
    assert not late["passed"] and late["time_to_recover_seconds"] is None
    assert any("the procedure failed" in p for p in late["problems"])
    assert any("not put back as found: Node/n: labels" in p for p in late["problems"])
    doc = drill.document(incident, dict(given, procedure="p0_outage", fault="bad image"), figures)
    assert "- Result: PASSED" in drill.render(doc) and "| time to act | 180.0 s (within the P0 target of 300 s) |" in drill.render(doc)
