#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: incident_report
short_description: Render the postmortem skeleton of an incident from its timeline
description:
  - Reads the incident and the timeline that the C(mataresit.emergency.incident_timeline) callback wrote, and
    writes C(postmortem.md) in the incident workspace (mode 0600) with the summary, impact, response times
    against the severity target (time to detect, act, mitigate, resolve), phase durations, the timeline, the
    actions taken and follow-ups.
version_added: 0.1.0
author: mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.attributes
attributes:
  check_mode:
    support: full
    details: In check mode the report is rendered and returned but not written.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  incident_dir:
    description: The incident workspace (as returned by M(mataresit.emergency.incident)).
    type: path
    required: true
  impact:
    description: Impact statement; a placeholder is written when omitted.
    type: str
  follow_ups:
    description: Follow-up items; the runbook's post-incident checklist when omitted.
    type: list
    elements: str
  resolved_at:
    description: When the incident was resolved (ISO 8601); the last successful validation when omitted.
    type: str
  resolved:
    description:
      - Whether the incident is resolved. V(false) marks the report B(UNRESOLVED) at the top, lists O(still_broken)
        and leaves the time to resolve open.
    type: bool
    default: true
  still_broken:
    description: What is still broken, one line each (with the cluster), for an unresolved report.
    type: list
    elements: str
    default: []
  escalated_to:
    description: Who was paged when the recovery gave up (the next level of the escalation chain).
    type: str
  reported:
    description: What triage found that no option of the runbook repairs (a NotReady node), one line each, for a human.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Write the postmortem skeleton
  mataresit.emergency.incident_report:
    incident_dir: "{{ incident.incident_dir }}"
"""

RETURN = r"""
path:
  description: Path of the report.
  returned: always
  type: str
report:
  description: The report in Markdown.
  returned: always
  type: str
figures:
  description: Phase durations and the detect / act / mitigate / resolve times in minutes, and whether the severity's response target was met.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import incident_report

ARGUMENT_SPEC = dict(
    incident_dir=dict(type="path", required=True),
    impact=dict(type="str"),
    follow_ups=dict(type="list", elements="str"),
    resolved_at=dict(type="str"),
    resolved=dict(type="bool", default=True),
    still_broken=dict(type="list", elements="str", default=[]),
    escalated_to=dict(type="str"),
    reported=dict(type="list", elements="str", default=[]),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), incident_report.operation, requires=())


if __name__ == "__main__":
    main()
