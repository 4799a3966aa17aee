"""Secret rotation without a blind delete: resolve a plan per secret and key,
write an encrypted backup of the current values first, replace the values with
a resourceVersion precondition, restart the Deployments that consume them, and
keep a state file so an interrupted run can be finished or restored."""
from __future__ import annotations

import base64
import copy
import json
import os
import secrets as random_source
import string
import time

from ansible_collections.mataresit.emergency.plugins.module_utils import secret_backup, workloads, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ConfigError, EmergencyError, failing_to,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources, waiter
from ansible_collections.mataresit.emergency.plugins.module_utils.redact import Redactor

ALPHABETS = {
    "alnum": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "urlsafe": string.ascii_letters + string.digits + "-_",
    "printable": string.ascii_letters + string.digits + "!#%+-.:=@^_~",
}
MIN_LENGTH, MAX_LENGTH = 8, 4096
SKIP_TYPES = {
    "kubernetes.io/service-account-token": "service-account token (rotated by Kubernetes, never by this module)",
    "helm.sh/release.v1": "Helm release record (owned by Helm)",
}
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ACTIONS = ("generate", "value", "keep")

# rotation state per secret
PENDING, ROTATED, DONE, RESTORED = "pending", "rotated", "done", "restored"


# -- plan ------------------------------------------------------------------------
def skip_reason(secret):
    """Why a secret must never be rotated here, or None."""
    stype = secret.get("type") or "Opaque"
    if stype in SKIP_TYPES:
        return SKIP_TYPES[stype]
    if ((secret.get("metadata") or {}).get("labels") or {}).get("owner") == "helm":
        return SKIP_TYPES["helm.sh/release.v1"]
    if secret.get("immutable"):
        return "immutable secret (it would have to be deleted and recreated; do that deliberately)"
    return None


def _rule(raw, default_rule, where):
    """Normalise one rule: action, length, alphabet, value, external."""
    value = raw.get("value")
    action = raw.get("action") or ("value" if value is not None else
                                   "generate" if raw.get("length") or raw.get("alphabet") else
                                   default_rule.get("action") or "generate")
    if action not in ACTIONS:
        raise ConfigError(f"Failed to resolve the rotation plan: {where}: action '{action}' is not one of "
                          f"{', '.join(ACTIONS)}.")
    if action == "value" and value is None:
        raise ConfigError(f"Failed to resolve the rotation plan: {where}: action 'value' needs 'value'.")
    if action != "value" and value is not None:
        raise ConfigError(f"Failed to resolve the rotation plan: {where}: 'value' is only used with action 'value' "
                          f"(the action is '{action}').")
    rule = {"action": action, "external": bool(raw.get("external") or default_rule.get("external"))}
    if action == "generate":
        length = raw.get("length") or default_rule.get("length") or 32
        alphabet = raw.get("alphabet") or default_rule.get("alphabet") or "alnum"
        if alphabet not in ALPHABETS:
            raise ConfigError(f"Failed to resolve the rotation plan: {where}: alphabet '{alphabet}' is not one of "
                              f"{', '.join(sorted(ALPHABETS))}.")
        if not MIN_LENGTH <= int(length) <= MAX_LENGTH:
            raise ConfigError(f"Failed to resolve the rotation plan: {where}: length {length} is outside "
                              f"{MIN_LENGTH}..{MAX_LENGTH}.")
        rule.update(length=int(length), alphabet=alphabet)
    elif action == "value":
        rule.update(value=value, length=len(value))
    return rule


