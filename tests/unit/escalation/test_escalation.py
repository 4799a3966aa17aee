"""The escalation chain as data, and the clock that walks it, with PagerDuty faked at the HTTP transport seam."""
from __future__ import annotations

import datetime
import json

import httpx
import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils import escalation, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.services import escalation as service

TOKEN = "u+ESCALATION-TOKEN-0123"
CHAIN = [
    {"role": "On-Call Engineer", "after": "0"},
    {"role": "Team Lead", "after": "15m", "pagerduty_escalation_level": 2},
    {"role": "Engineering Manager", "after": "30m", "pagerduty_escalation_level": 3},
    {"role": "VP Engineering", "after": "1h", "pagerduty_escalation_level": 4},
    {"role": "CTO", "after": "60m", "severities": ["P0"], "pagerduty_responder": {"id": "PCTO", "type": "user_reference"}},
]


class FakePagerDuty:
    """PagerDuty REST at the transport seam: one incident with the key, its status, and what was asked of it."""

    def __init__(self, status="triggered", exists=True):
        self.incident = {"id": "PINC1", "incident_key": "mataresit-inc-1", "status": status}
        self.exists = exists
        self.writes = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request):
        if request.method == "GET":
            return httpx.Response(200, json={"incidents": [dict(self.incident)] if self.exists else []})
        self.writes.append((request.method, request.url.path, json.loads(request.content), request.headers.get("From")))
        return httpx.Response(200, json={"incident": self.incident})


@pytest.fixture
def incident(tmp_path):
    directory = str(tmp_path / "inc-1")
    workspace.write_incident(directory, {"incident_id": "inc-1", "incident_dir": directory, "severity": "P0",
                                         "opened_at": "2026-12-02T10:00:00+00:00", "response_target_minutes": 5})
    return directory


def pager(fake, drill=False):
    client = escalation.notifications.pagerduty_rest_client(_Ctx(fake.transport), TOKEN, "https://pd.test")
    return escalation.Pager(client, "mataresit-inc-1", "oncall@example.com", "PREQ", drill)


class _Ctx:
    def __init__(self, transport):
        self.transport = transport
        self.params = {"request_timeout": 5, "max_retries": 0}
        self.no_log_values = set()


def test_the_runbook_chain_reads_with_deadlines_in_seconds():
    levels = escalation.read_chain(CHAIN)
    assert [(lv["level"], lv["role"], lv["after_seconds"]) for lv in levels] == [
        (1, "On-Call Engineer", 0), (2, "Team Lead", 900), (3, "Engineering Manager", 1800),
        (4, "VP Engineering", 3600), (5, "CTO", 3600)]
    assert [lv["role"] for lv in escalation.for_severity(levels, "P2")] == [
        "On-Call Engineer", "Team Lead", "Engineering Manager", "VP Engineering"]
    assert escalation.for_severity(levels, "P0")[-1]["pagerduty_responder"] == {"id": "PCTO", "type": "user_reference"}


