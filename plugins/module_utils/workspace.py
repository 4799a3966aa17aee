"""The incident workspace: the one owner of its layout. Nothing else builds a
path inside it, and playbooks read it through the incident and incident_records
modules, never by globbing file names.

  <root>/                            root(): workspace_root, else $MRE_INCIDENTS_DIR, else DEFAULT_ROOT
    <incident id>/                   incident_path(root, id)
      incident.json                  write_incident() / read_incident()
      timeline.jsonl                 append_timeline() / read_timeline() (the callback, one line per task)
      postmortem.md                  report_path()
      clusters/<inventory host>/     cluster_dir(): what that cluster's steps replaced, by category:
        rollout/ scale/ container_patch/ pod_recycle/ isolation/ notifications/   record() / latest() / records()
        secrets/                     encrypted backups and the rotation state (category_dir())
      evidence/<inventory host>/     evidence_dir(): forensic bundles (evidence_name(), evidence())
      escalation/                    the escalation clock: clock.json (when it started), level-<n>.json (each level
                                     paged, claimed once: claim()), stopped.json (why it stopped); clock.lock
                                     (held by the running clock: try_lock())
      follow_ups.json                follow_ups_path(): the post-incident action items (owner, due, done)
      review.ics                     review_path(): the post-incident review invitation
      drill.json, drill.md           drill_paths(): a recovery drill's report
      snapshot/                      record() of the cluster state a drill captured (to put it back)

Files are 0600 and written atomically (a temp file renamed into place),
directories 0700; record names are `<UTC stamp>-<name parts>.json`. A lock per
incident, when one is needed, belongs here too.
"""
from __future__ import annotations

import json
import os
import re
import time

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError

DEFAULT_ROOT = os.path.join("~", ".mataresit-emergency", "incidents")
ROOT_ENV = "MRE_INCIDENTS_DIR"
INCIDENT_FILE = "incident.json"
TIMELINE_FILE = "timeline.jsonl"
REPORT_FILE = "postmortem.md"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,99}$")

# Record categories: one folder each in a cluster's part of the workspace.
ROLLOUT, SCALE, CONTAINER_PATCH, POD_RECYCLE = "rollout", "scale", "container_patch", "pod_recycle"
ISOLATION, NOTIFICATIONS, SNAPSHOT, DRILL_FAULT = "isolation", "notifications", "snapshot", "drill_fault"
RECORD_CATEGORIES = (ROLLOUT, SCALE, CONTAINER_PATCH, POD_RECYCLE, ISOLATION, NOTIFICATIONS, SNAPSHOT, DRILL_FAULT)
ESCALATION = "escalation"  # incident-wide, not per cluster: claims of the escalation clock
SECRETS = "secrets"  # files of their own: encrypted backups and the rotation state
EVIDENCE = "evidence"

# The option every module that records into the workspace takes (doc fragment mataresit.emergency.incident_dir).
INCIDENT_DIR_ARG_SPEC = dict(
    incident_dir=dict(type="path"),
)


