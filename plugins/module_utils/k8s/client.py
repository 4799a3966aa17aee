"""One HTTP client for the Kubernetes API: typed paths, pagination,
server-side dry run, concurrency for independent reads, and errors that say
whether the server was unreachable or refused."""
from __future__ import annotations

import dataclasses
import json
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.mataresit.emergency.plugins.module_utils import http
from ansible_collections.mataresit.emergency.plugins.module_utils.deps import optional_import
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ApiError, ConflictError, NotFoundError, UnreachableError,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.connection import connection_from_params

httpx = optional_import("httpx")

FIELD_MANAGER = "mataresit-emergency"
PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}
# Reads are repeated after a 5xx or a read error; writes only when they never reached the server (or a 429),
# or when the caller marks them safe to repeat (retry_safe: guarded by resourceVersion, or idempotent by design).
# An API server that is down or restarting is waited out for up to api_outage_wait seconds (RetryPolicy.outage_wait).
RETRY = http.RetryPolicy(retries=2, backoff_base=0.4, backoff_cap=4.0, max_wait=10.0, safe_methods=frozenset({"GET"}))
DEFAULT_OUTAGE_WAIT = 60.0


def replan_on_conflict(attempt, attempts=3, sleep=time.sleep):
    """attempt(): read, plan and make a guarded write. When the write lost the race with another write (most often a
    controller's status update) and nothing of it was written, read and plan again, up to `attempts` times.
    Only for a plan that sets values, so that planning it again from a fresh read is what the caller wants."""
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except ConflictError as exc:
            if number == attempts or not exc.nothing_written:
                raise
            sleep(0.2 * number)
    return None  # not reached


def _status_message(response):
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("message"):
            return body["message"], body.get("reason")
    except ValueError:
        pass
    return (response.text or response.reason_phrase).strip()[:300], None


_MISSING = object()


def _pointer(obj, pointer):
    """The value at a JSON pointer, or _MISSING."""
    for part in pointer.lstrip("/").split("/") if pointer else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return _MISSING
    return obj


def applied(obj, ops):
    """Whether obj already holds what JSON patch ops set (add / replace / test values, remove absent)."""
    for op in ops:
        value = _pointer(obj, op.get("path", ""))
        if op.get("op") == "remove":
            if value is not _MISSING:
                return False
        elif op.get("op") in ("add", "replace", "test"):
            if value is _MISSING or value != op.get("value"):
                return False
        else:
            return False
    return bool(ops)


