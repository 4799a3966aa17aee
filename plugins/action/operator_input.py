# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of mataresit.emergency.operator_input: the operator's extra vars, read raw and checked as data
(module_utils/operator_input.py holds the rules)."""
from __future__ import annotations

import glob
import os

import yaml
from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars

from ansible_collections.mataresit.emergency.plugins.module_utils.deps import load_yaml
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import EmergencyError
from ansible_collections.mataresit.emergency.plugins.module_utils.operator_input import check
from ansible_collections.mataresit.emergency.plugins.plugin_utils.in_process import preload

COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
preload(__name__)  # the first task of every playbook: what the workers of every task use, loaded once here


def role_specs(root=COLLECTION):
    """{role: argument_specs} of the collection's roles (the types their options are checked against)."""
    specs = {}
    for path in sorted(glob.glob(os.path.join(root, "roles", "*", "meta", "argument_specs.yml"))):
        try:
            with open(path, encoding="utf-8") as handle:
                specs[path.split(os.sep)[-3]] = (load_yaml(handle) or {}).get("argument_specs") or {}
        except (OSError, ValueError, AttributeError, yaml.YAMLError):
            continue  # a role without a readable spec has no typed options to check
    return specs


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if self._task.args:
            return dict(result, failed=True, msg="operator_input takes no options")
        try:
            # The extra vars as given, never templated (task_vars would hand out the same raw values).
            checked = check(load_extra_vars(self._loader), role_specs())
        except EmergencyError as exc:
            return dict(result, failed=True, msg=str(exc))
        return dict(result, changed=False, checked=checked)
