"""The container_patch module: set or remove env vars and resource
requests/limits of one container in a workload's pod template, record what
they were, and revert to that record."""
from __future__ import annotations

import copy
import re

from ansible_collections.mataresit.emergency.plugins.module_utils import workloads, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ConfigError, EmergencyError, failing_to,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import replan_on_conflict
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.objects import quantity

CATEGORY = workspace.CONTAINER_PATCH
RESOURCE_SECTIONS = ("requests", "limits")


ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
SCALARS = (str, int, float, bool)


def check_wanted(env, resources):
    """ConfigError naming the entry when env or resources cannot be applied as given (before anything is read)."""
    for name, value in (env or {}).items():
        if not ENV_NAME.match(str(name)):
            raise ConfigError(f"env: '{name}' is not an environment variable name (letters, digits, '_', '-', '.', "
                              "not starting with a digit); check 'env'.")
        if isinstance(value, dict):
            ok = (set(value) == {"valueFrom"} and isinstance(value["valueFrom"], dict)) or \
                (set(value) == {"value"} and isinstance(value["value"], SCALARS))
        else:
            ok = value is None or isinstance(value, SCALARS)
        if not ok:
            raise ConfigError(f"env.{name}: give a string, a number, true/false, null (to remove it), {{value: ...}} "
                              f"or {{valueFrom: {{...}}}}, not a {type(value).__name__}; check 'env'.")
    for section, values in (resources or {}).items():
        if section not in RESOURCE_SECTIONS:
            raise ConfigError(f"resources: '{section}' is not one of {', '.join(RESOURCE_SECTIONS)}; check 'resources'.")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"resources.{section}: give a mapping of resource to quantity (cpu: 500m, memory: 1Gi) "
                              f"or null, not {values!r}; check 'resources'.")
        for key, value in values.items():
            if value is None:
                continue
            try:
                amount = quantity(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) \
                    else None
            except ConfigError:
                amount = None
            if amount is None or amount < 0:
                raise ConfigError(f"resources.{section}.{key}: {value!r} is not a Kubernetes quantity (examples: 500m, "
                                  "2, 1Gi, 512Mi); check 'resources'.")


def _env_entry(name, wanted):
    """The env list entry for a wanted value: a string, {'value': ...} or {'valueFrom': {...}} (checked before)."""
    if isinstance(wanted, dict):
        if set(wanted) == {"valueFrom"}:
            return {"name": name, "valueFrom": wanted["valueFrom"]}
        wanted = wanted["value"]
    if isinstance(wanted, bool):
        wanted = "true" if wanted else "false"
    return {"name": name, "value": str(wanted)}


def _env_previous(entry):
    """How an existing env entry is reported: its value, its valueFrom reference (never resolved), or None."""
    if entry is None:
        return None
    if "valueFrom" in entry:
        return {"valueFrom": entry["valueFrom"]}
    return entry.get("value", "")


def _same_env(entry, wanted_entry):
    if entry is None or wanted_entry is None:
        return entry is None and wanted_entry is None
    if "valueFrom" in wanted_entry:
        return entry.get("valueFrom") == wanted_entry["valueFrom"] and "value" not in entry
    return "valueFrom" not in entry and entry.get("value", "") == wanted_entry["value"]


def plan_env(current, wanted):
    """(new env list, previous {name: old}, changed) for wanted {name: value | None | {valueFrom}}."""
    new = copy.deepcopy(current or [])
    index = {entry.get("name"): i for i, entry in enumerate(new)}
    previous, changed, drop = {}, False, set()
    for name, value in (wanted or {}).items():
        existing = new[index[name]] if name in index else None
        previous[name] = _env_previous(existing)
        entry = None if value is None else _env_entry(name, value)
        if _same_env(existing, entry):
            continue
        changed = True
        if entry is None:
            drop.add(name)
        elif existing is None:
            index[name] = len(new)
            new.append(entry)
        else:
            new[index[name]] = entry
    return [e for e in new if e.get("name") not in drop], previous, changed


def plan_resources(current, wanted):
    """(new resources, previous {section: {key: old}}, changed) for wanted {requests|limits: {key: qty | None}}."""
    new = copy.deepcopy(current or {})
    previous, changed = {}, False
    for section, values in (wanted or {}).items():
        if section not in RESOURCE_SECTIONS:
            raise ConfigError(f"resources: '{section}' is not one of {', '.join(RESOURCE_SECTIONS)}")
        have = new.get(section) or {}
        if values is None:  # remove the whole section
            values = {key: None for key in have}
        previous[section] = {}
        for key, value in values.items():
            old = have.get(key)
            previous[section][key] = old
            if value is None:
                if old is not None:
                    changed = True
                    have.pop(key)
            elif old is None or quantity(old) != quantity(value):
                changed = True
                have[key] = str(value)
        if have:
            new[section] = have
        else:
            new.pop(section, None)
    return new, previous, changed


