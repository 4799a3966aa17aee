"""The incident workspace: the one owner of its layout. Nothing else builds a
path inside it, and playbooks read it through the incident and incident_records
modules, never by globbing file names.

  <root>/                            root(): workspace_root, else $MRE_INCIDENTS_DIR, else DEFAULT_ROOT
    .remediations/<cluster>.jsonl    remediation_log(): every automatic change on a cluster, across incidents
                                     (append_remediation() / remediations_since(): the hourly guardrail)
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

      run.lock                       claim_run(): the one run (ansible-playbook process) working on the incident

Files are 0600 and written atomically before the change they protect: a new
temp file (O_EXCL | O_NOFOLLOW) is written and fsynced, renamed into place, and
the directory fsynced. Directories are 0700 all the way down, whatever the
umask. Record names are `<UTC stamp to the microsecond>-<name parts>.json` and
never replace one another: two records of one object keep both. A record made
for a guarded write that lost the race is taken back (kept_if_written()).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the run lock is advisory only there
    fcntl = None

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, ConflictError

DEFAULT_ROOT = os.path.join("~", ".mataresit-emergency", "incidents")
ROOT_ENV = "MRE_INCIDENTS_DIR"
INCIDENT_FILE = "incident.json"
TIMELINE_FILE = "timeline.jsonl"
REPORT_FILE = "postmortem.md"
LOCK_FILE = "run.lock"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,99}$")

# Record categories: one folder each in a cluster's part of the workspace.
ROLLOUT, SCALE, CONTAINER_PATCH, POD_RECYCLE = "rollout", "scale", "container_patch", "pod_recycle"
ISOLATION, NOTIFICATIONS, SNAPSHOT, DRILL_FAULT = "isolation", "notifications", "snapshot", "drill_fault"
RECORD_CATEGORIES = (ROLLOUT, SCALE, CONTAINER_PATCH, POD_RECYCLE, ISOLATION, NOTIFICATIONS, SNAPSHOT, DRILL_FAULT)
ESCALATION = "escalation"  # incident-wide, not per cluster: claims of the escalation clock
SECRETS = "secrets"  # files of their own: encrypted backups and the rotation state
EVIDENCE = "evidence"
CLUSTERS = "clusters"
REMEDIATIONS = ".remediations"  # not a valid incident id, so never an incident's folder

# The option every module that records into the workspace takes (doc fragment mataresit.emergency.incident_dir).
INCIDENT_DIR_ARG_SPEC = dict(
    incident_dir=dict(type="path"),
)


# -- layout --------------------------------------------------------------------------
def root(option=None):
    """The workspace root: the workspace_root option, else $MRE_INCIDENTS_DIR, else DEFAULT_ROOT."""
    return os.path.expanduser(option or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def incident_path(workspace_root, incident_id):
    if not isinstance(incident_id, str) or not ID_PATTERN.fullmatch(incident_id):
        raise ConfigError(f"Failed to open incident: id '{incident_id}' must be 3-100 letters, digits, '.', '_' or '-'.")
    return os.path.join(workspace_root, incident_id)


def cluster_dir(incident_dir, cluster):
    """Where one cluster's steps record what they replace."""
    return os.path.join(incident_dir, CLUSTERS, safe_name(cluster))


def incident_of(cluster_path):
    """(incident dir, cluster) of a cluster's part of a workspace (cluster_dir()); (None, None) for another path."""
    parent, cluster = os.path.split(os.path.normpath(cluster_path or ""))
    incident, folder = os.path.split(parent)
    if folder != CLUSTERS or not cluster or read_incident(incident) is None:
        return None, None
    return incident, cluster


def remediation_log(incident_dir, cluster):
    """The log of automatic changes to a cluster, beside the incidents (shared by all of them)."""
    return os.path.join(os.path.dirname(os.path.normpath(incident_dir)), REMEDIATIONS, f"{safe_name(cluster)}.jsonl")


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


