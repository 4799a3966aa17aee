"""pagerduty module against the sandbox (PagerDuty Events v2 and REST v2,
validated against PagerDuty's own OpenAPI documents)."""
from __future__ import annotations

import httpx

from tests.integration.helpers import assert_clean


def event_args(sb, **extra):
    return dict(dict(routing_key=sb.pd_routing_key, events_url=sb.urls["pagerduty_events_url"], incident_id="INC-100",
                     summary="P0: Paperless Maverick API outage", severity="critical", source="prod-eu",
                     component="paperless-maverick", group="production", event_class="availability",
                     custom_details={"verdict": "recent_bad_deploy", "failing": ["/health", "/health/ready"]},
                     links=[{"href": "https://grafana.example.com/d/maverick", "text": "Dashboard"}],
                     max_retries=3), **extra)


def rest_args(sb, **extra):
    return dict(dict(api="rest", api_token=sb.pd_api_token, api_url=sb.urls["pagerduty_api_url"],
                     from_email=sb.pd_user_email, service_id=sb.pd_service_id, incident_id="INC-200",
                     summary="Production Outage - Paperless Maverick", details="System outage detected",
                     urgency="high"), **extra)


def test_event_trigger_is_sent_once_and_resolved(sandbox, run_saas, tmp_path):
    args = event_args(sandbox, incident_dir=str(tmp_path))
    first = run_saas("pagerduty", args)
    assert first["changed"] is True and first["dedup_key"] == "mataresit-INC-100"
    (post,) = sandbox.accepted_writes("pagerduty-events")
    assert post["json"]["dedup_key"] == "mataresit-INC-100" and post["json"]["payload"]["class"] == "availability"
    assert post["json"]["links"] == [{"href": "https://grafana.example.com/d/maverick", "text": "Dashboard"}]
    assert sandbox.alerts["mataresit-INC-100"]["status"] == "triggered" and sandbox.pages == 1

    again = run_saas("pagerduty", args)
    assert again["changed"] is False and again["requests"] == []
    assert len(sandbox.writes("pagerduty-events")) == 1  # nothing sent the second time

    resolved = run_saas("pagerduty", dict(args, state="resolved"))
    assert resolved["changed"] is True and sandbox.alerts["mataresit-INC-100"]["status"] == "resolved"
    assert sandbox.pages == 1
    assert_clean([first, again, resolved], sandbox.pd_routing_key)


def test_event_check_mode_sends_nothing(sandbox, run_saas):
    result = run_saas("pagerduty", event_args(sandbox), check_mode=True)
    assert result["changed"] is True and sandbox.records() == []
    (request,) = result["requests"]
    assert request["method"] == "POST" and request["url"] == sandbox.urls["pagerduty_events_url"] + "/v2/enqueue"
    assert request["json"]["routing_key"] == "********" and request["json"]["payload"]["severity"] == "critical"
    assert_clean([result], sandbox.pd_routing_key)


def test_event_retried_after_429_with_retry_after(sandbox, run_saas):
    sandbox.inject(429, count=1, service="pagerduty-events", retry_after=1)
    result = run_saas("pagerduty", event_args(sandbox))
    assert result["changed"] is True and result["attempts"] == 2
    posts = sandbox.writes("pagerduty-events")
    assert [p["status"] for p in posts] == [429, 202] and posts[0]["json"] == posts[1]["json"]
    assert sandbox.pages == 1


def test_event_5xx_retried_because_the_dedup_key_makes_it_safe(sandbox, run_saas):
    sandbox.inject(502, count=2, service="pagerduty-events")
    result = run_saas("pagerduty", event_args(sandbox))
    assert result["attempts"] == 3 and [p["status"] for p in sandbox.writes()] == [502, 502, 202]


def test_event_bad_routing_key_fails_in_one_line(sandbox, run_saas):
    result = run_saas("pagerduty", event_args(sandbox, routing_key="R0000wrong0000routing0000key0000"))
    assert result["failed"] is True
    assert result["msg"] == ("Failed to trigger PagerDuty alert mataresit-INC-100: PagerDuty said Event object is "
                             "invalid; Invalid routing key (400 Bad Request); check routing_key and the event fields")
    assert len(sandbox.writes()) == 1  # a 400 is final
    assert_clean([result], "R0000wrong0000routing0000key0000")


