"""Request building, dedup keys, idempotence decisions and check mode of the
notification modules, with the transport faked by httpx.MockTransport."""
from __future__ import annotations

import json

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils import notifications
from ansible_collections.mataresit.emergency.plugins.module_utils.services import email, pagerduty, slack, statuspage
from ansible_collections.mataresit.emergency.plugins.module_utils.redact import MASK as REDACTED

from tests.unit.fakes import Recorder

ROUTING_KEY = "R" * 32
TOKEN = "u+TESTTOKEN-0123456789"
WEBHOOK = "https://hooks.slack.example/services/T0001/B0001/SECRETPATHxyz"


def test_dedup_key_derivation():
    assert notifications.dedup_key("INC-42") == "mataresit-INC-42"
    assert notifications.dedup_key("x", explicit="custom") == "custom"
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    key_a, key_b = notifications.dedup_key(long_a), notifications.dedup_key(long_b)
    assert len(key_a) == len(key_b) == 255 and key_a != key_b and key_a.startswith("mataresit-aaa")
    assert notifications.dedup_key(long_a) == key_a  # stable
    with pytest.raises(ConfigError, match="set incident_id"):
        notifications.dedup_key("  ")
    with pytest.raises(ConfigError, match="limit is 255"):
        notifications.dedup_key(None, explicit="k" * 256)


def test_event_body(context):
    module = context("pagerduty", routing_key=ROUTING_KEY, incident_id="INC-1", summary="s" * 2000,
                     severity="error", component="api", group="prod", event_class="http",
                     custom_details={"verdict": "recent_bad_deploy"},
                     links=[{"href": "https://grafana.example/d", "text": None}])
    body = pagerduty.build_event(module.params, "mataresit-INC-1")
    assert body["event_action"] == "trigger" and body["dedup_key"] == "mataresit-INC-1"
    assert len(body["payload"]["summary"]) == 1024
    assert body["payload"]["class"] == "http" and body["payload"]["severity"] == "error"
    assert body["links"] == [{"href": "https://grafana.example/d"}]
    resolve = pagerduty.build_event(dict(module.params, state="resolved"), "k")
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "k"}


def test_event_check_mode_sends_nothing_and_redacts(context):
    rec = Recorder((202, {"status": "success"}))
    module = context("pagerduty", transport=rec.transport, check_mode=True, routing_key=ROUTING_KEY, incident_id="INC-1", summary="down")
    result = pagerduty.operation(module)
    assert rec.calls == [] and result["changed"] is True
    (request,) = result["requests"]
    assert request["url"] == "https://events.pagerduty.com/v2/enqueue"
    assert request["json"]["routing_key"] == REDACTED
    assert ROUTING_KEY not in json.dumps(result) and ROUTING_KEY in module.no_log_values


def test_event_eu_region_and_second_identical_trigger_is_unchanged(context, tmp_path):
    rec = Recorder((202, {"status": "success", "message": "Event processed", "dedup_key": "mataresit-INC-1"}))
    params = dict(routing_key=ROUTING_KEY, incident_id="INC-1", summary="down", region="eu", incident_dir=str(tmp_path))
    first = pagerduty.operation(context("pagerduty", **params, transport=rec.transport))
    second = pagerduty.operation(context("pagerduty", **params, transport=rec.transport))
    assert rec.calls[0]["url"] == "https://events.eu.pagerduty.com/v2/enqueue"
    assert first["changed"] is True and second["changed"] is False and len(rec.calls) == 1
    resolved = pagerduty.operation(context("pagerduty", **dict(params, state="resolved"), transport=rec.transport))
    assert resolved["changed"] is True and rec.calls[-1]["json"]["event_action"] == "resolve"
    record = (tmp_path / "notifications").iterdir().__next__()
    assert oct(record.stat().st_mode & 0o777) == "0o600" and ROUTING_KEY not in record.read_text()


def incident(status="triggered", **extra):
    return dict({"id": "PINC1", "type": "incident", "status": status, "incident_key": "mataresit-INC-7",
                 "title": "outage", "incident_number": 7}, **extra)


def rest_params(**extra):
    return dict(dict(api="rest", api_token=TOKEN, from_email="oncall@example.com", service_id="PSVC1",
                     incident_id="INC-7", summary="outage", details="API down"), **extra)