# -- layout --------------------------------------------------------------------------
def root(option=None):
    """The workspace root: the workspace_root option, else $MRE_INCIDENTS_DIR, else DEFAULT_ROOT."""
    return os.path.expanduser(option or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def incident_path(workspace_root, incident_id):
    if not ID_PATTERN.match(incident_id or ""):
        raise ConfigError(f"Failed to open incident: id '{incident_id}' must be 3-100 letters, digits, '.', '_' or '-'.")
    return os.path.join(workspace_root, incident_id)


def cluster_dir(incident_dir, cluster):
    """Where one cluster's steps record what they replace."""
    return os.path.join(incident_dir, "clusters", safe_name(cluster))


def evidence_dir(incident_dir, cluster):
    return os.path.join(incident_dir, EVIDENCE, safe_name(cluster))


def category_dir(incident_dir, category):
    return os.path.join(incident_dir, category)


def report_path(incident_dir):
    return os.path.join(incident_dir, REPORT_FILE)


def follow_ups_path(incident_dir):
    return os.path.join(incident_dir, "follow_ups.json")


def review_path(incident_dir):
    return os.path.join(incident_dir, "review.ics")


def drill_paths(incident_dir):
    """(JSON, Markdown) paths of a drill's report."""
    return os.path.join(incident_dir, "drill.json"), os.path.join(incident_dir, "drill.md")


def safe_name(part):
    """A name part fit for a file name: other characters become '_', at most 80."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(part))[:80]


def stamp(when=None):
    """UTC time as used in file names."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))


def evidence_name(namespace, when=None):
    """Name of a forensic bundle (without .tar.gz)."""
    return f"forensics-{safe_name(namespace)}-{stamp(when)}"


# -- writing ---------------------------------------------------------------------------
def ensure_dir(path):
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Failed to create incident directory {path}: {exc.strerror}") from exc
    return path


def write_private(path, data):
    """Write bytes or text to path with mode 0600 (atomically, via rename)."""
    ensure_dir(os.path.dirname(path) or ".")
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
    return path


def append_line(path, line):
    """Append one line to a 0600 file (created on first use)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(line.rstrip("\n") + "\n")


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


# -- the incident and its timeline -----------------------------------------------------
def write_incident(incident_dir, incident):
    ensure_dir(incident_dir)
    return write_private(os.path.join(incident_dir, INCIDENT_FILE), json.dumps(incident, indent=2))


def read_incident(incident_dir):
    """The incident.json of a workspace, or None."""
    return _read_json(os.path.join(incident_dir, INCIDENT_FILE))


def append_timeline(incident_dir, entry):
    append_line(os.path.join(incident_dir, TIMELINE_FILE), json.dumps(entry, sort_keys=True, default=str))


def read_timeline(incident_dir):
    entries = []
    try:
        with open(os.path.join(incident_dir, TIMELINE_FILE), encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    entries.append(json.loads(line))
    except OSError:
        pass
    return entries


# -- records of what a step replaced -------------------------------------------------------
def _suffix(name_parts):
    return "-".join(safe_name(p) for p in name_parts if p) + ".json"


def record(incident_dir, category, name_parts, payload):
    """Write a JSON record of what a step replaced; return its path (None without a workspace)."""
    if not incident_dir:
        return None
    return write_private(os.path.join(incident_dir, category, f"{stamp()}-{_suffix(name_parts)}"),
                         json.dumps(payload, indent=2, sort_keys=True, default=str))


def latest(incident_dir, category, name_parts):
    """The newest record for name_parts in a category, or None."""
    folder = os.path.join(incident_dir or "", category)
    suffix = _suffix(name_parts)
    try:
        # exact match after the "<stamp>-" prefix: parts "b" must not find records of "a-b"
        names = sorted(n for n in os.listdir(folder) if n.partition("-")[2] == suffix)
    except OSError:
        return None
    return _read_json(os.path.join(folder, names[-1])) if names else None


def records(incident_dir, category):
    """The newest record of each object recorded in a category, in name order (empty without any)."""
    folder = os.path.join(incident_dir or "", category)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and "-" in n)
    except OSError:
        return []
    newest = {}
    for name in names:  # sorted by stamp within an object: the last one wins
        newest[name.partition("-")[2]] = name
    found = (_read_json(os.path.join(folder, newest[key])) for key in sorted(newest))
    return [item for item in found if item is not None]


# -- claims and locks: work that must happen once per incident ------------------------------
def _claim_path(incident_dir, category, name):
    return os.path.join(incident_dir, category, f"{safe_name(name)}.json")


def claim(incident_dir, category, name, payload):
    """Create <category>/<name>.json unless it exists: True when this call created it (O_EXCL, so two processes
    never both claim the same name), False when someone else already had."""
    path = _claim_path(incident_dir, category, name)
    ensure_dir(os.path.dirname(path))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, default=str)
    return True


def read_claim(incident_dir, category, name):
    return _read_json(_claim_path(incident_dir, category, name))


def update_claim(incident_dir, category, name, payload):
    """Rewrite a claim this process holds (atomically)."""
    return write_private(_claim_path(incident_dir, category, name),
                         json.dumps(payload, indent=2, sort_keys=True, default=str))


def release_claim(incident_dir, category, name):
    try:
        os.unlink(_claim_path(incident_dir, category, name))
    except FileNotFoundError:
        pass


def try_lock(incident_dir, category, name):
    """An exclusive lock on <category>/<name>.lock held until the returned file is closed or the process ends,
    or None when another process holds it."""
    import fcntl

    path = os.path.join(ensure_dir(os.path.join(incident_dir, category)), f"{safe_name(name)}.lock")
    handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def evidence(incident_dir, cluster):
    """The forensic bundles captured for a cluster: [{path, namespace, captured_at}], oldest first."""
    folder = evidence_dir(incident_dir, cluster)
    try:
        names = sorted(n for n in os.listdir(folder) if n.startswith("forensics-") and n.endswith(".tar.gz"))
    except OSError:
        return []
    out = []
    for name in names:
        namespace, _sep, captured = name[len("forensics-"):-len(".tar.gz")].rpartition("-")
        out.append({"path": os.path.join(folder, name), "namespace": namespace, "captured_at": captured})
    return out
