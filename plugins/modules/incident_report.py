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
    against the severity target (time to detect, respond, act, mitigate, resolve; per severity when the incident
    was raised mid-way), phase durations, the timeline, the actions taken and follow-ups.
  - The post-incident follow-through of the runbook (its 0-30 minute, 1-24 hour and 1-7 day lists) - with
    O(checklist), the follow-ups are a checklist with owners and due dates counted from the resolution, written to
    the postmortem and to C(follow_ups.json); with O(review), the post-incident review is scheduled as an
    iCalendar invitation (C(review.ics), METHOD REQUEST) for the email module to send; O(contacts) and
    O(escalation_chain) are printed, the chain with what each level's page did.
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
    description:
      - When the incident was resolved (ISO 8601); the last successful validation when omitted.
      - Due dates and the review are counted from it (from now when the incident is not resolved).
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
  checklist:
    description:
      - The post-incident checklist; each item is due at the end of its runbook window after the resolution.
      - O(follow_ups) are added to it as long-term items.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      item:
        description: What to do.
        type: str
        required: true
      window:
        description: The runbook's window - V(immediate) (0-30 minutes), V(short_term) (1-24 hours), V(long_term) (1-7 days).
        type: str
        choices: [immediate, short_term, long_term]
        default: long_term
      owner:
        description: Who owns it (a role of the escalation chain, a team).
        type: str
      done_when:
        description: Marked done when this holds (see O(done); V(documented) always holds, V(review_scheduled) with O(review)).
        type: str
        choices: [recovered, resolved, notified, documented, review_scheduled]
  done:
    description: What this run achieved, for the checklist's O(checklist[].done_when).
    type: list
    elements: str
    choices: [recovered, resolved, notified]
    version_added: 0.2.0
  review:
    description: Schedule the post-incident review - an iCalendar invitation written to C(review.ics) and returned.
    type: dict
    version_added: 0.2.0
    suboptions:
      offset:
        description: How long after the resolution the review starts (V(1d), V(26h)).
        type: str
        default: 1d
      start:
        description: An explicit start (ISO 8601), instead of O(review.offset).
        type: str
      duration:
        description: How long it lasts.
        type: str
        default: 60m
      organizer:
        description: The organizer's email address (the sender of the invitation).
        type: str
        required: true
      attendees:
        description: Who is invited (the incident list).
        type: list
        elements: str
        required: true
      location:
        description: Where (a room, a video call link).
        type: str
  contacts:
    description: The runbook's contacts (group vars C(emergency_contacts)), printed in the postmortem.
    type: dict
    version_added: 0.2.0
  escalation_chain:
    description: The escalation chain (group vars C(emergency_escalation_chain)), printed with what was paged.
    type: list
    elements: dict
    version_added: 0.2.0
  drill:
    description:
      - A recovery drill (C(playbooks/drill.yml)) - its report is written to C(drill.md) and C(drill.json), with the times
        to detect, act and recover from the moment the fault showed, the act time against the severity's target, and
        whether the cluster was put back exactly as it was found.
    type: dict
    version_added: 0.2.0
    suboptions:
      scenario:
        description: The drill's scenario.
        type: str
        required: true
      procedure:
        description: The runbook procedure the drill ran.
        type: str
      fault:
        description: What was staged.
        type: str
      staged_at:
        description: When the fault showed (ISO 8601), the start of the drill's clock.
        type: str
        required: true
      put_back:
        description: Whether the cluster is as it was found (the C(same) of M(mataresit.emergency.snapshot)).
        type: bool
        required: true
      restored:
        description: What was put back.
        type: list
        elements: str
      differences:
        description: What still differs from the state found.
        type: list
        elements: str
  postmortem_url:
    description:
      - Where the postmortem is published, C({incident_id}) replaced by the incident id; the path of
        C(postmortem.md) when omitted. It is returned as RV(postmortem_link) (for the PagerDuty note).
    type: str
    version_added: 0.2.0
"""

EXAMPLES = r"""
- name: Write the postmortem skeleton
  mataresit.emergency.incident_report:
    incident_dir: "{{ incident.incident_dir }}"

- name: After the resolution - postmortem, checklist with owners and due dates, review invitation
  mataresit.emergency.incident_report:
    incident_dir: "{{ incident_info.incident_dir }}"
    checklist:
      - {item: Conduct the post-incident review meeting, window: short_term, owner: Team Lead}
      - {item: Test recovery procedures, window: long_term, owner: On-Call Engineer}
    done: [recovered, resolved, notified]
    review:
      offset: 1d
      organizer: oncall@mataresit.com
      attendees: [incident-response@mataresit.com]
    contacts: "{{ emergency_contacts }}"
    escalation_chain: "{{ emergency_escalation_chain }}"
  register: report
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
  description: Phase durations and the detect / respond / act / mitigate / resolve times in minutes, whether the
    severity's response target was met, and the same per severity the incident had.
  returned: always
  type: dict
postmortem_link:
  description: Where the postmortem is (O(postmortem_url) or the file's path).
  returned: always
  type: str
follow_ups:
  description: The checklist items with C(item), C(window), C(owner), C(due) (UTC) and C(done).
  returned: with O(checklist)
  type: list
  elements: dict
follow_ups_path:
  description: The machine-readable checklist (C(follow_ups.json)).
  returned: with O(checklist)
  type: str
review:
  description: The review as scheduled (C(start) UTC, C(start_text) as printed for people, C(minutes), C(attendees),
    C(summary), C(path) of the invitation).
  returned: with O(review)
  type: dict
drill:
  description: The drill's figures (C(time_to_detect_seconds), C(time_to_act_seconds), C(time_to_recover_seconds),
    C(target_seconds), C(act_within_target)), C(passed), C(problems) and the C(path) of C(drill.md).
  returned: with O(drill)
  type: dict
invitation:
  description: The iCalendar invitation (RFC 5545, METHOD REQUEST), for the C(calendar) option of M(mataresit.emergency.email).
  returned: with O(review)
  type: str
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
    checklist=dict(type="list", elements="dict", options=dict(
        item=dict(type="str", required=True),
        window=dict(type="str", choices=["immediate", "short_term", "long_term"], default="long_term"),
        owner=dict(type="str"),
        done_when=dict(type="str", choices=["recovered", "resolved", "notified", "documented", "review_scheduled"]),
    )),
    done=dict(type="list", elements="str", choices=["recovered", "resolved", "notified"]),
    review=dict(type="dict", options=dict(
        offset=dict(type="str", default="1d"),
        start=dict(type="str"),
        duration=dict(type="str", default="60m"),
        organizer=dict(type="str", required=True),
        attendees=dict(type="list", elements="str", required=True),
        location=dict(type="str"),
    )),
    drill=dict(type="dict", options=dict(
        scenario=dict(type="str", required=True),
        procedure=dict(type="str"),
        fault=dict(type="str"),
        staged_at=dict(type="str", required=True),
        put_back=dict(type="bool", required=True),
        restored=dict(type="list", elements="str"),
        differences=dict(type="list", elements="str"),
    )),
    contacts=dict(type="dict"),
    escalation_chain=dict(type="list", elements="dict"),
    postmortem_url=dict(type="str"),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), incident_report.operation, requires=())


if __name__ == "__main__":
    main()
