# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""On-call console output: the assessment, each action and its result, and the outcome."""
from __future__ import annotations

DOCUMENTATION = r"""
name: oncall
type: stdout
short_description: Console output an on-call engineer can read under stress
version_added: 0.1.0
author: mataresit engineers (@mataresit)
description:
  - "Prints what an emergency run found, did and achieved, grouped by phase (the C(preflight), C(assess),
    C(notify), C(recover), C(validate) and C(report) tags of the roles): the roles' own summaries (their
    C(debug) messages), one line per change with what it changed, every failure with its message, and
    the outcome of each cluster (recovered, healthy, not recovered, failed) with the usual counters."
  - Tasks that were skipped, and reads that changed nothing, print nothing.
  - It relies only on task results, tags and names, not on how the roles' task files are laid out.
  - With C(-v) or more it prints what the default callback prints.
  - Control characters in messages (text from alerts, logs and objects) are shown escaped, never sent to the terminal.
extends_documentation_fragment:
  - ansible.builtin.default_callback
  - ansible.builtin.result_format_callback
requirements:
  - set it as the stdout callback, for example C(stdout_callback = mataresit.emergency.oncall) in the
    C([defaults]) section of C(ansible.cfg), or C(ANSIBLE_STDOUT_CALLBACK=mataresit.emergency.oncall)
"""

import re
import time

from ansible import constants as C
from ansible import context
from ansible.plugins.callback.default import CallbackModule as DefaultCallback

from ansible_collections.mataresit.emergency.plugins.module_utils.incident import summarize_result

PHASES = ("preflight", "assess", "notify", "recover", "validate", "report")
# Actions whose results are bookkeeping, never worth a line of their own.
QUIET_ACTIONS = ("set_fact", "validate_argument_spec", "include_tasks", "include_role", "import_tasks",
                 "import_role", "assert", "pause", "stat", "find", "meta")
# Summary keys that are references to files kept in the incident workspace, not what changed.
WORKSPACE_KEYS = ("backup", "backup_path", "bundle", "sha256", "dedup_key", "incident_key", "elapsed", "duration_s")
OUTCOME_FACT = re.compile(r"^(?P<role>.+)_(?P<kind>needed|recovered|recovered_by)$")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
HOST_WIDTH = 14


def _clean(text):
    """One printable string: control characters (an escape sequence in a log line, say) shown escaped."""
    return CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()), str(text))