def test_rest_create_request(context):
    rec = Recorder((200, {"incidents": []}), (201, {"incident": incident()}))
    result = pagerduty.operation(context("pagerduty", **rest_params(), transport=rec.transport))
    lookup, create = rec.calls
    assert lookup["method"] == "GET" and "incident_key=mataresit-INC-7" in lookup["url"]
    assert "statuses%5B%5D=triggered" in lookup["url"]
    assert create["headers"]["from"] == "oncall@example.com"
    assert create["headers"]["authorization"] == f"Token token={TOKEN}"
    assert create["headers"]["accept"] == "application/vnd.pagerduty+json;version=2"
    assert create["json"] == {"incident": {"type": "incident", "title": "outage",
                                           "service": {"id": "PSVC1", "type": "service_reference"}, "urgency": "high",
                                           "incident_key": "mataresit-INC-7",
                                           "body": {"type": "incident_body", "details": "API down"}}}
    assert result["changed"] is True and result["incident"]["id"] == "PINC1"
    assert result["requests"][0]["headers"]["Authorization"] == f"Token token={REDACTED}"


def test_rest_open_incident_is_not_created_again(context):
    rec = Recorder((200, {"incidents": [incident()]}))
    result = pagerduty.operation(context("pagerduty", **rest_params(), transport=rec.transport))
    assert result["changed"] is False and [c["method"] for c in rec.calls] == ["GET"]


def test_rest_resolve_with_note_check_mode(context):
    rec = Recorder((200, {"incidents": [incident("acknowledged")]}), (200, {"notes": []}))
    module = context("pagerduty", transport=rec.transport, check_mode=True, **rest_params(state="resolved", note="rolled back"))
    result = pagerduty.operation(module)
    assert [c["method"] for c in rec.calls] == ["GET", "GET"]  # reads only
    assert [(r["method"], r["url"]) for r in result["requests"]] == [
        ("PUT", "https://api.pagerduty.com/incidents/PINC1"), ("POST", "https://api.pagerduty.com/incidents/PINC1/notes")]
    assert result["requests"][0]["json"] == {"incident": {"type": "incident_reference", "status": "resolved"}}


def test_rest_note_already_present_is_not_added(context):
    rec = Recorder((200, {"incidents": [incident()]}), (200, {"notes": [{"id": "N1", "content": "rolled back"}]}))
    result = pagerduty.operation(context("pagerduty", **rest_params(note="rolled back"), transport=rec.transport))
    assert result["changed"] is False and len(rec.calls) == 2


def test_rest_resolve_nothing_open_is_unchanged(context):
    rec = Recorder((200, {"incidents": []}))
    result = pagerduty.operation(context("pagerduty", **rest_params(state="resolved"), transport=rec.transport))
    assert result["changed"] is False and "nothing to resolve" in result["msg"]


def test_rest_write_needs_from(context):
    rec = Recorder((200, {"incidents": []}))
    with pytest.raises(ConfigError, match="set from_email"):
        pagerduty.operation(context("pagerduty", **rest_params(from_email=None), transport=rec.transport))


def sp_params(**extra):
    return dict(dict(page_id="PG1", api_key=TOKEN, name="API outage", request_interval=0), **extra)


COMPONENTS = [{"id": "CMP1", "name": "API", "status": "operational"}, {"id": "CMP2", "name": "Web", "status": "operational"}]


def test_statuspage_create_maps_component_names(context):
    rec = Recorder((200, []), (200, COMPONENTS), (201, {"id": "I1", "name": "API outage", "status": "investigating"}))
    module = context("statuspage", transport=rec.transport,
                     **sp_params(impact_override="major", body="Investigating", components={"API": "major_outage"}))
    result = statuspage.operation(module)
    create = rec.calls[-1]
    assert create["url"] == "https://api.statuspage.io/v1/pages/PG1/incidents"
    assert create["headers"]["authorization"] == f"OAuth {TOKEN}"
    assert create["json"] == {"incident": {"name": "API outage", "status": "investigating", "deliver_notifications": True,
                                           "impact_override": "major", "body": "Investigating",
                                           "components": {"CMP1": "major_outage"}, "component_ids": ["CMP1"]}}
    assert result["changed"] is True


