"""Reading Kubernetes objects (plain dicts as the API returns them): metadata,
status conditions, owners, pod readiness, label selectors, resource quantities
and times. Pure functions; no API calls."""
from __future__ import annotations

import copy
import datetime
import re
from decimal import Decimal, InvalidOperation

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError

_SUFFIXES = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
             "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1, "k": 10 ** 3,
             "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$")


def meta(obj):
    return (obj or {}).get("metadata") or {}


def condition(obj, ctype):
    """The status condition of a type, or None."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def is_true(obj, ctype):
    return (condition(obj, ctype) or {}).get("status") == "True"


def is_ready(pod):
    return is_true(pod, "Ready")


def is_terminating(obj):
    return bool(meta(obj).get("deletionTimestamp"))


# Container states that a pod does not leave by waiting: its rollout cannot succeed as it is.
IMAGE_PULL_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName"})
FAILING_REASONS = frozenset({"CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError"}) | IMAGE_PULL_REASONS


def pod_failure(pod):
    """How a pod is failing for good, or None: {reason, container, image, message, last_exit}.

    reason is the waiting reason (CrashLoopBackOff, ImagePullBackOff, ErrImagePull,
    CreateContainerConfigError, ...) or OOMKilled when a container was killed for memory;
    last_exit says how the previous instance ended ("OOMKilled 137").
    """
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state, last = cs.get("state") or {}, (cs.get("lastState") or {}).get("terminated") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        oom = "OOMKilled" in (last.get("reason"), terminated.get("reason"))
        ended = last or terminated
        exit_text = f"{ended.get('reason') or 'exit'} {ended.get('exitCode', '')}".strip() if ended else ""
        if waiting.get("reason") in FAILING_REASONS or oom:
            return {"reason": "OOMKilled" if oom else waiting["reason"], "container": cs.get("name"),
                    "image": cs.get("image"), "message": (waiting.get("message") or "")[:300],
                    "last_exit": exit_text}
    return None


def controller(obj):
    """The ownerReference that controls obj, or None."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owned_by(obj, uid):
    return any(ref.get("uid") == uid for ref in meta(obj).get("ownerReferences") or [])


def strip(obj):
    """A copy fit for backups and output: no managedFields."""
    out = copy.deepcopy(obj)
    meta(out).pop("managedFields", None)
    return out


def selector_string(label_selector):
    """A LabelSelector object ({matchLabels, matchExpressions}) as the labelSelector query string."""
    parts = [f"{k}={v}" for k, v in sorted(((label_selector or {}).get("matchLabels") or {}).items())]
    for expr in (label_selector or {}).get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], ",".join(expr.get("values") or [])
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": key, "DoesNotExist": f"!{key}"}[op])
    return ",".join(parts)


def quantity(value):
    """A Kubernetes resource quantity ("500m", "1Gi", 2) as a Decimal; ConfigError when it is none."""
    match = _QUANTITY.match(str(value).strip())
    try:
        if match:
            return Decimal(match.group(1)) * Decimal(_SUFFIXES[match.group(2)])
    except InvalidOperation:
        pass
    raise ConfigError(f"'{value}' is not a Kubernetes quantity (examples: 500m, 2, 1Gi, 512Mi)")


def quantity_or_none(value):
    """A quantity as a float for arithmetic on what the API reports; None when absent or unreadable."""
    if value is None:
        return None
    try:
        return float(quantity(value))
    except ConfigError:
        return None


def parse_time(value):
    """An RFC 3339 timestamp as an aware datetime (to the second), or None."""
    if not value:
        return None
    try:
        return datetime.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def now_rfc3339(fraction=False):
    """Current UTC time in RFC 3339; with fraction, to the microsecond (two stamps never collide)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ")