def test_event_unreachable_is_reported_as_such(sandbox, run_saas):
    result = run_saas("pagerduty", event_args(sandbox, events_url="http://127.0.0.1:1", max_retries=1))
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to trigger PagerDuty alert mataresit-INC-100: PagerDuty at 127.0.0.1:1 "
                                    "is unreachable after 2 attempts (ConnectError")
    assert "check events_url / region" in result["msg"]


def test_sandbox_rejects_an_event_the_spec_rejects(sandbox):
    sandbox.allow_rejections()
    body = {"routing_key": sandbox.pd_routing_key, "event_action": "trigger", "dedup_key": "mataresit-X",
            "payload": {"summary": "s", "severity": "urgent", "source": "x"}}
    response = httpx.post(sandbox.urls["pagerduty_events_url"] + "/v2/enqueue", json=body)
    assert response.status_code == 400 and response.json()["message"] == "Event object is invalid"
    (rejected,) = sandbox.rejected()
    assert any("payload/severity" in e and "urgent" in e for e in rejected["request_validation"]["errors"])
    assert sandbox.alerts == {} and sandbox.pages == 0
    assert rejected["response_validation"]["checked"] and not rejected["response_validation"]["errors"]


def test_rest_incident_created_once_with_a_note_then_resolved(sandbox, run_saas):
    args = rest_args(sandbox, note="Rollback to revision 41 started")
    first = run_saas("pagerduty", args)
    assert first["changed"] is True and first["incident"]["status"] == "triggered"
    create = [r for r in sandbox.accepted_writes("pagerduty-rest") if r["path"].endswith("/incidents")]
    assert len(create) == 1
    assert create[0]["headers"]["From"] == sandbox.pd_user_email
    assert create[0]["json"]["incident"]["incident_key"] == "mataresit-INC-200"
    assert create[0]["json"]["incident"]["service"] == {"id": sandbox.pd_service_id, "type": "service_reference"}
    (incident,) = sandbox.incidents.values()
    assert [n["content"] for n in sandbox.notes[incident["id"]]] == ["Rollback to revision 41 started"]

    again = run_saas("pagerduty", args)
    assert again["changed"] is False and again["incident"]["id"] == incident["id"]
    assert len(sandbox.writes("pagerduty-rest")) == 2  # the create and the note, nothing more
    assert len(sandbox.incidents) == 1 and len(sandbox.notes[incident["id"]]) == 1 and sandbox.pages == 1

    resolved = run_saas("pagerduty", rest_args(sandbox, state="resolved", resolution="Rolled back"))
    assert resolved["changed"] is True and incident["status"] == "resolved"
    put = sandbox.writes("pagerduty-rest")[-1]
    assert put["method"] == "PUT" and put["json"]["incident"]["status"] == "resolved"
    done = run_saas("pagerduty", rest_args(sandbox, state="resolved"))
    assert done["changed"] is False and len(sandbox.writes("pagerduty-rest")) == 3
    assert_clean([first, again, resolved, done], sandbox.pd_api_token)


def test_rest_acknowledge_existing_incident(sandbox, run_saas):
    run_saas("pagerduty", rest_args(sandbox))
    result = run_saas("pagerduty", rest_args(sandbox, state="acknowledged"))
    assert result["changed"] is True and next(iter(sandbox.incidents.values()))["status"] == "acknowledged"


def test_rest_check_mode_writes_nothing(sandbox, run_saas):
    result = run_saas("pagerduty", rest_args(sandbox, note="n"), check_mode=True)
    assert result["changed"] is True and sandbox.writes() == [] and sandbox.incidents == {}
    assert [(r["method"], r["url"].rsplit("/pagerduty/api", 1)[1]) for r in result["requests"]] == [
        ("POST", "/incidents"), ("POST", "/incidents/<new>/notes")]
    assert result["requests"][0]["headers"]["Authorization"] == "Token token=********"
    assert_clean([result], sandbox.pd_api_token)


def test_rest_401_is_one_clear_line(sandbox, run_saas):
    wrong = "u+wrongWRONGwrongWRONG"
    result = run_saas("pagerduty", rest_args(sandbox, api_token=wrong))
    assert result["failed"] is True
    assert result["msg"] == ("Failed to create PagerDuty incident mataresit-INC-200: the API key was rejected "
                             "(401 Unauthorized): check pagerduty api_token")
    assert len(sandbox.records()) == 1  # not retried
    assert_clean([result], wrong)


