"""The shared SaaS HTTP layer: retry decisions, Retry-After / ratelimit-reset,
pacing, error messages and redaction, faked at the transport seam."""
from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ApiError, UnreachableError
from ansible_collections.mataresit.emergency.plugins.module_utils.http import RetryPolicy, parse_retry_after, retry_delay
from ansible_collections.mataresit.emergency.plugins.module_utils.redact import MASK as REDACTED
from ansible_collections.mataresit.emergency.plugins.module_utils.redact import mask_known as redact
from ansible_collections.mataresit.emergency.plugins.module_utils.saas import SaasClient, provider_message

from tests.unit.fakes import Recorder, fake_context

POLICY = RetryPolicy(retries=3, backoff_base=0.5, backoff_cap=8.0, max_wait=60.0)


def no_jitter(low, high):  # pylint: disable=unused-argument
    """Deterministic jitter: its upper bound."""
    return high


def resp(status, headers=None):
    return httpx.Response(status, headers=headers or {})


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after(httpx.Headers({"Retry-After": "7"})) == 7
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= parse_retry_after(httpx.Headers({"Retry-After": when})) <= 30
    assert parse_retry_after(httpx.Headers({"ratelimit-reset": "12"})) == 12
    assert parse_retry_after(httpx.Headers({})) is None
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"})) is None


@pytest.mark.parametrize("status,headers,expected", [
    (429, {"Retry-After": "3"}, 3.0),
    (420, {"Retry-After": "2"}, 2.0),           # Statuspage's "Enhance Your Calm"
    (429, {"ratelimit-reset": "5"}, 5.0),       # PagerDuty REST
])
def test_rate_limits_wait_what_the_server_says_for_any_method(status, headers, expected):
    for method in ("GET", "POST", "PATCH"):
        delay = retry_delay(1, POLICY, method, response=resp(status, headers), rand=lambda a, b: 0)
        assert delay == expected


def test_rate_limit_without_hint_backs_off_exponentially_and_capped():
    delays = [retry_delay(n, POLICY, "POST", response=resp(429), rand=no_jitter) for n in (1, 2, 3)]
    assert delays == [0.5, 1.0, 2.0]
    big = RetryPolicy(retries=10, backoff_cap=8.0)
    assert retry_delay(9, big, "GET", response=resp(503), rand=no_jitter) == 8.0


def test_jitter_stays_within_half_and_full_backoff():
    for _sample in range(50):
        assert 1.0 <= retry_delay(3, POLICY, "GET", response=resp(500)) <= 2.0


def test_server_asking_for_too_long_is_not_waited_for():
    assert retry_delay(1, POLICY, "GET", response=resp(429, {"Retry-After": "3600"})) is None


def test_5xx_retried_only_when_repeating_is_safe():
    assert retry_delay(1, POLICY, "GET", response=resp(502)) is not None
    assert retry_delay(1, POLICY, "PUT", response=resp(500)) is not None
    assert retry_delay(1, POLICY, "POST", response=resp(500)) is None            # no key: might duplicate
    assert retry_delay(1, POLICY, "PATCH", response=resp(503)) is None
    assert retry_delay(1, POLICY, "POST", retry_safe=True, response=resp(500)) is not None  # dedup key


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422])
def test_other_4xx_never_retried(status):
    assert retry_delay(1, POLICY, "GET", response=resp(status)) is None


def test_transport_errors():
    request = httpx.Request("POST", "https://x.example")
    assert retry_delay(1, POLICY, "POST", error=httpx.ConnectError("refused", request=request)) is not None
    assert retry_delay(1, POLICY, "POST", error=httpx.ReadTimeout("slow", request=request)) is None
    assert retry_delay(1, POLICY, "POST", retry_safe=True, error=httpx.ReadTimeout("slow", request=request)) is not None
    assert retry_delay(1, POLICY, "GET", error=httpx.RemoteProtocolError("eof", request=request)) is not None


def test_attempts_are_bounded():
    assert retry_delay(4, POLICY, "GET", response=resp(500)) is None


def make_client(recorder, sleeps, **kwargs):
    kwargs.setdefault("credential_hint", "pagerduty api_token")
    return SaasClient("PagerDuty", "https://api.example", transport=recorder.transport, sleep=sleeps.append, **kwargs)


def test_client_retries_429_then_succeeds_honouring_retry_after():
    rec = Recorder((429, {"error": {"message": "Rate Limit Exceeded"}}, {"Retry-After": "2"}), (201, {"ok": 1}))
    sleeps = []
    with make_client(rec, sleeps) as client:
        response = client.request("POST", "/incidents", {"a": 1}, action="create PagerDuty incident")
    assert response.status_code == 201
    assert len(rec.calls) == 2 and rec.calls[0]["json"] == rec.calls[1]["json"] == {"a": 1}
    assert 2.0 <= sleeps[0] <= 2.2


def test_client_does_not_repeat_post_after_500_without_key():
    rec = Recorder((500, {"message": "boom"}))
    with make_client(rec, []) as client, pytest.raises(ApiError) as err:
        client.request("POST", "/incidents", {"a": 1}, action="create the Statuspage incident 'x'")
    assert len(rec.calls) == 1
    assert str(err.value) == "Failed to create the Statuspage incident 'x': PagerDuty failed with 500 Internal Server Error: boom"


def test_401_fails_at_once_with_a_clear_message():
    rec = Recorder((401, {"error": {"message": "Unauthorized", "code": 2006}}))
    with make_client(rec, []) as client, pytest.raises(ApiError) as err:
        client.request("GET", "/incidents", action="create PagerDuty incident")
    assert len(rec.calls) == 1
    assert str(err.value) == ("Failed to create PagerDuty incident: the API key was rejected (401 Unauthorized): "
                              "check pagerduty api_token")
    assert err.value.status == 401