def resolve_plan(secrets_by_name, plan=(), selection=(), default_rule=None):
    """Decide, per secret and key, what happens. Returns (items, skipped, warnings).

    items: [{"name", "secret", "keys": {key: rule}}] in plan order, then `selection`
    order ('all': every eligible Opaque secret, sorted). A plan may name a key
    the secret lacks: it is added. Keys without a rule of their own take the
    secret-wide rule (a plan entry without 'key'); failing that, default_rule
    if the secret is also selected by `selection` (by name or 'all'), else they
    are kept: naming one key of a secret never rotates its other keys.
    """
    default_rule = dict(default_rule or {})
    default_rule.setdefault("action", "generate")
    if default_rule["action"] not in ("generate", "keep"):
        raise ConfigError("Failed to resolve the rotation plan: default_rule action must be generate or keep.")
    order, per_secret = _plan_rules(plan, default_rule)
    selection = list(selection or [])
    selected, skipped = set(selection), []
    if "all" in selection:
        for name, reason in _eligible(secrets_by_name):
            if reason is None:
                selected.add(name)
                if name not in order:
                    order.append(name)
            elif name not in order:
                skipped.append({"name": name, "reason": reason})
    else:
        order.extend(n for n in selection if n not in order)
    missing = [n for n in order if n not in secrets_by_name]
    if missing:
        raise ConfigError(f"Failed to resolve the rotation plan: secret(s) {', '.join(missing)} do not exist in the "
                          "namespace; check the names (nothing was changed).")
    items, warnings = [], []
    for name in order:
        secret = secrets_by_name[name]
        reason = skip_reason(secret)
        if reason:
            skipped.append({"name": name, "reason": reason})
            warnings.append(f"secret {name} was named but is skipped: {reason}")
            continue
        entry = per_secret.get(name, {"wide": None, "keys": {}})
        if entry["wide"]:
            fallback = entry["wide"]
        elif name in selected:
            fallback = _rule({}, default_rule, f"default_rule for {name}")
        else:
            fallback = {"action": "keep", "external": False}
        keys = {key: entry["keys"].get(key) or fallback
                for key in sorted(set(secret.get("data") or {}) | set(entry["keys"]))}
        items.append({"name": name, "secret": secret, "keys": keys})
    return items, skipped, warnings


def _plan_rules(plan, default_rule):
    """(secret names in plan order, {name: {"wide": rule or None, "keys": {key: rule}}}) of the plan entries."""
    order, per_secret = [], {}
    for index, raw in enumerate(plan or []):
        name = raw.get("secret")
        if not name:
            raise ConfigError(f"Failed to resolve the rotation plan: plan[{index}] has no 'secret'.")
        where = f"plan[{index}] ({name}{'/' + raw['key'] if raw.get('key') else ''})"
        entry = per_secret.setdefault(name, {"wide": None, "keys": {}})
        if name not in order:
            order.append(name)
        rule = _rule(raw, default_rule, where)
        if raw.get("key"):
            entry["keys"][raw["key"]] = rule
        else:
            entry["wide"] = rule
    return order, per_secret


def _eligible(secrets_by_name):
    """(name, why it is left out of 'all' or None) for every secret, sorted by name."""
    for name in sorted(secrets_by_name):
        secret = secrets_by_name[name]
        reason = skip_reason(secret)
        if reason is None and (secret.get("type") or "Opaque") != "Opaque":
            reason = f"type {secret['type']} holds structured values; name it in 'plan' to rotate it"
        yield name, reason


def generate(length, alphabet):
    chars = ALPHABETS[alphabet]
    return "".join(random_source.choice(chars) for position in range(length))


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def new_data(item, no_log_values):
    """The secret's data after rotation (base64), registering every new value as no_log."""
    current = item["secret"].get("data") or {}
    data = {}
    for key, rule in item["keys"].items():
        if rule["action"] == "keep":
            if key in current:
                data[key] = current[key]
            continue
        value = generate(rule["length"], rule["alphabet"]) if rule["action"] == "generate" else rule["value"]
        _register(no_log_values, value, _b64(value))
        data[key] = _b64(value)
    return data


def _register(no_log_values, *values):
    for value in values:
        if value and len(value) >= 4:
            no_log_values.add(value)


def register_data(no_log_values, data):
    """Register base64 data values and their decoded text as no_log."""
    for raw in (data or {}).values():
        _register(no_log_values, raw, _decoded(raw))


