"""The pod_recycle module: delete pods chosen by label selector and
phase / readiness, a bounded number at a time, and wait until their owning
controllers' replacements are Ready."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils import workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ConfigError, EmergencyError, NotFoundError, failing_to,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources, waiter


def controller_of(pod):
    """"Kind/name" of the pod's controller, or None."""
    ref = objects.controller(pod)
    return f"{ref.get('kind')}/{ref.get('name')}" if ref else None


def summary(pod):
    """Name, phase, readiness and the most telling container reason of a pod."""
    status = pod.get("status") or {}
    reason = status.get("reason")
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        reason = waiting.get("reason") or last.get("reason") or reason
    return {"name": pod["metadata"]["name"], "phase": status.get("phase"), "ready": objects.is_ready(pod),
            "reason": reason, "controller": controller_of(pod)}


def select(pods, not_running=False, phases=None, not_ready=False):
    """Pods to recycle: not already terminating, and matching every filter given."""
    chosen = []
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase")
        if objects.is_terminating(pod):
            continue
        if not_running and phase == "Running":
            continue
        if phases and phase not in phases:
            continue
        if not_ready and objects.is_ready(pod):
            continue
        chosen.append(pod)
    return sorted(chosen, key=lambda pod: pod["metadata"]["name"])


def replacement_state(pods, before_uids, deleted, ready_before):
    """Whether the deleted pods are gone and their controllers' replacements are Ready."""
    live = [pod for pod in pods if not objects.is_terminating(pod)]
    deleted_uids = {pod["metadata"]["uid"] for pod in deleted}
    lingering = [pod["metadata"]["name"] for pod in live if pod["metadata"]["uid"] in deleted_uids]
    new = [pod for pod in live if pod["metadata"]["uid"] not in before_uids]
    owned_deleted = sum(1 for pod in deleted if controller_of(pod))
    ready_now = sum(1 for pod in live if objects.is_ready(pod))
    done = (not lingering and len(new) >= owned_deleted and all(objects.is_ready(pod) for pod in new)
            and ready_now >= ready_before)
    return {"done": done, "lingering": lingering, "replacements": [summary(pod) for pod in new],
            "ready": ready_now, "ready_before": ready_before, "expected_replacements": owned_deleted}


def _delete(client, namespace, pod, dry_run):
    path = resources.path("Pod", namespace, pod["metadata"]["name"])
    try:
        # the uid precondition makes a repeat harmless: it deletes this pod or nothing
        client.delete(path, dry_run=dry_run, preconditions={"uid": pod["metadata"]["uid"]}, retry_safe=True)
    except NotFoundError:
        pass  # gone already
    except EmergencyError as exc:
        if getattr(exc, "status", None) != 409:  # 409: the name now belongs to a replacement
            raise


def recycle(client, namespace, label_selector=None, not_running=False, phases=None, not_ready=False,
            max_concurrent=0, dry_run=False, wait=True, timeout=300, sleep=1, incident_dir=None,
            grace=waiter.DEFAULT_GRACE):
    """Delete the chosen pods in batches of max_concurrent (0: all at once), waiting after each batch.

    With incident_dir the pods (spec and status, as evidence) are recorded before any is deleted.
    Replacements that stay failing (CrashLoopBackOff, ...) for `grace` seconds end the wait at once.
    """
    path = resources.path("Pod", namespace)
    pods = client.list(path, label_selector=label_selector)
    if not pods and client.get_or_none(resources.path("Namespace", None, namespace)) is None:
        raise NotFoundError(f"namespace '{namespace}' does not exist; check 'namespace'", status=404)
    chosen = select(pods, not_running, phases, not_ready)
    result = {"changed": bool(chosen), "deleted": [pod["metadata"]["name"] for pod in chosen],
              "matched": len(pods), "unowned": [pod["metadata"]["name"] for pod in chosen if not controller_of(pod)],
              "replacements": [], "elapsed": 0, "backup_path": None}
    if chosen and not dry_run:
        result["backup_path"] = workspace.record(incident_dir, workspace.POD_RECYCLE, [namespace, label_selector or "pods"], {
            "namespace": namespace, "label_selector": label_selector,
            "pods": [objects.strip(pod) for pod in chosen]})
    size = max_concurrent if max_concurrent and max_concurrent > 0 else max(1, len(chosen))
    deadline = waiter.Deadline(timeout)
    done = []
    try:
        for first in range(0, len(chosen), size):
            batch = chosen[first:first + size]
            current = pods if first == 0 else client.list(path, label_selector=label_selector)
            before_uids = {pod["metadata"]["uid"] for pod in current}
            ready_before = sum(1 for pod in current if objects.is_ready(pod) and not objects.is_terminating(pod))
            client.parallel([lambda pod=pod: _delete(client, namespace, pod, dry_run) for pod in batch])
            done += batch
            if dry_run or not wait:
                continue
            _pods, state = waiter.wait(
                waiter.poll(lambda: client.list(path, label_selector=label_selector), deadline, sleep),
                lambda pods, batch=batch, before_uids=before_uids, ready_before=ready_before:
                    replacement_state(pods, before_uids, batch, ready_before),
                deadline, describe=_replacements_progress, hint="inspect the pods and the owning controller",
                fail_fast=[waiter.failing_pods(
                    lambda pods, before_uids=before_uids: [p for p in pods if p["metadata"]["uid"] not in before_uids],
                    grace, lambda pods: f"replacing the pods of {namespace}" + (
                        f" matching '{label_selector}'" if label_selector else ""))])
            result["replacements"] += state["replacements"]
    except EmergencyError as exc:
        exc.details.update(changed=bool(done), deleted=[pod["metadata"]["name"] for pod in done])
        raise
    result["elapsed"] = deadline.elapsed()
    return result


def _replacements_progress(pods, state):  # pylint: disable=unused-argument
    waiting = [r for r in state["replacements"] if not r["ready"]]
    detail = ", ".join(f"{r['name']} ({r['reason'] or r['phase']})" for r in waiting) or "none yet"
    return "replacements not Ready", (
        f"{state['ready']} ready pods (before: {state['ready_before']}), {len(state['replacements'])} of "
        f"{state['expected_replacements']} replacements created, not ready: {detail}"
        + (f", still terminating: {', '.join(state['lingering'])}" if state["lingering"] else ""))


def operation(ctx):
    """The pod_recycle module."""
    p = ctx.params
    if not (p["label_selector"] or p["not_running"] or p["phases"] or p["not_ready"]):
        raise ConfigError("Failed to recycle pods: give label_selector and/or a filter (not_running, phases, "
                          "not_ready); recycling every pod of a namespace is not supported")
    what = f"pods in {p['namespace']}" + (f" matching '{p['label_selector']}'" if p["label_selector"] else "")
    with failing_to(f"recycle {what}"):
        result = recycle(ctx.client, p["namespace"], p["label_selector"], p["not_running"], p["phases"],
                         p["not_ready"], p["max_concurrent"], dry_run=ctx.check_mode, wait=p["wait"],
                         timeout=p["wait_timeout"], sleep=p["wait_sleep"], incident_dir=p["incident_dir"],
                         grace=p["fail_fast_grace"])
    return dict(result, namespace=p["namespace"], label_selector=p["label_selector"],
                diff={"before": {"pods": result["deleted"]}, "after": {"pods": []}})
