"""health_probe logic: percentiles, verdict rules, retries, the service proxy path.

HTTP is faked at the transport seam (httpx.MockTransport); time is a virtual
clock advanced by the fake server, so no test depends on real timing.
"""
from __future__ import annotations

import json
import threading

import httpx
import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils import http, probe
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ApiError, ConfigError, EmergencyError, NotFoundError, UnreachableError,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.connection import Connection
from ansible_collections.mataresit.emergency.plugins.module_utils.services import health_probe
from tests.unit.fakes import fake_context


class Clock:
    """Virtual perf_counter: the fake server advances it by each answer's latency."""

    def __init__(self):
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self):
        return self.now

    def advance(self, ms):
        with self.lock:
            self.now += ms / 1000.0


def options(**params):
    """A run of health_probe with these options (the rest as the module defaults them, no cluster)."""
    return fake_context(**{"expected_status": [200], "samples": 1, "timeout": 5, "retries": 2,
                           "max_latency_ms": None, "max_peak_latency_ms": None, "fail_on_unhealthy": False, **params})


def probe_health(ctx, transport):
    """health_probe's operation with every direct HTTP request on transport."""
    ctx.transport = transport
    return health_probe.operation(ctx)


def prober(handler, clock=None, k8s_handler=None, sleeps=None):
    def k8s_factory():
        conn = Connection(server="https://k8s.test", verify=False)
        return K8sClient(conn, transport=httpx.MockTransport(k8s_handler))

    return probe.Prober(k8s_factory=k8s_factory if k8s_handler is not None else None, transport=httpx.MockTransport(handler),
                        clock=clock or Clock(), sleep=(sleeps.append if sleeps is not None else lambda s: None),
                        backoff=lambda attempt: 0.01 * attempt)


def target(**kwargs):
    kwargs.setdefault("name", kwargs.get("url", "t"))
    return probe.Target(**kwargs)


# -- percentiles -------------------------------------------------------------
def test_percentile_interpolates_between_closest_ranks():
    values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert probe.percentile(values, 0) == 10
    assert probe.percentile(values, 50) == 55
    assert probe.percentile(values, 95) == pytest.approx(95.5)
    assert probe.percentile(values, 100) == 100
    assert probe.percentile([7], 95) == 7
    assert probe.percentile([], 50) is None


def test_percentile_ignores_input_order():
    assert probe.percentile([100, 10, 50, 30], 50) == probe.percentile([10, 30, 50, 100], 50) == 40


def test_latency_stats_are_ordered():
    stats = probe.latency_stats([5.0, 1.0, 9.0, 3.0, 250.0, 4.0, 2.0, 8.0, 7.0, 6.0])
    assert stats["min"] <= stats["p50"] <= stats["p95"] <= stats["max"]
    assert (stats["min"], stats["max"], stats["p50"]) == (1.0, 250.0, 5.5)
    assert probe.latency_stats([]) is None


# -- verdict rules -----------------------------------------------------------
def test_healthy_target_reports_latency_of_every_sample():
    clock = Clock()
    latencies = iter([12, 10, 11, 13, 10, 15, 10, 11, 30, 12])

    def handler(request):
        clock.advance(next(latencies))
        return httpx.Response(200, json={"status": "ok"})

    with prober(handler, clock) as p:
        out = p.probe([target(url="http://app.test/health", samples=10, max_latency_ms=100)])
    result = out["targets"][0]
    assert out["healthy"] and result["healthy"] and result["error"] is None and out["unhealthy"] == []
    assert result["status_codes"] == [200] and result["samples"] == result["responses"] == 10
    stats = result["latency_ms"]
    assert stats["min"] == 10 and stats["max"] == 30 and stats["p50"] == 11.5
    assert stats["p50"] <= stats["p95"] <= stats["max"]


def test_status_mismatch_is_unhealthy_and_counts_every_sample():
    with prober(lambda r: httpx.Response(503, json={"status": "unhealthy"})) as p:
        out = p.probe([target(url="http://app.test/health", samples=4)])
    result = out["targets"][0]
    assert not out["healthy"] and out["unhealthy"] == ["http://app.test/health"]
    assert result["error"] == "unexpected_status" and result["errors"] == {"unexpected_status": 4}
    assert result["status_codes"] == [503]
    assert "status 503 in 4 of 4 samples (expected 200)" in result["message"]
    assert "unhealthy" in result["body"]


