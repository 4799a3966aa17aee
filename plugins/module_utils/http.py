"""The one HTTP core of the collection: the client factory every HTTP client
is built with (Kubernetes API, SaaS providers, health and metrics probes), the
one retry policy, the `Retry-After` parser and the classification of
transport errors.

Retry policy (decided by `retry_delay`, unit-tested on its own):
- the connection was never established (refused, unreachable, connect
  timeout; not a TLS verification failure): retried, for any method;
- 429, and Statuspage's 420 (refused before acting): retried, waiting what
  `Retry-After` (seconds or HTTP date) or PagerDuty's `ratelimit-reset` says;
- 5xx and read errors / timeouts (the server may have acted): retried only for
  the policy's safe methods, or a request marked safe (a POST whose dedup /
  incident key makes a repeat harmless);
- any other 4xx: never retried.
Backoff without a server hint is exponential with jitter, capped.

Riding out an outage (an API server restart): with `outage_wait`, a failure
that says the server is down or starting - the connection refused or reset,
a connect timeout, 502/503/504 - keeps being retried past `retries` until
`outage_wait` seconds have passed since the first attempt, for the requests
that the rules above allow to be repeated (never sent, or safe to repeat).
"""
from __future__ import annotations

import email.utils
import functools
import os
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from ansible_collections.mataresit.emergency.plugins.module_utils.deps import optional_import
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError

httpx = optional_import("httpx")
# httpx imports its transport (httpcore, h11) at the first client; imported here, it comes with this module
# (once in ansible-playbook's process: plugin_utils/in_process.preload) instead of with each task's first client.
httpcore = optional_import("httpcore")

USER_AGENT = "mataresit.emergency"
PROBE_USER_AGENT = f"{USER_AGENT} health_probe"  # the health and metrics probes
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RATE_LIMIT_STATUSES = frozenset({420, 429})
OUTAGE_STATUSES = frozenset({502, 503, 504})  # a proxy or the server itself says it is not serving yet


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3            # attempts after the first one
    backoff_base: float = 0.5   # first backoff without a server hint (seconds)
    backoff_cap: float = 8.0    # largest backoff without a server hint
    max_wait: float = 60.0      # a server asking for longer than this fails at once
    safe_methods: frozenset = IDEMPOTENT_METHODS  # methods a repeat cannot harm (5xx, read errors)
    outage_wait: float = 0.0    # seconds a server that is down or restarting is waited out (0: not)
    outage_statuses: frozenset = OUTAGE_STATUSES  # answers that mean "not serving yet"


def checked_url(url, option, action="read the options", show=True):
    """url when it is an http(s) URL with a host (and a valid port); else ConfigError naming the option.

    show=False keeps the URL itself out of the message (a webhook URL is a credential).
    """
    text = url if isinstance(url, str) else ""
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = None, False
    if parts is None or not port_ok or parts.scheme not in ("http", "https") or not parts.hostname \
            or any(c.isspace() or ord(c) < 32 for c in text):
        shown = f" {text[:200]!r}" if show else ""
        raise ConfigError(f"Failed to {action}: {option}{shown} is not an http(s) URL (http[s]://host[:port]/path); "
                          f"check '{option}'.")
    return text


class Session:
    """Owns one HTTP client (`self._http`, built with client()); a context manager that closes it."""

    _http = None

    def close(self):
        if self._http is not None:
            self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _TrustOnFirstTLS(ssl.SSLContext):
    """The verifying TLS context of `verify=True`, httpx's trust (SSL_CERT_FILE, SSL_CERT_DIR, else certifi's
    bundle) loaded at the first TLS connection: parsing the bundle costs ~40 ms of CPU, which a module that only
    speaks plain http (the local health endpoints, the sandbox) never pays. One per process, shared by its clients.
    """

    _lock = threading.Lock()
    _loaded = False

    def _load(self):
        with self._lock:
            if not self._loaded:
                if os.environ.get("SSL_CERT_FILE"):
                    self.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
                elif os.environ.get("SSL_CERT_DIR"):
                    self.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
                else:
                    import certifi  # httpx's own dependency
                    self.load_verify_locations(cafile=certifi.where())
                self._loaded = True

    def wrap_socket(self, *args, **kwargs):  # pylint: disable=arguments-differ
        self._load()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args, **kwargs):  # pylint: disable=arguments-differ
        self._load()
        return super().wrap_bio(*args, **kwargs)


@functools.cache
def default_trust():
    """The process's shared verifying context (see _TrustOnFirstTLS)."""
    return _TrustOnFirstTLS(ssl.PROTOCOL_TLS_CLIENT)


