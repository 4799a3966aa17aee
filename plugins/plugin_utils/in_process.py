# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A collection module run inside the controller's worker process, as `debug` or `set_fact` run.

The collection's modules talk to APIs from wherever they run; every inventory runs them on the controller
(`ansible_connection: local`, `ansible_python_interpreter: "{{ ansible_playbook_python }}"`). There a fresh
Python per task (interpreter start-up, imports, the AnsiballZ payload) costs more than most modules' work. When
the task would run the module with the controller's own Python, the action imports the module and calls its
main() here instead: the same AnsibleModule (argument validation, no_log, check and diff mode, invocation), the
same service code, the same JSON result parsed the same way; `async` forks this process instead of starting
async_wrapper. Anything else (another connection or interpreter, become, a task environment) runs the module as
usual.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import io
import json
import os
import secrets
import signal
import sys

from ansible.module_utils import basic
from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.plugins.action import ActionBase
from ansible.vars.clean import remove_internal_keys

COLLECTION = "mataresit.emergency"
# Modules without serialization metadata use the legacy profile (what ansible-core gives them).
PROFILE = "legacy"


def preload(action_name):
    """Import the module of an action (`ansible_collections...plugins.action.<module>`) with everything it imports,
    and make this process cheap to fork.

    The strategy loads each task's action in the ansible-playbook process before forking the task's workers, so
    what is done here is done once and shared by every worker instead of repeated by each. A module that cannot
    be imported here fails in its run, with its own message.
    """
    try:
        importlib.import_module(f"ansible_collections.{COLLECTION}.plugins.modules.{action_name.rsplit('.', 1)[-1]}")
    except Exception:  # pylint: disable=broad-except
        pass
    _load_template_plugins()
    # The objects made so far (the parsed playbook, the inventory, the code) go to the garbage collector's
    # permanent generation: a forked worker's collections neither walk them nor write to their memory, which fork's
    # copy-on-write would copy (Python's advice for a process that forks without exec).
    gc.freeze()


@functools.cache
def _load_template_plugins():
    """Load ansible.builtin's Jinja filter and test plugins once, in this process, before it forks the workers.

    Any task template with a filter or a test loads them; a worker forked after this finds them loaded instead of
    importing them again (each file of them, ~5 ms per task). Asking for one plugin loads all of its type.
    """
    from ansible.plugins.loader import filter_loader, test_loader  # pylint: disable=import-outside-toplevel

    for loader, names in ((filter_loader, ("default", "bool", "combine")), (test_loader, ("match", "defined"))):
        for name in names:
            try:
                loader.get(name)
            except Exception:  # pylint: disable=broad-except
                pass  # a template that uses it says why


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
        """The module's result: run here when that is the same as running it as a module, else as a module.

        With `async` (poll 0 or not) a module that runs here is started in a fork of this process, which writes
        its result where ansible.builtin.async_status reads it, as async_wrapper would: no new Python either.
        """
        module_name = module_name or self._task.resolved_action or self._task.action
        module_args = dict(self._task.args if module_args is None else module_args)
        task_vars = task_vars or {}
        if not self._runs_here(module_name, task_vars):
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            return self._execute_module(module_name=module_name, module_args=module_args, task_vars=task_vars,
                                        wrap_async=wrap_async)
        self._update_module_args(module_name, module_args, task_vars)
        if self._task.async_val:
            return self._start_here(module_name, module_args)
        return self._run_here(module_name, module_args)

    def _run_here(self, module_name, module_args):
        output, code = self._main(module_name, module_args)
        data = self._parse_returned_data({"stdout": output, "stderr": "", "rc": code}, PROFILE)
        data.pop("_ansible_suppress_tmpdir_delete", None)
        remove_internal_keys(data)
        return data

    @staticmethod
    def _main(module_name, module_args):
        """(what the module printed, its exit code): its main() run here, as AnsiballZ would run it."""
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
        return output.getvalue(), code

    def _start_here(self, module_name, module_args):
        """Start the module in a fork of this process; the job's record is the one async_status reads."""
        limit = int(self._task.async_val)
        async_dir = os.path.expanduser(self.get_shell_option("async_dir", default="~/.ansible_async"))
        os.makedirs(async_dir, mode=0o700, exist_ok=True)
        jid = f"j{secrets.randbelow(999999999999)}"
        job = os.path.join(async_dir, jid)
        started = {"started": 1, "finished": 0, "ansible_job_id": jid}
        _write_job(job, json.dumps(started))
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the job's process (its effects are what the tests see)
            try:
                os.setsid()
                if os.fork():
                    os._exit(0)  # the job is nobody's child: this task's worker ends without waiting for it
                # Off the run's terminal and pipes (a caller waiting for ansible-playbook's output never waits for it).
                null = os.open(os.devnull, os.O_RDWR)
                for stream in (0, 1, 2):
                    os.dup2(null, stream)

                def over_time(_signum, _frame):
                    raise TimeoutError(f"Job reached maximum time limit of {limit} seconds.")

                signal.signal(signal.SIGALRM, over_time)
                signal.alarm(limit)
                try:
                    output = self._main(module_name, module_args)[0]
                except TimeoutError as exc:
                    output = json.dumps({"failed": True, "msg": str(exc), "child_pid": os.getpid()})
                signal.alarm(0)
                _write_job(job, output)  # the module's own JSON, as async_wrapper records it
            except BaseException as exc:  # pylint: disable=broad-except  # the job's record says what went wrong
                _write_job(job, json.dumps({"failed": True, "msg": f"The job failed to run: {exc}"}))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        return dict(started, results_file=job, changed=True)

    def _runs_here(self, module_name, task_vars):
        """Whether running the module here is what running it as a module would be."""
        if not module_name.startswith(COLLECTION + "."):
            return False
        if self._connection.transport != "local" or self._play_context.become \
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


def _write_job(path, text):
    """Replace the job's record at once (async_status may read it at any time)."""
    partial = f"{path}.{os.getpid()}.tmp"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)
