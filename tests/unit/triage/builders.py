"""Builders of synthetic Kubernetes objects for the triage unit tests (served by
tests/unit/fakes.py FakeKubeApi)."""
from __future__ import annotations

import datetime


def ts(minutes_ago=0.0):
    """RFC 3339 time minutes_ago before now (now at the call: a fixture built late must not look old)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return (now - datetime.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def node(name, ready=True, pressure=(), unschedulable=False, cpu="4", memory="8Gi"):
    conditions = [{"type": "Ready", "status": "True" if ready else "Unknown",
                   "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                   "message": "" if ready else "Kubelet stopped posting node status."}]
    conditions += [{"type": c, "status": "True"} for c in pressure]
    return {"metadata": {"name": name}, "spec": {"unschedulable": unschedulable} if unschedulable else {},
            "status": {"conditions": conditions, "allocatable": {"cpu": cpu, "memory": memory}}}


def pod(name, rs=None, node_name="node-1", phase="Running", ready=True, waiting=None, last_reason=None,
        restarts=0, pending_message=None, container="app", image="app:v1", limits=None, namespace="shop"):
    status = {"phase": phase, "conditions": []}
    if phase == "Pending" and pending_message:
        status["conditions"].append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": pending_message})
        node_name = None
    else:
        status["conditions"].append({"type": "Ready", "status": "True" if ready else "False",
                                     "reason": None if ready else "ContainersNotReady"})
        state = {"waiting": {"reason": waiting, "message": f"{waiting} msg"}} if waiting else {"running": {}}
        cs = {"name": container, "image": image, "ready": ready, "restartCount": restarts, "state": state}
        if last_reason:
            cs["lastState"] = {"terminated": {"reason": last_reason, "exitCode": 137 if last_reason == "OOMKilled" else 1}}
        status["containerStatuses"] = [cs]
    meta = {"name": name, "namespace": namespace}
    if rs:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": rs, "controller": True, "uid": f"uid-{rs}"}]
    resources = {"limits": limits} if limits else {}
    return {"metadata": meta, "spec": {"nodeName": node_name, "containers": [
        {"name": container, "image": image, "resources": resources}]}, "status": status}


def deployment(name, replicas=3, updated=None, ready=None, available=None, failed=False, uid=None, image="app:v1"):
    updated = replicas if updated is None else updated
    ready = replicas if ready is None else ready
    available = replicas if available is None else available
    conditions = [{"type": "Available", "status": "True" if available >= replicas else "False"}]
    if failed:
        conditions.append({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                           "message": f'ReplicaSet "{name}-new" has timed out progressing.'})
    return {"metadata": {"name": name, "namespace": "shop", "uid": uid or f"uid-{name}", "generation": 2},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
            "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": updated,
                       "readyReplicas": ready, "availableReplicas": available, "conditions": conditions}}


def replicaset(name, deployment_name, revision, minutes_ago, image, change_cause=None):
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if change_cause:
        annotations["kubernetes.io/change-cause"] = change_cause
    return {"metadata": {"name": name, "namespace": "shop", "creationTimestamp": ts(minutes_ago),
                         "annotations": annotations, "labels": {"app": deployment_name},
                         "ownerReferences": [{"kind": "Deployment", "name": deployment_name, "controller": True,
                                              "uid": f"uid-{deployment_name}"}]},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
            "status": {"replicas": 1, "readyReplicas": 0}}


def event(name, reason, minutes_ago, obj="Pod/x", message="m"):
    kind, sep, obj_name = obj.partition("/")
    return {"metadata": {"name": name}, "type": "Warning", "reason": reason, "lastTimestamp": ts(minutes_ago),
            "involvedObject": {"kind": kind, "name": obj_name}, "message": message, "count": 1}
