"""The drill's snapshot: what counts as a difference between the cluster before and after, object by object."""
from __future__ import annotations

import copy

from ansible_collections.mataresit.emergency.plugins.module_utils import snapshot

BEFORE = {
    "captured_at": "2026-12-02T10:00:00+00:00",
    "namespaces": {"pm": {
        "workloads": {"Deployment/app": {"labels": {"app": "app"}, "annotations": {"team": "core"},
                                         "spec": {"replicas": 3, "template": {"spec": {"containers": [
                                             {"name": "app", "image": "app:1"}]}}}}},
        "history": {"ReplicaSet/app-1": "Deployment/app"},
        "config": {"Secret/db": "digest-1", "Service/app": "digest-2"},
        "pods": {"Deployment/app": {"ready": 3, "images": ["app:1"]}},
    }},
    "nodes": {"node-1": {"labels": {"type": "kwok"}, "taints": [], "unschedulable": False, "ready": True}},
}


def test_the_same_state_has_no_differences():
    assert snapshot.differences(BEFORE, copy.deepcopy(BEFORE)) == []


def test_each_kind_of_change_is_named_with_its_object():
    after = copy.deepcopy(BEFORE)
    part = after["namespaces"]["pm"]
    part["workloads"]["Deployment/app"]["spec"]["template"]["spec"]["containers"][0]["image"] = "app:bad"
    part["workloads"]["Deployment/app"]["annotations"]["kubernetes.io/change-cause"] = "[DRILL] deploy app:bad"
    part["history"]["ReplicaSet/app-2"] = "Deployment/app"
    part["config"]["Secret/db"] = "digest-changed"
    part["pods"]["Deployment/app"] = {"ready": 2, "images": ["app:1"]}
    after["nodes"]["node-1"]["labels"]["mataresit.test/fault"] = "notready"
    after["nodes"]["node-1"]["ready"] = False
    assert snapshot.differences(BEFORE, after) == [
        "pm/Deployment/app: annotations.kubernetes.io/change-cause: None -> '[DRILL] deploy app:bad'",
        "pm/Deployment/app: spec.template.spec.containers[0].image: 'app:1' -> 'app:bad'",
        "pm/ReplicaSet/app-2: created (revision history)",
        "pm/Secret/db: changed",
        "pm/Deployment/app: Ready pods 3 ['app:1'] -> 2 ['app:1']",
        "Node/node-1: labels.mataresit.test/fault: None -> 'notready'",
        "Node/node-1: ready: True -> False",
    ]


def test_deleted_objects_and_nodes_are_differences():
    after = copy.deepcopy(BEFORE)
    del after["namespaces"]["pm"]["workloads"]["Deployment/app"]
    del after["namespaces"]["pm"]["config"]["Service/app"]
    del after["nodes"]["node-1"]
    assert snapshot.differences(BEFORE, after) == [
        "pm/Deployment/app: deleted", "pm/Service/app: deleted", "Node/node-1: deleted"]
