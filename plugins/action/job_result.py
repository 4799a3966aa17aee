# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of mataresit.emergency.job_result: the module run in the controller's process where it would run there
anyway (plugin_utils/in_process.py)."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.plugin_utils.in_process import InProcessAction as ActionModule
from ansible_collections.mataresit.emergency.plugins.plugin_utils.in_process import preload

__all__ = ["ActionModule"]
preload(__name__)  # once in ansible-playbook's process, shared by the workers of every task
