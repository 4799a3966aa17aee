"""A small in-memory Kubernetes API (secrets, deployments, network policies, pods, logs) for httpx.MockTransport."""
from __future__ import annotations

import base64
import copy
import json
import re

import httpx


KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
PLURALS = {"secrets": "Secret", "deployments": "Deployment", "networkpolicies": "NetworkPolicy", "pods": "Pod",
           "events": "Event", "services": "Service", "replicasets": "ReplicaSet", "rolebindings": "RoleBinding",
           "configmaps": "ConfigMap"}


def b64(text):
    return base64.b64encode(text.encode()).decode()


def secret(name, data, stype="Opaque", labels=None, annotations=None):
    return {"apiVersion": "v1", "kind": "Secret", "type": stype,
            "metadata": {"name": name, "namespace": "ns", "labels": labels or {}, "annotations": annotations or {}},
            "data": {k: b64(v) for k, v in data.items()}}


def deployment(name, pod_spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1},
            "spec": {"replicas": 1, "template": {"metadata": {}, "spec": pod_spec}},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
                       "availableReplicas": 1}}


class FakeApi:
    def __init__(self):
        self.objects = {}  # (plural, name) -> object
        self.version = 100
        self.requests = []
        self.logs = {}  # (pod, container, previous) -> text
        self.page_size_seen = []
        self.before_write = None  # callable(method, plural, name): simulate another writer
        self.lose_response = None  # callable(method, plural, name) -> True: apply the write, answer 504

    def add(self, plural, obj):
        self.version += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.version)
        obj["metadata"].setdefault("namespace", "ns")
        self.objects[(plural, obj["metadata"]["name"])] = obj
        return obj

    def get(self, plural, name):
        return self.objects.get((plural, name))

    def _status(self, code, reason, message):
        return httpx.Response(code, json={"kind": "Status", "status": "Failure", "reason": reason,
                                          "message": message, "code": code})

    def handler(self, request):
        self.requests.append((request.method, request.url.path, dict(request.url.params)))
        parts = request.url.path.strip("/").split("/")
        dry = request.url.params.get("dryRun") == "All"
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4:
            return httpx.Response(200, json={"metadata": {"name": parts[3]}}) if parts[3] == "ns" else \
                self._status(404, "NotFound", f'namespaces "{parts[3]}" not found')
        rest = parts[parts.index("namespaces") + 2:]
        plural, name = rest[0], rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub == "log":
            key = (name, request.url.params.get("container"), request.url.params.get("previous") == "true")
            if key not in self.logs:
                return self._status(400, "BadRequest", "no logs")
            return httpx.Response(200, text=self.logs[key])
        if request.method == "GET" and name is None:
            self.page_size_seen.append(request.url.params.get("limit"))
            items = [o for (p, obj_name), o in sorted(self.objects.items()) if p == plural]
            return httpx.Response(200, json={"items": items, "metadata": {}})
        if self.before_write and request.method != "GET":
            self.before_write(request.method, plural, name)
        current = self.get(plural, name) if name else None
        if request.method == "GET":
            return httpx.Response(200, json=current) if current else self._status(404, "NotFound", f"{name} not found")
        body = json.loads(request.content) if request.content else {}
        if request.method == "POST":
            name = body["metadata"]["name"]
            if self.get(plural, name):
                return self._status(409, "AlreadyExists", f'{plural} "{name}" already exists')
            return httpx.Response(201, json=body if dry else self.add(plural, body))
        if current is None:
            return self._status(404, "NotFound", f'{plural} "{name}" not found')
        if request.method == "PUT":
            if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                return self._status(409, "Conflict", "the object has been modified")
            bad = [k for k in body.get("data") or {} if not KEY_RE.match(k)]
            if bad:
                return self._status(422, "Invalid", f'Secret "{name}" is invalid: data[{bad[0]}]: Invalid value')
            stored = body if dry else self.add(plural, body)
            if self.lose_response and self.lose_response(request.method, plural, name):
                return self._status(504, "Timeout", "the server timed out, the write may have been applied")
            return httpx.Response(200, json=stored)
        if request.method == "PATCH":
            patched = copy.deepcopy(current)
            ann = body["spec"]["template"]["metadata"]["annotations"]
            patched["spec"]["template"]["metadata"].setdefault("annotations", {}).update(ann)
            return httpx.Response(200, json=patched if dry else self.add(plural, patched))
        if request.method == "DELETE":
            if not dry:
                del self.objects[(plural, name)]
            return httpx.Response(200, json={"kind": "Status", "status": "Success"})
        return self._status(405, "MethodNotAllowed", request.method)

    def writes(self):
        return [r for r in self.requests if r[0] != "GET" and r[2].get("dryRun") != "All"]