def find_container(obj, container):
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    for i, item in enumerate(spec.get("containers") or []):
        if item.get("name") == container:
            return i, item
    names = ", ".join(c.get("name", "?") for c in spec.get("containers") or []) or "none"
    raise ConfigError(f"container '{container}' is not in the pod template (containers: {names}); check 'container'")


def patch_ops(obj, index, container, env=None, resources_=None):
    """JSON patch for one container, guarded by resourceVersion and the container's name."""
    base = f"/spec/template/spec/containers/{index}"
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": obj["metadata"]["resourceVersion"]},
           {"op": "test", "path": f"{base}/name", "value": container["name"]}]
    for field, value in (("env", env), ("resources", resources_)):
        if value is None:
            continue
        if value or field == "resources":
            ops.append({"op": "add", "path": f"{base}/{field}", "value": value})
        elif field in container:
            ops.append({"op": "remove", "path": f"{base}/{field}"})
    return ops


def merge_original(earlier, previous):
    """Original values for revert: what an earlier record saw first wins over this step's previous."""
    original = copy.deepcopy(previous)
    for name, value in ((earlier or {}).get("env") or {}).items():
        original.setdefault("env", {})[name] = value
    for section, values in ((earlier or {}).get("resources") or {}).items():
        original.setdefault("resources", {}).setdefault(section, {}).update(values)
    return original


def _wanted(p, earlier):
    """(env, resources) to reach: the options, or with state=revert what the first record saw."""
    if p["state"] == "revert":
        if not earlier:
            raise ConfigError(f"no record of an earlier patch in incident_dir {p['incident_dir'] or '(not set)'}; "
                              "nothing to revert to")
        return earlier["original"].get("env"), earlier["original"].get("resources")
    if p["env"] is None and p["resources"] is None:
        raise ConfigError("give 'env' and/or 'resources' to patch, or state=revert")
    check_wanted(p["env"], p["resources"])
    return p["env"], p["resources"]


def operation(ctx):
    """The container_patch module; a patch that lost the race with a status update is read and planned again."""
    return replan_on_conflict(lambda: patch_container(ctx.client, ctx.params, ctx.check_mode))


def patch_container(client, p, dry_run=False):
    """Patch (or revert) one container as the module's options `p` say; the module result."""
    kind, ns, name, container_name = p["kind"], p["namespace"], p["name"], p["container"]
    parts = [ns, kind.lower(), name, container_name]
    verb = "revert" if p["state"] == "revert" else "patch"
    with failing_to(f"{verb} container '{container_name}' of {kind.lower()} {ns}/{name}"):
        earlier = workspace.latest(p["incident_dir"], CATEGORY, parts) if p["incident_dir"] else None
        wanted_env, wanted_resources = _wanted(p, earlier)
        obj = client.read(kind, ns, name)
        index, container = find_container(obj, container_name)
        new_env, prev_env, env_changed = plan_env(container.get("env"), wanted_env)
        new_res, prev_res, res_changed = plan_resources(container.get("resources"), wanted_resources)
        previous = {}
        if wanted_env is not None:
            previous["env"] = prev_env
        if wanted_resources is not None:
            previous["resources"] = prev_res
        after = dict(container, env=new_env, resources=new_res)
        result = {"changed": env_changed or res_changed, "kind": kind, "namespace": ns, "name": name,
                  "container": container_name, "previous": previous, "backup_path": None, "elapsed": 0,
                  "generation": obj["metadata"].get("generation"),
                  "diff": {"before_header": f"{kind} {ns}/{name} container {container_name} (before)",
                           "after_header": f"{kind} {ns}/{name} container {container_name} (after)",
                           "before": {k: container.get(k) for k in ("env", "resources")},
                           "after": {k: after.get(k) for k in ("env", "resources")}}}
        if not result["changed"]:
            return result
        if not dry_run:
            result["backup_path"] = workspace.record(p["incident_dir"], CATEGORY, parts, {
                "kind": kind, "namespace": ns, "name": name, "container": container_name, "state": p["state"],
                "previous": previous, "original": merge_original((earlier or {}).get("original"), previous)})
        ops = patch_ops(obj, index, container, new_env if env_changed else None, new_res if res_changed else None)
        with workspace.kept_if_written(result["backup_path"]):
            patched = client.patch_guarded(kind, ns, name, ops, dry_run=dry_run)
        result["generation"] = patched["metadata"].get("generation")
        if p["wait"] and not dry_run:
            try:
                result["elapsed"] = workloads.wait_for_rollout(client, ns, name, p["wait_timeout"], p["wait_sleep"],
                                                               kind, grace=p["fail_fast_grace"])[1]
            except EmergencyError as exc:
                exc.details.update(changed=True, previous=previous, backup_path=result["backup_path"])
                raise
        return result