def stamp(when=None, precise=False):
    """UTC time as used in file names (to the microsecond with precise, for record names)."""
    when = time.time() if when is None else when
    if not precise:
        return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(when)) + f".{int(when % 1 * 1e6):06d}Z"


def evidence_name(namespace, when=None):
    """Name of a forensic bundle (without .tar.gz)."""
    return f"forensics-{safe_name(namespace)}-{stamp(when)}"


# -- writing ---------------------------------------------------------------------------
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def ensure_dir(path):
    """Create path and every missing parent with mode 0700 (whatever the umask); return path."""
    missing, head = [], path
    while head and not os.path.isdir(head):
        missing.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            break
        head = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
            os.chmod(directory, 0o700)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise ConfigError(f"Failed to create incident directory {directory}: a file of that name is in "
                                  "the way; move it aside.") from None
        except OSError as exc:
            raise ConfigError(f"Failed to create incident directory {directory}: {exc.strerror}") from exc
    return path


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY | O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory
    finally:
        os.close(fd)


def write_private(path, data, exclusive=False):
    """Write bytes or text to path, mode 0600, durably and atomically; return path.

    The data goes to a new temp file beside path (O_EXCL | O_NOFOLLOW: never through a planted file or
    link), is fsynced, then renamed onto path (with exclusive: linked, so an existing path is never
    replaced and FileExistsError is raised), and the directory is fsynced.
    """
    directory = os.path.dirname(path) or "."
    ensure_dir(directory)
    tmp = os.path.join(directory, f".{os.path.basename(path)[:60]}.{os.getpid()}-{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data.encode() if isinstance(data, str) else data)
                handle.flush()
                os.fsync(handle.fileno())
            if exclusive:
                os.link(tmp, path)
                os.unlink(tmp)
            else:
                os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except FileExistsError:
        if exclusive:
            raise
        raise ConfigError(f"Failed to write {path}: a temp file of the same name is in the way") from None
    except OSError as exc:
        raise ConfigError(f"Failed to write {path}: {exc.strerror or exc}") from exc
    _fsync_dir(directory)
    return path


def append_line(path, line, durable=True):
    """Append one line to a 0600 file (created on first use); a line cut short earlier is ended first.

    The line is in the file once this returns (a crash of the process loses nothing); with durable it is also on
    disk (fsync), which also makes every line appended before it durable.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o600)
        try:
            size = os.fstat(fd).st_size
            ended = size == 0 or os.pread(fd, 1, size - 1) == b"\n"
            os.write(fd, (("" if ended else "\n") + line.rstrip("\n") + "\n").encode("utf-8"))
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(f"Failed to append to {path}: {exc.strerror or exc}") from exc


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


def append_timeline(incident_dir, entry, durable=True):
    append_line(os.path.join(incident_dir, TIMELINE_FILE), json.dumps(entry, sort_keys=True, default=str), durable)


def sync_timeline(incident_dir):
    """Put every line appended to the timeline so far on disk (see append_line)."""
    try:
        fd = os.open(os.path.join(incident_dir, TIMELINE_FILE), os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
    except OSError:
        return  # nothing appended yet
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_remediation(incident_dir, cluster, entry):
    """Log one automatic change to a cluster (entry: what, on which workload, in which incident)."""
    path = remediation_log(incident_dir, cluster)
    ensure_dir(os.path.dirname(path))
    append_line(path, json.dumps(dict(entry, at=time.time()), sort_keys=True, default=str))


def remediations_since(incident_dir, cluster, since):
    """The automatic changes logged for a cluster at or after `since` (epoch seconds), oldest first."""
    out = []
    try:
        with open(remediation_log(incident_dir, cluster), encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and float(entry.get("at") or 0) >= since:
                    out.append(entry)
    except OSError:
        pass
    return out


def read_timeline(incident_dir):
    """The timeline's entries, oldest first; ConfigError naming a line that is not a JSON object."""
    path = os.path.join(incident_dir, TIMELINE_FILE)
    entries = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = None
                if not isinstance(entry, dict):
                    raise ConfigError(f"Failed to read the timeline {path}: line {number} is not a JSON object "
                                      "(a write cut short?); repair or delete that line and re-run.")
                entries.append(entry)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"Failed to read the timeline {path}: {exc.strerror}") from exc
    return entries


