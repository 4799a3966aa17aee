"""The drill_fault module: stage the fault of a recovery drill on a staging cluster and wait until it shows.

- bad_image: a deploy of an image tag that does not work (its pods crash or fail to pull), as a real bad deploy
  with a change-cause - what the P0 outage procedure must roll back.
- not_ready_pod: a StatefulSet pod left not Ready - a bad image crash-loops the pod, then the image is put right;
  a StatefulSet never replaces a pod that never became Ready, so it stays stuck until someone recycles it (the
  runbook's "database pod issues").
- node_not_ready: a node made NotReady by a label the cluster's fault injector honours (the local cluster's kwok:
  mataresit.test/fault=notready), on the node that runs most of the workload's pods unless one is named.

What each step replaces is recorded in incident_dir; mataresit.emergency.snapshot puts everything back.
"""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils import workloads, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, failing_to
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources, waiter
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import replan_on_conflict
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.objects import meta

FAILING = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName")
CATEGORY = workspace.DRILL_FAULT


def operation(ctx):
    p = ctx.params
    with failing_to(f"stage the drill fault {p['fault']}"):
        if p["fault"] == "node_not_ready":
            result = _node_not_ready(ctx)
        else:
            result = _image_fault(ctx)
    result["staged_at"] = objects.now_rfc3339()
    if result["changed"] and not ctx.check_mode:
        workspace.record(p["incident_dir"], CATEGORY, [p["fault"], result["target"]], result)
    return result


# -- images ----------------------------------------------------------------------------------------------
def _container(obj, name):
    containers = ((workloads.template(obj) or {}).get("spec") or {}).get("containers") or []
    for index, container in enumerate(containers):
        if not name or container.get("name") == name:
            return index, container
    raise ConfigError(f"container '{name}' is not in the pod template (containers: "
                      f"{', '.join(c.get('name', '?') for c in containers) or 'none'}); check 'container'")


def _bad(image, tag):
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repository.split('@', 1)[0]}:{tag}"


def _set_image(client, kind, namespace, name, index, image, cause, dry_run):
    """Set one container's image on a fresh read, guarded by its resourceVersion. A write that lost the race with
    another (most often the controller's status update) reads and is made again: it sets a value, so that is safe."""
    def attempt():
        current = client.read(kind, namespace, name)
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta(current)["resourceVersion"]},
               {"op": "replace", "path": f"/spec/template/spec/containers/{index}/image", "value": image}]
        if cause:
            ops.append({"op": "add", "path": "/metadata/annotations", "value": dict(
                meta(current).get("annotations") or {}, **{workloads.CHANGE_CAUSE: cause})})
        return client.patch_guarded(kind, namespace, name, ops, dry_run=dry_run)
    return replan_on_conflict(attempt)


def _image_fault(ctx):
    p, client = ctx.params, ctx.client
    if not (p["name"] and p["namespace"]):
        raise ConfigError(f"fault={p['fault']} needs the workload's name and namespace")
    kind = p["kind"] if p["fault"] == "bad_image" else "StatefulSet"
    obj = client.read(kind, p["namespace"], p["name"])
    index, container = _container(obj, p["container"])
    good = container["image"]
    bad = _bad(good, p["image_tag"])
    target = f"{p['namespace']}/{kind}/{p['name']}"
    result = {"changed": good != bad, "fault": p["fault"], "target": target, "container": container["name"],
              "previous": {"image": good}, "image": bad}
    if good == bad or ctx.check_mode:
        if ctx.check_mode:
            _set_image(client, kind, p["namespace"], p["name"], index, bad, None, dry_run=True)
        return result
    cause = f"[DRILL] deploy {bad}" if p["fault"] == "bad_image" else None
    patched = _set_image(client, kind, p["namespace"], p["name"], index, bad, cause, dry_run=False)
    failing = _wait_failing(client, patched, bad, p["wait_timeout"], p["wait_sleep"])
    result["failing_pods"] = failing
    if p["fault"] == "not_ready_pod":
        _set_image(client, kind, p["namespace"], p["name"], index, good, None, dry_run=False)
        result["image"] = good
        result["msg"] = (f"{', '.join(failing)} crash-looped on {bad}; the image is back to {good} and the pod stays "
                         "not Ready until it is recycled")
    else:
        result["msg"] = f"{target} deploys {bad}: {', '.join(failing)} failing"
    return result


def _wait_failing(client, obj, image, timeout, sleep):
    """Until a pod of the workload runs `image` and fails (crash loop, image pull, not Ready): their names."""
    namespace = meta(obj)["namespace"]
    selector = objects.selector_string((obj.get("spec") or {}).get("selector") or {})

    def read():
        return client.list(resources.path("Pod", namespace), label_selector=selector)

    def check(pods):
        failing = [meta(pod)["name"] for pod in pods if image in workloads.images(pod).values()
                   and _failing(pod)]
        return {"done": bool(failing), "failing": failing}

    deadline = waiter.Deadline(timeout)
    _pods, state = waiter.wait(waiter.poll(read, deadline, sleep), check, deadline,
                               describe=lambda pods, state: (f"no pod of {namespace}/{meta(obj)['name']} failed on {image}",
                                                             "the fault did not show"),
                               hint="raise wait_timeout, or check that the cluster cannot run this image tag")
    return state["failing"]


def _failing(pod):
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in FAILING:
            return True
    return False


# -- nodes -------------------------------------------------------------------------------------------------
def _node_not_ready(ctx):
    p, client = ctx.params, ctx.client
    key, sep, value = p["node_label"].partition("=")
    if not sep or not key:
        raise ConfigError(f"node_label '{p['node_label']}' must be key=value")
    name = p["node"] or _busiest_node(client, p)
    node = client.read("Node", None, name)
    labels = meta(node).get("labels") or {}
    result = {"changed": labels.get(key) != value, "fault": "node_not_ready", "target": f"Node/{name}",
              "node": name, "previous": {"label": {key: labels.get(key)}}}
    if not result["changed"]:
        return result
    client.patch(resources.path("Node", None, name), {"metadata": {"labels": {key: value}}}, patch_type="merge",
                 dry_run=ctx.check_mode)
    if ctx.check_mode:
        return result
    deadline = waiter.Deadline(p["wait_timeout"])
    waiter.wait(waiter.poll(lambda: client.read("Node", None, name), deadline, p["wait_sleep"]),
                lambda obj: {"done": not objects.is_ready(obj)}, deadline,
                describe=lambda obj, state: (f"node {name} did not turn NotReady", f"labelled {p['node_label']}"),
                hint="check that the cluster's fault injector honours node_label")
    result["msg"] = f"node {name} is NotReady (labelled {p['node_label']})"
    return result


def _busiest_node(client, p):
    if not (p["name"] and p["namespace"]):
        raise ConfigError("fault=node_not_ready needs node, or the workload (name, namespace) whose node to fail")
    obj = client.read(p["kind"], p["namespace"], p["name"])
    selector = objects.selector_string((obj.get("spec") or {}).get("selector") or {})
    counts = {}
    for pod in client.list(resources.path("Pod", p["namespace"]), label_selector=selector):
        node = (pod.get("spec") or {}).get("nodeName")
        if node and objects.is_ready(pod):
            counts[node] = counts.get(node, 0) + 1
    if not counts:
        raise ConfigError(f"no Ready pod of {p['namespace']}/{p['name']} runs on a node; name the node")
    return max(sorted(counts), key=counts.get)