def test_expected_status_list_accepts_any_listed_code():
    codes = iter([200, 503, 200])
    with prober(lambda r: httpx.Response(next(codes))) as p:
        out = p.probe([target(url="http://app.test/health", samples=3, expected_status=(200, 503))])
    assert out["healthy"] and out["targets"][0]["status_codes"] == [200, 503]


def test_slow_p95_is_unhealthy_while_status_is_fine():
    clock = Clock()
    latencies = iter([100, 110, 120, 900, 950])

    def handler(request):
        clock.advance(next(latencies))
        return httpx.Response(200)

    with prober(handler, clock) as p:
        out = p.probe([target(url="http://app.test/health", samples=5, max_latency_ms=500)])
    result = out["targets"][0]
    assert result["error"] == "slow" and not result["healthy"]
    assert result["latency_ms"]["p95"] > 500 and "p95 latency" in result["message"]


def test_p95_under_threshold_with_one_slow_sample_in_many_is_healthy_but_peak_threshold_catches_it():
    clock = Clock()

    def handler(request):
        clock.advance(400 if clock.now == 0 else 10)  # first sample slow, nineteen fast
        return httpx.Response(200)

    with prober(handler, clock) as p:
        out = p.probe([target(url="http://app.test/a", samples=20, max_latency_ms=100)])
    assert out["healthy"]
    clock.now = 0
    with prober(handler, clock) as p:
        out = p.probe([target(url="http://app.test/a", samples=20, max_latency_ms=100, max_peak_latency_ms=200)])
    assert out["targets"][0]["error"] == "slow" and "max latency 400.0 ms" in out["targets"][0]["message"]


def test_body_must_contain_substring():
    with prober(lambda r: httpx.Response(200, text='{"status":"degraded"}')) as p:
        out = p.probe([target(url="http://app.test/health", contains='"ok"')])
    assert out["targets"][0]["error"] == "body_mismatch"
    with prober(lambda r: httpx.Response(200, text='{"status":"ok"}')) as p:
        assert p.probe([target(url="http://app.test/health", contains='"ok"')])["healthy"]


@pytest.mark.parametrize("exc, kind", [
    (httpx.ConnectError("[Errno 111] Connection refused"), "refused"),
    (httpx.ConnectTimeout("timed out"), "timeout"),
    (httpx.ReadTimeout("timed out"), "timeout"),
    (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "tls"),
    (httpx.ConnectError("[Errno -2] Name or service not known"), "unreachable"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."), "connection"),
])
def test_transport_errors_are_classified(exc, kind):
    def handler(request):
        raise exc

    with prober(handler) as p:
        out = p.probe([target(url="http://app.test/health", retries=0)])
    result = out["targets"][0]
    assert result["error"] == kind and not out["healthy"]
    assert result["responses"] == 0 and result["latency_ms"] is None and result["status_codes"] == []


def test_classify_follows_the_cause_chain():
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as inner:
            raise httpx.ConnectError("All connection attempts failed") from inner
    except httpx.ConnectError as exc:
        assert http.classify(exc)[:2] == ("refused", True)


def test_most_severe_error_wins_and_all_are_counted():
    answers = iter(["refused", 503, 200])

    def handler(request):
        answer = next(answers)
        if answer == "refused":
            raise httpx.ConnectError("Connection refused")
        return httpx.Response(answer)

    with prober(handler) as p:
        out = p.probe([target(url="http://app.test/health", samples=3, retries=0)])
    result = out["targets"][0]
    assert result["error"] == "refused"
    assert result["errors"] == {"refused": 1, "unexpected_status": 1}
    assert result["responses"] == 2


# -- retries -----------------------------------------------------------------
def test_connect_errors_are_retried_with_backoff_then_succeed():
    calls, sleeps = [], []

    def handler(request):
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ConnectError("[Errno 111] Connection refused")
        return httpx.Response(200)

    with prober(handler, sleeps=sleeps) as p:
        out = p.probe([target(url="http://app.test/health", retries=2)])
    assert out["healthy"] and len(calls) == 3 and out["targets"][0]["retries"] == 2
    assert sleeps == [0.01, 0.02]


def test_connect_errors_give_up_after_retries():
    calls = []

    def handler(request):
        calls.append(request)
        raise httpx.ConnectError("[Errno 111] Connection refused")

    with prober(handler) as p:
        out = p.probe([target(url="http://app.test/health", retries=2, samples=2)])
    assert out["targets"][0]["error"] == "refused" and len(calls) == 6


@pytest.mark.parametrize("answer", [
    httpx.ReadTimeout("timed out"),
    httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
    httpx.RemoteProtocolError("Server disconnected"),
    503,
])
def test_nothing_but_connect_errors_is_retried(answer):
    calls = []

    def handler(request):
        calls.append(request)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer)

    with prober(handler) as p:
        out = p.probe([target(url="http://app.test/health", retries=3)])
    assert not out["healthy"] and len(calls) == 1 and out["targets"][0]["retries"] == 0


