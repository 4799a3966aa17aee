#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: escalation
short_description: Walk the runbook's escalation chain while an incident is neither acknowledged nor recovered
version_added: 0.2.0
description:
  - The runbook's escalation chain (on-call engineer 0-15 min, team lead 15-30, engineering manager 30-60, VP
    engineering 60+, CTO for critical incidents only) as data in O(chain), worked on the PagerDuty incident of the
    declaration (its incident key is the collection's dedup key, C(mataresit-<incident_id>)).
  - O(state=running) is the clock. Meant to run detached (C(async) with C(poll=0)) from the declaration, so it
    never sits on the recovery path. When a level's deadline (O(chain[].after) from the declaration) passes and
    the incident is neither acknowledged nor recovered, it pages that level - C(PUT /incidents/{id}) with
    C(escalation_level), or a responder request (C(POST /incidents/{id}/responder_requests)) - and writes the page
    to the incident timeline. It ends when a stop is recorded (O(state=stopped)), when PagerDuty shows the incident
    acknowledged or resolved, when the incident's record is resolved, when every level is paged, or after
    O(max_runtime). One clock runs per incident; a second one returns at once.
  - O(state=paged) pages one level now (O(level)), for a run whose recovery failed for good. Each level is paged at
    most once per incident, by the clock or by this state, whichever comes first.
  - O(state=stopped) records why the clock stops (recovered, acknowledged, resolved); the clock ends within
    O(poll_interval) seconds, as it does when someone acknowledges the incident in PagerDuty.
author:
  - mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.saas
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.NOTIFY
attributes:
  check_mode:
    support: full
    details:
      - Nothing is paged, recorded or stopped; RV(levels) shows each level's deadline, and O(state=paged) returns
        the page it would send.
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  state:
    description:
      - V(running) runs the clock until it ends (run it with C(async) and C(poll=0)).
      - V(paged) pages O(level) now. V(stopped) stops the clock for O(reason).
    type: str
    choices: [running, paged, stopped]
    default: running
  incident_dir:
    description:
      - The incident's workspace (C(incident_info.incident_dir)) - the clock's start, each page and the stop are
        recorded in its C(escalation/) folder, and the pages in its timeline.
    type: path
    required: true
  chain:
    description:
      - The escalation chain, first level first (group vars C(emergency_escalation_chain)). Required unless
        O(state=stopped).
    type: list
    elements: dict
    suboptions:
      role:
        description: Who is paged (On-Call Engineer, Team Lead, ...).
        type: str
        required: true
      after:
        description:
          - How long after the declaration the level is paged when the incident is neither acknowledged nor
            recovered - V(15m), V(1h), V(90s) or seconds. V(0) is the declaration itself (paged by the
            declaration's page, never by the clock).
        type: str
        required: true
      severities:
        description: The severities this level is paged for (the CTO for P0 only); every severity when omitted.
        type: list
        elements: str
      pagerduty_escalation_level:
        description: Escalate the PagerDuty incident to this level of its service's escalation policy.
        type: int
      pagerduty_responder:
        description: Or send a responder request to this PagerDuty user or escalation policy.
        type: dict
        suboptions:
          id:
            description: The user or escalation policy id.
            type: str
            required: true
          type:
            description: What O(chain[].pagerduty_responder.id) names.
            type: str
            required: true
            choices: [user_reference, escalation_policy_reference]
      contact:
        description: How to reach them otherwise (printed in the postmortem).
        type: str
  severity:
    description:
      - The incident's severity; read from the incident's record when omitted (and again on every tick, so a
        severity raised mid-incident adds the levels of the new severity).
    type: str
    choices: [P0, P1, P2, P3]
  level:
    description:
      - With O(state=paged), the level to page - its number, its role, or V(next) (the first level not paged yet).
    type: str
    default: next
  reason:
    description: With O(state=stopped), why the clock stops.
    type: str
    choices: [recovered, acknowledged, resolved, cancelled]
    default: recovered
  api_token:
    description:
      - PagerDuty REST API v2 key. Required unless O(state=stopped). Can also be set with E(PAGERDUTY_API_TOKEN).
    type: str
  from_email:
    description:
      - Email address of a PagerDuty user, sent as the C(From) header of the escalation requests.
      - Can also be set with E(PAGERDUTY_FROM).
    type: str
  requester_id:
    description: PagerDuty user id of the requester of responder requests (levels with O(chain[].pagerduty_responder)).
    type: str
  region:
    description: PagerDuty service region; selects the default O(api_url).
    type: str
    choices: [us, eu]
    default: us
  api_url:
    description: Base URL of the REST API, overriding O(region).
    type: str
  drill:
    description: A recovery drill - responder request messages start with C([DRILL]).
    type: bool
    default: false
  poll_interval:
    description: Seconds between two looks at PagerDuty (an acknowledgement there stops the clock), the stop record and
      the deadlines.
    type: float
    default: 30
  max_runtime:
    description: The clock ends after this long whatever happens (V(2h), or seconds).
    type: str
    default: 2h
notes:
  - The incident must exist (M(mataresit.emergency.incident)) and its declaration must have paged PagerDuty with
    the incident's dedup key; until that incident exists the clock records it once and keeps looking.
seealso:
  - name: PagerDuty REST API v2, update an incident
    description: C(escalation_level) escalates an incident to a level of its escalation policy.
    link: https://developer.pagerduty.com/api-reference/
"""

EXAMPLES = r"""
- name: Start the escalation clock at the declaration, off the recovery path
  mataresit.emergency.escalation:
    incident_dir: "{{ incident_info.incident_dir }}"
    chain: "{{ emergency_escalation_chain }}"
    api_token: "{{ vault_pagerduty_api_token }}"
    from_email: oncall@mataresit.com
  async: 7200
  poll: 0

- name: Recovery failed for good - page the next level now
  mataresit.emergency.escalation:
    state: paged
    level: next
    incident_dir: "{{ incident_info.incident_dir }}"
    chain: "{{ emergency_escalation_chain }}"
    api_token: "{{ vault_pagerduty_api_token }}"
    from_email: oncall@mataresit.com

- name: Recovered - stop the clock
  mataresit.emergency.escalation:
    state: stopped
    reason: recovered
    incident_dir: "{{ incident_info.incident_dir }}"
"""

RETURN = r"""
levels:
  description: The levels of the incident's severity, with the deadline and what happened to each.
  returned: unless O(state=stopped)
  type: list
  elements: dict
  sample:
    - {level: 1, role: On-Call Engineer, after_seconds: 0, due_at: "2026-12-02T10:00:00+00:00", status: declaration}
    - {level: 2, role: Team Lead, after_seconds: 900, due_at: "2026-12-02T10:15:00+00:00", status: paged,
       paged_at: "2026-12-02T10:15:01+00:00"}
ended:
  description: Why the clock ended.
  returned: O(state=running), not in check mode
  type: str
  sample: "stopped: recovered"
pages:
  description: The pages this run sent.
  returned: O(state=running), not in check mode
  type: list
  elements: dict
page:
  description: The page of O(level) (sent now, earlier, or in check mode the one that would be sent).
  returned: O(state=paged) and a level is left
  type: dict
stopped:
  description: Why and when the clock stopped.
  returned: O(state=stopped)
  type: dict
  sample: {reason: recovered, at: "2026-12-02T10:04:12+00:00"}
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.notifications import SAAS_HTTP_ARG_SPEC
from ansible_collections.mataresit.emergency.plugins.module_utils.services import escalation

LEVEL_SPEC = dict(
    role=dict(type="str", required=True),
    after=dict(type="str", required=True),
    severities=dict(type="list", elements="str"),
    pagerduty_escalation_level=dict(type="int"),
    pagerduty_responder=dict(type="dict", options=dict(
        id=dict(type="str", required=True),
        type=dict(type="str", required=True, choices=["user_reference", "escalation_policy_reference"]))),
    contact=dict(type="str"),
)

ARGUMENT_SPEC = dict(
    SAAS_HTTP_ARG_SPEC,
    state=dict(type="str", choices=["running", "paged", "stopped"], default="running"),
    incident_dir=dict(type="path", required=True),
    chain=dict(type="list", elements="dict", options=LEVEL_SPEC),
    severity=dict(type="str", choices=["P0", "P1", "P2", "P3"]),
    level=dict(type="str", default="next"),
    reason=dict(type="str", choices=["recovered", "acknowledged", "resolved", "cancelled"], default="recovered"),
    api_token=dict(type="str", no_log=True, fallback=(env_fallback, ["PAGERDUTY_API_TOKEN"])),
    from_email=dict(type="str", fallback=(env_fallback, ["PAGERDUTY_FROM"])),
    requester_id=dict(type="str"),
    region=dict(type="str", choices=["us", "eu"], default="us"),
    api_url=dict(type="str"),
    drill=dict(type="bool", default=False),
    poll_interval=dict(type="float", default=30),
    max_runtime=dict(type="str", default="2h"),
)


def main():
    module = AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("state", "running", ("chain",)), ("state", "paged", ("chain",))])
    run(module, escalation.operation)


if __name__ == "__main__":
    main()
