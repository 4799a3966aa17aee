"""The SaaS client every notification module uses (PagerDuty, Statuspage,
Slack): one keep-alive client per module run (built by http.client), the one
retry policy of http.py, provider error messages, pacing, and redaction of
the requests it describes."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from urllib.parse import urlsplit

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: pacing stays per run
    fcntl = None

from ansible_collections.mataresit.emergency.plugins.module_utils import http
from ansible_collections.mataresit.emergency.plugins.module_utils.deps import optional_import
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ApiError, UnreachableError
from ansible_collections.mataresit.emergency.plugins.module_utils.redact import MIN_SECRET_LEN
from ansible_collections.mataresit.emergency.plugins.module_utils.redact import mask_known as redact

httpx = optional_import("httpx")


def provider_message(response):
    """The provider's own explanation from an error response (JSON or plain text), one line."""
    text = (response.text or "").strip()
    try:
        body = response.json()
    except ValueError:
        body = None
    parts = []
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            parts.append(str(err.get("message") or ""))
            parts.extend(str(e) for e in err.get("errors") or [])
        elif isinstance(err, str):
            parts.append(err)
        if body.get("message"):
            parts.append(str(body["message"]))
        parts.extend(str(e) for e in body.get("errors") or [] if isinstance(body.get("errors"), list))
        if not parts and body.get("status"):
            parts.append(str(body["status"]))
    elif text and not text.startswith("<"):
        parts.append(text)
    message = "; ".join(dict.fromkeys(p for p in parts if p))
    return " ".join(message.split())[:400]


def secret_url_parts(url):
    """The secret parts of a URL such as a Slack webhook: everything after the host (path and query), so that
    masking them leaves only `scheme://host/********`."""
    parts = urlsplit(url or "")
    rest = url[len(f"{parts.scheme}://{parts.netloc}"):] if parts.netloc else url
    found = [p for p in (rest.lstrip("/"), parts.path.strip("/"), parts.query) if p and len(p) >= 8]
    return found or [url]


