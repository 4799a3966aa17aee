"""slack module against the sandbox's incoming webhook (payload rules checked by the sandbox)."""
from __future__ import annotations

import json

import httpx

from tests.integration.helpers import assert_clean


def slack_args(sb, **extra):
    return dict(dict(webhook_url=sb.urls["slack_webhook_url"], title="P0 - Paperless Maverick outage",
                     text="API health checks failing; rollback in progress.", severity="critical",
                     status="mitigating", clusters=["prod-eu", "prod-us"], incident_id="INC-300", mention_channel=True,
                     links=[{"url": "https://grafana.example.com/d/maverick", "text": "Dashboard"}]), **extra)


def webhook_token(sb):
    return sb.slack_path.rsplit("/", 1)[1]


def test_posts_blocks_once_per_incident(sandbox, run_saas, tmp_path):
    args = slack_args(sandbox, incident_dir=str(tmp_path))
    first = run_saas("slack", args)
    assert first["changed"] is True and first["response"] == "ok"
    (message,) = sandbox.slack_messages
    assert message["text"].startswith("<!channel> ")
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section", "context"]
    fields = " ".join(f["text"] for f in message["blocks"][2]["fields"])
    assert "critical" in fields and "mitigating" in fields and "prod-eu, prod-us" in fields and "INC-300" in fields
    again = run_saas("slack", args)
    assert again["changed"] is False and len(sandbox.writes()) == 1
    assert_clean([first, again], sandbox.urls["slack_webhook_url"], webhook_token(sandbox))


def test_links_in_the_pagerduty_shape_work_too(sandbox, run_saas):
    links = [{"href": "https://grafana.example.com/d/maverick", "text": "Dashboard"}]
    run_saas("slack", slack_args(sandbox, links=links))
    run_saas("pagerduty", {"routing_key": sandbox.pd_routing_key, "events_url": sandbox.urls["pagerduty_events_url"],
                           "incident_id": "INC-300", "summary": "down", "links": links})
    assert "<https://grafana.example.com/d/maverick|Dashboard>" in json.dumps(sandbox.slack_messages[0])
    assert sandbox.writes("pagerduty-events")[0]["json"]["links"] == links


def test_check_mode_sends_nothing(sandbox, run_saas):
    result = run_saas("slack", slack_args(sandbox), check_mode=True)
    assert result["changed"] is True and sandbox.records() == []
    assert result["requests"][0]["url"] == f"{sandbox.base_url}/********"
    assert result["requests"][0]["json"]["blocks"][0]["text"]["text"] == "P0 - Paperless Maverick outage"
    assert_clean([result], webhook_token(sandbox))


def test_429_retried_after_retry_after(sandbox, run_saas):
    sandbox.inject(429, count=1, service="slack", retry_after=1)
    result = run_saas("slack", slack_args(sandbox))
    assert result["changed"] is True and result["attempts"] == 2
    assert [r["status"] for r in sandbox.records()] == [429, 200] and len(sandbox.slack_messages) == 1


def test_5xx_is_not_repeated(sandbox, run_saas):
    sandbox.inject(500, count=1, service="slack")
    result = run_saas("slack", slack_args(sandbox))
    assert result["failed"] is True and len(sandbox.records()) == 1
    assert result["msg"] == "Failed to post the Slack message: Slack failed with 500 Internal Server Error: internal_error"


def test_plain_text_errors_become_clear_failures(sandbox, run_saas):
    sandbox.inject(404, service="slack", body="channel_not_found")
    not_found = run_saas("slack", slack_args(sandbox))
    assert not_found["msg"] == ("Failed to post the Slack message: Slack said channel_not_found (404 Not Found); "
                                "check webhook_url (the webhook or its channel no longer exists)")
    sandbox.inject(410, service="slack", body="channel_is_archived")
    archived = run_saas("slack", slack_args(sandbox))
    assert archived["msg"] == ("Failed to post the Slack message: Slack said channel_is_archived (410 Gone); "
                               "the channel is archived: use a webhook of another channel")
    wrong = f"{sandbox.base_url}/slack/services/T0MATARESIT/B0INCIDENT/notTheRightTokenAtAll"
    revoked = run_saas("slack", slack_args(sandbox, webhook_url=wrong))
    assert revoked["msg"].startswith("Failed to post the Slack message: Slack said no_service (404 Not Found)")
    assert_clean([not_found, archived, revoked], webhook_token(sandbox), "notTheRightTokenAtAll")


def test_sandbox_rejects_an_invalid_payload(sandbox):
    sandbox.allow_rejections()
    response = httpx.post(sandbox.urls["slack_webhook_url"], json={"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]})
    assert response.status_code == 400 and response.text == "invalid_blocks"
    response = httpx.post(sandbox.urls["slack_webhook_url"], json={"username": "no text"})
    assert response.status_code == 400 and response.text == "invalid_payload"
    assert sandbox.slack_messages == [] and len(sandbox.rejected()) == 2


def test_slow_answer_is_not_reposted(sandbox, run_saas):
    sandbox.slow(3, count=1, service="slack")
    result = run_saas("slack", slack_args(sandbox, request_timeout=1))
    sandbox.wait_idle()
    assert result["failed"] is True and len(sandbox.writes()) == 1 and len(sandbox.slack_messages) == 1
    assert result["msg"] == (f"Failed to post the Slack message: Slack at 127.0.0.1:{sandbox.port} did not answer in "
                             "time (ReadTimeout); it may still have acted on the request; raise request_timeout or re-run")
