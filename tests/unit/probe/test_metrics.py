"""metrics_probe logic: Prometheus text parsing, selection, thresholds, and the
three ways to fetch (URL, service proxy, every pod through the pod proxy),
faked at the transport seam."""
from __future__ import annotations

import json

import httpx
import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils import metrics
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ApiError, ConfigError, EmergencyError, NotFoundError, UnreachableError,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.services import metrics_probe
from tests.unit.fakes import FakeKubeApi, fake_context

EXPOSITION = """\
# HELP embedding_queue_depth Jobs waiting in the embedding queue.
# TYPE embedding_queue_depth gauge
embedding_queue_depth 42
# HELP embedding_jobs_processed_total Embedding jobs processed.
# TYPE embedding_jobs_processed_total counter
embedding_jobs_processed_total{status="success"} 4410
embedding_jobs_processed_total{status="failed"} 3
# HELP embedding_processing_duration_seconds Time to embed one job.
# TYPE embedding_processing_duration_seconds histogram
embedding_processing_duration_seconds_bucket{le="1"} 1200
embedding_processing_duration_seconds_bucket{le="5"} 4300
embedding_processing_duration_seconds_bucket{le="+Inf"} 4413
embedding_processing_duration_seconds_sum 9120.5
embedding_processing_duration_seconds_count 4413
# HELP api_quota_usage_percent Provider quota used.
# TYPE api_quota_usage_percent gauge
api_quota_usage_percent{provider="gemini",type="requests"} 41
api_quota_usage_percent{provider="gemini",type="tokens"} 97.5
# HELP process_start_time_seconds Start time.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.7e+09
# A comment that is neither HELP nor TYPE
up{job="paperless-maverick",instance="10.0.0.5:9090"} 1
nan_gauge NaN
"""

TOKEN = "unit-test-token-8f3a"


def options(**params):
    """A run of metrics_probe with these options (the rest as the module defaults them, no cluster)."""
    return fake_context(**{"url": None, "url_validate_certs": True, "service": None, "all_pods": False, "names": [],
                           "thresholds": {}, "timeout": 10, "fail_on_breach": False, "kubeconfig": None,
                           "context": None, "host": None, "api_key": None, "validate_certs": None, "ca_cert": None,
                           "client_cert": None, "client_key": None, "request_timeout": 30, **params})


def k8s_options(**params):
    return options(host="https://k8s.test", api_key=TOKEN, validate_certs=False, **params)


def probe_metrics(ctx, transport):
    """metrics_probe's operation with every HTTP request on transport."""
    ctx.transport = transport
    return metrics_probe.operation(ctx)


# -- parsing -----------------------------------------------------------------
def by_name(samples, name):
    return [s for s in samples if s["name"] == name]


def test_parses_every_sample_with_labels_types_and_families():
    samples = metrics.parse_samples(EXPOSITION)
    depth = by_name(samples, "embedding_queue_depth")
    assert depth == [{"name": "embedding_queue_depth", "labels": {}, "value": 42.0, "type": "gauge",
                      "family": "embedding_queue_depth"}]
    processed = by_name(samples, "embedding_jobs_processed_total")
    assert {s["labels"]["status"]: s["value"] for s in processed} == {"success": 4410.0, "failed": 3.0}
    assert {s["family"] for s in processed} == {"embedding_jobs_processed"}
    assert all(s["type"] == "counter" for s in processed)
    buckets = by_name(samples, "embedding_processing_duration_seconds_bucket")
    assert [s["labels"]["le"] for s in buckets] == ["1", "5", "+Inf"]
    assert by_name(samples, "process_start_time_seconds")[0]["value"] == 1.7e9
    assert by_name(samples, "up")[0]["labels"] == {"job": "paperless-maverick", "instance": "10.0.0.5:9090"}
    assert by_name(samples, "nan_gauge")[0]["value"] == "NaN"
    json.dumps(samples, allow_nan=False)  # module output stays strict JSON


