"""scale: exact and relative replica counts with bounds; /scale subresource; workspace record and restore."""
from __future__ import annotations

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, WaitTimeout
from ansible_collections.mataresit.emergency.plugins.module_utils.services import scale
from tests.unit.deployments.builders import deployment


@pytest.mark.parametrize("replicas, current, bounds, expected", [
    (6, 3, (None, None), (6, False)),
    ("6", 3, (None, None), (6, False)),
    ("+3", 3, (None, None), (6, False)),
    (" +2 ", 4, (None, None), (6, False)),
    ("-1", 3, (None, None), (2, False)),
    ("+5", 8, (None, 10), (10, True)),
    ("-3", 3, (1, None), (1, True)),
    (0, 3, (1, 5), (1, True)),
    (12, 3, (1, 10), (10, True)),
    ("-1", 0, (0, None), (0, True)),
    (4, 4, (2, 8), (4, False)),
])
def test_target_replicas(replicas, current, bounds, expected):
    assert scale.target_replicas(replicas, current, *bounds) == expected


@pytest.mark.parametrize("replicas, current, bounds, match", [
    ("-5", 3, (None, None), "would give -2"),
    ("lots", 3, (None, None), "count like 6"),
    ("+", 3, (None, None), "count like 6"),
    ("2.5", 3, (None, None), "count like 6"),
    (True, 3, (None, None), "count like 6"),
    (-1, 3, (None, None), "negative count; .*give a string with its sign"),  # issue 7: never a silent step down
    (2.0, 3, (None, None), "count like 6"),
    (3, 3, (5, 2), "greater than max_replicas"),
    (3, 3, (-1, None), "must not be negative"),
])
def test_target_replicas_rejects(replicas, current, bounds, match):
    with pytest.raises(ConfigError, match=match):
        scale.target_replicas(replicas, current, *bounds)


def test_scale_subresource_dry_run(api, client):
    path = "/apis/apps/v1/namespaces/ns/deployments/app/scale"
    api.add(path, {"kind": "Scale", "metadata": {"name": "app"}, "spec": {"replicas": 3}})
    assert scale.read_scale(client, "Deployment", "ns", "app")["spec"]["replicas"] == 3
    answer = scale.set_replicas(client, "Deployment", "ns", "app", 6, dry_run=True)
    assert answer["spec"]["replicas"] == 6 and api.objects[path]["spec"]["replicas"] == 3
    method, req_path, params, body = api.writes()[0]
    assert (method, req_path, params.get("dryRun"), body) == ("PATCH", path, "All", {"spec": {"replicas": 6}})


def test_record_keeps_the_original_count(tmp_path):
    incident = str(tmp_path)
    scale.record(incident, "Deployment", "ns", "app", 4, 6)
    scale.record(incident, "Deployment", "ns", "app", 6, 8)
    scale.record(incident, "Deployment", "ns", "other", 2, 3)
    assert scale.recorded_replicas(incident, "Deployment", "ns", "app") == 4
    assert scale.recorded_replicas(incident, "Deployment", "ns", "other") == 2
    assert scale.recorded_replicas(incident, "Deployment", "ns", "missing") is None
    scale.record(incident, "Deployment", "a-ns", "solo", 7, 1)  # a namespace ending like another must not match
    assert scale.recorded_replicas(incident, "Deployment", "ns", "solo") is None
    assert scale.recorded_replicas(incident, "Deployment", "a-ns", "solo") == 7


def test_replicas_state():
    obj = {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "replicas": 6, "readyReplicas": 5}}
    assert not scale.replicas_state(obj, 6)["done"]
    obj["status"]["readyReplicas"] = 6
    assert scale.replicas_state(obj, 6)["done"]
    obj["metadata"]["generation"] = 3
    assert not scale.replicas_state(obj, 6)["done"]


def test_wait_for_replicas_timeout_names_the_pod_problem(api, client):
    dep = deployment(status={"readyReplicas": 2})
    api.add("/apis/apps/v1/namespaces/ns/deployments/app", dep)
    api.add("/api/v1/namespaces/ns/pods/app-x", {
        "metadata": {"name": "app-x", "labels": {"app": "app"}},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]}})
    with pytest.raises(WaitTimeout, match=r"2 ready of 3 replicas, not 3.*pods: 1 pod\(s\) Pending"):
        scale.wait_for_replicas(client, "Deployment", "ns", "app", 3, timeout=0, sleep=0.01)


@pytest.mark.parametrize("options, match", [
    ({"state": "drain_cycle", "drain_seconds": -5}, "drain_seconds must not be negative .it is -5."),
    ({"state": "drain_cycle", "drain_replicas": -1}, "drain_replicas must not be negative"),
    ({"state": "restore", "previous_replicas": -2}, "previous_replicas must not be negative"),
    ({"state": "present", "replicas": -1}, "replicas -1 is a negative count"),
    ({"state": "present", "replicas": "lots"}, "count like 6"),
])
def test_bad_options_fail_before_anything_is_read_or_scaled(api, context, options, match):
    """Issue 7: drain_seconds=-5 used to fail only after the workload was scaled down."""
    api.add("deployments", deployment("app", replicas=4))
    params = dict(kind="Deployment", namespace="ns", name="app", state="present", replicas=None, min_replicas=None,
                  max_replicas=None, previous_replicas=None, drain_replicas=2, drain_seconds=60, incident_dir=None,
                  wait=True, wait_timeout=5, wait_sleep=0.01)
    params.update(options)
    with pytest.raises(ConfigError, match=match):
        scale.operation(context("scale", **params))
    assert api.requests == []