def test_backoff_is_capped_and_jittered():
    for attempt in range(1, 12):
        delay = http.backoff(attempt, probe.RETRY)
        assert 0 < delay <= 2.0
    assert http.backoff(1, probe.RETRY) <= 0.1


# -- many targets, one client ------------------------------------------------
def test_targets_are_probed_concurrently_with_one_client():
    barrier = threading.Barrier(4, timeout=5)
    hosts = set()

    def handler(request):
        hosts.add(request.url.host)
        barrier.wait()  # only passes when all four targets are in flight at once
        return httpx.Response(200)

    with prober(handler) as p:
        out = p.probe([target(url=f"http://h{i}.test/health") for i in range(4)])
        assert len(p._clients) == 1
    assert out["healthy"] and hosts == {f"h{i}.test" for i in range(4)}
    assert [r["name"] for r in out["targets"]] == [f"http://h{i}.test/health" for i in range(4)]


def test_request_carries_the_target_timeout():
    seen = []

    def handler(request):
        seen.append(request.extensions["timeout"])
        return httpx.Response(200)

    with prober(handler) as p:
        p.probe([target(url="http://app.test/health", timeout=1.5)])
    assert seen == [{"connect": 1.5, "read": 1.5, "write": 1.5, "pool": 1.5}]


# -- service proxy -----------------------------------------------------------
PROXY = "/api/v1/namespaces/paperless-maverick/services/paperless-maverick-service:3000/proxy/health/database"


def service_target(**kwargs):
    svc = {"namespace": "paperless-maverick", "name": "paperless-maverick-service", "port": 3000,
           "path": "/health/database", "scheme": "http"}
    return target(name="db", service=svc, **kwargs)


def no_direct(request):
    raise AssertionError("direct HTTP used for a service target")


def test_service_target_goes_through_the_api_server_service_proxy():
    paths = []

    def k8s(request):
        paths.append((request.url.host, request.url.path))
        return httpx.Response(200, json={"status": "ok"})

    with prober(no_direct, k8s_handler=k8s) as p:
        out = p.probe([service_target(samples=3)])
    assert out["healthy"] and paths == [("k8s.test", PROXY)] * 3
    assert out["targets"][0]["proxy_path"] == PROXY


def test_service_behind_the_proxy_answering_503_is_unhealthy_not_an_error():
    def k8s(request):
        return httpx.Response(503, json={"status": "down", "reason": "no ready postgresql pod"})

    with prober(no_direct, k8s_handler=k8s) as p:
        out = p.probe([service_target()])
    assert out["targets"][0]["error"] == "unexpected_status" and "postgresql" in out["targets"][0]["body"]


