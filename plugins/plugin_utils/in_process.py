# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A collection module run inside the controller's worker process, as `debug` or `set_fact` run.

The collection's modules talk to APIs from wherever they run; every inventory runs them on the controller
(`ansible_connection: local`, `ansible_python_interpreter: "{{ ansible_playbook_python }}"`). There a fresh
Python per task (interpreter start-up, imports, the AnsiballZ payload) costs more than most modules' work. When
the task would run the module with the controller's own Python, the action imports the module and calls its
main() here instead: the same AnsibleModule (argument validation, no_log, check and diff mode, invocation), the
same service code, the same JSON result parsed the same way. Anything else (another connection or interpreter,
become, async, a task environment) runs the module as usual.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys

from ansible.module_utils import basic
from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.plugins.action import ActionBase
from ansible.vars.clean import remove_internal_keys

COLLECTION = "mataresit.emergency"
# Modules without serialization metadata use the legacy profile (what ansible-core gives them).
PROFILE = "legacy"


class InProcessAction(ActionBase):
    """Runs the task's module in this process when it would run with this Python on this machine."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # no longer used
        result.update(self.run_module(task_vars=task_vars or {}))
        return result

    def run_module(self, module_name=None, module_args=None, task_vars=None):
        """The module's result: run here when that is the same as running it as a module, else as a module."""
        module_name = module_name or self._task.resolved_action or self._task.action
        module_args = dict(self._task.args if module_args is None else module_args)
        task_vars = task_vars or {}
        if not self._runs_here(module_name, task_vars):
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            return self._execute_module(module_name=module_name, module_args=module_args, task_vars=task_vars,
                                        wrap_async=wrap_async)
        self._update_module_args(module_name, module_args, task_vars)
        module = importlib.import_module(f"ansible_collections.{COLLECTION}.plugins.modules.{module_name.split('.')[-1]}")
        encoder = get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": module_args}, cls=encoder).encode()
        basic._ANSIBLE_PROFILE = PROFILE
        output, code = io.StringIO(), 0
        try:
            with contextlib.redirect_stdout(output):
                module.main()
        except SystemExit as exc:  # exit_json / fail_json
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            basic._ANSIBLE_ARGS = basic._ANSIBLE_PROFILE = None
        data = self._parse_returned_data({"stdout": output.getvalue(), "stderr": "", "rc": code}, PROFILE)
        data.pop("_ansible_suppress_tmpdir_delete", None)
        remove_internal_keys(data)
        return data

    def _runs_here(self, module_name, task_vars):
        """Whether running the module here is what running it as a module would be."""
        if not module_name.startswith(COLLECTION + "."):
            return False
        if self._connection.transport != "local" or self._task.async_val or self._play_context.become \
                or any(self._task.environment or ()):
            return False
        host_vars = task_vars
        if self._task.delegate_to:
            host_vars = (task_vars.get("ansible_delegated_vars") or {}).get(self._task.delegate_to, task_vars)
        interpreter = host_vars.get("ansible_python_interpreter")
        if interpreter is None:
            return False
        try:
            interpreter = self._templar.template(interpreter)
        except Exception:  # pylint: disable=broad-except  # a bad setting is the module run's to report
            return False
        return isinstance(interpreter, str) and os.path.abspath(interpreter) == os.path.abspath(sys.executable)
