"""Notifications under hostile or malformed input (issue 7): text from outside never becomes Slack markup,
webhook URLs are masked whole, provider answers of the wrong shape and bad URLs or headers are one line."""
from __future__ import annotations

import json

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ApiError, ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.http import checked_url
from ansible_collections.mataresit.emergency.plugins.module_utils.redact import MASK
from ansible_collections.mataresit.emergency.plugins.module_utils.services import email, pagerduty, slack, statuspage
from tests.unit.fakes import Recorder

WEBHOOK = "https://hooks.slack.example/services/T0001/B0001/SECRETPATHxyz?token=QUERYSECRET"


def test_alert_and_object_text_cannot_mention_or_link_in_slack(context):
    hostile = "<!here> <!channel> <@U012> <https://evil.example|click> & {{ x }}"
    module = context("slack", check_mode=True, transport=Recorder((200, "ok")).transport, webhook_url=WEBHOOK,
                     title=hostile, text=hostile, status=hostile, clusters=[hostile], incident_id=hostile,
                     mention_channel=True, links=[{"url": "https://grafana.example/d?a=1|b", "text": "<!here>|x>"}])
    message = slack.operation(module)["message"]
    mrkdwn = [message["text"]] + [json.dumps(b) for b in message["blocks"] if b["type"] != "header"]
    for text in mrkdwn:
        for markup in ("<!here>", "<!channel> <!", "<@U012>", "<https://evil.example"):
            assert markup not in text
    assert message["text"].startswith("<!channel> &lt;!here&gt; &lt;!channel&gt; &lt;@U012&gt;")  # ours, then theirs
    assert "&amp; {{ x }}" in message["text"]
    (context_block,) = [b for b in message["blocks"] if b["type"] == "context"]
    assert context_block["elements"][0]["text"] == "<https://grafana.example/d?a=1%7Cb|&lt;!here&gt;/x&gt;>"


def test_webhook_urls_are_masked_whole_in_echoes_and_records(context, tmp_path):
    rec = Recorder((200, "ok"))
    result = slack.operation(context("slack", transport=rec.transport, webhook_url=WEBHOOK, text="down",
                                     incident_id="INC-1", incident_dir=str(tmp_path)))
    assert result["requests"][0]["url"] == f"https://hooks.slack.example/{MASK}"
    written = "".join(p.read_text() for p in (tmp_path / "notifications").iterdir())
    everything = json.dumps(result) + written
    for secret in ("SECRETPATHxyz", "QUERYSECRET", "T0001/B0001"):
        assert secret not in everything


@pytest.mark.parametrize("url", ["http://[::1", "http://[bad", "ftp://host/x", "http://", "http://host:99999/x",
                                 "not a url", "http://host/a b", "http://ho\nst/"])
def test_bad_urls_are_one_line_naming_the_option(url):
    with pytest.raises(ConfigError, match="Failed to read the options: events_url .* is not an http.s. URL .*"
                                          "check 'events_url'") as err:
        checked_url(url, "events_url")
    assert "\n" not in str(err.value)


def test_a_webhook_url_is_never_shown_in_its_error():
    with pytest.raises(ConfigError) as err:
        checked_url("hxxps://hooks.slack.com/services/SECRET", "webhook_url", show=False)
    assert "SECRET" not in str(err.value) and "webhook_url is not an http(s) URL" in str(err.value)


def test_pagerduty_events_url_is_checked_before_any_request(context):
    rec = Recorder((202, {"status": "success"}))
    with pytest.raises(ConfigError, match="events_url 'http://.bad' is not an http"):
        pagerduty.operation(context("pagerduty", transport=rec.transport, routing_key="R" * 32, incident_id="INC-1",
                                    summary="down", events_url="http://[bad"))
    assert rec.calls == []


@pytest.mark.parametrize("answer", [{"incidents": []}, "not json", [["nested"]], "42"])
def test_statuspage_answering_with_the_wrong_shape_is_one_line(context, answer):
    rec = Recorder((200, answer if not isinstance(answer, str) else answer))
    module = context("statuspage", transport=rec.transport, page_id="p1", api_key="k" * 20, name="Outage",
                     status="investigating", request_interval=0)
    with pytest.raises(ApiError, match=r"Failed to list the unresolved Statuspage incidents: Statuspage answered 200 "
                                       r"with .* where a list of objects was expected; check api_url") as err:
        statuspage.operation(module)
    assert "\n" not in str(err.value) and len(rec.calls) == 1  # nothing written


def test_pagerduty_rest_answering_with_the_wrong_shape_is_one_line(context):
    rec = Recorder((200, {"incidents": {"id": "x"}}))
    module = context("pagerduty", transport=rec.transport, api="rest", api_token="t" * 20, incident_id="INC-1",
                     summary="down", service_id="S1", from_email="a@b.example")
    with pytest.raises(ApiError, match="PagerDuty answered 200 with dict where a list of objects in 'incidents' was "
                                       "expected"):
        pagerduty.operation(module)


@pytest.mark.parametrize("option, value, match", [
    ("subject", "down\nBcc: attacker@evil.example", "subject contains a line break"),
    ("subject", "down\r\nX-Injected: 1", "subject contains a line break"),
    ("to", ["a@b.example\nBcc: attacker@evil.example"], "to entry .* is not an email address"),
    ("to", ["a@b.example, c@d.example"], "to entry .* is not an email address .*one address per entry"),
    ("cc", ["not-an-address"], "cc entry 'not-an-address' is not an email address"),
    ("sender", "x\n@y", "sender contains a line break"),
    ("sender", "nobody", "sender is not an email address"),
    ("host", "", "host is empty"),
    ("host", "  ", "host is empty"),
    ("port", 0, "port 0 is not a TCP port"),
])
def test_email_headers_and_server_are_checked_before_anything(context, tmp_path, option, value, match):
    params = dict(host="smtp.example", to=["oncall@example.com"], subject="P0", body="b", incident_dir=str(tmp_path))
    params[option] = value
    with pytest.raises(ConfigError, match=match) as err:
        email.operation(context("email", **params))
    assert "\n" not in str(err.value) and not list(tmp_path.iterdir())


def test_email_with_display_names_passes(context):
    result = email.operation(context("email", check_mode=True, host="smtp.example", sender="On call <oc@ex.example>",
                                     to=["Incident List <ir@ex.example>"], subject="P0", body="b"))
    assert result["message"]["recipients"] == ["Incident List <ir@ex.example>"]