def k8s_status(code, reason, message):
    return httpx.Response(code, json={"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "reason": reason, "message": message, "code": code})


@pytest.mark.parametrize("message, kind", [
    ('no endpoints available for service "paperless-maverick-service"', "unreachable"),
    ("error trying to reach service: dial tcp 10.0.0.5:3000: connect: connection refused", "refused"),
    ("error trying to reach service: dial tcp 10.0.0.5:3000: i/o timeout", "timeout"),
])
def test_api_server_failing_to_reach_the_service_is_a_verdict(message, kind):
    with prober(no_direct, k8s_handler=lambda r: k8s_status(503, "ServiceUnavailable", message)) as p:
        out = p.probe([service_target()])
    result = out["targets"][0]
    assert result["error"] == kind and message in result["message"]


@pytest.mark.parametrize("status, reason, error, words", [
    (401, "Unauthorized", ApiError, "credentials"),
    (403, "Forbidden", ApiError, "services/proxy"),
    (404, "NotFound", NotFoundError, 'services "paperless-maverick-service" not found'),
])
def test_api_server_refusing_the_request_fails_with_a_clear_message(status, reason, error, words):
    message = 'services "paperless-maverick-service" not found' if status == 404 else "denied"
    with prober(no_direct, k8s_handler=lambda r: k8s_status(status, reason, message)) as p:
        with pytest.raises(error) as info:
            p.probe([service_target()])
    assert str(info.value).startswith("Failed to probe db:") and words in str(info.value)


def test_unreachable_api_server_fails_instead_of_judging_the_service():
    def k8s(request):
        raise httpx.ConnectError("[Errno 111] Connection refused")

    with prober(no_direct, k8s_handler=k8s) as p:
        with pytest.raises(UnreachableError, match="Kubernetes API server at https://k8s.test is unreachable"):
            p.probe([service_target(retries=1)])


# -- options and the module operation ----------------------------------------
def test_build_targets_applies_module_level_defaults_and_overrides():
    targets = health_probe.build_targets({
        "samples": 10, "timeout": 3, "retries": 1, "expected_status": [200], "max_latency_ms": 500,
        "max_peak_latency_ms": None,
        "targets": [
            {"url": "http://a.test/health"},
            {"url": "http://b.test/health", "samples": 2, "expected_status": [200, 204], "max_latency_ms": 50},
            {"name": "db", "service": {"namespace": "ns", "name": "svc", "port": "3000", "path": "health/database"}},
        ],
    })
    a, b, db = targets
    assert (a.samples, a.timeout, a.retries, a.expected_status, a.max_latency_ms) == (10, 3.0, 1, (200,), 500)
    assert (b.samples, b.expected_status, b.max_latency_ms) == (2, (200, 204), 50)
    assert db.proxy_path == "/api/v1/namespaces/ns/services/svc:3000/proxy/health/database"


def test_https_service_scheme_is_in_the_proxy_path():
    (t,) = health_probe.build_targets({"samples": 1, "timeout": 1, "retries": 0, "targets": [
        {"service": {"namespace": "ns", "name": "svc", "port": "https", "path": "/", "scheme": "https"}}]})
    assert t.proxy_path == "/api/v1/namespaces/ns/services/https:svc:https/proxy/"


@pytest.mark.parametrize("targets, words", [
    ([], "at least one target"),
    ([{"url": "ftp://x/health"}], "not an http(s) URL"),
    ([{"url": "http://a.test"}, {"url": "http://a.test"}], "names must be unique"),
    ([{"url": "http://a.test", "samples": 0}], "at least 1"),
])
def test_bad_targets_are_config_errors(targets, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        health_probe.build_targets({"samples": 1, "timeout": 1, "retries": 0, "targets": targets})


def test_operation_is_read_only_and_fails_only_when_asked():
    transport = httpx.MockTransport(lambda r: httpx.Response(200 if r.url.host == "up.test" else 503))
    targets = [{"url": "http://up.test/health"}, {"url": "http://down.test/health"}]
    result = probe_health(options(targets=targets), transport=transport)
    assert result["changed"] is False and result["healthy"] is False
    assert result["unhealthy"] == ["http://down.test/health"] and "duration_ms" in result
    with pytest.raises(EmergencyError) as info:
        probe_health(options(targets=targets, fail_on_unhealthy=True), transport=transport)
    message = str(info.value)
    assert message.startswith("Failed to confirm health: 1 of 2 targets unhealthy: http://down.test/health")
    assert "up.test" not in message
    assert info.value.details["healthy"] is False and len(info.value.details["targets"]) == 2
    json.dumps(info.value.details)  # fail_json must be able to serialise the details


def test_url_targets_need_no_kubernetes_connection(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    assert probe_health(options(targets=[{"url": "http://up.test/"}]), transport=transport)["healthy"]


def test_plain_http_targets_share_the_https_client_and_need_no_ca_bundle_alone():
    def ok(request):
        return httpx.Response(200)

    with prober(ok) as p:
        p.probe([target(url="http://a.test/"), target(url="http://b.test/")])
        assert list(p._clients) == [False]
    with prober(ok) as p:
        p.probe([target(url="http://a.test/"), target(url="https://b.test/")])
        assert list(p._clients) == [True]
    with prober(ok) as p:
        p.probe([target(url="https://a.test/"), target(url="https://b.test/", validate_certs=False)])
        assert sorted(p._clients) == [False, True]