class K8sClient(http.Session):
    """Thin synchronous client; safe to share between threads."""

    def __init__(self, connection, transport=None, max_workers=8, policy=RETRY, sleep=time.sleep,
                 clock=time.monotonic):
        self.connection = connection
        self.max_workers = max_workers
        self.policy = policy
        self.sleep = sleep
        self.clock = clock
        self.requests = 0
        self._http = http.client(base_url=connection.server, verify=connection.verify, timeout=connection.timeout,
                                 headers={"Accept": "application/json", **connection.headers},
                                 pool=max_workers * 2, transport=transport)

    @classmethod
    def from_params(cls, params, no_log_values=None, transport=None):
        """Client from module params; the credentials it derives are added to no_log_values."""
        conn = connection_from_params(params)
        if no_log_values is not None:
            no_log_values.update(conn.secrets)
        outage = params.get("api_outage_wait")
        policy = dataclasses.replace(RETRY, outage_wait=max(0.0, float(DEFAULT_OUTAGE_WAIT if outage is None else outage)))
        return cls(conn, transport=transport, policy=policy)

    # -- requests -----------------------------------------------------------
    def request(self, method, path, params=None, body=None, content_type=None, raw=False, timeout=None,
                retry_safe=False):
        """One API request with the retry policy; retry_safe marks a write that is harmless to repeat."""
        headers = {}
        content = None
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
            content = body if isinstance(body, (bytes, str)) else json.dumps(body)
        attempt = 0
        started = self.clock()
        while True:
            attempt += 1
            self.requests += 1
            response = error = None
            try:
                response = self._http.request(method, path, params=params, content=content, headers=headers,
                                              timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
            except httpx.TransportError as exc:
                error = exc
            if response is not None and response.status_code < 400:
                break
            delay = http.retry_delay(attempt, self.policy, method, retry_safe, response=response, error=error,
                                     elapsed=self.clock() - started)
            if delay is None:
                break
            self.sleep(delay)
        if error is not None:
            waited = self.clock() - started
            raise UnreachableError(
                f"the Kubernetes API server at {self.connection.server} is unreachable "
                f"({type(error).__name__}: {error or 'no detail'})"
                + (f" and stayed so for {waited:.0f}s (api_outage_wait)" if waited >= 5 else "")
                + "; check that the cluster is up and the kubeconfig/context points at it"
            ) from error
        if response.status_code >= 400:
            self._raise(response, method, path, attempt)
        if raw:
            return response.text
        if not response.content:
            return {}
        return response.json()

    def send(self, method, path, params=None, timeout=None):
        """One request as is: no retries, no error mapping, the httpx.Response back.

        For callers that judge status and body themselves (health probes through the
        service proxy); transport errors propagate as httpx exceptions.
        """
        self.requests += 1
        return self._http.request(method, path, params=params,
                                  timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)

    def _raise(self, response, method, path, attempts=1):
        message, reason = _status_message(response)
        status = response.status_code
        if status == 401:
            msg = ("the API server rejected the credentials (401 Unauthorized): check the token or client "
                   f"certificate of context '{self.connection.context_name}'")
        elif status == 403:
            msg = f"permission denied (403 Forbidden): {message}"
        else:
            msg = f"{message} ({status} {reason or response.reason_phrase})"
        cls = NotFoundError if status == 404 else ConflictError if status == 409 else ApiError
        raise cls(msg, status=status, reason=reason or response.reason_phrase, method=method, path=path,
                  attempts=attempts)

    def get(self, path, params=None):
        return self.request("GET", path, params=params)

    def get_or_none(self, path, params=None):
        try:
            return self.get(path, params=params)
        except NotFoundError:
            return None

    def read(self, kind, namespace, name, subresource=None):
        """GET a namespaced object (or its subresource); a 404 says whether the namespace or the object is missing."""
        try:
            return self.get(resources.path(kind, namespace, name, subresource))
        except NotFoundError as exc:
            if self.get_or_none(resources.path("Namespace", None, namespace)) is None:
                raise NotFoundError(f"namespace '{namespace}' does not exist; check 'namespace'",
                                    status=404, reason="NotFound") from exc
            raise NotFoundError(f"{kind.lower()} '{name}' does not exist in namespace '{namespace}'; check 'name'",
                                status=404, reason="NotFound") from exc

    def iter_list(self, path, label_selector=None, field_selector=None, page_size=500):
        """Yield the items of a list, page by page (limit / continue)."""
        params = {"limit": page_size}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        while True:
            page = self.get(path, params=params)
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            params = dict(params, **{"continue": token})

    def list(self, path, **kwargs):
        return list(self.iter_list(path, **kwargs))

    def watch(self, path, params=None, timeout=60, idle=None):
        """Watch a list path: yield (type, object) events until the server ends the stream after
        `timeout` seconds. httpx.ReadTimeout after `idle` seconds without an event; transport errors
        propagate as httpx exceptions; an answer >= 400 raises the collection's ApiError."""
        query = dict(params or {}, watch="true", allowWatchBookmarks="true", timeoutSeconds=int(max(1, timeout)))
        query = {k: v for k, v in query.items() if v is not None}
        self.requests += 1
        limits = httpx.Timeout(self.connection.timeout, connect=min(self.connection.timeout, 10.0), read=idle)
        with self._http.stream("GET", path, params=query, timeout=limits) as response:
            if response.status_code >= 400:
                response.read()
                self._raise(response, "GET", path)
            for line in response.iter_lines():
                if line.strip():
                    event = json.loads(line)
                    yield event.get("type"), event.get("object") or {}

    def create(self, path, body, dry_run=False):
        return self.request("POST", path, params=self._write_params(dry_run), body=body)

    def replace(self, path, body, dry_run=False):
        return self.request("PUT", path, params=self._write_params(dry_run), body=body)

    def patch(self, path, body, patch_type="merge", dry_run=False, force=False, retry_safe=False):
        """PATCH; retry_safe when repeating this body is harmless (it sets values, it does not add to them)."""
        params = self._write_params(dry_run)
        if patch_type == "apply":
            params["force"] = "true" if force else "false"
        return self.request("PATCH", path, params=params, body=body, content_type=PATCH_TYPES[patch_type],
                            retry_safe=retry_safe)

    def patch_guarded(self, kind, namespace, name, ops, dry_run=False):
        """Send a JSON patch whose first op tests metadata.resourceVersion.

        The guard makes a repeat harmless, so the patch is retried through an API server outage. The API
        server answers a failed test with a bare 422: when the object already holds what the patch sets
        (a repeat of our own patch whose first answer was lost), that is success; when it changed
        otherwise meanwhile, say so (ConflictError).
        """
        path = resources.path(kind, namespace, name)
        try:
            return self.patch(path, ops, patch_type="json", dry_run=dry_run, retry_safe=True)
        except ApiError as exc:
            if exc.status != 422 or not ops or ops[0].get("path") != "/metadata/resourceVersion":
                raise
            current = self.get_or_none(path)
            if current is not None and not dry_run and applied(current, ops[1:]):
                return current
            if current is None or (current.get("metadata") or {}).get("resourceVersion") != ops[0].get("value"):
                raise ConflictError(f"{kind.lower()} {namespace}/{name} changed while this task was changing it; "
                                    "run the task again", status=409, reason="Conflict",
                                    attempts=exc.details.get("attempts")) from exc
            raise

    def delete(self, path, dry_run=False, propagation="Background", preconditions=None, grace_period=None,
               retry_safe=False):
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if preconditions:
            body["preconditions"] = preconditions
        if grace_period is not None:
            body["gracePeriodSeconds"] = grace_period
        if dry_run:
            # With a DeleteOptions body the API server ignores the query string, so dry run goes in the body too.
            body["dryRun"] = ["All"]
        return self.request("DELETE", path, params=self._write_params(dry_run, manager=False), body=body,
                            retry_safe=retry_safe)

    def logs(self, namespace, pod, container=None, tail_lines=None, since_seconds=None, previous=False,
             limit_bytes=None, timestamps=False):
        params = {k: v for k, v in {
            "container": container, "tailLines": tail_lines, "sinceSeconds": since_seconds,
            "previous": "true" if previous else None, "limitBytes": limit_bytes,
            "timestamps": "true" if timestamps else None,
        }.items() if v is not None}
        return self.request("GET", resources.path("Pod", namespace, pod, "log"), params=params, raw=True)

    @staticmethod
    def _write_params(dry_run, manager=True):
        params = {"fieldManager": FIELD_MANAGER} if manager else {}
        if dry_run:
            params["dryRun"] = "All"
        return params

    # -- concurrency --------------------------------------------------------
    def parallel(self, calls):
        """Run independent calls (zero-argument callables) concurrently; return results in order.

        The first exception raised by any call is re-raised.
        """
        calls = list(calls)
        if len(calls) <= 1:
            return [call() for call in calls]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(calls))) as pool:
            futures = [pool.submit(call) for call in calls]
            return [f.result() for f in futures]
