#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: incident
short_description: Open the incident that every later step of an emergency run refers to
description:
  - Creates (or reuses) the incident workspace, a directory per incident id that holds the timeline, the
    backups of everything the run replaces and the evidence bundles.
  - The incident id drives every dedup key (PagerDuty, Statuspage, Slack), so a re-run with the same id never
    pages twice. Without O(incident_id), the id is derived from the severity, the reason, the clusters and the
    UTC day, so an automatic re-run of the same incident on the same day finds the same id.
  - One run per incident at a time. The run that opens an incident holds it (C(run.lock) in its workspace, naming the
    ansible-playbook process) until that process ends; a second run of the same incident waits up to
    O(lock_timeout) seconds and then fails, saying which run holds it, so a re-fired alert can neither page twice nor
    overwrite the state of a rotation in progress. A lock left by a run that ended is taken over.
version_added: 0.1.0
author: mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.attributes
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on
      the controller.
    support: full
    details: The action reads the C(reason) variable as data and claims the incident for this run.
  check_mode:
    support: full
    details: In check mode the workspace is not created.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  severity:
    description:
      - Runbook severity.
      - For an incident that exists, a higher severity raises it (P2 to P0 mid-incident) - the incident keeps its id
        and opening time, takes the new severity's response target and records the change in RV(severity_history).
        A lower severity never lowers it.
    type: str
    choices: [P0, P1, P2, P3]
    required: true
  reason:
    description:
      - Why the run was started (recorded as change-cause and in the report), as one line of text.
      - When omitted, the C(reason) variable (C(-e reason="...")) is read as it was given, as data - never as a
        template, so text copied from an alert can hold anything, C({{ }}) included, and is shown literally.
    type: str
  require_reason:
    description: Fail before the workspace is opened unless there is a reason (the production policy).
    type: bool
    default: false
  incident_id:
    description: Id of the incident; derived when omitted.
    type: str
  clusters:
    description: Inventory names of the clusters involved.
    type: list
    elements: str
    default: []
  environment:
    description: Environment name (for example production or staging).
    type: str
  alert_started_at:
    description: When the alert started (ISO 8601), to measure the time to detect.
    type: str
  alert:
    description:
      - The alert that started the run, as the collection's event source C(mataresit.emergency.alertmanager)
        forwards it in C(event.alert.data), base64url JSON, which carries no template markers.
      - It is decoded and returned as RV(alert), data that is never evaluated as a template; it gives the incident
        id, the start time (time to detect) and, when O(reason) is omitted, the reason. A resolved alert closes the
        incident it names and never opens one.
    type: str
  alert_signature:
    description: The signature of O(alert) (C(event.alert.signature)).
    type: str
  alert_token:
    description: The webhook's bearer token, to verify O(alert_signature); a signature that does not match fails.
    type: str
  require_authenticated_alert:
    description: Fail unless O(alert) carries a signature that O(alert_token) verifies.
    type: bool
    default: false
  workspace_root:
    description:
      - Directory under which incident workspaces are created.
      - Defaults to E(MRE_INCIDENTS_DIR), else C(~/.mataresit-emergency/incidents).
    type: path
  create:
    description:
      - Whether to create the workspace of a new incident. V(false) fails unless O(incident_id) names an incident
        that exists, for runs that work on an earlier incident (reverting or restoring what it changed).
    type: bool
    default: true
  escalation_chain:
    description:
      - The escalation chain the incident will be escalated through (as M(mataresit.emergency.escalation) takes
        it). When given, each level is checked by the same rules the escalation clock reads it with (a role, a
        deadline in C(after), a PagerDuty target for a level paged after the declaration), so
        a wrong chain fails here, before anything is opened or changed. Not kept in the incident.
    type: list
    elements: dict
  lock_timeout:
    description: Seconds to wait for another run of the same incident to finish before failing.
    type: float
    default: 0
"""

EXAMPLES = r"""
- name: Open the P0 incident (the reason is the -e reason=... of the run, read as data)
  mataresit.emergency.incident:
    severity: P0
    clusters: "{{ ansible_play_hosts_all }}"
    require_reason: true
  register: incident
"""

RETURN = r"""
incident_id:
  description: The incident id.
  returned: always
  type: str
  sample: p0-20261127-1a2b3c4d
incident_dir:
  description: The incident workspace.
  returned: always
  type: str
cluster_dirs:
  description: Per cluster of O(clusters), the part of the workspace where its steps record what they replace.
  returned: always
  type: dict
  sample: {"prod-eu": "/var/lib/incidents/p0-20261127-1a2b3c4d/clusters/prod-eu"}
evidence_dirs:
  description: Per cluster of O(clusters), where its forensic evidence bundles go.
  returned: always
  type: dict
  sample: {"prod-eu": "/var/lib/incidents/p0-20261127-1a2b3c4d/evidence/prod-eu"}
opened_at:
  description: When the incident was first opened (UTC).
  returned: always
  type: str
response_target_minutes:
  description: Minutes within which the runbook requires the response to act for this severity.
  returned: when found
  type: int
reason:
  description: The reason, as data (shown literally wherever it is used).
  returned: always
  type: str
run_lock:
  description: The run that holds the incident (C(pid) of ansible-playbook, C(host), C(started)).
  returned: when the workspace was opened on the controller, not in check mode
  type: dict
severity:
  description: The incident's severity (raised by this run when O(severity) is higher than it was).
  returned: when found
  type: str
  sample: P0
severity_history:
  description: The severities the incident had, from its opening, once it has been raised.
  returned: when the severity was raised
  type: list
  elements: dict
  sample: [{severity: P2, at: "2026-12-02T10:00:00+00:00"},
           {severity: P0, at: "2026-12-02T10:20:00+00:00", raised_from: P2, reason: "checkout down"}]
found:
  description: Whether the incident exists (false only for a resolved alert whose incident was never opened).
  returned: always
  type: bool
notified:
  description: Whether notifications were sent for the incident.
  returned: always
  type: bool
alert:
  description: The alert that started the incident (name, status, severity, start and end, summary, labels,
    annotations), exactly as received.
  returned: when O(alert) is given
  type: dict
alert_authenticated:
  description: Whether O(alert) carried a signature that O(alert_token) verified.
  returned: when O(alert) is given
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import incident

ARGUMENT_SPEC = dict(
    severity=dict(type="str", required=True, choices=["P0", "P1", "P2", "P3"]),
    reason=dict(type="str"),
    incident_id=dict(type="str"),
    clusters=dict(type="list", elements="str", default=[]),
    environment=dict(type="str"),
    alert_started_at=dict(type="str"),
    workspace_root=dict(type="path"),
    create=dict(type="bool", default=True),
    alert=dict(type="str"),
    alert_signature=dict(type="str"),
    alert_token=dict(type="str", no_log=True),
    require_authenticated_alert=dict(type="bool", default=False),
    require_reason=dict(type="bool", default=False),
    escalation_chain=dict(type="list", elements="dict"),
    lock_timeout=dict(type="float", default=0),  # used by the action plugin, which claims the run
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), incident.operation, requires=())


if __name__ == "__main__":
    main()