def test_statuspage_same_state_is_unchanged_and_resolve_restores_components(context):
    open_incident = {"id": "I1", "name": "API outage", "status": "investigating", "impact_override": "major",
                     "components": [{"id": "CMP1", "name": "API", "status": "major_outage"}],
                     "incident_updates": [{"body": "Investigating"}]}
    down = [dict(COMPONENTS[0], status="major_outage"), COMPONENTS[1]]
    rec = Recorder((200, [open_incident]), (200, down))
    same = statuspage.operation(context("statuspage", transport=rec.transport, **sp_params(
        impact_override="major", body="Investigating", components={"API": "major_outage"})))
    assert same["changed"] is False and [c["method"] for c in rec.calls] == ["GET", "GET"]
    rec = Recorder((200, [open_incident]), (200, dict(open_incident, status="resolved")))
    done = statuspage.operation(context("statuspage", **sp_params(status="resolved", body="Recovered"), transport=rec.transport))
    assert rec.calls[-1]["method"] == "PATCH" and rec.calls[-1]["url"].endswith("/pages/PG1/incidents/I1")
    assert rec.calls[-1]["json"]["incident"] == {"status": "resolved", "components": {"CMP1": "operational"},
                                                 "component_ids": ["CMP1"], "body": "Recovered",
                                                 "deliver_notifications": True}
    assert done["changed"] is True


def test_statuspage_unknown_component_lists_the_known_ones(context):
    rec = Recorder((200, []), (200, COMPONENTS))
    with pytest.raises(ConfigError, match=r"unknown component\(s\) Databse \(page has: API, Web\)"):
        statuspage.operation(context("statuspage", **sp_params(components={"Databse": "major_outage"}), transport=rec.transport))


def test_slack_message_and_redacted_request(context):
    rec = Recorder((200, "ok"))
    module = context("slack", transport=rec.transport, check_mode=True, webhook_url=WEBHOOK, title="P0 outage",
                     text="API down", severity="critical", status="investigating", clusters=["prod-eu", "prod-us"],
                     incident_id="INC-1", mention_channel=True,
                     links=[{"url": "https://grafana.example/d", "text": "Dashboard"}])
    result = slack.operation(module)
    assert rec.calls == []
    message = result["message"]
    assert message["text"] == "<!channel> API down"
    assert message["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "P0 outage", "emoji": True}}
    fields = " ".join(f["text"] for f in message["blocks"][2]["fields"])
    assert "critical" in fields and "prod-eu, prod-us" in fields and "INC-1" in fields
    assert "<https://grafana.example/d|Dashboard>" in message["blocks"][3]["elements"][0]["text"]
    assert result["requests"][0]["url"] == f"https://hooks.slack.example/{REDACTED}"
    assert "SECRETPATHxyz" not in json.dumps(result)


def test_slack_plain_text_error(context):
    rec = Recorder((404, "channel_not_found"))
    with pytest.raises(Exception) as err:
        slack.operation(context("slack", webhook_url=WEBHOOK, text="x", transport=rec.transport))
    assert str(err.value) == ("Failed to post the Slack message: Slack said channel_not_found (404 Not Found); "
                              "check webhook_url (the webhook or its channel no longer exists)")


def test_email_message(context):
    module = context("email", check_mode=True, host="smtp.example", to=["a@example.com"], cc=["b@example.com"],
                     bcc=["c@example.com"], subject="[P0] outage", body="API down", incident_id="INC-1",
                     password="hunter2hunter2", username="u")
    result = email.operation(module)
    message = result["message"]
    assert message["port"] == 587 and message["recipients"] == ["a@example.com", "b@example.com", "c@example.com"]
    assert message["headers"]["Subject"] == "[P0] outage" and "Bcc" not in message["headers"]
    assert message["headers"]["X-Mataresit-Incident"] == "INC-1"
    assert "hunter2" not in json.dumps(result)


def test_unusable_incident_dir_fails_before_sending(context, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rec = Recorder((202, {"status": "success"}))
    module = context("pagerduty", transport=rec.transport, routing_key=ROUTING_KEY, incident_id="INC-1", summary="down",
                     incident_dir=str(blocker / "incident"))
    with pytest.raises(ConfigError, match="Failed to create incident directory"):
        pagerduty.operation(module)
    assert rec.calls == []
