"""Workloads and their rollouts: owned ReplicaSets, revision history, the
rollout-complete predicate (kubectl's, for Deployments, StatefulSets and
DaemonSets), waiting for a rollout, and `rollout restart`. Shared by the
rollout, scale, container_patch, triage, forensics and secret_rotation services."""
from __future__ import annotations

import copy

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ConfigError, NotFoundError, WaitFailed,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources, waiter
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.objects import meta

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POD_TEMPLATE_HASH = "pod-template-hash"
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
TEMPLATED_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


class RolloutFailed(WaitFailed):
    """The controller gave up on a rollout (Progressing=False, ProgressDeadlineExceeded)."""


def revision_of(obj):
    """The deployment.kubernetes.io/revision annotation as int (0 when absent or garbled)."""
    try:
        return int((meta(obj).get("annotations") or {}).get(REVISION, 0))
    except (TypeError, ValueError):
        return 0


def template(obj):
    return ((obj or {}).get("spec") or {}).get("template")


def images(pod_template):
    """{container name: image} of a pod template (init containers prefixed 'init:')."""
    spec = (pod_template or {}).get("spec") or {}
    out = {c["name"]: c.get("image") for c in spec.get("containers") or []}
    out.update({f"init:{c['name']}": c.get("image") for c in spec.get("initContainers") or []})
    return out