def _lines(value):
    """The printable lines of a debug message (a string, or a list of strings and lists)."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _lines(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            for line in _lines(item):
                yield f"{key}: {line}"
    elif value not in (None, ""):
        for line in str(value).splitlines() or [""]:
            yield _clean(line)


def _short(value):
    if isinstance(value, dict):
        return ", ".join(f"{k}={_short(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_short(v) for v in value[:5]) + (f" (+{len(value) - 5})" if len(value) > 5 else "")
    return _clean(value)


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "mataresit.emergency.oncall"

    def __init__(self):
        super().__init__()
        self._started = time.monotonic()
        self._phase = None
        self._task_started = {}
        self._facts = {}          # host -> {role: {needed, recovered, recovered_by}}
        self._failures = {}       # host -> last failure message
        self._retries_shown = set()

    # -- helpers -------------------------------------------------------------------------------------
    @property
    def _verbose(self):
        return self._display.verbosity > 0

    @staticmethod
    def _raw(result):
        raw = getattr(result, "result", None)
        return raw if isinstance(raw, dict) else result._result

    @staticmethod
    def _task(result):
        return getattr(result, "task", None) or result._task

    @staticmethod
    def _host(result):
        return (getattr(result, "host", None) or result._host).get_name()

    def _say(self, task, host, text, color=None, stderr=False):
        phase = next((tag for tag in task.tags if tag in PHASES), None)
        if phase and phase != self._phase:
            self._phase = phase
            self._display.display(f"-- {phase} " + "-" * (60 - len(phase)), color=C.COLOR_HIGHLIGHT)
        who = "all" if task.run_once else host
        for number, line in enumerate(text if isinstance(text, list) else [text]):
            label = who if number == 0 else ""
            self._display.display(f"  {label:<{HOST_WIDTH}} {line}", color=color, stderr=stderr)

    def _title(self, task, raw):
        name = _clean(task.get_name().split(" : ", 1)[-1])
        label = raw.get("_ansible_item_label", raw.get("item")) if "item" in raw or "_ansible_item_label" in raw else None
        if label is not None and not isinstance(label, (dict, list)):
            name += f" [{_clean(label)}]"
        return name

    def _detail(self, raw, task):
        censored = bool(task.no_log or raw.get("_ansible_no_log"))
        summary = summarize_result(raw, censored)
        parts = [_clean(summary["msg"])] if summary.get("msg") and not raw.get("failed") else []
        parts += [f"{k.replace('_', ' ')} {_short(v)}" for k, v in (summary.get("summary") or {}).items()
                  if k not in WORKSPACE_KEYS]
        for key, label in (("event_action", "event"), ("incident_id", "incident")):
            if raw.get(key) and not censored:
                parts.append(f"{label} {_short(raw[key])}")
        return "; ".join(parts)

    def _took(self, task):
        started = self._task_started.get(task._uuid)
        return f" ({time.monotonic() - started:.0f}s)" if started and time.monotonic() - started >= 2 else ""

    def _remember(self, task, host, raw):
        """The facts that say whether a cluster needed recovery and got it (<role>_needed / _recovered / _recovered_by)."""
        if task.run_once:
            return
        for key, value in (raw.get("ansible_facts") or {}).items():
            match = OUTCOME_FACT.match(key)
            if match:
                self._facts.setdefault(host, {}).setdefault(match["role"], {})[match["kind"]] = value

    # -- task results --------------------------------------------------------------------------------
    def _report(self, result, status):
        task, host, raw = self._task(result), self._host(result), self._raw(result)
        self._handle_warnings(raw)  # module warnings and deprecations, as the default callback shows them
        if "results" in raw and task.loop:
            return  # each item was reported on its own
        action = task.action.rsplit(".", 1)[-1]
        self._remember(task, host, raw)
        if status == "failed" or status == "unreachable":
            message = _clean(raw.get("msg") or raw.get("reason") or "failed")
            # A module that crashed says only "MODULE FAILURE": its own last words say why.
            crash = str(raw.get("module_stderr") or raw.get("stderr") or "").strip().splitlines()[-5:]
            self._failures[host] = f"{self._title(task, raw)}: {message}"
            word = "UNREACHABLE" if status == "unreachable" else "FAILED"
            self._say(task, host, [f"x {word} {self._title(task, raw)}",
                                   *[f"    {line}" for line in [*_lines(message), *_lines(crash)]]],
                      color=C.COLOR_ERROR, stderr=self.get_option("display_failed_stderr"))
            return
        if status == "ignored":
            self._say(task, host, f"- failed, ignored: {self._title(task, raw)}: {_clean(raw.get('msg', ''))}",
                      color=C.COLOR_SKIP)
            return
        if action == "debug":
            text = raw.get("msg", {k: v for k, v in raw.items() if not k.startswith("_") and k not in ("changed", "failed")})
            self._say(task, host, list(_lines(text)) or [""])
            return
        if raw.get("changed") and action not in QUIET_ACTIONS:
            verb = "would change" if task.check_mode else "changed"
            detail = self._detail(raw, task)
            self._say(task, host, f"+ {verb}: {self._title(task, raw)}{': ' + detail if detail else ''}{self._took(task)}",
                      color=C.COLOR_CHANGED)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = time.monotonic()
        if self._verbose:
            super().v2_playbook_on_task_start(task, is_conditional)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_started[task._uuid] = time.monotonic()
        if self._verbose:
            super().v2_playbook_on_handler_task_start(task)

    def v2_runner_on_ok(self, result):
        if self._verbose:
            return super().v2_runner_on_ok(result)
        return self._report(result, "ok")

    def v2_runner_item_on_ok(self, result):
        if self._verbose:
            return super().v2_runner_item_on_ok(result)
        return self._report(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if self._verbose:
            return super().v2_runner_on_failed(result, ignore_errors)
        return self._report(result, "ignored" if ignore_errors else "failed")

    def v2_runner_item_on_failed(self, result):
        if self._verbose:
            return super().v2_runner_item_on_failed(result)
        return self._report(result, "failed")

    def v2_runner_on_unreachable(self, result):
        if self._verbose:
            return super().v2_runner_on_unreachable(result)
        return self._report(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        if self._verbose:
            return super().v2_runner_on_skipped(result)
        return None

    def v2_runner_item_on_skipped(self, result):
        if self._verbose:
            return super().v2_runner_item_on_skipped(result)
        return None

    def v2_playbook_on_include(self, included_file):
        if self._verbose:
            super().v2_playbook_on_include(included_file)

    def v2_runner_retry(self, result):
        if self._verbose:
            return super().v2_runner_retry(result)
        raw, task = self._raw(result), self._task(result)
        attempt, retries = raw.get("attempts", 1), raw.get("retries", 0)
        key = (task._uuid, self._host(result))
        if key not in self._retries_shown or attempt % 10 == 0:
            self._retries_shown.add(key)
            self._say(task, self._host(result), f"... waiting: {self._title(task, raw)} (attempt {attempt} of {retries})",
                      color=C.COLOR_DEBUG)
        return None

    # -- plays and the outcome -----------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self._started = time.monotonic()
        if self._verbose or context.CLIARGS.get("check"):
            super().v2_playbook_on_start(playbook)

    def v2_playbook_on_play_start(self, play):
        if self._verbose:
            return super().v2_playbook_on_play_start(play)
        self._play = play
        self._phase = None
        check = " [CHECK MODE: nothing is changed]" if play.check_mode else ""
        self._display.banner(f"{_clean(play.get_name().strip()) or 'PLAY'}{check}")
        return None

    def _outcome(self, host, totals):
        if totals["failures"] or totals["unreachable"]:
            return "FAILED", C.COLOR_ERROR, self._failures.get(host, "")
        roles = self._facts.get(host, {})
        needed = [role for role, facts in roles.items() if facts.get("needed") in (True, "True", "true")]
        if context.CLIARGS.get("check"):
            return "CHECK MODE", C.COLOR_SKIP, "nothing changed" + (f"; would act: {', '.join(needed)}" if needed else "")
        if needed:
            lost = [role for role in needed if roles[role].get("recovered") not in (True, "True", "true")]
            if lost:
                return "NOT RECOVERED", C.COLOR_ERROR, ", ".join(lost)
            by = [str(roles[role]["recovered_by"]) for role in needed if roles[role].get("recovered_by")]
            return "RECOVERED", C.COLOR_OK, f"by {', '.join(by)}" if by else ", ".join(needed)
        if roles:
            return "HEALTHY", C.COLOR_OK, "nothing to do"
        return ("CHANGED" if totals["changed"] else "OK"), (C.COLOR_CHANGED if totals["changed"] else C.COLOR_OK), ""

    def v2_playbook_on_stats(self, stats):
        if self._verbose:
            return super().v2_playbook_on_stats(stats)
        self._display.banner(f"OUTCOME ({time.monotonic() - self._started:.0f}s)")
        for host in sorted(stats.processed.keys()):
            totals = stats.summarize(host)
            word, color, why = self._outcome(host, totals)
            self._display.display(f"  {host:<{HOST_WIDTH}} {word}{': ' + why if why else ''}", color=color)
        # The usual recap lines, for the eye and for the tools that read them.
        for host in sorted(stats.processed.keys()):
            t = stats.summarize(host)
            self._display.display(
                f"{host:<26} : ok={t['ok']:<4} changed={t['changed']:<4} unreachable={t['unreachable']:<4} "
                f"failed={t['failures']:<4} skipped={t['skipped']:<4} rescued={t['rescued']:<4} ignored={t['ignored']:<4}")
        return None
