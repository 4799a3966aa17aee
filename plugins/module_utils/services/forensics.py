"""Forensic evidence bundle of one namespace, captured before anything is
changed: events, container logs (previous too), object YAML, rollout history
and secret metadata (never values), as a 0600 tar.gz with a SHA-256 manifest.

Objects are redacted as data before they are dumped (redact.Redactor.data:
secret-looking keys, env values of secret-looking names, DSNs, last-applied
JSON), logs as text; both mask every value of the namespace's Secrets in every
encoding."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import time

from ansible_collections.mataresit.emergency.plugins.module_utils import workloads, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.deps import optional_import
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ConfigError, EmergencyError, failing_to,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources
from ansible_collections.mataresit.emergency.plugins.module_utils.redact import Redactor

yaml = optional_import("yaml")

OBJECT_KINDS = ["Pod", "Deployment", "ReplicaSet", "Service", "NetworkPolicy", "RoleBinding", "ConfigMap"]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MIN_REDACT_LEN = 6  # shorter secret values would redact ordinary words in logs


def scrub_secret(secret):
    """Secret metadata only: name, type, keys, labels, annotations (minus last-applied). Never values."""
    meta = secret.get("metadata") or {}
    keys = sorted(set(secret.get("data") or {}) | set(secret.get("stringData") or {}))
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    scrubbed = {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {k: v for k, v in {
            "name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"), "creationTimestamp": meta.get("creationTimestamp"),
            "labels": meta.get("labels") or {}, "annotations": annotations,
            "ownerReferences": meta.get("ownerReferences"),
        }.items() if v is not None},
        "type": secret.get("type"),
        "keys": keys,
    }
    if secret.get("immutable") is not None:
        scrubbed["immutable"] = secret["immutable"]
    return scrubbed


def secret_values(secrets):
    """Every decoded secret value long enough to redact, longest first."""
    values = set()
    for secret in secrets:
        for raw in (secret.get("data") or {}).values():
            try:
                decoded = base64.b64decode(raw or "").decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                decoded = None
            for value in (decoded, raw):
                if value and len(value) >= MIN_REDACT_LEN:
                    values.add(value)
        for value in (secret.get("stringData") or {}).values():
            if value and len(value) >= MIN_REDACT_LEN:
                values.add(value)
        for line in (decoded_lines(secret)):
            values.add(line)
    return sorted(values, key=len, reverse=True)


def decoded_lines(secret):
    """Individual lines of multi-line values (keys, certificates) so a partial echo is redacted too."""
    out = set()
    for raw in (secret.get("data") or {}).values():
        try:
            decoded = base64.b64decode(raw or "").decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
        if "\n" in decoded:
            out.update(line.strip() for line in decoded.splitlines() if len(line.strip()) >= MIN_REDACT_LEN)
    return out


def _ts(event):
    return (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
            or (event.get("metadata") or {}).get("creationTimestamp") or "")


def sort_events(events):
    return sorted(events, key=lambda e: (_ts(e), (e.get("metadata") or {}).get("name", "")))


def rollout_history(deployments, replicasets):
    """Per Deployment: its revisions newest first, from the ReplicaSets it owns (no extra reads)."""
    history = {}
    for dep in deployments:
        uid = dep["metadata"].get("uid")
        owned = [rs for rs in replicasets if objects.owned_by(rs, uid)]
        history[dep["metadata"]["name"]] = workloads.revision_history(None, dep, replicasets=owned)
    return history


def log_targets(pods, include_previous=True):
    """(pod, container, previous) for every container of every pod; previous where restartCount > 0."""
    targets = []
    for pod in pods:
        name = pod["metadata"]["name"]
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        restarts = {s.get("name"): s.get("restartCount", 0)
                    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses")
                    for s in status.get(key) or []}
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for container in spec.get(key) or []:
                cname = container["name"]
                targets.append((name, cname, False))
                if include_previous and restarts.get(cname, 0) > 0:
                    targets.append((name, cname, True))
    return targets


def _log_file(pod, container, previous):
    return f"logs/{pod}/{container}{'.previous' if previous else ''}.log"


def _dump(data):
    dumper = getattr(yaml, "CSafeDumper", None) or yaml.SafeDumper  # libyaml is ~10x faster when present
    return yaml.dump(data, Dumper=dumper, default_flow_style=False, sort_keys=False, allow_unicode=True)


def redactor_for(secrets):
    """The bundle's redactor: every value of the namespace's Secrets, in every encoding."""
    return Redactor(secret_values(secrets), min_length=MIN_REDACT_LEN)


def collect(client, params, check_mode=False):
    """Read everything concurrently; return (files dict name -> redacted text, secrets, facts, redactor)."""
    namespace = params["namespace"]
    reads = [lambda: client.get_or_none(resources.path("Namespace", name=namespace)),
             lambda: client.list(resources.path("Event", namespace)),
             lambda: client.list(resources.path("Secret", namespace))]
    reads += [(lambda kind=kind: client.list(resources.path(kind, namespace))) for kind in OBJECT_KINDS]
    with failing_to(f"collect evidence from namespace {namespace}"):
        ns_obj, events, secrets, *listed = client.parallel(reads)
    if ns_obj is None:
        raise ConfigError(f"Failed to collect evidence from namespace {namespace}: the namespace does not exist; "
                          "check the namespace name and the kubeconfig context.")
    by_kind = dict(zip(OBJECT_KINDS, listed))
    redactor = redactor_for(secrets)
    files = {
        "events.yaml": _dump(redactor.data([objects.strip(e) for e in sort_events(events)])),
        "secrets-metadata.yaml": _dump(redactor.data([scrub_secret(s) for s in secrets])),
        "rollout-history.yaml": _dump(redactor.data(rollout_history(by_kind["Deployment"], by_kind["ReplicaSet"]))),
    }
    for kind, items in by_kind.items():
        files[f"objects/{resources.KINDS[kind][1]}.yaml"] = _dump(redactor.data({
            "apiVersion": "v1", "kind": "List",
            "items": [dict(objects.strip(i), apiVersion=resources.API_VERSIONS[kind], kind=kind) for i in items]}))
    targets = log_targets(by_kind["Pod"], params["include_previous_logs"]) if params["include_logs"] else []
    log_errors = []
    if check_mode:
        files.update({_log_file(*t): "" for t in targets})
    elif targets:
        def fetch(pod, container, previous):
            try:
                return client.logs(namespace, pod, container=container, since_seconds=params["since_seconds"],
                                   previous=previous, limit_bytes=params["max_log_bytes"], timestamps=True)
            except EmergencyError as exc:
                return exc
        fetched = client.parallel([(lambda t=t: fetch(*t)) for t in targets])
        for target, text in zip(targets, fetched):
            if isinstance(text, EmergencyError):
                log_errors.append({"pod": target[0], "container": target[1], "previous": target[2],
                                   "error": redactor.text(str(text))})
                files[_log_file(*target) + ".error"] = redactor.text(str(text)) + "\n"
            else:
                files[_log_file(*target)] = redactor.text(text)
    facts = {
        "events": len(events), "secrets": len(secrets), "containers_logged": len(targets) - len(log_errors),
        "log_errors": log_errors, "objects": {kind: len(items) for kind, items in by_kind.items()},
    }
    return files, secrets, facts, redactor


def build_bundle(files, manifest_meta, redactions, mtime=None):
    """tar.gz bytes of files (already redacted) plus manifest.json; return (bytes, manifest)."""
    mtime = mtime or time.time()
    entries, blobs = [], {}
    for name in sorted(files):
        data = files[name].encode("utf-8")
        blobs[name] = data
        entries.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    manifest = dict(manifest_meta, files=entries, redactions=redactions)
    blobs["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ["manifest.json"] + sorted(files):
            info = tarfile.TarInfo(f"{manifest_meta['bundle']}/{name}")
            info.size, info.mode, info.mtime = len(blobs[name]), 0o600, int(mtime)
            tar.addfile(info, io.BytesIO(blobs[name]))
    return buf.getvalue(), manifest


def operation(ctx):
    """The forensics module: collect, redact, bundle, write (in check mode: say what would be collected)."""
    client, params, check_mode = ctx.client, ctx.params, ctx.check_mode
    namespace = params["namespace"]
    if params.get("dest"):
        dest = params["dest"]
    elif params.get("incident_dir"):
        dest = workspace.category_dir(params["incident_dir"], workspace.EVIDENCE)
    else:
        raise ConfigError("Failed to capture evidence: give 'dest' or 'incident_dir' to say where the bundle goes.")
    if params["since_seconds"] <= 0 or params["max_log_bytes"] <= 0:
        raise ConfigError("Failed to capture evidence: since_seconds and max_log_bytes must be positive.")
    started = time.monotonic()
    files, secrets, facts, redactor = collect(client, params, check_mode=check_mode)
    values = secret_values(secrets)
    ctx.no_log_values.update(values)
    now = time.time()
    stamp = workspace.stamp(now)
    bundle = workspace.evidence_name(namespace, now)
    path = os.path.join(dest, bundle + ".tar.gz")
    result = dict(facts, changed=True, namespace=namespace, path=path, checksum_path=path + ".sha256",
                  file_count=len(files) + 1, files=sorted(["manifest.json"] + list(files)))
    if check_mode:
        return dict(result, sha256=None, size=None, uncompressed_size=None, redactions=0,
                    duration=round(time.monotonic() - started, 3))
    meta = {"bundle": bundle, "namespace": namespace, "captured_at": stamp, "since_seconds": params["since_seconds"],
            "max_log_bytes": params["max_log_bytes"], "server": client.connection.server,
            "log_errors": facts["log_errors"]}
    data, manifest = build_bundle(files, meta, redactor.count, mtime=now)
    digest = hashlib.sha256(data).hexdigest()
    workspace.write_private(path, data)
    workspace.write_private(path + ".sha256", f"{digest}  {os.path.basename(path)}\n")
    return dict(result, sha256=digest, size=len(data), redactions=redactor.count,
                uncompressed_size=sum(e["size"] for e in manifest["files"]),
                duration=round(time.monotonic() - started, 3))