def template_without_hash(pod_template):
    """A pod template with the controller's pod-template-hash label removed (for comparison/undo)."""
    out = copy.deepcopy(pod_template or {})
    labels = (out.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(POD_TEMPLATE_HASH, None)
    return out


# -- ReplicaSets and history -------------------------------------------------
def owned_replicasets(client, deployment):
    """ReplicaSets controlled by this Deployment (by ownerReferences uid), oldest revision first.

    The Deployment's selector narrows the list; ownership decides, so a ReplicaSet
    that merely matches the labels (another owner, or none) is never included.
    """
    md = meta(deployment)
    uid = md.get("uid")
    selector = objects.selector_string((deployment.get("spec") or {}).get("selector"))
    items = client.list(resources.path("ReplicaSet", md.get("namespace")), label_selector=selector or None)
    owned = [rs for rs in items if objects.owned_by(rs, uid)]
    return sorted(owned, key=lambda rs: (revision_of(rs), meta(rs).get("creationTimestamp") or ""))


def history_entry(rs):
    status = rs.get("status") or {}
    return {
        "revision": revision_of(rs),
        "replicaset": meta(rs).get("name"),
        "created": meta(rs).get("creationTimestamp"),
        "images": images(template(rs)),
        "change_cause": (meta(rs).get("annotations") or {}).get(CHANGE_CAUSE),
        "replicas": status.get("replicas", 0),
        "ready_replicas": status.get("readyReplicas", 0),
    }


def revision_history(client, deployment, replicasets=None):
    """Revision history of a Deployment, newest first (like `kubectl rollout history`)."""
    rs_list = owned_replicasets(client, deployment) if replicasets is None else replicasets
    return [history_entry(rs) for rs in sorted(rs_list, key=revision_of, reverse=True)]


# -- rollout state -----------------------------------------------------------
ON_DELETE = ("OnDelete", "rollout status is only available for the RollingUpdate strategy")


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
        counts = {key: status.get(field, 0) for key, field in (
            ("desired", "desiredNumberScheduled"), ("updated", "updatedNumberScheduled"), ("ready", "numberReady"),
            ("available", "numberAvailable"))}
    else:
        counts = {"desired": spec.get("replicas", 1), "updated": status.get("updatedReplicas", 0),
                  "ready": status.get("readyReplicas", 0), "available": status.get("availableReplicas", 0)}
    state = dict(complete=False, failed=False, reason="", message="", **counts, observed_generation_ok=observed_ok)
    if not observed_ok:
        waiting = ("WaitingForObservedGeneration", f"waiting for the controller to observe generation {generation}")
    elif kind == "StatefulSet":
        waiting = _statefulset_waiting(spec, status, counts)
    elif kind == "DaemonSet":
        waiting = _daemonset_waiting(spec, counts)
    else:
        waiting = _deployment_waiting(obj, status, counts)
        if waiting and waiting[0] == PROGRESS_DEADLINE_EXCEEDED:
            state["failed"] = True
    if waiting:
        state.update(reason=waiting[0], message=waiting[1])
    else:
        state.update(complete=True, reason="Complete", message="rollout complete")
    return state


def _statefulset_waiting(spec, status, counts):
    """(reason, message) of what a StatefulSet rollout waits for, or None when it is complete."""
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return ON_DELETE
    desired, updated, ready = counts["desired"], counts["updated"], counts["ready"]
    partition = (strategy.get("rollingUpdate") or {}).get("partition") or 0
    if ready < desired:
        return "ReplicasNotReady", f"{ready} of {desired} replicas ready"
    if partition:
        if updated < desired - partition:
            return "PartitionedRollout", f"{updated} of {desired - partition} partitioned pods updated"
    elif status.get("updateRevision") != status.get("currentRevision"):
        return "RevisionNotCurrent", f"{updated} of {desired} pods updated to the new revision"
    return None


def _daemonset_waiting(spec, counts):
    if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        return ON_DELETE
    if counts["updated"] < counts["desired"]:
        return "PodsNotUpdated", f"{counts['updated']} of {counts['desired']} updated pods scheduled"
    if counts["available"] < counts["desired"]:
        return "PodsNotAvailable", f"{counts['available']} of {counts['desired']} updated pods available"
    return None


def _deployment_waiting(obj, status, counts):
    """(reason, message) of what a Deployment rollout waits for (ProgressDeadlineExceeded: it failed), or None."""
    desired, updated, ready, available = counts["desired"], counts["updated"], counts["ready"], counts["available"]
    total = status.get("replicas", 0)
    if updated >= desired and total <= updated and available >= updated and ready >= desired:
        return None
    progressing = objects.condition(obj, "Progressing")
    if progressing and progressing.get("reason") == PROGRESS_DEADLINE_EXCEEDED:
        return PROGRESS_DEADLINE_EXCEEDED, progressing.get("message") or "progress deadline exceeded"
    if updated < desired:
        return "ReplicasNotUpdated", f"{updated} of {desired} new replicas updated"
    if total > updated:
        return "OldReplicasPending", f"{total - updated} old replicas pending termination"
    return "ReplicasNotAvailable", f"{available} of {updated} updated replicas available, {ready} ready"


def new_pods(client, obj):
    """The pods of a workload's current revision: a Deployment's newest ReplicaSet, a StatefulSet's
    updateRevision (a DaemonSet's: every pod of its selector)."""
    md = meta(obj)
    namespace, kind = md.get("namespace"), obj.get("kind") or "Deployment"
    selector = objects.selector_string((obj.get("spec") or {}).get("selector"))
    if not selector:
        return []
    if kind == "Deployment":
        if (obj.get("status") or {}).get("observedGeneration", 0) < md.get("generation", 0):
            # The controller has not seen the current template yet (an undo just landed, or the control plane is
            # catching up after a restart): its revision annotation still names the previous ReplicaSet.
            return []
        revision = revision_of(obj)
        current = [rs for rs in owned_replicasets(client, obj) if revision_of(rs) == revision]
        if not current:
            return []
        selector += f",{POD_TEMPLATE_HASH}={(meta(current[0]).get('labels') or {}).get(POD_TEMPLATE_HASH, '')}"
    elif kind == "StatefulSet" and (obj.get("status") or {}).get("updateRevision"):
        selector += f",controller-revision-hash={obj['status']['updateRevision']}"
    return client.list(resources.path("Pod", namespace), label_selector=selector)


def rollout_source(client, kind, namespace, name, deadline, sleep):
    """The observations of a workload for waiter.wait: a watch on it (a poll where none is served)."""
    def read():
        obj = client.read(kind, namespace, name)
        obj.setdefault("kind", kind)
        return obj

    def stream(version, timeout, idle):
        query = {"fieldSelector": f"metadata.name={name}", "resourceVersion": version}
        for event, obj in client.watch(resources.path(kind, namespace), query, timeout=timeout, idle=idle):
            obj.setdefault("kind", kind)
            yield event, obj

    return waiter.watch(read, stream, deadline, sleep)


def wait_for_rollout(client, namespace, name, timeout, sleep, kind="Deployment", fail_fast=(),
                     grace=waiter.DEFAULT_GRACE):
    """Wait until the rollout is complete; return (object, elapsed_seconds).

    Watches the workload (changes are seen as they happen). Raises RolloutFailed at once on
    ProgressDeadlineExceeded, WaitFailed when new pods stay in CrashLoopBackOff, ImagePullBackOff,
    CreateContainerConfigError or OOMKilled for `grace` seconds, and WaitTimeout at the deadline, each
    with the last observed state and the pods' problems. fail_fast: more rules (see waiter.wait).
    """
    deadline = waiter.Deadline(timeout)
    what = f"the rollout of {kind.lower()} {namespace}/{name}"

    def check(obj):
        state = rollout_state(obj)
        return dict(state, done=state["complete"])

    def progress_deadline_exceeded(obj, state):
        if not state["failed"]:
            return None
        problems = waiter.workload_pod_problems(client, obj)
        return RolloutFailed(
            f"{what} failed ({state['reason']}): {state['message']}"
            + (f" Pods: {problems}." if problems else "")
            + " Undo it (mataresit.emergency.rollout action=undo) or fix the pod template.",
            reason=state["reason"], elapsed=deadline.elapsed(), state=state, pods=problems or None)

    rules = [progress_deadline_exceeded, *fail_fast]
    if kind != "DaemonSet":
        rules.append(waiter.failing_pods(lambda obj: new_pods(client, obj), grace, lambda obj: what))
    obj, _state = waiter.wait(
        rollout_source(client, kind, namespace, name, deadline, sleep), check, deadline,
        describe=lambda obj, state: (f"{what} was not complete", f"{state['reason']}: {state['message']}"),
        pods=lambda obj: waiter.workload_pod_problems(client, obj),
        fail_fast=rules)
    return obj, deadline.elapsed()


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
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: objects.now_rfc3339(fraction=True)}}}}}
    if reason:
        body["metadata"] = {"annotations": {CHANGE_CAUSE: reason}}
    path = resources.path(kind, namespace, name)
    try:
        # the stamp is fixed before the first attempt: a repeat sets the same value, so it restarts only once
        return client.patch(path, body, patch_type="strategic", dry_run=dry_run, retry_safe=True)
    except NotFoundError:
        client.read(kind, namespace, name)  # raises the clear namespace/object message
        raise