# -- records of what a step replaced -------------------------------------------------------
def _suffix(name_parts):
    return "-".join(safe_name(p) for p in name_parts if p) + ".json"


def record(incident_dir, category, name_parts, payload):
    """Write a JSON record of what a step replaced; return its path (None without a workspace).

    Never replaces a record: a second record of the same object in the same microsecond gets a
    counter after the stamp (names still sort oldest first).
    """
    if not incident_dir:
        return None
    text = json.dumps(payload, indent=2, sort_keys=True, default=str)
    base = stamp(precise=True)
    for attempt in range(100):
        name = f"{base}{attempt:02d}" if attempt else base
        try:
            return write_private(os.path.join(incident_dir, category, f"{name}-{_suffix(name_parts)}"), text,
                                 exclusive=True)
        except FileExistsError:
            continue
    raise ConfigError(f"Failed to record in {os.path.join(incident_dir, category)}: 100 records of one object in "
                      "one microsecond")


@contextlib.contextmanager
def kept_if_written(path):
    """Around the guarded write that the record at `path` was made for (None: no record). A write that lost the
    race and was certainly not applied (ConflictError.nothing_written) takes its record back, so that reading and
    planning again leaves one record of what was replaced, not one more for each lost attempt. Any other failure
    keeps the record."""
    try:
        yield path
    except ConflictError as exc:
        if path and exc.nothing_written:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        raise


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


# -- one run per incident ------------------------------------------------------------------
def _process_start(pid):
    """The start time of a process (clock ticks since boot, Linux), or None where it cannot be read."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError, ValueError):
        return None


def _alive(owner):
    """Whether the run that wrote a lock is still running (same host, same pid, same process start)."""
    if owner.get("host") != socket.gethostname():
        return True  # another machine's run: cannot be checked, so it counts as running
    try:
        os.kill(int(owner.get("pid")), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except (TypeError, ValueError, OSError):
        return False
    started = _process_start(owner["pid"])
    return owner.get("started") is None or started is None or started == owner.get("started")


def claim_run(incident_dir, pid, wait=0.0, sleep=time.sleep, clock=time.monotonic):
    """Make the run `pid` (the ansible-playbook process) the one run working on the incident.

    A lock left by a run that has ended is taken over; one held by a live run is waited for up to
    `wait` seconds, then ConfigError says which run holds it. Returns the lock's content.
    """
    path = os.path.join(incident_dir, LOCK_FILE)
    me = {"pid": int(pid), "started": _process_start(pid), "host": socket.gethostname()}
    deadline = clock() + max(0.0, float(wait or 0))
    while True:
        holder = _try_claim(path, me)
        if holder is None:
            return me
        if clock() >= deadline:
            raise ConfigError(
                f"Failed to open incident {os.path.basename(incident_dir)}: another run is working on it "
                f"(ansible-playbook pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}); "
                f"wait for it to finish (it holds {path}), or remove that file if the run is gone.")
        sleep(min(1.0, max(0.05, deadline - clock())))


def _try_claim(path, me):
    """Claim the lock file for `me`; return None, or the live holder's record."""
    ensure_dir(os.path.dirname(path))
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ConfigError(f"Failed to lock the incident {path}: {exc.strerror}") from exc
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, 65536, 0)
        try:
            holder = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except ValueError:
            holder = None  # a lock cut short: its run is gone
        if isinstance(holder, dict) and holder.get("pid") is not None:
            same = (holder.get("pid"), holder.get("host"), holder.get("started")) == \
                (me["pid"], me["host"], me["started"])
            if not same and _alive(holder):
                return holder
        data = json.dumps(dict(me, since=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
        return None
    finally:
        os.close(fd)  # closing releases the flock
