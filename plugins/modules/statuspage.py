#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: statuspage
short_description: Create, update and resolve a Statuspage incident and its component statuses
version_added: 0.1.0
description:
  - Manages one incident on an Atlassian Statuspage page, replacing the runbook's
    C(curl -X POST https://api.statuspage.io/v1/pages/PAGE_ID/incidents).
  - Idempotent by incident name - the module finds the unresolved incident named O(name) and updates only what
    differs (status, impact, component statuses, a new message), instead of creating a second one; with nothing to
    change it reports C(changed=false).
  - O(status=resolved) resolves the open incident and sets every affected component back to C(operational).
  - Requests are paced to one per O(request_interval) seconds per key (Statuspage allows about one per second);
    420 and 429 answers are retried after their C(Retry-After).
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
      - Nothing is written; RV(requests) holds the exact request that would be sent, the API key redacted.
      - The module still reads (the unresolved incidents, the components) to decide what would change.
  diff_mode:
    support: full
    details: Returns the incident before and after.
  platform:
    platforms: all
options:
  page_id:
    description:
      - Statuspage page identifier.
    type: str
    required: true
  api_key:
    description:
      - "Statuspage API key (sent as C(Authorization: OAuth ...)). Can also be set with E(STATUSPAGE_API_KEY)."
    type: str
    required: true
  api_url:
    description:
      - Base URL of the API, including the version.
    type: str
    default: https://api.statuspage.io/v1
  name:
    description:
      - Incident name (at most 255 characters); identifies the incident among the unresolved ones.
    type: str
    required: true
  status:
    description:
      - Incident status. V(resolved) resolves the open incident of that name (nothing to do when there is none).
    type: str
    choices: [investigating, identified, monitoring, resolved]
    default: investigating
  impact_override:
    description:
      - Impact shown for the incident instead of the one Statuspage calculates.
    type: str
    choices: [none, maintenance, minor, major, critical]
  body:
    description:
      - Message of the incident update; posted when it differs from the latest update or the status changes.
    type: str
  components:
    description:
      - Component statuses to set, as a mapping of component name or id to status (for example V(API) to
        V(major_outage)). Unknown components are an error that lists the page's components.
      - With O(status=resolved), affected components not named here go back to C(operational).
    type: dict
  deliver_notifications:
    description:
      - Whether Statuspage notifies the page's subscribers of this change.
    type: bool
    default: true
  request_interval:
    description:
      - Minimum seconds between two requests with the same O(api_key) (pacing for Statuspage's rate limit), shared
        by every run of the module on the same host - parallel forks for several clusters queue one interval apart.
      - V(0) disables pacing.
    type: float
    default: 1.0
seealso:
  - name: Statuspage API
    description: Incidents and components.
    link: https://developer.statuspage.io/
"""

EXAMPLES = r"""
- name: Declare the outage on the status page
  mataresit.emergency.statuspage:
    page_id: "{{ statuspage_page_id }}"
    api_key: "{{ vault_statuspage_api_key }}"
    name: Service Disruption
    status: investigating
    impact_override: major
    body: We are investigating errors on the API.
    components:
      API: major_outage
      Web app: degraded_performance

- name: Resolve it (components back to operational)
  mataresit.emergency.statuspage:
    page_id: "{{ statuspage_page_id }}"
    api_key: "{{ vault_statuspage_api_key }}"
    name: Service Disruption
    status: resolved
    body: The API has recovered.
"""

RETURN = r"""
incident:
  description: The incident after the change (id, name, status, impact, shortlink, component statuses).
  returned: when an open incident exists or was created
  type: dict
  sample: {id: p31zjtct2jer, name: Service Disruption, status: investigating, impact: major,
           shortlink: "http://stspg.io/x", components: {API: major_outage}}
requests:
  description: The write requests sent (or that would be sent in check mode), the API key as C(********).
  returned: always
  type: list
  elements: dict
  sample:
    - method: POST
      url: https://api.statuspage.io/v1/pages/PAGE/incidents
      headers: {Authorization: "OAuth ********", Content-Type: application/json}
      json: {incident: {name: Service Disruption, status: investigating, impact_override: major}}
attempts:
  description: HTTP attempts made, retries included.
  returned: always
  type: int
  sample: 2
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.notifications import SAAS_HTTP_ARG_SPEC
from ansible_collections.mataresit.emergency.plugins.module_utils.services import statuspage


ARGUMENT_SPEC = dict(
    SAAS_HTTP_ARG_SPEC,
    page_id=dict(type="str", required=True),
    api_key=dict(type="str", required=True, no_log=True, fallback=(env_fallback, ["STATUSPAGE_API_KEY"])),
    api_url=dict(type="str", default="https://api.statuspage.io/v1"),
    name=dict(type="str", required=True),
    status=dict(type="str", choices=["investigating", "identified", "monitoring", "resolved"], default="investigating"),
    impact_override=dict(type="str", choices=["none", "maintenance", "minor", "major", "critical"]),
    body=dict(type="str"),
    components=dict(type="dict"),
    deliver_notifications=dict(type="bool", default=True),
    request_interval=dict(type="float", default=1.0),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), statuspage.operation)


if __name__ == "__main__":
    main()
