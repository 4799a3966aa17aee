# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incident timeline: one JSON line per task result, secrets redacted."""
from __future__ import annotations

DOCUMENTATION = r"""
name: incident_timeline
type: notification
short_description: Record every task of an emergency run in the incident timeline
version_added: 0.1.0
author: mataresit engineers (@mataresit)
description:
  - Appends one JSON line per task result (UTC start and end, cluster, play, phase, task, action, status,
    message, the objects the task changed and a short summary of its result) to C(timeline.jsonl) in the
    incident workspace, so that the post-incident report can rebuild what happened and when.
  - Each line is in the file as soon as its task ends. The lines of tasks that changed something or failed are
    put on disk (fsync) at once, with every line before them; the others at the latest when the run ends.
  - The workspace is the C(incident_dir) returned by M(mataresit.emergency.incident); results that arrive
    before it is known are buffered and written once it is.
  - Results of tasks with C(no_log) are recorded as censored; secret-looking keys and values are masked, and so
    is every credential the run passed to a task (options named like C(api_key), C(routing_key), C(webhook_url),
    C(password), C(backup_key), the credentials of an inline kubeconfig) in every encoding (plain, base64,
    URL-encoded, JSON-escaped).
requirements:
  - enable it with C(callbacks_enabled = mataresit.emergency.incident_timeline) in the C([defaults]) section of
    C(ansible.cfg), or C(ANSIBLE_CALLBACKS_ENABLED=mataresit.emergency.incident_timeline)
options:
  timeline_dir:
    description:
      - Directory to write C(timeline.jsonl) to when no M(mataresit.emergency.incident) task announces one.
    type: path
    env:
      - name: MRE_TIMELINE_DIR
    ini:
      - section: incident_timeline
        key: timeline_dir
"""

import datetime
import time

from ansible.plugins.callback import CallbackBase

from ansible_collections.mataresit.emergency.plugins.module_utils import workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.incident import summarize_result
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.connection import inline_secrets
from ansible_collections.mataresit.emergency.plugins.module_utils.redact import MIN_SECRET_LEN, redact_text, secret_key

PHASES = ("preflight", "assess", "notify", "recover", "validate", "report")


def task_secrets(args):
    """The credentials among a task's (templated) arguments: values of secret-named options, inline kubeconfigs."""
    found = set()

    def walk(value, key=None):
        if key == "kubeconfig" and isinstance(value, dict):
            found.update(inline_secrets(value))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, key)
        elif key is not None and secret_key(key) and isinstance(value, str) and len(value) >= MIN_SECRET_LEN:
            found.add(str(value))

    walk(args if isinstance(args, dict) else {})
    return found


def _utc(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec="milliseconds")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "mataresit.emergency.incident_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._dir = None
        self._buffer = []
        self._play = ""
        self._task_started = {}
        self._secrets = set()

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        directory = self.get_option("timeline_dir")
        if directory:
            self._open(directory)

    def _open(self, directory):
        self._dir = workspace.ensure_dir(directory)
        for entry in self._buffer:
            self._write(entry)
        self._buffer = []

    def _write(self, entry):
        if self._dir is None:
            self._buffer.append(entry)
            return
        # Every line is in the file at once; what changed or failed is also put on disk at once (with the lines
        # before it), the rest at the latest when the run ends.
        workspace.append_timeline(self._dir, entry, durable=entry.get("status") not in ("ok", "skipped"))

    # -- events ----------------------------------------------------------------
    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = time.time()

    def v2_playbook_on_handler_task_start(self, task):
        self._task_started[task._uuid] = time.time()

    def _record(self, result, status):
        task = result._task
        now = time.time()
        started = self._task_started.get(task._uuid, now)
        raw = result._result or {}
        self._secrets.update(task_secrets(getattr(task, "args", None)))
        censored = bool(task.no_log or raw.get("_ansible_no_log"))
        if status == "ok" and raw.get("changed"):
            status = "changed"
        phase = next((t for t in task.tags if t in PHASES), "")
        entry = {
            "started": _utc(started), "time": _utc(now), "duration_s": round(now - started, 3),
            "cluster": result._host.get_name(), "play": self._play, "phase": phase,
            "task": redact_text(task.get_name(), self._secrets), "action": task.action, "status": status,
        }
        entry.update(summarize_result(raw, censored, self._secrets))
        # A preview of the incident in check mode writes nothing: only the step that opens it is announced.
        opened = task.action.endswith("incident") and status != "failed" and getattr(task, "check_mode", None) is not True
        announced = raw.get("incident_dir") if opened else None
        self._write(entry)
        if announced and self._dir is None:
            self._open(announced)

    def v2_playbook_on_stats(self, stats):
        if self._dir is not None:
            workspace.sync_timeline(self._dir)

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored_failure" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
