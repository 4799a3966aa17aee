# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes every module documents (each module states its support and details), the action
groups of meta/runtime.yml: K8S (group/mataresit.emergency.k8s) and NOTIFY (group/mataresit.emergency.notify),
and READ_ONLY: the check and diff mode support of a module that only reads (a module's own entries win)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
"""

    K8S = r"""
attributes:
  action_group:
    description: Use C(group/mataresit.emergency.k8s) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - mataresit.emergency.k8s
"""

    NOTIFY = r"""
attributes:
  action_group:
    description: Use C(group/mataresit.emergency.notify) in C(module_defaults) to set the options the notification
      modules share once.
    support: full
    membership:
      - mataresit.emergency.notify
"""

    READ_ONLY = r"""
attributes:
  check_mode:
    support: full
    details: Only reads; check mode makes the same reads.
  diff_mode:
    support: none
    details: Nothing changes, so there is no diff.
"""
