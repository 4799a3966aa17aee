"""What a recovery drill must put back: the state of the workloads of some namespaces and of the nodes, captured
before the drill, compared object by object after it, and restored.

Captured per namespace: Deployments and StatefulSets (labels, annotations, spec), the ReplicaSets and
ControllerRevisions they own (their history), Services, ConfigMaps, NetworkPolicies and ServiceAccounts (digests
of labels, annotations and spec / data), Secrets (a digest of the data only, never a value), and the Ready pods of
each workload with their images. Per node: labels, taints and unschedulable (the node controller's own
node.kubernetes.io/ taints left out) and whether it is Ready. Bookkeeping the API server and the controllers keep
(resourceVersion, generation, status, the revision annotations, pod names) is not compared: a rollback that puts the
same template back is the same workload.
"""
from __future__ import annotations

import copy
import datetime
import hashlib
import json

from ansible_collections.mataresit.emergency.plugins.module_utils import workloads
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources, waiter
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.objects import meta

WORKLOAD_KINDS = ("Deployment", "StatefulSet")
HISTORY_KINDS = ("ReplicaSet", "ControllerRevision")
CONFIG_KINDS = ("Service", "ConfigMap", "Secret", "NetworkPolicy", "ServiceAccount")
VOLATILE_ANNOTATIONS = (workloads.REVISION, workloads.REVISION_HISTORY)
CONTROLLER_TAINTS = "node.kubernetes.io/"
STATEFULSET_REVISION = "controller-revision-hash"


