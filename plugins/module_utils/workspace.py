"""The incident workspace: one directory per incident id holding backups of
what was replaced, the evidence bundles and the timeline. Files are 0600."""
from __future__ import annotations

import json
import os
import re
import time

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError


def _safe(part):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(part))[:80]


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


def record(incident_dir, category, name_parts, payload):
    """Write a JSON record of what a step replaced; return its path (None without a workspace)."""
    if not incident_dir:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    filename = "-".join([stamp] + [_safe(p) for p in name_parts if p]) + ".json"
    return write_private(os.path.join(incident_dir, category, filename),
                         json.dumps(payload, indent=2, sort_keys=True, default=str))


def latest(incident_dir, category, name_parts):
    """The newest record for name_parts in a category, or None."""
    folder = os.path.join(incident_dir or "", category)
    suffix = "-".join(_safe(p) for p in name_parts if p) + ".json"
    try:
        # exact match after the "<stamp>-" prefix: parts "b" must not find records of "a-b"
        names = sorted(n for n in os.listdir(folder) if n.partition("-")[2] == suffix)
    except OSError:
        return None
    if not names:
        return None
    with open(os.path.join(folder, names[-1]), encoding="utf-8") as handle:
        return json.load(handle)
