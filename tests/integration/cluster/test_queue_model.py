"""The health server's embedding queue moves with the workload: every Ready worker pod processes jobs, so more
workers drain the queue faster, and the job counters grow with the jobs processed."""
from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

WORKERS = "embedding-queue-workers"


def samples(health, namespace):
    """{(name, status label): value} of one /metrics answer."""
    text = httpx.get(f"{health}/metrics", params={"namespace": namespace}).text
    return {(s.name, s.labels.get("status")): s.value for f in text_string_to_metric_families(text) for s in f.samples}


def sample(health, namespace, name, labels=None):
    return samples(health, namespace)[(name, (labels or {}).get("status"))]


def drain_rate(health, namespace, seconds=3.0):
    before, started = sample(health, namespace, "embedding_queue_depth"), time.monotonic()
    time.sleep(seconds)
    return (before - sample(health, namespace, "embedding_queue_depth")) / (time.monotonic() - started)


def ready_workers(k8s, namespace):
    pods = k8s.core.list_namespaced_pod(namespace, label_selector="app=embedding-queue-worker").items
    return sum(1 for p in pods if p.metadata.deletion_timestamp is None
               and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []))


def test_more_workers_drain_the_queue_faster_and_the_counters_follow(cluster, k8s, namespace, workload):
    if not cluster.get("local"):
        pytest.skip("the queue is the local cluster's health server")
    health = cluster["health_url"]
    workload(namespace)
    processed_before = sample(health, namespace, "embedding_jobs_processed_total", {"status": "success"})
    model = {"namespace": namespace, "depth": 5000, "arrival_rate": 0, "worker_rate": 20}
    httpx.post(f"{health}/control/queue", json=model).raise_for_status()
    with_three = drain_rate(health, namespace)

    k8s.apps.patch_namespaced_deployment_scale(WORKERS, namespace, {"spec": {"replicas": 9}})
    deadline = time.monotonic() + 60
    while ready_workers(k8s, namespace) < 9 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert ready_workers(k8s, namespace) == 9
    time.sleep(1.0)  # give the health server a moment to see the new Ready pods
    with_nine = drain_rate(health, namespace)

    assert with_three > 30 and with_nine > 2 * with_three, (with_three, with_nine)  # 3 x 20/s, then 9 x 20/s
    now = samples(health, namespace)  # one answer: the depth and the counters of the same moment
    processed = now[("embedding_jobs_processed_total", "success")] - processed_before
    assert processed == pytest.approx(5000 - now[("embedding_queue_depth", None)], rel=0.001)
    assert now[("embedding_processing_duration_seconds_count", None)] > processed
