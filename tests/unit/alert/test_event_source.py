"""The collection's Alertmanager event source over HTTP (aiohttp's test server, the real handler)."""
from __future__ import annotations

import asyncio
import logging
import runpy
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[3] / "extensions" / "eda" / "plugins" / "event_source" / "alertmanager.py"
TOKEN = "unit-test-webhook-token-0123"
BODY = {"version": "4", "groupKey": "{}:{alertname=\"EmbeddingServiceDown\"}", "status": "firing", "alerts": [{
    "status": "firing", "fingerprint": "0123456789abcdef", "startsAt": "2026-12-02T10:00:00Z",
    "labels": {"alertname": "EmbeddingServiceDown", "severity": "critical"}, "annotations": {"summary": "down"}}]}


@pytest.fixture(scope="module")
def source():
    return runpy.run_path(str(SOURCE))  # as ansible-rulebook loads it


def exchange(source, requests):
    """Send (headers, json body or raw bytes) requests; return ([status], [queued events])."""
    from aiohttp.test_utils import TestClient, TestServer

    async def run():
        queue = asyncio.Queue()
        async with TestClient(TestServer(source["make_app"](queue, TOKEN))) as client:
            statuses = []
            for headers, body in requests:
                kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
                response = await client.post("/alerts", headers=headers, **kwargs)
                statuses.append(response.status)
        events = []
        while not queue.empty():
            events.append(queue.get_nowait())
        return statuses, events

    return asyncio.run(run())


def test_requests_without_the_bearer_token_are_refused_with_401_and_a_log_line(source, caplog):
    caplog.set_level(logging.WARNING, logger="mataresit.emergency.alertmanager")
    statuses, events = exchange(source, [
        ({}, BODY), ({"Authorization": "Bearer wrong-token-0123456789"}, BODY), ({"Authorization": f"Basic {TOKEN}"}, BODY),
        ({"Authorization": TOKEN}, BODY)])
    assert statuses == [401] * 4 and events == []
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 4 and all(TOKEN not in m for m in refusals)
    assert "no bearer token" in refusals[0] and "wrong credentials" in refusals[1]


def test_the_token_admits_alerts_as_validated_fields_and_signed_data(source):
    statuses, events = exchange(source, [({"Authorization": f"Bearer {TOKEN}"}, BODY)] * 2)
    assert statuses == [202, 202] and len(events) == 1  # the repeat starts nothing
    event = events[0]
    assert set(event) == {"alert"}  # no headers, no raw payload
    assert set(event["alert"]) == {"incident_id", "status", "alertname", "severity", "namespace", "fingerprint",
                                   "starts_at", "ends_at", "data", "signature"}


def test_bodies_that_are_not_alertmanager_payloads_are_refused_with_400(source):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    bad_alert = dict(BODY, alerts=[dict(BODY["alerts"][0], fingerprint="{{ 7 * 7 }}")])
    statuses, events = exchange(source, [(bearer, b"{not json"), (bearer, ["a"]), (bearer, bad_alert)])
    assert statuses == [400, 400, 400] and events == []


@pytest.mark.parametrize("args, message", [
    ({}, "set token"), ({"token": "short"}, "set token"),
    ({"token": TOKEN, "certfile": "/x.pem"}, "both certfile and keyfile"),
])
def test_a_source_without_a_usable_token_or_tls_pair_does_not_start(source, args, message):
    with pytest.raises(ValueError, match=message):
        source["_settings"](args)