def test_selects_by_sample_name_or_family_name():
    samples = metrics.parse_samples(EXPOSITION, ["embedding_queue_depth", "embedding_processing_duration_seconds",
                                                 "embedding_jobs_processed_total"])
    names = [s["name"] for s in samples]
    assert names.count("embedding_queue_depth") == 1
    assert names.count("embedding_processing_duration_seconds_bucket") == 3
    assert "embedding_processing_duration_seconds_sum" in names and "embedding_processing_duration_seconds_count" in names
    assert names.count("embedding_jobs_processed_total") == 2
    assert "api_quota_usage_percent" not in names and "up" not in names


def test_a_name_that_only_prefixes_another_does_not_match():
    samples = metrics.parse_samples(EXPOSITION, ["embedding_queue"])
    assert samples == [] and metrics.missing_names(samples, ["embedding_queue"]) == ["embedding_queue"]


def test_values_only_for_unambiguous_names():
    samples = metrics.parse_samples(EXPOSITION, ["embedding_queue_depth", "api_quota_usage_percent"])
    assert metrics.values_by_name(samples) == {"embedding_queue_depth": 42.0}


def test_invalid_exposition_is_a_clear_error():
    with pytest.raises(EmergencyError, match="Failed to parse metrics from http://x/metrics: not valid Prometheus"):
        metrics.parse_samples("<html>oops { </html>\n", source="http://x/metrics")


# -- thresholds --------------------------------------------------------------
def test_thresholds_give_one_breach_per_sample_out_of_bounds():
    samples = metrics.parse_samples(EXPOSITION)
    thresholds = metrics.validate_thresholds({
        "embedding_queue_depth": {"max": 100},
        "api_quota_usage_percent": {"max": 80},
        "embedding_jobs_processed": {"min": 10},  # by family name
        "nan_gauge": {"max": 1},
    })
    breaches = metrics.check_thresholds(samples, thresholds)
    assert breaches == [
        {"name": "api_quota_usage_percent", "labels": {"provider": "gemini", "type": "tokens"}, "value": 97.5,
         "bound": "max", "limit": 80.0},
        {"name": "embedding_jobs_processed_total", "labels": {"status": "failed"}, "value": 3.0,
         "bound": "min", "limit": 10.0},
    ]


def test_value_equal_to_the_limit_is_not_a_breach():
    samples = metrics.parse_samples("# TYPE embedding_queue_depth gauge\nembedding_queue_depth 100\n")
    assert metrics.check_thresholds(samples, {"embedding_queue_depth": {"max": 100.0}}) == []
    samples = metrics.parse_samples("# TYPE embedding_queue_depth gauge\nembedding_queue_depth 101\n")
    assert len(metrics.check_thresholds(samples, {"embedding_queue_depth": {"max": 100.0}})) == 1


@pytest.mark.parametrize("thresholds", [{"x": 100}, {"x": {"above": 1}}, {"x": {"max": "lots"}}, {"x": {}}])
def test_malformed_thresholds_are_config_errors(thresholds):
    with pytest.raises(ConfigError, match="Failed to read thresholds"):
        metrics.validate_thresholds(thresholds)


# -- fetching by URL ---------------------------------------------------------
def test_url_mode_returns_named_samples_values_and_breaches():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, text=EXPOSITION, headers={"Content-Type": "text/plain; version=0.0.4"})

    result = probe_metrics(options(url="http://app.test/metrics", names=["embedding_queue_depth"],
                                   thresholds={"embedding_queue_depth": {"max": 40}}),
                           transport=httpx.MockTransport(handler))
    assert result["changed"] is False and len(seen) == 1
    assert result["metrics"] == {"embedding_queue_depth": 42.0} and result["missing"] == []
    assert result["breaches"] == [{"name": "embedding_queue_depth", "labels": {}, "value": 42.0, "bound": "max",
                                   "limit": 40.0}]


def test_threshold_names_are_fetched_even_when_not_listed():
    result = probe_metrics(options(url="http://app.test/metrics", names=["up"],
                                   thresholds={"embedding_queue_depth": {"max": 10}}),
                           transport=httpx.MockTransport(lambda r: httpx.Response(200, text=EXPOSITION)))
    assert {s["name"] for s in result["samples"]} == {"up", "embedding_queue_depth"}
    assert len(result["breaches"]) == 1


