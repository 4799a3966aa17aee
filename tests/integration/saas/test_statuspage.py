"""statuspage module against the sandbox (validated against the Statuspage v1 document)."""
from __future__ import annotations

import httpx

from tests.integration.helpers import assert_clean


def sp_args(sb, **extra):
    return dict(dict(api_key=sb.sp_api_key, api_url=sb.urls["statuspage_api_url"], page_id=sb.sp_page_id,
                     name="Service Disruption", status="investigating", impact_override="major",
                     body="We are investigating errors on the API.",
                     components={"API": "major_outage", "Web app": "degraded_performance"}, request_interval=0),
                **extra)


def statuses(sb):
    return {c["name"]: c["status"] for c in sb.components.values()}


def test_create_update_resolve_idempotently(sandbox, run_saas):
    created = run_saas("statuspage", sp_args(sandbox))
    assert created["changed"] is True
    (incident,) = sandbox.sp_incidents.values()
    assert incident["name"] == "Service Disruption" and incident["impact"] == "major"
    assert statuses(sandbox)["API"] == "major_outage" and statuses(sandbox)["Web app"] == "degraded_performance"
    assert created["incident"]["components"] == {"API": "major_outage", "Web app": "degraded_performance"}

    again = run_saas("statuspage", sp_args(sandbox))
    assert again["changed"] is False and again["requests"] == []
    assert len(sandbox.writes()) == 1 and len(sandbox.sp_incidents) == 1

    update = run_saas("statuspage", sp_args(sandbox, status="identified", body="Bad deploy identified; rolling back.",
                                            components={"Web app": "operational"}))
    assert update["changed"] is True and incident["status"] == "identified"
    patch = sandbox.writes()[-1]
    assert patch["method"] == "PATCH" and patch["json"]["incident"]["components"] == {
        next(c for c, v in sandbox.components.items() if v["name"] == "Web app"): "operational"}
    assert incident["incident_updates"][0]["body"] == "Bad deploy identified; rolling back."

    resolved = run_saas("statuspage", sp_args(sandbox, status="resolved", body="Recovered.", components=None))
    assert resolved["changed"] is True and incident["status"] == "resolved"
    assert set(statuses(sandbox).values()) == {"operational"}
    assert resolved["incident"]["components"] == {"API": "operational", "Web app": "operational"}

    done = run_saas("statuspage", sp_args(sandbox, status="resolved", components=None))
    assert done["changed"] is False and len(sandbox.writes()) == 3
    assert_clean([created, again, update, resolved, done], sandbox.sp_api_key)


def test_diff_mode(sandbox, run_saas):
    run_saas("statuspage", sp_args(sandbox))
    result = run_saas("statuspage", sp_args(sandbox, status="monitoring"), diff=True)
    assert result["diff"]["before"]["status"] == "investigating" and result["diff"]["after"]["status"] == "monitoring"


def test_check_mode_writes_nothing(sandbox, run_saas):
    result = run_saas("statuspage", sp_args(sandbox), check_mode=True)
    assert result["changed"] is True and sandbox.writes() == [] and sandbox.sp_incidents == {}
    (request,) = result["requests"]
    assert request["method"] == "POST" and request["url"].endswith(f"/v1/pages/{sandbox.sp_page_id}/incidents")
    assert request["headers"]["Authorization"] == "OAuth ********"
    assert request["json"]["incident"]["impact_override"] == "major"
    assert_clean([result], sandbox.sp_api_key)


def test_420_and_429_are_retried_after_retry_after(sandbox, run_saas):
    sandbox.inject(420, count=1, service="statuspage", retry_after=1)
    sandbox.inject(429, count=1, service="statuspage", method="POST", retry_after=1)
    result = run_saas("statuspage", sp_args(sandbox))
    assert result["changed"] is True and result["attempts"] == 5
    assert [r["status"] for r in sandbox.records()] == [420, 200, 200, 429, 201]
    assert len(sandbox.sp_incidents) == 1
    assert any("420" in n for r in sandbox.records() for n in r["response_validation"]["notes"])


def test_create_not_repeated_after_a_500(sandbox, run_saas):
    sandbox.inject(500, count=1, service="statuspage", method="POST", after_handling=True)
    result = run_saas("statuspage", sp_args(sandbox))
    assert result["failed"] is True and len(sandbox.writes()) == 1
    assert result["msg"].startswith("Failed to create the Statuspage incident 'Service Disruption': Statuspage failed "
                                    "with 500 Internal Server Error")
    assert result["msg"].endswith("the incident may have been created: re-run, it is found by name")
    rerun = run_saas("statuspage", sp_args(sandbox))
    assert rerun["changed"] is False and len(sandbox.sp_incidents) == 1


def test_requests_are_paced(sandbox, run_saas):
    run_saas("statuspage", sp_args(sandbox, request_interval=0.4))
    times = [r["time"] for r in sandbox.records()]
    assert len(times) == 3 and all(b - a >= 0.35 for a, b in zip(times, times[1:]))


def test_401_is_one_clear_line(sandbox, run_saas):
    wrong = "0123456789abcdef" * 4
    result = run_saas("statuspage", sp_args(sandbox, api_key=wrong))
    assert result["msg"] == ("Failed to list the unresolved Statuspage incidents: the API key was rejected "
                             "(401 Unauthorized): check statuspage api_key")
    assert len(sandbox.records()) == 1
    assert_clean([result], wrong)


def test_unknown_page_and_unknown_component(sandbox, run_saas):
    result = run_saas("statuspage", sp_args(sandbox, page_id="nosuchpage"))
    assert result["msg"] == ("Failed to list the unresolved Statuspage incidents: Statuspage said The requested "
                             "resource could not be found. (404 Not Found); check page_id")
    result = run_saas("statuspage", sp_args(sandbox, components={"Databse": "major_outage"}))
    assert result["msg"] == ("Failed to update the Statuspage incident: unknown component(s) Databse (page has: API, "
                             "Database, Document processing, Web app)")
    assert sandbox.writes() == []


def test_sandbox_rejects_an_incident_the_spec_rejects(sandbox):
    sandbox.allow_rejections()
    response = httpx.post(f"{sandbox.urls['statuspage_api_url']}/pages/{sandbox.sp_page_id}/incidents",
                          headers={"Authorization": f"OAuth {sandbox.sp_api_key}"},
                          json={"incident": {"name": "x", "status": "exploded"}})
    assert response.status_code == 400 and "exploded" in response.json()["message"]
    assert sandbox.sp_incidents == {}
    (rejected,) = sandbox.rejected()
    assert any("incident/status" in e for e in rejected["request_validation"]["errors"])