def test_rest_400_is_one_clear_line(sandbox, run_saas):
    result = run_saas("pagerduty", rest_args(sandbox, service_id="PNOSUCH"))
    assert result["failed"] is True
    assert result["msg"] == ("Failed to create PagerDuty incident mataresit-INC-200: PagerDuty said Invalid Input "
                             "Provided; Service not found (400 Bad Request); check service_id and the incident fields")
    assert sandbox.incidents == {}


def test_rest_429_honours_ratelimit_reset(sandbox, run_saas):
    sandbox.inject(429, count=1, service="pagerduty-rest", headers={"ratelimit-reset": "1"})
    result = run_saas("pagerduty", rest_args(sandbox))
    assert result["changed"] is True and [r["status"] for r in sandbox.records()] == [429, 200, 201]


def test_rest_create_retried_after_5xx_because_the_incident_key_makes_it_safe(sandbox, run_saas):
    sandbox.inject(503, count=1, service="pagerduty-rest", method="POST")
    result = run_saas("pagerduty", rest_args(sandbox))
    assert result["changed"] is True and [r["status"] for r in sandbox.writes()] == [503, 201]
    assert len(sandbox.incidents) == 1


def test_rest_create_that_went_through_before_a_500_is_not_duplicated(sandbox, run_saas):
    # PagerDuty created the incident but the answer was a 500: the retry is refused as a duplicate
    # incident_key, and the module finds the incident its first attempt created.
    sandbox.inject(500, count=1, service="pagerduty-rest", method="POST", after_handling=True)
    result = run_saas("pagerduty", rest_args(sandbox))
    assert result["changed"] is True and len(sandbox.incidents) == 1 and sandbox.pages == 1
    assert [r["status"] for r in sandbox.writes()] == [500, 400]
    assert result["incident"]["id"] == next(iter(sandbox.incidents))


def test_sandbox_rejects_a_rest_request_the_spec_rejects(sandbox):
    sandbox.allow_rejections()
    headers = {"Authorization": f"Token token={sandbox.pd_api_token}", "Accept": "application/vnd.pagerduty+json;version=2",
               "Content-Type": "application/json"}  # no From header, and an urgency the spec does not know
    body = {"incident": {"type": "incident", "title": "t", "urgency": "urgent",
                         "service": {"id": sandbox.pd_service_id, "type": "service_reference"}}}
    response = httpx.post(sandbox.urls["pagerduty_api_url"] + "/incidents", json=body, headers=headers)
    assert response.status_code == 400 and response.json()["error"]["message"] == "Invalid Input Provided"
    errors = " ".join(sandbox.rejected()[0]["request_validation"]["errors"])
    assert "urgent" in errors and "From" in errors
    assert sandbox.incidents == {}


def test_every_response_is_validated_and_a_bad_one_is_caught(sandbox, run_saas):
    run_saas("pagerduty", rest_args(sandbox, note="n"))
    spec_records = sandbox.records()
    assert spec_records and all(r["response_validation"]["checked"] for r in spec_records)
    assert sandbox.response_errors() == []
    sandbox.allow_response_errors()
    sandbox.tamper_next_response("pagerduty-rest", lambda body: {"incidents": [{"id": 5, "status": "exploded"}]})
    httpx.get(sandbox.urls["pagerduty_api_url"] + "/incidents",
              headers={"Authorization": f"Token token={sandbox.pd_api_token}", "Content-Type": "application/json",
                       "Accept": "application/vnd.pagerduty+json;version=2"})
    (bad,) = sandbox.response_errors()
    assert any("exploded" in e for e in bad["response_validation"]["errors"])


def test_slow_answer_retried_safely_thanks_to_the_dedup_key(sandbox, run_saas):
    sandbox.slow(3, count=1, service="pagerduty-events")
    result = run_saas("pagerduty", event_args(sandbox, request_timeout=1))
    assert result["changed"] is True and result["attempts"] == 2
    sandbox.wait_idle()
    assert len(sandbox.accepted_writes("pagerduty-events")) == 2  # the slow one went through too...
    assert sandbox.pages == 1                                      # ...and the dedup key kept it one page
