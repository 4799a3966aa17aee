#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: operator_input
short_description: Check the operator's extra vars as data, before anything templates them
description:
  - ansible-core trusts extra vars (C(-e key=value), C(-e @file), C(-e '{json}')) as templates, so a value such
    as C({{ lookup('pipe', 'id') }}) would run wherever a template refers to it, a role's argument validation
    included. This action reads every extra var raw, before any role of the collection validates or templates it,
    and fails with one line naming the variable when one cannot be used.
  - Free text (C(reason)) may hold anything, template markers included; no template of the collection refers to it
    (the M(mataresit.emergency.incident) step reads it raw and returns it as data, shown literally in the timeline and
    the postmortem).
  - Every other extra var is refused if it holds a template (C({{), C({%), C({#)).
  - The variables the collection reads are checked by kind - Kubernetes namespace names (C(emergency_namespace),
    every role option ending in C(_namespace)), incident ids, ISO 8601 times with a timezone, and the options of the
    collection's roles by the type their argument specs declare (numbers are never negative, choices are checked).
  - The mataresit.emergency.incident role runs it first (as a role dependency), so every playbook of the collection
    checks its extra vars before anything else happens.
version_added: 0.1.0
author: mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.attributes
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on
      the controller.
    support: full
  check_mode:
    support: full
    details: Only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
options: {}
notes:
  - The check runs on the controller, in the action plugin; the module file only holds this documentation.
"""

EXAMPLES = r"""
- name: Check the operator's extra vars before anything uses them
  mataresit.emergency.operator_input:
  run_once: true
"""

RETURN = r"""
checked:
  description: The names of the extra vars that were checked.
  returned: always
  type: list
  elements: str
  sample: [emergency_namespace, incident_id, reason]
"""