def describe(item):
    """Value-free description of a plan item for output."""
    keys = []
    for key, rule in item["keys"].items():
        entry = {"key": key, "action": rule["action"], "external": rule["external"]}
        if rule["action"] == "generate":
            entry.update(length=rule["length"], alphabet=rule["alphabet"])
        elif rule["action"] == "value":
            entry["length"] = rule["length"]
        keys.append(entry)
    return keys


def external_required(items):
    """Keys whose new value must also be set at an external provider."""
    out = []
    for item in items:
        for key, rule in item["keys"].items():
            if rule["action"] == "value":
                reason = "value supplied from outside: make sure the provider issued it and revoke the old one"
            elif rule["action"] == "keep":
                reason = "kept unchanged: rotate it at the provider and re-run with the new value"
            elif rule["external"]:
                reason = "generated here and marked external: set the new value at the provider"
            else:
                continue
            out.append({"secret": item["name"], "key": key, "reason": reason})
    return out


# -- consumers -----------------------------------------------------------------
def referenced_secrets(pod_spec):
    """Names of secrets a pod spec reads (env, envFrom, volumes, projected volumes)."""
    names = set()
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod_spec.get(key) or []:
            for env in container.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
                if ref.get("name"):
                    names.add(ref["name"])
            for source in container.get("envFrom") or []:
                ref = source.get("secretRef") or {}
                if ref.get("name"):
                    names.add(ref["name"])
    for volume in pod_spec.get("volumes") or []:
        if (volume.get("secret") or {}).get("secretName"):
            names.add(volume["secret"]["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("secret") or {}).get("name"):
                names.add(source["secret"]["name"])
    return names


def consumers(deployment_list, secret_names):
    """{secret: [deployment names]} for the given secrets."""
    wanted = set(secret_names)
    out = {name: [] for name in secret_names}
    for dep in deployment_list:
        spec = ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}
        for name in referenced_secrets(spec) & wanted:
            out[name].append(dep["metadata"]["name"])
    return {name: sorted(deps) for name, deps in out.items()}


# -- state file ------------------------------------------------------------------
def state_path(incident_dir, namespace):
    return os.path.join(workspace.category_dir(incident_dir, workspace.SECRETS), f"rotation-{workspace.safe_name(namespace)}.json")


def load_state(path, namespace):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {"namespace": namespace, "secrets": {}, "events": []}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Failed to read the rotation state {path}: {exc}; it records which secrets were "
                          "rotated, so repair or move it aside deliberately.") from exc


