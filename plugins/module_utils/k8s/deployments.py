"""Deployments and their rollouts: owned ReplicaSets, revision history, the
rollout-complete predicate (kubectl's, for Deployments, StatefulSets and
DaemonSets), waiting, and `rollout restart`. Shared by rollout, scale,
container_patch, triage and secret_rotation."""
from __future__ import annotations

import copy
import datetime
import time

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ApiError, ConfigError, ConflictError, EmergencyError, NotFoundError, WaitTimeout,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POD_TEMPLATE_HASH = "pod-template-hash"
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
TEMPLATED_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


class RolloutFailed(EmergencyError):
    """The controller gave up on a rollout (Progressing=False, ProgressDeadlineExceeded)."""


def now_rfc3339(fraction=False):
    """Current UTC time in RFC 3339; with fraction, to the microsecond (two restarts never collide)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ")


def meta(obj):
    return obj.get("metadata") or {}


def revision_of(obj):
    """The deployment.kubernetes.io/revision annotation as int (0 when absent or garbled)."""
    try:
        return int((meta(obj).get("annotations") or {}).get(REVISION, 0))
    except (TypeError, ValueError):
        return 0


def selector_string(label_selector):
    """A LabelSelector object as the labelSelector query string."""
    parts = [f"{k}={v}" for k, v in sorted(((label_selector or {}).get("matchLabels") or {}).items())]
    for expr in (label_selector or {}).get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], ",".join(expr.get("values") or [])
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": key, "DoesNotExist": f"!{key}"}[op])
    return ",".join(parts)


def images(template):
    """{container name: image} of a pod template (init containers prefixed 'init:')."""
    spec = (template or {}).get("spec") or {}
    out = {c["name"]: c.get("image") for c in spec.get("containers") or []}
    out.update({f"init:{c['name']}": c.get("image") for c in spec.get("initContainers") or []})
    return out


def strip_object(obj):
    """A copy fit for backups and output: no managedFields."""
    out = copy.deepcopy(obj)
    meta(out).pop("managedFields", None)
    return out


def template_without_hash(template):
    """A pod template with the controller's pod-template-hash label removed (for comparison/undo)."""
    out = copy.deepcopy(template or {})
    labels = (out.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(POD_TEMPLATE_HASH, None)
    return out


def get_workload(client, kind, namespace, name):
    """GET a namespaced object; a 404 says whether the namespace or the object is missing."""
    try:
        return client.get(resources.path(kind, namespace, name))
    except NotFoundError as exc:
        if client.get_or_none(resources.path("Namespace", None, namespace)) is None:
            raise NotFoundError(f"namespace '{namespace}' does not exist; check 'namespace'",
                                status=404, reason="NotFound") from exc
        raise NotFoundError(f"{kind.lower()} '{name}' does not exist in namespace '{namespace}'; check 'name'",
                            status=404, reason="NotFound") from exc


def json_patch_guarded(client, kind, namespace, name, ops, dry_run=False):
    """Send a JSON patch whose first op tests metadata.resourceVersion.

    The API server answers a failed test with a bare 422; when the object did
    change meanwhile, say so (ConflictError) instead.
    """
    path = resources.path(kind, namespace, name)
    try:
        return client.patch(path, ops, patch_type="json", dry_run=dry_run)
    except ApiError as exc:
        if exc.status != 422 or not ops or ops[0].get("path") != "/metadata/resourceVersion":
            raise
        current = client.get_or_none(path)
        if current is None or meta(current).get("resourceVersion") != ops[0].get("value"):
            raise ConflictError(f"{kind.lower()} {namespace}/{name} changed while this task was changing it; "
                                "run the task again", status=409, reason="Conflict") from exc
        raise


# -- ReplicaSets and history -------------------------------------------------
def owned_replicasets(client, deployment):
    """ReplicaSets controlled by this Deployment (by ownerReferences uid), oldest revision first.

    The Deployment's selector narrows the list; ownership decides, so a ReplicaSet
    that merely matches the labels (another owner, or none) is never included.
    """
    md = meta(deployment)
    uid = md.get("uid")
    selector = selector_string((deployment.get("spec") or {}).get("selector"))
    items = client.list(resources.path("ReplicaSet", md.get("namespace")), label_selector=selector or None)
    owned = [rs for rs in items
             if any(ref.get("uid") == uid for ref in meta(rs).get("ownerReferences") or [])]
    return sorted(owned, key=lambda rs: (revision_of(rs), meta(rs).get("creationTimestamp") or ""))


def history_entry(rs):
    status = rs.get("status") or {}
    template = (rs.get("spec") or {}).get("template") or {}
    return {
        "revision": revision_of(rs),
        "replicaset": meta(rs).get("name"),
        "created": meta(rs).get("creationTimestamp"),
        "images": images(template),
        "change_cause": (meta(rs).get("annotations") or {}).get(CHANGE_CAUSE),
        "replicas": status.get("replicas", 0),
        "ready_replicas": status.get("readyReplicas", 0),
    }


def revision_history(client, deployment, replicasets=None):
    """Revision history of a Deployment, newest first (like `kubectl rollout history`)."""
    rs_list = owned_replicasets(client, deployment) if replicasets is None else replicasets
    return [history_entry(rs) for rs in sorted(rs_list, key=revision_of, reverse=True)]


# -- rollout state -----------------------------------------------------------
def condition(obj, ctype):
    """The status condition of a type, or None."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def rollout_state(obj):
    """Whether a rollout is complete or failed, from the object alone (no API calls).

    Deployments follow kubectl's status viewer (observedGeneration, updated,
    ready, available replicas, no old replicas left); Progressing=False with
    reason ProgressDeadlineExceeded is a failure. Counts that show the rollout
    done win over a stale condition. StatefulSets and DaemonSets are handled
    like `kubectl rollout status` handles them.
    """
    kind = obj.get("kind") or "Deployment"
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    generation = meta(obj).get("generation", 0)
    observed_ok = status.get("observedGeneration", 0) >= generation
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        updated = status.get("updatedNumberScheduled", 0)
        ready = status.get("numberReady", 0)
        available = status.get("numberAvailable", 0)
    else:
        desired = spec.get("replicas", 1)
        updated = status.get("updatedReplicas", 0)
        ready = status.get("readyReplicas", 0)
        available = status.get("availableReplicas", 0)
    state = {"complete": False, "failed": False, "reason": "", "message": "", "desired": desired,
             "updated": updated, "ready": ready, "available": available, "observed_generation_ok": observed_ok}

    def waiting(reason, message):
        state.update(reason=reason, message=message)
        return state

    if not observed_ok:
        return waiting("WaitingForObservedGeneration",
                       f"waiting for the controller to observe generation {generation}")
    if kind == "StatefulSet":
        strategy = (spec.get("updateStrategy") or {})
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return waiting("OnDelete", "rollout status is only available for the RollingUpdate strategy")
        partition = ((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        if ready < desired:
            return waiting("ReplicasNotReady", f"{ready} of {desired} replicas ready")
        if partition:
            if updated < desired - partition:
                return waiting("PartitionedRollout", f"{updated} of {desired - partition} partitioned pods updated")
        elif status.get("updateRevision") != status.get("currentRevision"):
            return waiting("RevisionNotCurrent", f"{updated} of {desired} pods updated to the new revision")
    elif kind == "DaemonSet":
        if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
            return waiting("OnDelete", "rollout status is only available for the RollingUpdate strategy")
        if updated < desired:
            return waiting("PodsNotUpdated", f"{updated} of {desired} updated pods scheduled")
        if available < desired:
            return waiting("PodsNotAvailable", f"{available} of {desired} updated pods available")
    else:
        total = status.get("replicas", 0)
        done = updated >= desired and total <= updated and available >= updated and ready >= desired
        if not done:
            progressing = condition(obj, "Progressing")
            if progressing and progressing.get("reason") == PROGRESS_DEADLINE_EXCEEDED:
                state.update(failed=True, reason=PROGRESS_DEADLINE_EXCEEDED,
                             message=progressing.get("message") or "progress deadline exceeded")
                return state
            if updated < desired:
                return waiting("ReplicasNotUpdated", f"{updated} of {desired} new replicas updated")
            if total > updated:
                return waiting("OldReplicasPending", f"{total - updated} old replicas pending termination")
            return waiting("ReplicasNotAvailable", f"{available} of {updated} updated replicas available, "
                                                   f"{ready} ready")
    state.update(complete=True, reason="Complete", message="rollout complete")
    return state


def pod_problems(client, obj, limit=3):
    """Why the workload's pods are not Ready, summarised in a few words (one list call; '' when none)."""
    selector = selector_string((obj.get("spec") or {}).get("selector"))
    if not selector:
        return ""
    try:
        pods = client.list(resources.path("Pod", meta(obj).get("namespace")), label_selector=selector)
    except EmergencyError:
        return ""  # the summary is a courtesy; the caller's error stands on its own
    counts = {}
    for pod in pods:
        status = pod.get("status") or {}
        if meta(pod).get("deletionTimestamp") or any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []):
            continue
        for cs in status.get("containerStatuses") or [{"image": "", "state": {"waiting": {"reason": status.get("phase")}}}]:
            if cs.get("ready"):
                continue
            waiting = (cs.get("state") or {}).get("waiting") or {}
            last = (cs.get("lastState") or {}).get("terminated") or {}
            why = waiting.get("reason") or status.get("reason") or status.get("phase") or "NotReady"
            if last.get("reason"):
                why += f" (last exit {last['reason']} {last.get('exitCode', '')})".replace(" )", ")")
            key = (why, cs.get("image") or "")
            counts[key] = counts.get(key, 0) + 1
    parts = [f"{n} pod(s) {why}" + (f" with image {image}" if image else "")
             for (why, image), n in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]]
    return "; ".join(parts)