def test_400_carries_the_provider_message():
    rec = Recorder((400, {"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["Service not found"]}}))
    with make_client(rec, []) as client, pytest.raises(ApiError) as err:
        client.request("POST", "/incidents", {}, action="create PagerDuty incident", hints={400: "check service_id"})
    assert "Invalid Input Provided; Service not found (400 Bad Request); check service_id" in str(err.value)


def test_rate_limit_exhausted_says_so():
    rec = Recorder((429, "", {"Retry-After": "1"}))
    sleeps = []
    with make_client(rec, sleeps, policy=RetryPolicy(retries=2)) as client, pytest.raises(ApiError) as err:
        client.request("GET", "/x", action="list things")
    assert len(rec.calls) == 3 and len(sleeps) == 2
    assert "rate limited by PagerDuty (429 Too Many Requests) after 3 attempts" in str(err.value)


def test_unreachable_is_a_different_error():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)
    rec = Recorder(refuse)
    sleeps = []
    with make_client(rec, sleeps, policy=RetryPolicy(retries=1), url_hint="api_url") as client:
        with pytest.raises(UnreachableError) as err:
            client.request("POST", "/incidents", {}, action="create PagerDuty incident")
    assert len(rec.calls) == 2  # a connect error never reached the server: safe to retry even a POST
    assert str(err.value).startswith("Failed to create PagerDuty incident: PagerDuty at api.example is unreachable after 2 attempts")
    assert "check api_url" in str(err.value)


def test_pacing_spaces_requests():
    clock = iter([0.0, 0.2, 1.0]).__next__  # first send, second arrives 0.2s later
    rec = Recorder((200, {}))
    sleeps = []
    client = SaasClient("Statuspage", "https://x", transport=rec.transport, sleep=sleeps.append,
                        min_interval=1.0, clock=clock)
    client.request("GET", "/a")
    client.request("GET", "/b")
    assert sleeps == [pytest.approx(0.8)]


def test_timeouts_and_keepalive_are_configured():
    client = SaasClient("Slack", "https://hooks.example", timeout=12)
    assert client._http.timeout.read == 12 and client._http.timeout.connect == 10
    client.close()


def test_redact_nested_and_describe():
    secrets = ["R0UTINGKEY123", "TOKEN-abcdef"]
    data = {"routing_key": "R0UTINGKEY123", "h": ["Token token=TOKEN-abcdef"], "n": 3, "short": "ab"}
    assert redact(data, secrets) == {"routing_key": REDACTED, "h": [f"Token token={REDACTED}"], "n": 3, "short": "ab"}
    assert redact("ab cd", ["ab"]) == "ab cd"  # too short to be a secret: never masks ordinary text
    module = fake_context()
    client = SaasClient("PagerDuty", "https://api.example", headers={"Authorization": "Token token=TOKEN-abcdef"},
                        secrets=secrets, no_log_values=module.no_log_values)
    described = client.describe("POST", "/incidents", {"k": "R0UTINGKEY123"}, headers={"From": "a@b.c"})
    assert described == {
        "method": "POST", "url": "https://api.example/incidents",
        "headers": {"User-Agent": "mataresit.emergency", "Authorization": f"Token token={REDACTED}",
                    "From": "a@b.c", "Content-Type": "application/json"},
        "json": {"k": REDACTED},
    }
    assert set(secrets) <= module.no_log_values
    client.close()


@pytest.mark.parametrize("status,body,expected", [
    (400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["'severity' is invalid"]},
     "Event object is invalid; 'severity' is invalid"),
    (404, "channel_not_found", "channel_not_found"),
    (422, {"error": "Component not found"}, "Component not found"),
    (502, "<html>bad gateway</html>", ""),
])
def test_provider_message(status, body, expected):
    response = httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)
    assert provider_message(response) == expected


def test_read_timeout_says_the_server_may_have_acted():
    def slow(request):
        raise httpx.ReadTimeout("timed out", request=request)
    rec = Recorder(slow)
    with make_client(rec, [], policy=RetryPolicy(retries=2)) as client, pytest.raises(UnreachableError) as err:
        client.request("POST", "/hook", {"text": "x"}, action="post the Slack message")
    assert len(rec.calls) == 1  # a POST without a key is not repeated after a read timeout
    assert str(err.value) == ("Failed to post the Slack message: PagerDuty at api.example did not answer in time "
                              "(ReadTimeout); it may still have acted on the request; raise request_timeout or re-run")


def test_pacing_is_shared_by_runs_using_the_same_key(tmp_path):
    """Two module runs (two clients) with one Statuspage key queue one interval apart."""
    rec = Recorder((200, {}))
    sleeps = []
    times = iter([10.0, 10.25, 11.0]).__next__  # A sends at 10.0; B arrives 0.25s later, sends at 11.0

    def client(key):
        return SaasClient("Statuspage", "https://x", transport=rec.transport, sleep=sleeps.append, min_interval=1.0,
                          pace_key=key, pace_dir=str(tmp_path), clock=times)

    client("KEY-ONE-123").request("GET", "/a")
    client("KEY-ONE-123").request("GET", "/b")
    assert sleeps == [pytest.approx(0.75)]
    (lock,) = tmp_path.iterdir()
    assert "KEY-ONE" not in lock.name and oct(lock.stat().st_mode & 0o777) == "0o600"
    other = SaasClient("Statuspage", "https://x", transport=rec.transport, sleep=sleeps.append, min_interval=1.0,
                       pace_key="KEY-TWO-456", pace_dir=str(tmp_path), clock=lambda: 10.3)
    other.request("GET", "/c")
    assert len(sleeps) == 1  # another key is not slowed down
