#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: pagerduty
short_description: Page on-call through PagerDuty (Events API v2 or REST API v2 incidents)
version_added: 0.1.0
description:
  - With O(api=events) (default) sends a trigger, acknowledge or resolve event to the Events API v2
    (C(POST /v2/enqueue)); the alert is identified by a dedup key derived from O(incident_id)
    (C(mataresit-<incident_id>), at most 255 characters), so a re-run never pages twice.
  - With O(api=rest) manages an incident through the REST API v2 - create it (with the incident key derived the same
    way), acknowledge or resolve it, and add a note. Before creating, it looks up an open incident with the same
    incident key and reports C(changed=false) when there is one; a note already on the incident is not added again.
  - Replaces the runbook's C(curl -X POST https://api.pagerduty.com/incidents).
  - Transient failures (connect errors, 429 honouring C(Retry-After) / C(ratelimit-reset), 5xx) are retried; the
    dedup / incident key makes repeating a create safe. Other 4xx fail at once with PagerDuty's message.
author:
  - mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.saas
  - mataresit.emergency.incident_dir
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.NOTIFY
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written; RV(requests) holds the exact requests that would be sent, secrets redacted.
      - With O(api=rest) the module still reads (lists open incidents and notes) to decide what would change.
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  api:
    description:
      - V(events) uses the Events API v2 with O(routing_key); V(rest) uses the REST API v2 with O(api_token).
    type: str
    choices: [events, rest]
    default: events
  state:
    description:
      - V(triggered) pages (creates the alert or incident), V(acknowledged) acknowledges it, V(resolved) resolves it.
      - With O(api=rest), V(acknowledged) creates the incident first when none is open; V(resolved) with no open
        incident changes nothing.
      - V(noted) (O(api=rest)) only adds O(note) to the incident with the key, open or resolved - the postmortem
        link after the incident - and changes nothing when there is no such incident.
    type: str
    choices: [triggered, acknowledged, resolved, noted]
    default: triggered
  incident_id:
    description:
      - The incident id that drives every dedup key of the collection; the PagerDuty dedup key / incident key is
        C(mataresit-<incident_id>). Required unless O(dedup_key) is given.
    type: str
  dedup_key:
    description:
      - Explicit dedup key (Events) or incident key (REST), overriding the one derived from O(incident_id).
    type: str
  routing_key:
    description:
      - Integration key of an Events API v2 integration. Required with O(api=events).
      - Can also be set with E(PAGERDUTY_ROUTING_KEY).
    type: str
  api_token:
    description:
      - "REST API v2 key (sent as C(Authorization: Token token=...)). Required with O(api=rest)."
      - Can also be set with E(PAGERDUTY_API_TOKEN).
    type: str
  from_email:
    description:
      - Email address of a valid PagerDuty user, sent as the C(From) header on incident writes (O(api=rest)).
      - Can also be set with E(PAGERDUTY_FROM).
    type: str
  summary:
    description:
      - Event summary (O(api=events)) or incident title (O(api=rest)); cut to 1024 characters.
      - Required to trigger.
    type: str
  severity:
    description:
      - Severity of the event (O(api=events)).
    type: str
    choices: [critical, error, warning, info]
    default: critical
  source:
    description:
      - The affected system (hostname, cluster) of the event (O(api=events)).
    type: str
    default: mataresit.emergency
  component:
    description:
      - Component of the source responsible for the event (O(api=events)).
    type: str
  group:
    description:
      - Logical grouping of components (O(api=events)).
    type: str
  event_class:
    description:
      - Class or type of the event, sent as C(payload.class) (O(api=events)).
    type: str
    aliases: [class]
  custom_details:
    description:
      - Additional details of the event (O(api=events)).
    type: dict
  links:
    description:
      - Links attached to the alert (O(api=events)); C(url) is an alias of C(href), so the slack module's links work too.
    type: list
    elements: dict
    suboptions:
      href:
        description: The URL.
        type: str
        required: true
        aliases: [url]
      text:
        description: Text shown for the link.
        type: str
  client:
    description:
      - Name of the monitoring client sending the event (O(api=events)).
    type: str
    default: mataresit.emergency
  client_url:
    description:
      - URL of the monitoring client (O(api=events)).
    type: str
  service_id:
    description:
      - ID of the PagerDuty service the incident is created on. Required to create an incident (O(api=rest)).
    type: str
  urgency:
    description:
      - Urgency of a created incident (O(api=rest)).
    type: str
    choices: [high, low]
    default: high
  details:
    description:
      - Body details of a created incident (O(api=rest)).
    type: str
  note:
    description:
      - A note to add to the incident (O(api=rest)); not added again if the incident already has this note.
    type: str
  resolution:
    description:
      - Resolution text recorded when resolving (O(api=rest)).
    type: str
  region:
    description:
      - PagerDuty service region; selects the default O(events_url) and O(api_url).
    type: str
    choices: [us, eu]
    default: us
  events_url:
    description:
      - Base URL of the Events API, overriding O(region) (C(https://events.pagerduty.com) for V(us),
        C(https://events.eu.pagerduty.com) for V(eu)).
    type: str
  api_url:
    description:
      - Base URL of the REST API, overriding O(region) (C(https://api.pagerduty.com) for V(us),
        C(https://api.eu.pagerduty.com) for V(eu)).
    type: str
seealso:
  - name: PagerDuty Events API v2
    description: Sending alert events.
    link: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
  - name: PagerDuty REST API v2 incidents
    description: Creating and updating incidents.
    link: https://developer.pagerduty.com/api-reference/
"""

EXAMPLES = r"""
- name: Page on-call for a P0 (a re-run never pages twice)
  mataresit.emergency.pagerduty:
    routing_key: "{{ vault_pagerduty_routing_key }}"
    incident_id: "{{ incident_id }}"
    summary: "P0: Paperless Maverick API outage ({{ reason }})"
    severity: critical
    source: "{{ inventory_hostname }}"
    component: paperless-maverick
    custom_details:
      verdict: "{{ triage.verdict }}"
    links:
      - href: "https://grafana.example.com/d/maverick"
        text: Dashboard
    incident_dir: "{{ incident_dir }}"

- name: Resolve the alert after recovery
  mataresit.emergency.pagerduty:
    routing_key: "{{ vault_pagerduty_routing_key }}"
    incident_id: "{{ incident_id }}"
    state: resolved

- name: Create an incident through the REST API (as the runbook's curl did) with a note
  mataresit.emergency.pagerduty:
    api: rest
    api_token: "{{ vault_pagerduty_api_token }}"
    from_email: oncall@mataresit.com
    service_id: PSERVICE
    incident_id: "{{ incident_id }}"
    summary: Production Outage - Paperless Maverick
    urgency: high
    details: System outage detected
    note: "Rollback to revision 41 started"
"""

RETURN = r"""
dedup_key:
  description: The dedup key (Events) or incident key (REST) used.
  returned: always
  type: str
  sample: mataresit-INC-20261127-1
incident_key:
  description: The incident key (REST).
  returned: api=rest
  type: str
  sample: mataresit-INC-20261127-1
event_action:
  description: The Events API action (trigger, acknowledge, resolve).
  returned: api=events
  type: str
  sample: trigger
requests:
  description:
    - The write requests sent (or, in check mode, that would be sent), with tokens and routing keys as C(********).
    - Empty when nothing needed to be sent.
  returned: always
  type: list
  elements: dict
  sample:
    - method: POST
      url: https://events.pagerduty.com/v2/enqueue
      headers: {Content-Type: application/json, User-Agent: mataresit.emergency}
      json: {routing_key: "********", event_action: trigger, dedup_key: mataresit-INC-1, payload: {summary: outage}}
response:
  description: PagerDuty's answer to the event.
  returned: api=events and an event was sent
  type: dict
  sample: {status: success, message: Event processed, dedup_key: mataresit-INC-1}
incident:
  description: The incident (REST) after the change.
  returned: api=rest and an incident exists
  type: dict
  sample: {id: PT4KHLK, incident_number: 1234, status: triggered, title: Production Outage, incident_key: mataresit-INC-1}
attempts:
  description: HTTP attempts made, retries included.
  returned: when requests were made
  type: int
  sample: 2
record:
  description: Path of the record of the sent event in O(incident_dir).
  returned: api=events, an event was sent and O(incident_dir) is set
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.notifications import SAAS_HTTP_ARG_SPEC
from ansible_collections.mataresit.emergency.plugins.module_utils.services import pagerduty


ARGUMENT_SPEC = dict(
    SAAS_HTTP_ARG_SPEC,
    api=dict(type="str", choices=["events", "rest"], default="events"),
    state=dict(type="str", choices=["triggered", "acknowledged", "resolved", "noted"], default="triggered"),
    incident_id=dict(type="str"),
    dedup_key=dict(type="str", no_log=False),
    routing_key=dict(type="str", no_log=True, fallback=(env_fallback, ["PAGERDUTY_ROUTING_KEY"])),
    api_token=dict(type="str", no_log=True, fallback=(env_fallback, ["PAGERDUTY_API_TOKEN"])),
    from_email=dict(type="str", fallback=(env_fallback, ["PAGERDUTY_FROM"])),
    summary=dict(type="str"),
    severity=dict(type="str", choices=["critical", "error", "warning", "info"], default="critical"),
    source=dict(type="str", default="mataresit.emergency"),
    component=dict(type="str"),
    group=dict(type="str"),
    event_class=dict(type="str", aliases=["class"]),
    custom_details=dict(type="dict"),
    links=dict(type="list", elements="dict",
               options=dict(href=dict(type="str", required=True, aliases=["url"]), text=dict(type="str"))),
    client=dict(type="str", default="mataresit.emergency"),
    client_url=dict(type="str"),
    service_id=dict(type="str"),
    urgency=dict(type="str", choices=["high", "low"], default="high"),
    details=dict(type="str"),
    note=dict(type="str"),
    resolution=dict(type="str"),
    region=dict(type="str", choices=["us", "eu"], default="us"),
    events_url=dict(type="str"),
    api_url=dict(type="str"),
)


def main():
    module = AnsibleModule(
        ARGUMENT_SPEC,
        supports_check_mode=True,
        required_one_of=[("incident_id", "dedup_key")],
        required_if=[("api", "events", ("routing_key",)), ("api", "rest", ("api_token",)), ("state", "noted", ("note",))],
    )
    run(module, pagerduty.operation)


if __name__ == "__main__":
    main()