def pause(checks, sleep, deadline):
    """Sleep before the next check of a wait: 0.1 s, doubling up to `sleep`, never past the deadline.

    Changes usually land within a second, so early checks come quickly; long
    waits settle at one check every `sleep` seconds.
    """
    time.sleep(max(0.0, min(0.1 * 2 ** checks, sleep, deadline - time.monotonic())))


def wait_for_rollout(client, namespace, name, timeout, sleep, kind="Deployment"):
    """Poll until the rollout is complete; return (object, elapsed_seconds).

    Raises RolloutFailed on ProgressDeadlineExceeded and WaitTimeout at the
    (monotonic) deadline, both with the last observed state.
    """
    start = time.monotonic()
    deadline = start + max(0, timeout)
    checks = 0
    while True:
        obj = get_workload(client, kind, namespace, name)
        obj.setdefault("kind", kind)
        state = rollout_state(obj)
        elapsed = round(time.monotonic() - start, 3)
        if state["complete"]:
            return obj, elapsed
        if state["failed"]:
            problems = pod_problems(client, obj)
            raise RolloutFailed(
                f"the rollout of {kind.lower()} {namespace}/{name} failed ({state['reason']}): {state['message']}"
                + (f" Pods: {problems}." if problems else "")
                + " Undo it (mataresit.emergency.rollout action=undo) or fix the pod template.",
                reason=state["reason"], elapsed=elapsed, state=state, pods=problems or None)
        if time.monotonic() >= deadline:
            problems = pod_problems(client, obj)
            raise WaitTimeout(
                f"the rollout of {kind.lower()} {namespace}/{name} was not complete after {elapsed:.0f}s "
                f"({state['reason']}: {state['message']})" + (f". Pods: {problems}" if problems else "")
                + "; raise wait_timeout or inspect the pods",
                elapsed=elapsed, state=state, pods=problems or None)
        pause(checks, sleep, deadline)
        checks += 1


# -- restart -----------------------------------------------------------------
def restart(client, namespace, name, reason=None, dry_run=False, kind="Deployment"):
    """`kubectl rollout restart`: stamp the pod template with restartedAt; return the patched object.

    reason, when given, is recorded as the kubernetes.io/change-cause annotation
    (the Deployment controller copies it to the new ReplicaSet, so it shows in
    the history).
    """
    if kind not in TEMPLATED_KINDS:
        raise ConfigError(f"cannot restart a {kind}: only {', '.join(TEMPLATED_KINDS)} have a pod template to restart")
    # kubectl stamps whole seconds and refuses a second restart within one; microseconds make each one count
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now_rfc3339(fraction=True)}}}}}
    if reason:
        body["metadata"] = {"annotations": {CHANGE_CAUSE: reason}}
    path = resources.path(kind, namespace, name)
    try:
        return client.patch(path, body, patch_type="strategic", dry_run=dry_run)
    except NotFoundError:
        get_workload(client, kind, namespace, name)  # raises the clear namespace/object message
        raise
