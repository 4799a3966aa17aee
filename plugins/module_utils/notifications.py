"""Pieces shared by the notification modules: option specs, dedup keys, and
the record of what was already sent (in the incident workspace) that makes a
re-run of a non-idempotent notification report changed=false."""
from __future__ import annotations

import hashlib
import json

from ansible_collections.mataresit.emergency.plugins.module_utils import workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.http import RetryPolicy
from ansible_collections.mataresit.emergency.plugins.module_utils.saas import SaasClient

PAGERDUTY_REGIONS = {
    "us": {"events": "https://events.pagerduty.com", "api": "https://api.pagerduty.com"},
    "eu": {"events": "https://events.eu.pagerduty.com", "api": "https://api.eu.pagerduty.com"},
}
PAGERDUTY_REST_ACCEPT = "application/vnd.pagerduty+json;version=2"
DEDUP_PREFIX = "mataresit-"
MAX_DEDUP_KEY = 255
SENT_CATEGORY = workspace.NOTIFICATIONS

# Options every HTTP notification module takes (documented in doc_fragments/saas.py and incident_dir.py).
SAAS_HTTP_ARG_SPEC = dict(
    request_timeout=dict(type="float", default=30),
    max_retries=dict(type="int", default=3),
    **workspace.INCIDENT_DIR_ARG_SPEC,
)


def dedup_key(incident_id, explicit=None):
    """The one key that identifies an incident everywhere: `mataresit-<incident_id>`, at most 255 characters.

    Long ids keep a readable prefix and end in a hash of the whole id, so distinct ids stay distinct.
    """
    if explicit:
        if len(explicit) > MAX_DEDUP_KEY:
            raise ConfigError(f"Failed to derive the dedup key: dedup_key is {len(explicit)} characters, the limit is {MAX_DEDUP_KEY}")
        return explicit
    if not incident_id or not str(incident_id).strip():
        raise ConfigError("Failed to derive the dedup key: set incident_id (or dedup_key)")
    key = DEDUP_PREFIX + str(incident_id).strip()
    if len(key) <= MAX_DEDUP_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[:MAX_DEDUP_KEY - 17]}-{digest}"


def policy_from_params(params):
    return RetryPolicy(retries=max(0, int(params.get("max_retries") if params.get("max_retries") is not None else 3)))


def client(ctx, service, base_url, secrets, credential_hint, url_hint, **options):
    """The SaaS client of a notification module's run: its timeout and retries from the options, its
    secrets kept out of the output, every request on the run's transport."""
    return SaasClient(service, base_url, secrets=secrets, credential_hint=credential_hint, url_hint=url_hint,
                      timeout=ctx.params["request_timeout"], policy=policy_from_params(ctx.params),
                      no_log_values=ctx.no_log_values, transport=ctx.transport, **options)


def pagerduty_rest_client(ctx, api_token, api_url=None, region="us"):
    """The SaaS client of PagerDuty's REST API v2 (token header, version 2 media type)."""
    headers = {"Accept": PAGERDUTY_REST_ACCEPT, "Content-Type": "application/json",
               "Authorization": f"Token token={api_token}"}
    return client(ctx, "PagerDuty", api_url or PAGERDUTY_REGIONS[region]["api"], [api_token], "pagerduty api_token",
                  "api_url / region", headers=headers)


def fingerprint(*parts):
    """A stable digest of what a notification sends (secrets included only as part of the hash)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _name(kind, key):
    return [kind, workspace.safe_name(key)[:60], hashlib.sha256(key.encode()).hexdigest()[:12]]


def already_sent(incident_dir, kind, key, digest):
    """True when the workspace records that exactly this notification was the last one sent for key."""
    if not incident_dir:
        return False
    # Fail on an unusable workspace now, not after the notification went out unrecorded.
    workspace.ensure_dir(workspace.category_dir(incident_dir, SENT_CATEGORY))
    last = workspace.latest(incident_dir, SENT_CATEGORY, _name(kind, key))
    return bool(last and last.get("fingerprint") == digest)


def remember_sent(incident_dir, kind, key, digest, request, response=None):
    """Record a sent notification (request already redacted) in the workspace; return the record path."""
    return workspace.record(incident_dir, SENT_CATEGORY, _name(kind, key),
                            {"kind": kind, "key": key, "fingerprint": digest, "request": request, "response": response})
