"""The unit tests' stand-ins, faked at the HTTP transport seam (httpx.MockTransport):

- `FakeKubeApi`: one in-memory Kubernetes API server. Objects are kept by REST path;
  a list answers the objects directly under its path, sorted by name as the API
  server does (label and field selectors, limit / continue pages). Writes honour
  dry run, resourceVersion and uid preconditions, and JSON / merge patches.
  Every request is recorded as `Request(method, path, params, body)`.
- `Recorder`: a MockTransport for the SaaS modules that answers from a list and records each call.
- `fake_context()`: the one stand-in for a module run, a real module_runner.Context with the
  module's option defaults, a fake cluster's connection options and a transport for every HTTP client.
"""
from __future__ import annotations

import copy
import json
import re
from collections import namedtuple

import importlib

import httpx

from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import Context

Request = namedtuple("Request", "method path params body")

# API prefix of each plural the tests use without a path (`api.add("secrets", obj)`).
PREFIXES = {"secrets": "/api/v1", "pods": "/api/v1", "events": "/api/v1", "services": "/api/v1",
            "configmaps": "/api/v1", "deployments": "/apis/apps/v1", "replicasets": "/apis/apps/v1",
            "networkpolicies": "/apis/networking.k8s.io/v1", "rolebindings": "/apis/rbac.authorization.k8s.io/v1"}
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
# A cluster without metrics-server does not serve this API: its lists are 404 until a test adds something to it.
OPTIONAL_APIS = ("/apis/metrics.k8s.io/",)


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


def _selected(obj, labels=None, fields=None):
    """Equality label selectors (a=b,c=d) and top-level field selectors (type=Warning)."""
    have = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (labels or "").split(",")):
        key, _sep, value = term.partition("=")
        if have.get(key) != value:
            return False
    for term in filter(None, (fields or "").split(",")):
        key, _sep, value = term.partition("=")
        if obj.get(key) != value:
            return False
    return True


