"""The rollout module: restart, undo, status and history of a workload."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils import workloads, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, EmergencyError, failing_to
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources, waiter
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import replan_on_conflict

# Set on the Deployment by an undo to the previous revision, so that re-running
# the same undo (whose "previous" is now the revision undone) changes nothing.
ROLLED_BACK_FROM = "mataresit.emergency/rolled-back-from"
UNDO_KINDS = ("Deployment",)


def _escape(key):
    return key.replace("~", "~0").replace("/", "~1")


def _former_revisions(rs):
    history = (objects.meta(rs).get("annotations") or {}).get(workloads.REVISION_HISTORY) or ""
    return [int(rev) for rev in history.split(",") if rev.strip().isdigit()]


def select_undo_target(deployment, replicasets, to_revision=None):
    """Choose the ReplicaSet an undo goes back to; return (replicaset, current_revision, skip_reason).

    replicasets are the Deployment's own (owned_replicasets). Without
    to_revision the target is the newest revision older than the current one.
    skip_reason (else None) says why nothing is to be done: the Deployment
    already runs the target's template, or already undid it (ROLLED_BACK_FROM).
    """
    name = objects.meta(deployment).get("name")
    if (deployment.get("spec") or {}).get("paused"):
        raise ConfigError(f"deployment '{name}' is paused; resume it before undoing a rollout")
    by_revision = {workloads.revision_of(rs): rs for rs in replicasets if workloads.revision_of(rs)}
    if not by_revision:
        raise ConfigError(f"deployment '{name}' has no rollout history (no ReplicaSets it owns)")
    current = max(by_revision)
    if to_revision:
        if to_revision not in by_revision:
            # an undo renumbers the reused ReplicaSet; the controller keeps its former numbers
            # in revision-history, so re-running "undo to 1" still finds revision 1
            former = {rev: rs for rs in replicasets for rev in _former_revisions(rs)}
            if to_revision not in former:
                raise ConfigError(f"revision {to_revision} of deployment '{name}' is not in its history "
                                  f"(available: {', '.join(map(str, sorted(by_revision)))}); pick one of those")
            by_revision[to_revision] = former[to_revision]
        target_revision = to_revision
    else:
        older = [rev for rev in by_revision if rev < current]
        if not older:
            raise ConfigError(f"deployment '{name}' has no revision before {current} to undo to")
        target_revision = max(older)
    target = by_revision[target_revision]
    current_template = workloads.template_without_hash((deployment.get("spec") or {}).get("template"))
    target_template = workloads.template_without_hash((target.get("spec") or {}).get("template"))
    if current_template == target_template:
        return target, current, f"the pod template already matches revision {target_revision}"
    undone = (objects.meta(deployment).get("annotations") or {}).get(ROLLED_BACK_FROM)
    if not to_revision and undone == str(target_revision):
        return target, current, f"revision {target_revision} was already undone (now at revision {current})"
    return target, current, None


def undo_patch(deployment, target_template, reason=None, from_revision=None):
    """JSON patch that puts target_template into the Deployment (guarded by resourceVersion)."""
    md = objects.meta(deployment)
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": md.get("resourceVersion")},
           {"op": "replace", "path": "/spec/template", "value": target_template}]
    annotations = {}
    if reason:
        annotations[workloads.CHANGE_CAUSE] = reason
    if from_revision:
        annotations[ROLLED_BACK_FROM] = str(from_revision)
    if annotations and md.get("annotations") is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": annotations})
    else:
        ops += [{"op": "add", "path": f"/metadata/annotations/{_escape(k)}", "value": v}
                for k, v in annotations.items()]
    return ops


def backup(incident_dir, action, obj):
    """Record the object an action is about to change in the incident workspace; return the path."""
    md = objects.meta(obj)
    kind = obj.get("kind") or "Deployment"
    return workspace.record(incident_dir, workspace.ROLLOUT, [md.get("namespace"), kind.lower(), md.get("name"), action],
                            {"action": action, "kind": kind, "namespace": md.get("namespace"),
                             "name": md.get("name"), "object": objects.strip(obj)})


def _observed(client, deployment, timeout=15.0, sleep=0.25):
    """The Deployment once its controller has observed the latest generation (so its newest template has a
    ReplicaSet and "previous" means what it says); as it is if that takes longer than timeout."""
    md = objects.meta(deployment)
    deadline = waiter.Deadline(timeout)
    path = resources.path("Deployment", md.get("namespace"), md.get("name"))
    deployment, _state = waiter.wait(
        waiter.poll(lambda: client.get(path), deadline, sleep, first=deployment),
        lambda obj: {"done": (obj.get("status") or {}).get("observedGeneration", 0)
                     >= objects.meta(obj).get("generation", 0)}, deadline)
    return deployment


def undo(client, namespace, name, to_revision=None, reason=None, dry_run=False, deployment=None,
         incident_dir=None):
    """`kubectl rollout undo`: copy the chosen revision's pod template into the Deployment.

    Returns {changed, before, after, revision, from_revision, images, backup_path};
    after is the server's answer (a dry-run answer when dry_run). The object is
    recorded in incident_dir before it is changed (never in dry run).
    """
    before = deployment or client.read("Deployment", namespace, name)
    before = _observed(client, before)
    owned = workloads.owned_replicasets(client, before)
    target, current, skip_reason = select_undo_target(before, owned, to_revision)
    target_template = workloads.template_without_hash(target["spec"]["template"])
    result = {"changed": not skip_reason, "before": objects.strip(before),
              "after": objects.strip(before), "revision": workloads.revision_of(target),
              "from_revision": current, "images": workloads.images(target_template), "backup_path": None}
    if skip_reason:
        result.update(msg=f"Nothing to undo: {skip_reason}", revision=current, from_revision=current,
                      images=workloads.images(before["spec"]["template"]))
        return result
    if not dry_run:
        result["backup_path"] = backup(incident_dir, "undo", before)
    ops = undo_patch(before, target_template, reason, from_revision=None if to_revision else current)
    with workspace.kept_if_written(result["backup_path"]):
        after = client.patch_guarded("Deployment", namespace, name, ops, dry_run=dry_run)
    result["after"] = objects.strip(after)
    return result


def operation(ctx):
    """The rollout module: restart, undo, status or history of a workload."""
    p = ctx.params
    action, kind, ns, name = p["action"], p["kind"], p["namespace"], p["name"]
    if action in ("undo", "history") and kind not in UNDO_KINDS:
        raise ConfigError(f"Failed to {action} {kind.lower()} {ns}/{name}: action '{action}' supports kind "
                          "Deployment only (StatefulSet and DaemonSet history lives in ControllerRevisions, "
                          "which this module does not manage); use action restart or status")
    verb = {"status": "get the rollout status of", "history": "read the rollout history of"}.get(action, action)
    with failing_to(f"{verb} {kind.lower()} {ns}/{name}"):
        result = {"changed": False, "action": action, "kind": kind, "namespace": ns, "name": name}
        if action == "history":
            obj = ctx.client.read(kind, ns, name)
            return dict(result, history=workloads.revision_history(ctx.client, obj),
                        revision=workloads.revision_of(obj))
        if action == "status":
            return dict(result, **_status(ctx.client, p, kind, ns, name))
        return _change(ctx, result)


def _status(client, p, kind, ns, name):
    if p["wait"]:
        obj, elapsed = workloads.wait_for_rollout(client, ns, name, p["wait_timeout"], p["wait_sleep"], kind,
                                                  grace=p["fail_fast_grace"])
    else:
        obj, elapsed = client.read(kind, ns, name), 0
        obj.setdefault("kind", kind)
        state = workloads.rollout_state(obj)
        if state["failed"]:
            raise workloads.RolloutFailed(f"the rollout failed ({state['reason']}): {state['message']}", state=state)
    return dict(state=workloads.rollout_state(obj), elapsed=elapsed, revision=workloads.revision_of(obj) or None,
                images=workloads.images(workloads.template(obj)))


def _change(ctx, result):
    """restart or undo, then wait for the rollout it starts."""
    p, client = ctx.params, ctx.client
    kind, ns, name = result["kind"], result["namespace"], result["name"]
    if p["action"] == "restart":
        before = client.read(kind, ns, name)
        before.setdefault("kind", kind)
        backup_path = None if ctx.check_mode else backup(p["incident_dir"], "restart", before)
        after = workloads.restart(client, ns, name, reason=p["reason"], dry_run=ctx.check_mode, kind=kind)
        result.update(changed=True, before=objects.strip(before), after=objects.strip(after), backup_path=backup_path)
    else:
        # undo reads the Deployment itself: one that lost the race with a status update (nothing written) reads
        # and chooses again.
        result.update(replan_on_conflict(lambda: undo(
            client, ns, name, to_revision=p["to_revision"], reason=p["reason"], dry_run=ctx.check_mode,
            incident_dir=p["incident_dir"])))
    result["diff"] = {"before_header": f"{kind} {ns}/{name} pod template (before)",
                      "after_header": f"{kind} {ns}/{name} pod template (after)",
                      "before": workloads.template(result["before"]), "after": workloads.template(result["after"])}
    result["elapsed"] = 0
    if result["changed"] and p["wait"] and not ctx.check_mode:
        try:
            obj, result["elapsed"] = workloads.wait_for_rollout(client, ns, name, p["wait_timeout"], p["wait_sleep"],
                                                                kind, grace=p["fail_fast_grace"])
        except EmergencyError as exc:  # the change was made: say so in the failure
            exc.details.update(changed=True, backup_path=result["backup_path"])
            raise
        result["state"] = workloads.rollout_state(obj)
    return result
