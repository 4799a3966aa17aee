"""Helpers for the deployments unit tests: a small in-memory Kubernetes API behind httpx.MockTransport (the transport seam)."""
from __future__ import annotations

import copy
import json

import httpx


def _merge(target, patch):
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _pointer(doc, pointer):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    for part in parts[:-1]:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    last = parts[-1]
    return doc, int(last) if isinstance(doc, list) and last.isdigit() else last


def _json_patch(obj, ops):
    for op in ops:
        parent, key = _pointer(obj, op["path"])
        if op["op"] == "test":
            if parent[key] != op["value"]:
                raise ValueError("test failed")
        elif op["op"] in ("add", "replace"):
            parent[key] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del parent[key]
    return obj


def _matches(labels, selector):
    for term in filter(None, (selector or "").split(",")):
        key, value = term.split("=", 1) if "=" in term else (term, "")
        if labels.get(key) != value:
            return False
    return True


class FakeApi:
    """Objects keyed by REST path; records every request as (method, path, params, body)."""

    def __init__(self):
        self.objects = {}
        self.requests = []
        self.rv = 100
        self.before_patch = None  # callable(path): lets a test change an object "concurrently"

    def add(self, path, obj):
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {}).setdefault("resourceVersion", str(self.rv))
        self.objects[path] = obj
        return obj

    def writes(self):
        return [r for r in self.requests if r[0] != "GET"]

    def handler(self, request):
        path = request.url.path
        params = dict(request.url.params)
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, path, params, body))
        if request.method == "GET":
            if path in self.objects:
                return httpx.Response(200, json=self.objects[path])
            prefix = path + "/"
            items = [o for p, o in self.objects.items()
                     if p.startswith(prefix) and "/" not in p[len(prefix):]
                     and _matches(o["metadata"].get("labels") or {}, params.get("labelSelector"))]
            if items or path.endswith(("replicasets", "pods", "deployments")):
                return httpx.Response(200, json={"kind": "List", "metadata": {}, "items": items})
            return httpx.Response(404, json={"kind": "Status", "message": f"{path} not found", "reason": "NotFound"})
        if request.method == "PATCH":
            if path not in self.objects:
                return httpx.Response(404, json={"kind": "Status", "message": "not found", "reason": "NotFound"})
            if self.before_patch:
                self.before_patch(path)
            obj = copy.deepcopy(self.objects[path])
            ctype = request.headers["content-type"]
            try:
                obj = _json_patch(obj, body) if ctype == "application/json-patch+json" else _merge(obj, body)
            except ValueError:  # what the API server answers when a JSON patch "test" fails
                return httpx.Response(422, json={"kind": "Status", "reason": "Invalid", "message":
                                                 "the server rejected our request due to an error in our request"})
            if "dryRun" not in params:
                self.rv += 1
                obj["metadata"]["resourceVersion"] = str(self.rv)
                self.objects[path] = obj
            return httpx.Response(200, json=obj)
        if request.method == "DELETE":
            if "dryRun" not in params:
                self.objects.pop(path, None)
            return httpx.Response(200, json={"kind": "Status", "status": "Success"})
        return httpx.Response(405)


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