def save_state(path, state, event=None):
    if event:
        state["events"].append(dict(event, at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    workspace.write_private(path, json.dumps(state, indent=2, sort_keys=True))


# -- operations ------------------------------------------------------------------
def _read(client, namespace):
    with failing_to(f"read the secrets of namespace {namespace}"):
        ns_obj, secret_list, deployment_list = client.parallel([
            lambda: client.get_or_none(resources.path("Namespace", name=namespace)),
            lambda: client.list(resources.path("Secret", namespace)),
            lambda: client.list(resources.path("Deployment", namespace)),
        ])
    if ns_obj is None:
        raise ConfigError(f"Failed to rotate secrets in namespace {namespace}: the namespace does not exist; check "
                          "the namespace name and the kubeconfig context.")
    return {s["metadata"]["name"]: s for s in secret_list}, deployment_list


def _backup_payload(secret):
    meta = secret.get("metadata") or {}
    return {"type": secret.get("type") or "Opaque", "data": secret.get("data") or {},
            "labels": meta.get("labels") or {},
            "annotations": {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}}


def _updated_secret(secret, data):
    """The Secret with new data and nothing left of the values it replaces.

    stringData and managedFields go; so does every annotation that carries a replaced value in any encoding
    (kubectl's last-applied-configuration always does), since "rotated" values must not stay readable.
    """
    body = copy.deepcopy(secret)
    body.pop("stringData", None)
    meta = body.setdefault("metadata", {})
    meta.pop("managedFields", None)
    old = [v for k, v in (secret.get("data") or {}).items() if (data or {}).get(k) != v]
    replaced = Redactor(old + [d for d in (_decoded(v) for v in old) if d])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != LAST_APPLIED and replaced.known(str(v)) == str(v)}
    if meta.get("annotations") is not None or annotations:
        meta["annotations"] = annotations
    body["data"] = data
    return body


def _decoded(raw):
    try:
        return base64.b64decode(raw or "").decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def _restart(client, namespace, names, params, check_mode, reason):
    """Restart Deployments (rollout restart) and, unless check mode, wait for them concurrently."""
    if not names:
        return {}
    waited = {}
    for name in names:
        with failing_to(f"restart deployment {namespace}/{name}"):
            workloads.restart(client, namespace, name, reason=reason, dry_run=check_mode)
    if params.get("wait") and not check_mode:
        with failing_to(f"wait for the restarted deployments of namespace {namespace}"):
            results = client.parallel([
                (lambda n=n: workloads.wait_for_rollout(client, namespace, n, params["wait_timeout"],
                                                        params["wait_sleep"],
                                                        grace=params.get("fail_fast_grace", waiter.DEFAULT_GRACE)))
                for n in names])
        waited = {name: elapsed for name, (rollout, elapsed) in zip(names, results)}
    return waited


def _fail_partway(exc, action, namespace, name, done, hint):
    exc.msg = (f"Failed to {action} secret {namespace}/{name}: {exc.msg}. "
               f"{len(done)} secret(s) were {action}d before this one ({', '.join(done) or 'none'}); {hint}")
    exc.args = (exc.msg,)
    return exc


def operation(ctx):
    """The secret_rotation module: rotate (state=rotated) or put back (state=restored)."""
    if not ctx.params.get("incident_dir"):
        raise ConfigError("Failed to rotate secrets: incident_dir is required (the encrypted backup and the rotation "
                          "state live there).")
    result = (restore if ctx.params["state"] == "restored" else rotate)(ctx)
    for warning in result.pop("warnings"):
        ctx.warn(warning)
    return result


def rotate(ctx):
    client, params, no_log_values, check_mode = ctx.client, ctx.params, ctx.no_log_values, ctx.check_mode
    namespace = params["namespace"]
    secret_backup.check_backup_key(params["backup_key"])
    secrets_by_name, deployment_list = _read(client, namespace)
    for secret in secrets_by_name.values():
        register_data(no_log_values, secret.get("data"))
    items, skipped, warnings = resolve_plan(secrets_by_name, params.get("plan") or [], params.get("secrets") or [],
                                            params.get("default_rule"))
    state_file = state_path(params["incident_dir"], namespace)
    state = load_state(state_file, namespace)
    entries = state["secrets"]
    to_rotate = [i for i in items if entries.get(i["name"], {}).get("status") not in (ROTATED, DONE)
                 and any(rule["action"] != "keep" for rule in i["keys"].values())]
    interrupted = [n for n, e in entries.items() if e.get("status") == ROTATED]
    consumer_map = consumers(deployment_list, sorted({i["name"] for i in items} | set(interrupted)))
    rotated_names = [i["name"] for i in to_rotate]
    backup_path = None
    needs_backup = [i for i in to_rotate if entries.get(i["name"], {}).get("status") in (None, RESTORED)]
    if needs_backup and not check_mode:
        backup_path = _backup_first(params, namespace, needs_backup, state_file, state)
    diff = _replace_all(ctx, namespace, to_rotate, state_file, state)

    # Consumers of every secret rotated now or in an interrupted earlier run.
    restart_secrets = rotated_names + [n for n in interrupted if n not in rotated_names]
    to_restart = sorted({dep for name in restart_secrets for dep in consumer_map.get(name, [])})
    waited = {}
    if params["restart_consumers"]:
        waited = _restart(client, namespace, to_restart, params, check_mode,
                          params.get("reason") or "mataresit.emergency secret rotation")
    if not check_mode and restart_secrets:
        for name in restart_secrets:
            entries[name]["status"] = DONE
        save_state(state_file, state, {"event": "consumers restarted" if params["restart_consumers"]
                                       else "consumers not restarted", "secrets": restart_secrets,
                                       "deployments": to_restart if params["restart_consumers"] else []})
    return {
        "changed": bool(rotated_names) or bool(to_restart and params["restart_consumers"]), "namespace": namespace,
        "state": "rotated", "secrets": _report(items, rotated_names, entries, consumer_map),
        "skipped_secrets": skipped,
        "rotated": rotated_names, "restarted": to_restart if params["restart_consumers"] else [],
        "consumers_not_restarted": [] if params["restart_consumers"] else to_restart,
        "rollout_seconds": waited, "external_rotation_required": external_required(items),
        "backup": backup_path, "state_file": None if check_mode else state_file, "warnings": warnings, "diff": diff,
    }


def _backup_first(params, namespace, needs_backup, state_file, state):
    """The encrypted backup of the current values, recorded in the state before any change; its path."""
    backup_path = secret_backup.write(os.path.dirname(state_file), namespace, params["backup_key"],
                                      {i["name"]: _backup_payload(i["secret"]) for i in needs_backup},
                                      {"namespace": namespace, "secrets": sorted(i["name"] for i in needs_backup)})
    for item in needs_backup:
        state["secrets"][item["name"]] = {"status": PENDING, "backup": backup_path}
    save_state(state_file, state, {"event": "backup", "secrets": [i["name"] for i in needs_backup],
                                   "backup": backup_path})
    return backup_path


def _sizes(data, label=lambda key: ""):
    return {k: f"<{label(k)}{len(base64.b64decode(v or ''))} bytes>" for k, v in sorted(data.items())}


def _replace_all(ctx, namespace, to_rotate, state_file, state):
    """Replace each secret's values, recording each one rotated; return the diff (sizes, never values)."""
    check_mode, before, after, done = ctx.check_mode, {}, {}, []
    for item in to_rotate:
        name = item["name"]
        data = new_data(item, ctx.no_log_values)
        before[name] = _sizes(item["secret"].get("data") or {})
        after[name] = _sizes(data, lambda k, item=item: "kept, " if item["keys"].get(k, {}).get("action") == "keep"
                             else "new value, ")
        try:
            ctx.client.replace(resources.path("Secret", namespace, name), _updated_secret(item["secret"], data),
                               dry_run=check_mode)
        except EmergencyError as exc:
            if not check_mode:
                save_state(state_file, state, {"event": "failed", "secret": name, "error": exc.msg})
            hint = ("nothing was changed (check mode)" if check_mode else
                    f"the original values are in the encrypted backup under {os.path.dirname(state_file)}: fix the "
                    "cause and re-run (secrets already rotated are not rotated again and their backup is kept), "
                    "or run with state=restored")
            raise _fail_partway(exc, "rotate", namespace, name, done, hint) from exc
        done.append(name)
        if not check_mode:
            state["secrets"][name]["status"] = ROTATED
            save_state(state_file, state, {"event": "rotated", "secret": name})
    return {"before": before, "after": after}


def _report(items, rotated_names, entries, consumer_map):
    report = []
    for item in items:
        status = entries.get(item["name"], {}).get("status")
        if item["name"] in rotated_names:
            action = "rotated"
        elif status in (ROTATED, DONE):
            action = "already_rotated"
        else:
            action = "kept"
        report.append({"name": item["name"], "action": action, "keys": describe(item),
                       "consumers": consumer_map.get(item["name"], [])})
    return report


def restore(ctx):
    client, params, check_mode = ctx.client, ctx.params, ctx.check_mode
    namespace = params["namespace"]
    state_file = state_path(params["incident_dir"], namespace)
    if not os.path.exists(state_file):
        raise ConfigError(f"Failed to restore the secrets of namespace {namespace}: there is no rotation state at "
                          f"{state_file}; give the incident_dir that the rotation used.")
    state = load_state(state_file, namespace)
    entries = state["secrets"]
    names, originals, backups = _decrypt_originals(params, namespace, state_file, entries, ctx.no_log_values)
    secrets_by_name, deployment_list = _read(client, namespace)
    for secret in secrets_by_name.values():
        register_data(ctx.no_log_values, secret.get("data"))
    restored, unchanged, recreated = _put_back(client, namespace, names, originals, secrets_by_name, check_mode)
    consumer_map = consumers(deployment_list, names)
    to_restart = sorted({dep for name in restored for dep in consumer_map.get(name, [])})
    waited = {}
    if params["restart_consumers"]:
        waited = _restart(client, namespace, to_restart, params, check_mode,
                          params.get("reason") or "mataresit.emergency secret restore")
    if not check_mode:
        changed_state = False
        for name in names:
            if entries[name]["status"] != RESTORED:
                entries[name]["status"] = RESTORED
                changed_state = True
        if changed_state or restored:
            save_state(state_file, state, {"event": "restored", "secrets": restored, "deployments": to_restart})
    return {
        "changed": bool(restored), "namespace": namespace, "state": "restored",
        "secrets": [{"name": n, "action": "restored" if n in restored else "unchanged",
                     "recreated": n in recreated, "consumers": consumer_map.get(n, [])} for n in names],
        "restored": restored, "unchanged": unchanged,
        "restarted": to_restart if params["restart_consumers"] else [],
        "consumers_not_restarted": [] if params["restart_consumers"] else to_restart,
        "rollout_seconds": waited, "backups": backups, "state_file": state_file,
        "skipped_secrets": [], "external_rotation_required": [], "warnings": [],
        "diff": {"before": {n: "<current values>" for n in restored}, "after": {n: "<backup values>" for n in restored}},
    }


def _decrypt_originals(params, namespace, state_file, entries, no_log_values):
    """(names to restore, {name: original}, backup paths), every backup decrypted before anything changes."""
    wanted = [n for n in (params.get("secrets") or []) if n != "all"]
    wanted += [r["secret"] for r in params.get("plan") or [] if r.get("secret") and r["secret"] not in wanted]
    names = [n for n in sorted(entries) if not wanted or n in wanted]
    unknown = [n for n in wanted if n not in entries]
    if unknown:
        raise ConfigError(f"Failed to restore the secrets of namespace {namespace}: no backup of {', '.join(unknown)} "
                          f"in {state_file}.")
    # A wrong key fails here, before anything changes.
    payloads = {path: secret_backup.read(path, params["backup_key"])
                for path in sorted({entries[n]["backup"] for n in names})}
    originals = {}
    for name in names:
        payload = payloads[entries[name]["backup"]]
        if name not in payload:
            raise ConfigError(f"Failed to restore secret {namespace}/{name}: its backup {entries[name]['backup']} "
                              "does not contain it.")
        originals[name] = payload[name]
        register_data(no_log_values, payload[name]["data"])
    return names, originals, sorted(payloads)


def _put_back(client, namespace, names, originals, secrets_by_name, check_mode):
    """Write the original values back (recreating deleted secrets); return (restored, unchanged, recreated)."""
    restored, unchanged, recreated = [], [], []
    for name in names:
        original, current = originals[name], secrets_by_name.get(name)
        try:
            if current is None:
                body = {"apiVersion": "v1", "kind": "Secret", "type": original["type"], "data": original["data"],
                        "metadata": {"name": name, "namespace": namespace, "labels": original["labels"],
                                     "annotations": original["annotations"]}}
                client.create(resources.path("Secret", namespace), body, dry_run=check_mode)
                recreated.append(name)
            elif (current.get("data") or {}) == original["data"]:
                unchanged.append(name)
                continue
            else:
                client.replace(resources.path("Secret", namespace, name),
                               _updated_secret(current, original["data"]), dry_run=check_mode)
        except EmergencyError as exc:
            hint = ("nothing was changed (check mode)" if check_mode else
                    "fix the cause and re-run state=restored (restored secrets are compared and left alone)")
            raise _fail_partway(exc, "restore", namespace, name, restored, hint) from exc
        restored.append(name)
    return restored, unchanged, recreated
