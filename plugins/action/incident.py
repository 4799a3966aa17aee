# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of mataresit.emergency.incident: the operator's reason read raw (data, never a template), the module
run, and the incident claimed for this run (one ansible-playbook process per incident at a time)."""
from __future__ import annotations

import os

from ansible.utils.vars import load_extra_vars

from ansible_collections.mataresit.emergency.plugins.module_utils import workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import EmergencyError
from ansible_collections.mataresit.emergency.plugins.module_utils.operator_input import free_text
from ansible_collections.mataresit.emergency.plugins.plugin_utils.in_process import InProcessAction, preload

preload(__name__)  # once in ansible-playbook's process, shared by the workers of every task


class ActionModule(InProcessAction):

    def run(self, tmp=None, task_vars=None):
        result = super(InProcessAction, self).run(tmp, task_vars)  # ActionBase's: the module runs below
        task_vars = task_vars or {}
        args = dict(self._task.args)
        try:
            if args.get("reason") is None and task_vars.get("reason") is not None:
                if "reason" in load_extra_vars(self._loader):
                    # The -e reason as given: free text from outside, passed on as data and never templated.
                    args["reason"] = free_text(task_vars["reason"])
                else:  # set by the inventory or a play: their authors' own (trusted) templates
                    args["reason"] = free_text(self._templar.template(task_vars["reason"]))
            lock_timeout = float(self._task.args.get("lock_timeout") or 0)
        except (EmergencyError, TypeError, ValueError) as exc:
            return dict(result, failed=True, msg=str(exc) if isinstance(exc, EmergencyError) else
                        f"lock_timeout must be a number of seconds, not {self._task.args.get('lock_timeout')!r}")
        result.update(self.run_module(module_name="mataresit.emergency.incident", module_args=args,
                                      task_vars=task_vars))
        directory = result.get("incident_dir")
        if result.get("failed") or self._play_context.check_mode or not directory or not result.get("found", True) \
                or self._connection.transport != "local":
            return result  # nothing was opened here (check mode, a resolved alert's unknown incident, another host)
        try:
            # The worker's parent is the ansible-playbook process: the lock lasts as long as this run.
            result["run_lock"] = workspace.claim_run(directory, os.getppid(), wait=lock_timeout)
        except EmergencyError as exc:
            return dict(result, failed=True, changed=False, msg=str(exc))
        return result
