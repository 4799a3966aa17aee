"""Alerts as data: validation, incident episodes, the signed encoding and the incident they open."""
from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils import alert as alerts
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.incident import write_report

TOKEN = "t0ken-for-unit-tests-0123456789"
GROUP_KEY = '{}/{severity="critical"}:{alertname="EmbeddingServiceDown", cluster="prod"}'
PAYLOADS = ("{{ lookup('pipe', 'id') }}", "{% for x in range(3) %}x{% endfor %}", "{# comment #}")


def am_alert(fingerprint="0123456789abcdef", status="firing", starts="2026-12-02T11:30:00.123456789Z", **labels):
    return {"status": status, "fingerprint": fingerprint, "startsAt": starts,
            "endsAt": "2026-12-02T11:40:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph?g0.expr=up",
            "labels": dict({"alertname": "EmbeddingServiceDown", "severity": "critical",
                            "kubernetes_namespace": "paperless-maverick"}, **labels),
            "annotations": {"summary": "Embedding service is down", "description": "down for 1 minute"}}


def notification(*alert_list, group_key=GROUP_KEY):
    return {"version": "4", "groupKey": group_key, "status": "firing", "receiver": "eda",
            "groupLabels": {"alertname": "EmbeddingServiceDown"}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager", "alerts": list(alert_list)}


def test_first_firing_alert_of_a_group_opens_one_episode_and_repeats_start_nothing():
    episodes = alerts.Episodes(TOKEN)
    events, rejected = episodes.update(notification(am_alert()))
    assert rejected == [] and len(events) == 1
    event = events[0]["alert"]
    assert event["status"] == "firing" and event["alertname"] == "EmbeddingServiceDown"
    assert event["incident_id"].startswith("alert-") and event["incident_id"].endswith("-20261202T113000Z")
    assert event["starts_at"] == "2026-12-02T11:30:00Z" and event["namespace"] == "paperless-maverick"
    # Alertmanager repeats the group, and a second pod of the same outage joins it: no second remediation.
    assert episodes.update(notification(am_alert()))[0] == []
    assert episodes.update(notification(am_alert(), am_alert("fedcba9876543210", starts="2026-12-02T11:31:00Z")))[0] == []
    # One resolved while the other fires: still open.
    assert episodes.update(notification(am_alert(status="resolved"), am_alert("fedcba9876543210")))[0] == []
    closed = episodes.update(notification(am_alert("fedcba9876543210", status="resolved")))[0]
    assert [e["alert"]["status"] for e in closed] == ["resolved"]
    assert closed[0]["alert"]["incident_id"] == event["incident_id"]
    # Fired again later: a new incident.
    again = episodes.update(notification(am_alert(starts="2026-12-02T12:00:00Z")))[0]
    assert len(again) == 1 and again[0]["alert"]["incident_id"] != event["incident_id"]


def test_open_episodes_survive_a_restart_with_a_state_file(tmp_path):
    state = str(tmp_path / "episodes.json")
    first = alerts.Episodes(TOKEN, state).update(notification(am_alert()))[0]
    restarted = alerts.Episodes(TOKEN, state)
    assert restarted.update(notification(am_alert()))[0] == []
    assert oct(os.stat(state).st_mode & 0o777) == "0o600"
    closed = restarted.update(notification(am_alert(status="resolved")))[0]
    assert closed[0]["alert"]["incident_id"] == first[0]["alert"]["incident_id"]


@pytest.mark.parametrize("change, message", [
    ({"fingerprint": "{{ 7 * 7 }}"}, "fingerprint"),
    ({"status": "{% raw %}"}, "status"),
    ({"startsAt": "yesterday {# #}"}, "startsAt"),
    ({"startsAt": "2026-12-02T11:30:00"}, "startsAt"),
    ({"labels": {"alertname": "{{ lookup('pipe', 'id') }}"}}, "alertname"),
    ({"labels": {"alertname": "Ok", "x": 3}}, "labels"),
    ({"annotations": ["summary"]}, "annotations"),
])
def test_alerts_that_are_not_what_alertmanager_sends_are_dropped(change, message):
    bad = dict(am_alert(), **change)
    events, rejected = alerts.Episodes(TOKEN).update(notification(bad))
    assert events == [] and len(rejected) == 1 and message in rejected[0][1]


def test_a_body_without_alerts_is_refused():
    with pytest.raises(ConfigError, match="no alerts list"):
        alerts.Episodes(TOKEN).update({"alerts": "everything"})


@pytest.mark.parametrize("payload", PAYLOADS)
def test_template_markers_in_any_text_field_never_reach_the_event_as_text(payload):
    hostile = am_alert(team=payload, severity=payload, kubernetes_namespace=payload)
    hostile["annotations"] = {"summary": payload, "description": payload, payload: payload}
    hostile["generatorURL"] = payload
    body = notification(hostile, group_key=payload)
    body.update(groupLabels={"alertname": payload}, commonLabels={"x": payload}, commonAnnotations={"y": payload},
                externalURL=payload, receiver=payload)
    event = alerts.Episodes(TOKEN).update(body)[0][0]
    values = list(event["alert"].values())
    assert all(isinstance(v, str) and not any(c in v for c in "{}%#") for v in values), values
    assert event["alert"]["severity"] == "unknown" and event["alert"]["namespace"] == "-"
    decoded, authenticated = alerts.read(event["alert"]["data"], event["alert"]["signature"], TOKEN, True)
    assert authenticated and decoded["alerts"][0]["annotations"]["summary"] == payload
    assert decoded["alerts"][0]["labels"]["team"] == payload and decoded["group"]["key"] == payload


def event_of(alert=None):
    return alerts.Episodes(TOKEN).update(notification(alert or am_alert()))[0][0]["alert"]


def test_a_signature_that_does_not_match_is_refused_even_where_not_required():
    event = event_of()
    with pytest.raises(ConfigError, match="signature does not match"):
        alerts.read(event["data"], event["signature"], "another-token-0123456789")
    forged = alerts.encode(dict(alerts.decode(event["data"]), alertname="EmbeddingCostHigh"))
    with pytest.raises(ConfigError, match="signature does not match"):
        alerts.read(forged, event["signature"], TOKEN)


def test_an_unsigned_alert_is_refused_where_the_policy_requires_authentication():
    event = event_of()
    with pytest.raises(ConfigError, match="carries no signature"):
        alerts.read(event["data"], "", TOKEN, require_authenticated=True)
    with pytest.raises(ConfigError, match="vault_alertmanager_webhook_token"):
        alerts.read(event["data"], event["signature"], "", require_authenticated=True)
    assert alerts.read(event["data"])[1] is False  # staging: accepted, not authenticated


@pytest.mark.parametrize("data", ["", "{{ lookup('pipe', 'id') }}", "not base64!", alerts.encode({"version": 9}),
                                  alerts.encode(["a"])])
def test_anything_but_the_event_sources_encoding_is_refused(data):
    with pytest.raises(ConfigError):
        alerts.read(data)


@pytest.mark.parametrize("change", [{"alerts": "x"}, {"alerts": [{"labels": []}]}, {"group": []},
                                    {"alerts": [dict(am_alert(), annotations={"summary": ["a"]})]}])
def test_a_well_encoded_alert_of_the_wrong_shape_is_refused_in_one_line(change):
    # What an operator could pass with -e where no token is configured (staging): an error, never a traceback.
    data = alerts.encode(dict(alerts.decode(event_of()["data"]), **change))
    with pytest.raises(ConfigError):
        alerts.read(data)


def test_decoded_fields_are_checked_again():
    event = event_of()
    tampered = alerts.encode(dict(alerts.decode(event["data"]), incident_id="../../etc"))
    with pytest.raises(ConfigError, match="incident_id"):
        alerts.read(tampered, alerts.sign(TOKEN, tampered), TOKEN)


def params(event, **extra):
    return dict({"severity": "P0", "reason": None, "clusters": ["local"], "incident_id": event["incident_id"],
                 "environment": "production", "alert": event["data"], "alert_signature": event["signature"],
                 "alert_token": TOKEN, "require_authenticated_alert": True}, **extra)


def test_an_alert_opens_its_incident_with_the_alert_as_data_and_its_resolution_closes_it(tmp_path):
    hostile = am_alert()
    hostile["annotations"]["summary"] = PAYLOADS[0]
    hostile["labels"]["team"] = PAYLOADS[1]
    episodes = alerts.Episodes(TOKEN)
    event = episodes.update(notification(hostile))[0][0]["alert"]
    opened = alerts.open_for_alert(str(tmp_path), params(event))
    assert opened["changed"] and opened["found"] and opened["alert_authenticated"]
    assert opened["incident_id"] == event["incident_id"] and opened["alert_started_at"] == "2026-12-02T11:30:00Z"
    assert opened["reason"] == f"EmbeddingServiceDown: {PAYLOADS[0]}" and opened["msg"].endswith(PAYLOADS[0])
    assert opened["alert"]["labels"]["team"] == PAYLOADS[1]
    again = alerts.open_for_alert(str(tmp_path), params(event))
    assert not again["changed"] and again["notified"] is False

    resolved = copy.deepcopy(hostile)
    resolved.update(status="resolved", endsAt="2026-12-02T11:40:00Z")
    closing = episodes.update(notification(resolved))[0][0]["alert"]
    closed = alerts.open_for_alert(str(tmp_path), params(closing))
    assert closed["changed"] and closed["resolved_at"] == "2026-12-02T11:40:00Z"
    assert closed["alert"]["status"] == "resolved"
    assert not alerts.open_for_alert(str(tmp_path), params(closing))["changed"]

    changed, path, text, figures = write_report(opened["incident_dir"])
    assert PAYLOADS[0] in text and PAYLOADS[1] in text and "## Alert" in text
    assert figures["time_to_resolve_minutes"] is not None and figures["time_to_detect_minutes"] is not None


def test_a_resolved_alert_without_an_incident_opens_nothing(tmp_path):
    event = alerts.Episodes(TOKEN).update(notification(am_alert(status="resolved")))[0][0]["alert"]
    result = alerts.open_for_alert(str(tmp_path), params(event))
    assert result["found"] is False and not result["changed"] and os.listdir(tmp_path) == []


def test_an_incident_id_other_than_the_alerts_is_refused(tmp_path):
    event = event_of()
    with pytest.raises(ConfigError, match="is not the alert's"):
        alerts.open_for_alert(str(tmp_path), params(event, incident_id="alert-000000000000-20260101T000000Z"))
    assert os.listdir(tmp_path) == []