def _digest(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _annotations(obj):
    return {k: v for k, v in (meta(obj).get("annotations") or {}).items() if k not in VOLATILE_ANNOTATIONS}


def _key(kind, obj):
    return f"{kind}/{meta(obj)['name']}"


# -- capture ---------------------------------------------------------------------------------------------
def capture(client, namespaces, nodes=True):
    """The state to put back, as plain data (JSON). nodes: True for the nodes that run the namespaces' pods, or a
    list of node names, or False."""
    state = {"captured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "namespaces": {ns: _namespace(client, ns) for ns in namespaces}}
    if nodes:
        names = sorted(nodes) if isinstance(nodes, (list, tuple)) else sorted(
            {n for part in state["namespaces"].values() for n in part.pop("_nodes")})
        state["nodes"] = {name: _node(client.read("Node", None, name)) for name in names}
    for part in state["namespaces"].values():
        part.pop("_nodes", None)
    return state


def _namespace(client, namespace):
    listed = {kind: client.list(resources.path(kind, namespace))
              for kind in WORKLOAD_KINDS + HISTORY_KINDS + CONFIG_KINDS + ("Pod",)}
    owners = {}  # uid -> "Kind/name" of the captured workloads
    workloads_ = {}
    for kind in WORKLOAD_KINDS:
        for obj in listed[kind]:
            owners[meta(obj)["uid"]] = _key(kind, obj)
            workloads_[_key(kind, obj)] = {"labels": meta(obj).get("labels") or {}, "annotations": _annotations(obj),
                                           "spec": obj.get("spec") or {}}
    history = {}
    for kind in HISTORY_KINDS:
        for obj in listed[kind]:
            ref = objects.controller(obj)
            if ref and ref.get("uid") in owners:
                history[_key(kind, obj)] = owners[ref["uid"]]
    config = {}
    for kind in CONFIG_KINDS:
        for obj in listed[kind]:
            body = {k: v for k, v in obj.items() if k in ("spec", "data", "stringData", "binaryData", "type")}
            if kind == "ServiceAccount":
                body = {}  # its token secrets and image pull secrets are the controllers' business
            config[_key(kind, obj)] = _digest({"labels": meta(obj).get("labels") or {}, "annotations": _annotations(obj),
                                               "body": body})
    rs_owner = {meta(rs)["name"]: history.get(_key("ReplicaSet", rs)) for rs in listed["ReplicaSet"]}
    pods = {}
    nodes = {(pod.get("spec") or {}).get("nodeName") for pod in listed["Pod"]} - {None, ""}
    for pod in listed["Pod"]:
        if not objects.is_ready(pod) or objects.is_terminating(pod):
            continue
        ref = objects.controller(pod) or {}
        owner = rs_owner.get(ref.get("name")) if ref.get("kind") == "ReplicaSet" else owners.get(ref.get("uid"))
        entry = pods.setdefault(owner or "(no controller)", {"ready": 0, "images": []})
        entry["ready"] += 1
        entry["images"] = sorted(set(entry["images"]) | set(workloads.images(pod).values()))
    return {"workloads": workloads_, "history": history, "config": config, "pods": pods, "_nodes": sorted(nodes)}


def _node(node):
    spec = node.get("spec") or {}
    return {"labels": meta(node).get("labels") or {},
            "taints": [t for t in spec.get("taints") or [] if not t.get("key", "").startswith(CONTROLLER_TAINTS)],
            "unschedulable": bool(spec.get("unschedulable")), "ready": objects.is_ready(node)}


# -- compare ---------------------------------------------------------------------------------------------
def differences(before, after):
    """What differs between two captures, object by object, as sentences ([] when nothing does)."""
    out = []
    for ns, was in before["namespaces"].items():
        now = after["namespaces"].get(ns) or {"workloads": {}, "history": {}, "config": {}, "pods": {}}
        for key in sorted(set(was["workloads"]) | set(now["workloads"])):
            a, b = was["workloads"].get(key), now["workloads"].get(key)
            if a is None or b is None:
                out.append(f"{ns}/{key}: {'created' if a is None else 'deleted'}")
                continue
            for part in ("labels", "annotations", "spec"):
                out += [f"{ns}/{key}: {part}{path}: {old!r} -> {new!r}" for path, old, new in _diff(a[part], b[part])]
        for section, what in (("history", "revision history"), ("config", "")):
            for key in sorted(set(was[section]) | set(now[section])):
                if key not in now[section]:
                    out.append(f"{ns}/{key}: deleted")
                elif key not in was[section]:
                    out.append(f"{ns}/{key}: created{(' (' + what + ')') if what else ''}")
                elif was[section][key] != now[section][key]:
                    out.append(f"{ns}/{key}: changed")
        for owner in sorted(set(was["pods"]) | set(now["pods"])):
            a, b = was["pods"].get(owner) or {"ready": 0, "images": []}, now["pods"].get(owner) or {"ready": 0, "images": []}
            if a != b:
                out.append(f"{ns}/{owner}: Ready pods {a['ready']} {a['images']} -> {b['ready']} {b['images']}")
    for name, was in sorted((before.get("nodes") or {}).items()):
        now = (after.get("nodes") or {}).get(name)
        if now is None:
            out.append(f"Node/{name}: deleted")
            continue
        out += [f"Node/{name}: {path.lstrip('.')}: {old!r} -> {new!r}" for path, old, new in _diff(was, now)]
    return out


def _diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(key), b.get(key), f"{path}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for index, (x, y) in enumerate(zip(a, b)):
            out += _diff(x, y, f"{path}[{index}]")
        return out
    return [] if a == b else [(path, a, b)]


# -- restore ---------------------------------------------------------------------------------------------
def restore(client, before, timeout, sleep=1.0, dry_run=False):
    """Put the captured state back; return what was put back (sentences)."""
    done = []
    for name, was in sorted((before.get("nodes") or {}).items()):
        done += _restore_node(client, name, was, dry_run)
    for ns, was in before["namespaces"].items():
        for key, captured in sorted(was["workloads"].items()):
            kind, name = key.split("/", 1)
            if _restore_workload(client, ns, kind, name, captured, dry_run):
                done.append(f"{ns}/{key}: spec, labels and annotations put back")
    if dry_run:
        return done
    deadline = waiter.Deadline(timeout)
    for name, was in sorted((before.get("nodes") or {}).items()):
        if was["ready"]:
            _wait_node_ready(client, name, deadline, sleep)
    for ns, was in before["namespaces"].items():
        for key in sorted(was["workloads"]):
            kind, name = key.split("/", 1)
            if kind == "StatefulSet":
                done += _recycle_stale_pods(client, ns, name)
            workloads.wait_for_rollout(client, ns, name, max(1, deadline.remaining()), sleep, kind)
        done += _prune_history(client, ns, was)
    return done


def _restore_node(client, name, was, dry_run):
    node = client.get_or_none(resources.path("Node", None, name))
    if node is None:
        return [f"Node/{name}: gone, not restored"]
    now = _node(node)
    patch, done = {}, []
    if now["labels"] != was["labels"]:
        labels = {k: None for k in now["labels"] if k not in was["labels"]}
        labels.update({k: v for k, v in was["labels"].items() if now["labels"].get(k) != v})
        patch["metadata"] = {"labels": labels}
        done.append(f"Node/{name}: labels put back ({', '.join(sorted(labels))})")
    if now["taints"] != was["taints"] or now["unschedulable"] != was["unschedulable"]:
        controller_taints = [t for t in (node.get("spec") or {}).get("taints") or []
                             if t.get("key", "").startswith(CONTROLLER_TAINTS)]
        patch["spec"] = {"taints": controller_taints + was["taints"], "unschedulable": was["unschedulable"]}
        done.append(f"Node/{name}: taints and unschedulable put back")
    if patch:
        client.patch(resources.path("Node", None, name), patch, patch_type="merge", dry_run=dry_run)
    return done


def _wait_node_ready(client, name, deadline, sleep):
    waiter.wait(waiter.poll(lambda: client.read("Node", None, name), deadline, sleep),
                lambda node: {"done": objects.is_ready(node)}, deadline,
                describe=lambda node, state: (f"node {name} was not Ready again", "its Ready condition is not True"))


def _restore_workload(client, namespace, kind, name, captured, dry_run):
    obj = client.get_or_none(resources.path(kind, namespace, name))
    if obj is None:
        return False  # deleted during the drill: not something a drill stages; reported by the comparison
    current = {"labels": meta(obj).get("labels") or {}, "annotations": _annotations(obj), "spec": obj.get("spec") or {}}
    if current == captured:
        return False
    body = copy.deepcopy(obj)
    body.pop("status", None)
    meta(body).pop("managedFields", None)
    volatile = {k: v for k, v in (meta(obj).get("annotations") or {}).items() if k in VOLATILE_ANNOTATIONS}
    body["metadata"]["labels"] = copy.deepcopy(captured["labels"])
    body["metadata"]["annotations"] = dict(captured["annotations"], **volatile)
    body["spec"] = copy.deepcopy(captured["spec"])
    client.replace(resources.path(kind, namespace, name), body, dry_run=dry_run)  # resourceVersion guards it
    return True


def _recycle_stale_pods(client, namespace, name):
    """Pods of a StatefulSet that are not Ready and not of its current revision: a StatefulSet never replaces
    them on its own (the runbook's "database pod issues"), so the restored template would never run."""
    sts = client.read("StatefulSet", namespace, name)
    revision = (sts.get("status") or {}).get("updateRevision")
    selector = objects.selector_string(((sts.get("spec") or {}).get("selector")) or {})
    done = []
    for pod in client.list(resources.path("Pod", namespace), label_selector=selector):
        stale = (meta(pod).get("labels") or {}).get(STATEFULSET_REVISION) != revision
        if stale and not objects.is_ready(pod) and not objects.is_terminating(pod):
            client.delete(resources.path("Pod", namespace, meta(pod)["name"]),
                          preconditions={"uid": meta(pod)["uid"]})
            done.append(f"{namespace}/Pod/{meta(pod)['name']}: not Ready on an old revision, recycled")
    return done


def _prune_history(client, namespace, was):
    """Delete the history entries the drill added (ReplicaSets scaled to zero, unused ControllerRevisions)."""
    done = []
    owners = {}
    for key in was["workloads"]:
        kind, name = key.split("/", 1)
        obj = client.get_or_none(resources.path(kind, namespace, name))
        if obj is not None:
            owners[meta(obj)["uid"]] = (key, obj)
    for kind in HISTORY_KINDS:
        for obj in client.list(resources.path(kind, namespace)):
            ref = objects.controller(obj) or {}
            if ref.get("uid") not in owners or _key(kind, obj) in was["history"] or _in_use(kind, obj, owners[ref["uid"]][1]):
                continue
            client.delete(resources.path(kind, namespace, meta(obj)["name"]), preconditions={"uid": meta(obj)["uid"]})
            done.append(f"{namespace}/{_key(kind, obj)}: added by the drill, deleted")
    return done


def _in_use(kind, obj, owner):
    if kind == "ReplicaSet":
        return bool((obj.get("spec") or {}).get("replicas") or (obj.get("status") or {}).get("replicas"))
    status = owner.get("status") or {}
    return meta(obj)["name"] in (status.get("currentRevision"), status.get("updateRevision"))