def status(code, reason, message):
    return httpx.Response(code, json={"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                                      "message": message, "code": code})


class FakeKubeApi:
    """An in-memory API server; `handler` is the MockTransport handler."""

    def __init__(self):
        self.objects = {}    # REST path -> object (a subresource such as .../scale is an object of its own)
        self.answers = {}    # REST path -> (status, JSON body or text): a fixed answer for that path
        self.logs = {}       # (namespace, pod, container or None, previous) -> log text
        self.requests = []
        self.version = 100
        self.before_write = None   # callable(method, path): another writer acting first
        self.lose_response = None  # callable(method, path) -> True: apply the write, then answer 504

    # -- arranging -------------------------------------------------------------
    def path(self, where, name=None, namespace="ns"):
        """A REST path: `where` is one already, or a plural of PREFIXES in `namespace`."""
        if where.startswith("/"):
            return f"{where}/{name}" if name else where
        base = f"{PREFIXES[where]}/namespaces/{namespace}/{where}"
        return f"{base}/{name}" if name else base

    def add(self, where, obj):
        """Store obj at a path, or by plural in its namespace (default "ns"); a new resourceVersion each time."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not where.startswith("/"):
            meta.setdefault("namespace", "ns")
            where = self.path(where, meta["name"], meta["namespace"])
        self.version += 1
        meta["resourceVersion"] = str(self.version)
        self.objects[where] = obj
        return obj

    def add_namespace(self, name):
        """A namespace that exists from the start (resourceVersion 1: the tests' own objects count from 101)."""
        self.objects[f"/api/v1/namespaces/{name}"] = {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": name, "resourceVersion": "1"}}

    def add_all(self, collection, items):
        """Store named items under a collection path."""
        for item in items:
            self.add(f"{collection}/{item['metadata']['name']}", item)

    def get(self, where, name=None, namespace="ns"):
        return self.objects.get(self.path(where, name, namespace))

    def set_log(self, namespace, pod, text, container=None, previous=False):
        """A pod's log (container None: any container)."""
        self.logs[(namespace, pod, container, previous)] = text

    def remove_log(self, namespace, pod, container=None, previous=False):
        del self.logs[(namespace, pod, container, previous)]

    # -- inspecting ------------------------------------------------------------
    def writes(self, dry_run=True):
        """Requests that write; dry_run=False leaves out the server-side dry runs."""
        return [r for r in self.requests
                if r.method != "GET" and (dry_run or r.params.get("dryRun") != "All")]

    @property
    def page_size_seen(self):
        return [r.params.get("limit") for r in self.requests if r.method == "GET" and "limit" in r.params]

    # -- serving ---------------------------------------------------------------
    def handler(self, request):
        path, params = request.url.path, dict(request.url.params)
        body = json.loads(request.content) if request.content else None
        self.requests.append(Request(request.method, path, params, body))
        if path in self.answers:
            code, answer = self.answers[path]
            return httpx.Response(code, json=answer) if isinstance(answer, (dict, list)) else \
                httpx.Response(code, text=answer)
        if path.endswith("/log"):
            return self._log(path, params)
        if request.method == "GET" and params.get("watch") == "true":
            return self._watch(path, params)
        if request.method == "GET":
            return self._read(path, params)
        if self.before_write:
            self.before_write(request.method, path)
        # DELETE carries dry run in its DeleteOptions body too
        dry_run = params.get("dryRun") == "All" or (isinstance(body, dict) and "All" in (body.get("dryRun") or []))
        write = {"POST": self._create, "PUT": self._replace, "PATCH": self._patch, "DELETE": self._delete}
        if request.method not in write:
            return status(405, "MethodNotAllowed", request.method)
        response = write[request.method](path, body, request.headers.get("content-type", ""), dry_run)
        if response.status_code < 300 and self.lose_response and self.lose_response(request.method, path):
            return status(504, "Timeout", "the server timed out, the write may have been applied")
        return response

    def _log(self, path, params):
        parts = path.strip("/").split("/")
        namespace, pod = parts[3], parts[5]
        previous = params.get("previous") == "true"
        for container in (params.get("container"), None):
            if (namespace, pod, container, previous) in self.logs:
                return httpx.Response(200, text=self.logs[(namespace, pod, container, previous)])
        what = "previous terminated container" if previous else "container"
        return status(400, "BadRequest", f'{what} "{params.get("container") or ""}" in pod "{pod}" not found')

    def _read(self, path, params):
        if path in self.objects:
            return httpx.Response(200, json=self.objects[path])
        prefix = path + "/"
        children = sorted((p, o) for p, o in self.objects.items() if p.startswith(prefix) and "/" not in p[len(prefix):])
        if not self._is_collection(path) or (not children and path.startswith(OPTIONAL_APIS)):
            return status(404, "NotFound", f"the server could not find {path}")
        items = [o for _p, o in children if _selected(o, params.get("labelSelector"), params.get("fieldSelector"))]
        start = int(params.get("continue") or 0)
        limit = int(params.get("limit") or len(items) or 1)
        meta = {"continue": str(start + limit)} if start + limit < len(items) else {}
        return httpx.Response(200, json={"kind": "List", "items": items[start:start + limit], "metadata": meta})

    def _watch(self, path, params):
        """A watch answers the objects under the path (fieldSelector metadata.name) as MODIFIED events, then ends."""
        name = (params.get("fieldSelector") or "").partition("metadata.name=")[2]
        prefix = path + "/"
        items = [o for p, o in sorted(self.objects.items())
                 if p.startswith(prefix) and "/" not in p[len(prefix):] and (not name or p[len(prefix):] == name)]
        lines = "".join(json.dumps({"type": "MODIFIED", "object": o}) + "\n" for o in items)
        return httpx.Response(200, text=lines)

    @staticmethod
    def _is_collection(path):
        """/api/v1[/namespaces/<ns>]/<plural> or /apis/<group>/<version>[/namespaces/<ns>]/<plural>."""
        parts = path.strip("/").split("/")
        parts = parts[2:] if parts[0] == "api" else parts[3:]
        if len(parts) >= 2 and parts[0] == "namespaces":
            parts = parts[2:]
        return len(parts) == 1

    def _create(self, path, body, content_type, dry_run):  # pylint: disable=unused-argument
        target = f"{path}/{body['metadata']['name']}"
        if target in self.objects:
            return status(409, "AlreadyExists", f'"{body["metadata"]["name"]}" already exists')
        return httpx.Response(201, json=body if dry_run else self.add(target, body))

    def _replace(self, path, body, content_type, dry_run):  # pylint: disable=unused-argument
        current = self.objects.get(path)
        if current is None:
            return status(404, "NotFound", f"{path} not found")
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            return status(409, "Conflict", "the object has been modified; please apply your changes to the latest version")
        if "/secrets/" in path:
            bad = [k for k in body.get("data") or {} if not SECRET_KEY.match(k)]
            if bad:
                return status(422, "Invalid", f'Secret "{body["metadata"]["name"]}" is invalid: data[{bad[0]}]: Invalid value')
        return httpx.Response(200, json=body if dry_run else self.add(path, body))

    def _patch(self, path, body, content_type, dry_run):
        if path not in self.objects:
            return status(404, "NotFound", f"{path} not found")
        obj = copy.deepcopy(self.objects[path])
        try:
            obj = _json_patch(obj, body) if content_type == "application/json-patch+json" else _merge(obj, body)
        except ValueError:  # what the API server answers when a JSON patch "test" fails
            return status(422, "Invalid", "the server rejected our request due to an error in our request")
        return httpx.Response(200, json=obj if dry_run else self.add(path, obj))

    def _delete(self, path, body, content_type, dry_run):  # pylint: disable=unused-argument
        current = self.objects.get(path)
        if current is None:
            return status(404, "NotFound", f"{path} not found")
        meta = current.get("metadata") or {}
        for key, value in ((body or {}).get("preconditions") or {}).items():
            if meta.get(key) != value:
                return status(409, "Conflict", f"Precondition failed: {key} in precondition: {value}, in object meta: "
                                               f"{meta.get(key)}")
        if not dry_run:
            del self.objects[path]
        return httpx.Response(200, json={"kind": "Status", "status": "Success"})


class Recorder:
    """httpx.MockTransport whose handler answers from a list of (status, body, headers) per call."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request):
        body = json.loads(request.content) if request.content else None
        self.calls.append({"method": request.method, "url": str(request.url), "headers": dict(request.headers), "json": body})
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer):
            return answer(request)
        code, payload, headers = (tuple(answer) + (None, None))[:3]
        if isinstance(payload, (dict, list)):
            return httpx.Response(code, json=payload, headers=headers)
        return httpx.Response(code, text=payload or "", headers=headers)


# Connection options of the fake cluster behind the transport seam.
CONNECTION = {"host": "https://k8s.test", "kubeconfig": None, "context": None, "api_key": None, "validate_certs": False,
              "ca_cert": None, "client_cert": None, "client_key": None, "request_timeout": 5}


def fake_context(module=None, check_mode=False, diff=False, transport=None, no_log_values=None, **params):
    """A Context as module_runner builds it for a module run: the defaults of the module's ARGUMENT_SPEC
    (when `module` names one; a Kubernetes module also gets CONNECTION), then params; every HTTP client of
    the operation uses `transport`."""
    values = {}
    if module:
        spec = importlib.import_module(f"ansible_collections.mataresit.emergency.plugins.modules.{module}").ARGUMENT_SPEC
        values = {name: option.get("default") for name, option in spec.items()}
        if "kubeconfig" in spec:
            values.update(CONNECTION)
    values.update(params)
    return Context(values, check_mode=check_mode, diff=diff, no_log_values=no_log_values, transport=transport)