def test_fail_on_breach_names_the_breach():
    transport = httpx.MockTransport(lambda r: httpx.Response(200, text=EXPOSITION))
    with pytest.raises(EmergencyError) as info:
        probe_metrics(options(url="http://app.test/metrics", fail_on_breach=True,
                              thresholds={"embedding_queue_depth": {"max": 40}}), transport=transport)
    assert str(info.value) == ("Failed to keep metrics within thresholds: 1 breach(es): "
                               "embedding_queue_depth = 42 (over 40)")
    assert info.value.details["breaches"][0]["value"] == 42.0


def test_url_errors_say_what_went_wrong():
    def refused(request):
        raise httpx.ConnectError("[Errno 111] Connection refused")

    with pytest.raises(UnreachableError, match=r"Failed to fetch metrics from http://app.test/metrics: refused"):
        probe_metrics(options(url="http://app.test/metrics"), transport=httpx.MockTransport(refused))
    with pytest.raises(ApiError, match="HTTP 404"):
        probe_metrics(options(url="http://app.test/metrics"),
                      transport=httpx.MockTransport(lambda r: httpx.Response(404, text="no")))


# -- through the API server --------------------------------------------------
SERVICE = {"namespace": "paperless-maverick", "name": "paperless-maverick-service", "port": 9090,
           "path": "/metrics", "scheme": "http"}


def test_service_mode_uses_the_service_proxy_with_credentials():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, text=EXPOSITION)

    module = k8s_options(service=SERVICE, names=["embedding_queue_depth"])
    result = probe_metrics(module, transport=httpx.MockTransport(handler))
    assert [r.url.path for r in seen] == [
        "/api/v1/namespaces/paperless-maverick/services/paperless-maverick-service:9090/proxy/metrics"]
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}" and TOKEN in module.no_log_values
    assert result["metrics"] == {"embedding_queue_depth": 42.0}
    assert TOKEN not in json.dumps(result)


def test_service_mode_missing_service_is_a_clear_error():
    def handler(request):
        return httpx.Response(404, json={"kind": "Status", "apiVersion": "v1", "reason": "NotFound", "code": 404,
                                         "message": 'services "paperless-maverick-service" not found'})

    with pytest.raises(NotFoundError, match=r"^Failed to fetch metrics from service paperless-maverick/"
                                            r"paperless-maverick-service:9090: services .* not found"):
        probe_metrics(k8s_options(service=SERVICE), transport=httpx.MockTransport(handler))


NS_PATH = "/api/v1/namespaces/paperless-maverick"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/paperless-maverick/endpointslices"
DEPTH = {"app-a": 12, "app-b": 150, "app-c": 7}


