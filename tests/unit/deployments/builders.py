"""Objects for the deployments unit tests (served by tests/unit/fakes.py FakeKubeApi)."""
from __future__ import annotations


def deployment(name="app", namespace="ns", uid="dep-uid", image="app:v1", replicas=3, generation=1, status=None):
    return {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "generation": generation,
                     "labels": {"app": name}, "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": image}]}}},
        "status": dict({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                        "readyReplicas": replicas, "availableReplicas": replicas}, **(status or {})),
    }


def replicaset(name, revision, image, owner_uid="dep-uid", app="app", namespace="ns", replicas=0, cause=None):
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    owners = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app, "uid": owner_uid, "controller": True}] \
        if owner_uid else []
    return {
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app, "pod-template-hash": name[-5:]},
                     "annotations": annotations, "ownerReferences": owners,
                     "creationTimestamp": f"2026-11-27T1{revision}:00:00Z"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app, "pod-template-hash": name[-5:]}},
                              "spec": {"containers": [{"name": app, "image": image}]}}},
        "status": {"replicas": replicas, "readyReplicas": replicas},
    }
