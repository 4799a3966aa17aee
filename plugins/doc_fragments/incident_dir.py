# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident workspace option (code: INCIDENT_DIR_ARG_SPEC in module_utils/workspace.py)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  incident_dir:
    description:
      - Incident workspace directory - the incident's own (C(incident_info.incident_dir)) or the part of it that
        belongs to one cluster (C(incident_cluster_dir)), as the C(mataresit.emergency.incident) role sets them.
      - When set, what the module replaces or sends is recorded there (mode 0600), so that it can be restored and a
        re-run does not repeat it.
    type: path
"""