def fake_cluster(slices=True, pod_errors=()):
    """The API server reads all_pods needs: a Service, its EndpointSlices, and each pod's proxy."""
    api = FakeKubeApi()
    api.add(f"{NS_PATH}/services/paperless-maverick-service", {"spec": {
        "selector": {"app": "paperless-maverick"}, "ports": [
            {"name": "http", "port": 80, "targetPort": 3000}, {"name": "metrics", "port": 9090, "targetPort": "metrics"}]}})
    if slices:
        labels = {"kubernetes.io/service-name": "paperless-maverick-service"}
        api.add_all(SLICES, [{
            "metadata": {"name": "paperless-maverick-service-1", "labels": labels},
            "ports": [{"name": "http", "port": 3000}, {"name": "metrics", "port": 9090}],
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "targetRef": {"kind": "Pod", "name": "app-a"}},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": False}, "targetRef": {"kind": "Pod", "name": "app-b"}},
            ]}, {
            "metadata": {"name": "paperless-maverick-service-2", "labels": labels},
            "ports": [{"name": "http", "port": 3000}, {"name": "metrics", "port": 9090}],
            "endpoints": [
                {"addresses": ["10.0.0.3"], "conditions": {"ready": True}, "targetRef": {"kind": "Pod", "name": "app-c"}},
            ]}])
    api.add_all(f"{NS_PATH}/pods", [
        {"metadata": {"name": name, "labels": {"app": "paperless-maverick"}},
         "spec": {"containers": [{"ports": [{"name": "metrics", "containerPort": 9090}]}]},
         "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}} for name in sorted(DEPTH)])
    for pod, depth in DEPTH.items():
        api.answers[f"{NS_PATH}/pods/{pod}:9090/proxy/metrics"] = (
            (404, {"kind": "Status", "apiVersion": "v1", "reason": "NotFound", "message": f'pods "{pod}" not found',
                   "code": 404}) if pod in pod_errors else
            (200, EXPOSITION.replace("embedding_queue_depth 42", f"embedding_queue_depth {depth}")))
    return api


def assert_selectors(fake):
    """The Service's slices are listed by its name label, its pods by its selector."""
    for request in fake.requests:
        if request.path == SLICES:
            assert request.params["labelSelector"] == "kubernetes.io/service-name=paperless-maverick-service"
        if request.path == f"{NS_PATH}/pods":
            assert request.params["labelSelector"] == "app=paperless-maverick"


def test_all_pods_reads_every_endpoint_pod_through_the_pod_proxy():
    fake = fake_cluster()
    result = probe_metrics(k8s_options(service=SERVICE, all_pods=True, names=["embedding_queue_depth"],
                                       thresholds={"embedding_queue_depth": {"max": 100}}),
                           transport=httpx.MockTransport(fake.handler))
    pods = {p["pod"]: p for p in result["pods"]}
    assert set(pods) == {"app-a", "app-b", "app-c"}
    assert {name: p["metrics"]["embedding_queue_depth"] for name, p in pods.items()} == {"app-a": 12.0, "app-b": 150.0, "app-c": 7.0}
    assert pods["app-b"]["ready"] is False and pods["app-a"]["ready"] is True
    assert pods["app-a"]["proxy_path"] == "/api/v1/namespaces/paperless-maverick/pods/app-a:9090/proxy/metrics"
    assert result["breaches"] == [{"name": "embedding_queue_depth", "labels": {}, "value": 150.0, "bound": "max",
                                   "limit": 100.0, "pod": "app-b"}]
    assert sorted((s["pod"], s["value"]) for s in result["samples"]) == [("app-a", 12.0), ("app-b", 150.0), ("app-c", 7.0)]
    assert result["errors"] == []
    assert_selectors(fake)


def test_all_pods_falls_back_to_the_selector_and_named_target_port():
    fake = fake_cluster(slices=False)
    result = probe_metrics(k8s_options(service=dict(SERVICE, port="metrics"), all_pods=True,
                                       names=["embedding_queue_depth"]),
                           transport=httpx.MockTransport(fake.handler))
    assert [(p["pod"], p["port"]) for p in result["pods"]] == [("app-a", 9090), ("app-b", 9090), ("app-c", 9090)]
    assert_selectors(fake)


def test_all_pods_reports_a_pod_it_cannot_read_and_keeps_the_others():
    fake = fake_cluster(pod_errors={"app-c"})
    result = probe_metrics(k8s_options(service=SERVICE, all_pods=True, names=["embedding_queue_depth"]),
                           transport=httpx.MockTransport(fake.handler))
    pods = {p["pod"]: p for p in result["pods"]}
    assert pods["app-c"]["error"].startswith("Failed to fetch metrics from pod paperless-maverick/app-c:9090")
    assert pods["app-a"]["error"] is None and len(result["errors"]) == 1
    assert_selectors(fake)


def test_all_pods_fails_when_no_pod_can_be_read():
    fake = fake_cluster(pod_errors={"app-a", "app-b", "app-c"})
    with pytest.raises(EmergencyError, match="Failed to fetch metrics from any pod of service"):
        probe_metrics(k8s_options(service=SERVICE, all_pods=True), transport=httpx.MockTransport(fake.handler))
    assert_selectors(fake)


def test_all_pods_unknown_service_port_is_a_config_error():
    fake = fake_cluster()
    with pytest.raises(ConfigError, match=r"has no port 8443 \(ports: http, metrics\)"):
        probe_metrics(k8s_options(service=dict(SERVICE, port=8443), all_pods=True),
                      transport=httpx.MockTransport(fake.handler))