class SaasClient(http.Session):
    """One HTTP/1.1 keep-alive client per module run for one provider.

    service: provider name in messages ("PagerDuty"); credential_hint: what to
    check on a 401 ("pagerduty api_token"); url_hint: the option holding the URL.
    secrets are redacted from describe() output and added to no_log_values.
    min_interval paces requests; with pace_key (the API key) the pacing is shared by
    every module run on this host using that key (parallel forks), through a 0600 lock
    file named after a hash of the key in pace_dir (the temp directory by default).
    """

    def __init__(self, service, base_url, headers=None, secrets=(), credential_hint="the API credentials",
                 url_hint="the URL", timeout=30.0, policy=None, min_interval=0.0, pace_key=None, pace_dir=None,
                 transport=None, no_log_values=None, sleep=time.sleep, clock=time.monotonic):
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.credential_hint = credential_hint
        self.url_hint = url_hint
        self.policy = policy or http.RetryPolicy()
        self.min_interval = float(min_interval or 0)
        self.secrets = [s for s in secrets if s]
        self.sleep = sleep
        self.clock = clock
        self.attempts = 0
        self.retried = 0
        self.waited = 0.0
        self._last_sent = None
        self._pace_file = None
        if pace_key and self.min_interval and fcntl is not None:
            digest = hashlib.sha256(f"{service}:{pace_key}".encode()).hexdigest()[:16]
            self._pace_file = os.path.join(pace_dir or tempfile.gettempdir(), f"mataresit-pace-{digest}")
        if no_log_values is not None:
            no_log_values.update(s for s in self.secrets if len(s) >= MIN_SECRET_LEN)
        self.headers = {"User-Agent": http.USER_AGENT, **(headers or {})}
        self._http = http.client(headers=self.headers, timeout=timeout, pool=4, transport=transport)

    def url(self, path):
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def describe(self, method, path, json_body=None, params=None, headers=None):
        """The exact request as it would be sent, secrets replaced by ********."""
        url = str(httpx.URL(self.url(path), params=params)) if params else self.url(path)
        merged = {**self.headers, **(headers or {})}
        if json_body is not None:
            merged.setdefault("Content-Type", "application/json")
        out = {"method": method.upper(), "url": url, "headers": merged}
        if json_body is not None:
            out["json"] = json_body
        return redact(out, self.secrets)

    def _pace(self):
        if self._pace_file:
            try:
                return self._pace_shared()
            except OSError:
                pass  # an unusable temp directory only costs the cross-process pacing
        if self.min_interval and self._last_sent is not None:
            self._wait(self.min_interval - (self.clock() - self._last_sent))
        self._last_sent = self.clock()

    def _pace_shared(self):
        """Hold the key's lock file while waiting, so concurrent runs queue one interval apart."""
        fd = os.open(self._pace_file, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                last = float(handle.read().strip())
            except ValueError:
                last = None  # first use of this key (or an unreadable file)
            if last is not None:
                self._wait(min(self.min_interval, self.min_interval - (self.clock() - last)))
            handle.seek(0)
            handle.truncate()
            handle.write(repr(self.clock()))
            handle.flush()

    def _wait(self, seconds):
        if seconds > 0:
            self.sleep(seconds)
            self.waited += seconds

    def request(self, method, path, json_body=None, params=None, headers=None, action="call the API",
                retry_safe=False, hints=None):
        """Send a request with the retry policy; return the httpx.Response (2xx/3xx) or raise.

        hints: {status: "what to do"} appended to the message of that failure status.
        """
        method = method.upper()
        url = self.url(path)
        content = None
        send_headers = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body).encode()
            send_headers.setdefault("Content-Type", "application/json")
        attempt = 0
        while True:
            attempt += 1
            self._pace()
            self.attempts += 1
            response = error = None
            try:
                response = self._http.request(method, url, params=params, content=content, headers=send_headers)
            except httpx.TransportError as exc:
                error = exc
            if response is not None and response.status_code < 400:
                return response
            delay = http.retry_delay(attempt, self.policy, method, retry_safe, response=response, error=error)
            if delay is None:
                break
            self.retried += 1
            self.waited += delay
            self.sleep(delay)
        if error is not None:
            raise self._unreachable(error, action, attempt) from error
        raise self._refused(response, action, attempt, hints or {})

    def answer(self, response, expect=dict, action="call the API", key=None):
        """The JSON of a successful response, of the expected shape (an object, or a list of objects); with key,
        the value of that key of an object (missing: empty). An empty body gives an empty one.

        Any other shape is the provider's defect (or not the provider at all): ApiError in one line.
        """
        try:
            body = response.json() if response.content else (expect() if key is None else {})
        except ValueError:
            body = None
        value = body
        if key is not None:
            value = (body.get(key) if body.get(key) is not None else expect()) if isinstance(body, dict) else None
        if isinstance(value, expect) and (expect is not list or all(isinstance(i, dict) for i in value)):
            return value
        shape = {dict: "an object", list: "a list of objects"}[expect] + (f" in '{key}'" if key else "")
        got = type(value).__name__ if value is not None else "no JSON" if body is None else type(body).__name__
        raise ApiError(f"Failed to {action}: {self.service} answered {response.status_code} with {got} where "
                       f"{shape} was expected; check {self.url_hint} (is it the {self.service} API?)",
                       status=response.status_code, service=self.service)

    def _unreachable(self, exc, action, attempts):
        host = urlsplit(self.base_url).netloc or self.base_url
        detail = redact(str(exc) or "no detail", self.secrets)
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return UnreachableError(
                f"Failed to {action}: {self.service} at {host} did not answer in time{tries} ({type(exc).__name__}); "
                "it may still have acted on the request; raise request_timeout or re-run",
                service=self.service,
            )
        return UnreachableError(
            f"Failed to {action}: {self.service} at {host} is unreachable{tries} ({type(exc).__name__}: {detail}); "
            f"check {self.url_hint} and the network path to it",
            service=self.service,
        )

    def _refused(self, response, action, attempts, hints):
        status = response.status_code
        reason = response.reason_phrase or {420: "Enhance Your Calm"}.get(status, "")
        detail = redact(provider_message(response), self.secrets)
        status_text = f"{status} {reason}".strip()
        if status == 401:
            msg = f"the API key was rejected ({status_text}): check {self.credential_hint}"
        elif status == 403:
            msg = f"permission denied ({status_text}){': ' + detail if detail else ''}; check that {self.credential_hint} may do this"
        elif status in http.RATE_LIMIT_STATUSES:
            wait = http.parse_retry_after(response.headers)
            after = f"; the server asks to wait {wait:.0f}s" if wait is not None else ""
            msg = f"rate limited by {self.service} ({status_text}) after {attempts} attempts{after}; retry later"
        elif status >= 500:
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            msg = f"{self.service} failed with {status_text}{tries}{': ' + detail if detail else ''}"
        else:
            msg = f"{self.service} said {detail or 'no'} ({status_text})"
        if hints.get(status):
            msg = f"{msg}; {hints[status]}"
        return ApiError(f"Failed to {action}: {msg}", status=status, reason=reason, service=self.service)