@pytest.mark.parametrize("chain, message", [
    ([], "non-empty list"),
    ([{"after": "1m"}], "level 1: each level needs a role"),
    ([{"role": "Lead", "after": "soon", "pagerduty_escalation_level": 2}], "level 1 (Lead): after: 'soon' is not a duration"),
    ([{"role": "Lead", "after": "5m"}], "needs pagerduty_escalation_level or pagerduty_responder"),
    ([{"role": "Lead", "after": "5m", "pagerduty_escalation_level": 2, "pagerduty_responder": {"id": "P", "type": "user_reference"}}],
     "not both"),
    ([{"role": "Lead", "after": "5m", "pagerduty_responder": {"id": "P", "type": "team"}}], "needs an id and a type"),
    ([{"role": "Lead", "after": "5m", "severities": ["P9"], "pagerduty_escalation_level": 2}], "severities ['P9']"),
])
def test_a_wrong_chain_is_one_clear_line(chain, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        escalation.read_chain(chain)


def test_choose_a_level_by_number_role_or_next():
    levels = escalation.read_chain(CHAIN)
    assert escalation.choose(levels, "next", {})["role"] == "Team Lead"
    assert escalation.choose(levels, "next", {2: {}, 3: {}})["role"] == "VP Engineering"
    assert escalation.choose(levels, "cto", {})["level"] == 5 and escalation.choose(levels, "3", {})["level"] == 3
    assert escalation.choose(levels, "next", {2: {}, 3: {}, 4: {}, 5: {}}) is None
    with pytest.raises(ConfigError, match="Failed to page level 'Intern'"):
        escalation.choose(levels, "Intern", {})


def test_a_level_is_paged_once_through_escalation_level_or_a_responder_request(incident):
    fake = FakePagerDuty()
    levels = escalation.read_chain(CHAIN)
    with pager(fake) as p:
        changed, record = escalation.page_level(p, incident, levels[1], "P0", 901)
        again, _again_record = escalation.page_level(p, incident, levels[1], "P0", 950)
        escalation.page_level(p, incident, levels[4], "P0", 3601)
    assert changed and not again and record["status"] == "paged" and record["incident"] == "PINC1"
    put, post = fake.writes
    assert put == ("PUT", "/incidents/PINC1", {"incident": {"type": "incident_reference", "escalation_level": 2}},
                   "oncall@example.com")
    assert post[1] == "/incidents/PINC1/responder_requests"
    assert post[2]["responder_request_targets"] == [{"responder_request_target": {"id": "PCTO", "type": "user_reference"}}]
    assert post[2]["requester_id"] == "PREQ" and "paging CTO" in post[2]["message"]
    pages = [e for e in workspace.read_timeline(incident) if e["status"] == "changed"]
    assert [e["task"] for e in pages] == ["Page Team Lead (escalation level 2)", "Page CTO (escalation level 5)"]
    assert all(e["phase"] == "escalate" and e["action"] == "mataresit.emergency.escalation" for e in pages)


def test_a_failed_page_is_recorded_and_tried_again(incident):
    fake = FakePagerDuty(exists=False)
    levels = escalation.read_chain(CHAIN)
    with pager(fake) as p, pytest.raises(ConfigError, match="no PagerDuty incident has the key mataresit-inc-1"):
        escalation.page_level(p, incident, levels[1], "P0", 901)
    assert workspace.read_claim(incident, escalation.CATEGORY, "level-2")["status"] == "failed"
    fake.exists = True
    with pager(fake) as p:
        changed, record = escalation.page_level(p, incident, levels[1], "P0", 960)
    assert changed and record["status"] == "paged"


def test_drill_pages_say_so(incident):
    fake = FakePagerDuty()
    with pager(fake, drill=True) as p:
        escalation.page_level(p, incident, escalation.read_chain(CHAIN)[4], "P0", 3601)
    assert fake.writes[0][2]["message"].startswith("[DRILL] ")


def clock(incident, fake, start_ago, ticks=50):
    """Run the clock as if it had started `start_ago` seconds ago, with a fake sleep that moves time on."""
    workspace.claim(incident, escalation.CATEGORY, escalation.CLOCK,
                    {"started_at": (datetime.datetime.now(datetime.timezone.utc)
                                    - datetime.timedelta(seconds=start_ago)).isoformat()})
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        if len(slept) > ticks:
            raise AssertionError("the clock did not end")

    with pager(fake) as p:
        return escalation.run_clock(p, incident, escalation.read_chain(CHAIN), "P0", poll_interval=0.01,
                                    sleep=sleep), slept


def test_the_clock_pages_every_level_that_is_due(incident):
    fake = FakePagerDuty()
    (reason, sent), _slept = clock(incident, fake, start_ago=3700)
    assert reason == "every level paged" and [p["role"] for p in sent] == [
        "Team Lead", "Engineering Manager", "VP Engineering", "CTO"]
    assert [w[2].get("incident", {}).get("escalation_level") for w in fake.writes[:3]] == [2, 3, 4]


def test_the_clock_stops_when_pagerduty_shows_an_acknowledgement(incident):
    fake = FakePagerDuty(status="acknowledged")
    (reason, sent), _slept = clock(incident, fake, start_ago=1000)
    assert reason == "stopped: acknowledged in PagerDuty" and sent == [] and fake.writes == []
    assert escalation.stopped(incident)["reason"] == "acknowledged"


def test_the_clock_stops_on_a_recorded_recovery_and_a_second_stop_changes_nothing(incident):
    assert escalation.stop(incident, "recovered")[0] is True
    assert escalation.stop(incident, "resolved") == (False, escalation.stopped(incident))
    fake = FakePagerDuty()
    (reason, sent), _slept = clock(incident, fake, start_ago=5000)
    assert reason == "stopped: recovered" and sent == [] and fake.writes == []


def test_the_clock_waits_for_the_next_deadline_not_longer(incident):
    fake = FakePagerDuty()
    lock_holder = workspace.try_lock(incident, escalation.CATEGORY, escalation.LOCK)
    (reason, _sent), slept = clock(incident, fake, start_ago=0)
    assert reason == "already running" and slept == []  # one clock per incident
    lock_holder.close()


def test_the_module_in_check_mode_pages_no_one(incident, context):
    fake = FakePagerDuty()
    ctx = context("escalation", check_mode=True, transport=fake.transport, incident_dir=incident, chain=CHAIN,
                  api_token=TOKEN, api_url="https://pd.test", from_email="oncall@example.com", state="paged")
    result = service.operation(ctx)
    assert result["changed"] is True and result["page"]["status"] == "would page" and fake.writes == []
    assert [lv["status"] for lv in result["levels"]] == ["declaration", "pending", "pending", "pending", "pending"]
    assert not (workspace.read_claim(incident, escalation.CATEGORY, "level-2"))


def test_the_module_needs_the_incident(tmp_path, context):
    ctx = context("escalation", incident_dir=str(tmp_path / "none"), chain=CHAIN, api_token=TOKEN, state="paged")
    with pytest.raises(ConfigError, match="no incident at .*open it with mataresit.emergency.incident first"):
        service.operation(ctx)