def client(base_url="", verify=True, headers=None, timeout=30.0, pool=4, transport=None, user_agent=USER_AGENT):
    """An HTTP/1.1 keep-alive client: connect timeout at most 10 s, no redirects followed.

    verify: True (the default trust, loaded on first use), False, or an ssl.SSLContext.
    transport is the unit tests' seam (httpx.MockTransport).
    """
    return httpx.Client(
        base_url=base_url,
        verify=default_trust() if verify is True else verify,
        headers={"User-Agent": user_agent, **(headers or {})},
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        transport=transport,
        follow_redirects=False,
    )


def _causes(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


# A handshake that the server ended without judging the certificates or the protocol (it was restarting,
# shedding load, or could not read the hello): the request was never sent and a new connection may pass. Any
# other TLS failure (a certificate, a protocol or cipher the two sides do not share) fails again.
TLS_CUT_SHORT = ("unexpected_eof", "eof occurred in violation of protocol", "decode_error", "internal_error",
                 "connection reset")


def classify(exc):
    """Map an httpx transport error to (kind, retryable, detail).

    kind: tls, refused, unreachable, timeout or connection. Only failures to
    establish the connection (refused, unreachable, connect timeout, a TLS
    handshake cut short) are retryable: the request never reached the server.
    """
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return "timeout", True, f"connect timeout: {detail}"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", False, f"{type(exc).__name__}: {detail}"
    if isinstance(exc, httpx.ConnectError):
        chain = list(_causes(exc))
        text = " ".join(str(e) for e in chain).lower()
        if any(isinstance(e, (ssl.SSLError, ssl.CertificateError)) for e in chain) or \
                any(word in text for word in ("ssl", "certificate", "tls", "handshake")):
            cut_short = not any(isinstance(e, ssl.CertificateError) for e in chain) and \
                any(sign in text for sign in TLS_CUT_SHORT)
            return "tls", cut_short, detail
        if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text or "errno 111" in text:
            return "refused", True, detail
        return "unreachable", True, detail
    return "connection", False, f"{type(exc).__name__}: {detail}"


def parse_retry_after(headers, now=None):
    """Seconds the server asks us to wait: Retry-After (seconds or HTTP date) or ratelimit-reset; else None."""
    value = headers.get("Retry-After")
    if value is not None:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - (time.time() if now is None else now))
    reset = headers.get("ratelimit-reset")  # PagerDuty: seconds until the window resets
    if reset is not None:
        try:
            return max(0.0, float(reset.strip()))
        except ValueError:
            return None
    return None


def backoff(attempt, policy, rand=random.uniform):
    """Capped exponential backoff with jitter before retry number `attempt` (1-based)."""
    return min(policy.backoff_cap, policy.backoff_base * 2 ** (attempt - 1)) * rand(0.5, 1.0)


def retry_delay(attempt, policy, method, retry_safe=False, response=None, error=None, rand=random.uniform,
                elapsed=0.0):
    """Seconds to wait before attempt `attempt + 1`, or None when the failure must not be retried.

    attempt counts from 1; `retry_safe` marks a request whose repetition is harmless (a dedup key, a
    write guarded by resourceVersion or idempotent by design); `elapsed` is the time since the first attempt.
    """
    repeat_safe = method.upper() in policy.safe_methods or retry_safe
    hinted = None
    outage = False
    if error is not None:
        kind, never_sent, _detail = classify(error)
        if not never_sent and not (repeat_safe and kind in ("timeout", "connection")):
            return None  # a TLS failure, or a read error / timeout after which the server may have acted
        # a name that does not resolve is a mistake to report, not an outage to wait out
        outage = kind != "tls" and not any(isinstance(e, socket.gaierror) for e in _causes(error))
    elif response is not None:
        status = response.status_code
        if status in RATE_LIMIT_STATUSES:
            hinted = parse_retry_after(response.headers)
        elif status >= 500 and repeat_safe:
            hinted = parse_retry_after(response.headers) if status == 503 else None
            outage = status in policy.outage_statuses
        else:
            return None
    if attempt > policy.retries and not (outage and elapsed < policy.outage_wait):
        return None
    if hinted is not None:
        if hinted > policy.max_wait:
            return None
        return hinted + rand(0, min(1.0, hinted * 0.1))
    delay = backoff(attempt, policy, rand)
    if attempt > policy.retries:  # waiting out an outage: never past its end
        delay = max(0.0, min(delay, policy.outage_wait - elapsed))
    return delay
