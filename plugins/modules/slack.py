#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: slack
short_description: Post an incident message to Slack through an incoming webhook
version_added: 0.1.0
description:
  - Posts to the channel of an incoming webhook (for example C(#incident-response)) a text fallback and Block Kit
    blocks - title, severity, status, clusters, incident id, links - optionally prefixed with C(<!channel>).
  - Slack's plain-text errors (C(invalid_payload), C(channel_not_found), C(channel_is_archived)...) become a
    one-line failure; a 429 is retried after its C(Retry-After). A post is never repeated after a 5xx (Slack may
    have posted it).
  - Webhooks cannot deduplicate; with O(incident_dir) the module records what it posted and an identical re-run
    reports C(changed=false) without posting again.
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
    details: Nothing is sent; RV(requests) holds the exact request, the webhook path as C(********).
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  webhook_url:
    description:
      - The incoming webhook URL; it is the credential and is never printed. Can also be set with E(SLACK_WEBHOOK_URL).
    type: str
    required: true
  text:
    description:
      - Message text (Slack mrkdwn); also the notification fallback. Required unless O(title) is given.
    type: str
  title:
    description:
      - Header of the message.
    type: str
  severity:
    description:
      - Severity shown in the message.
    type: str
    choices: [critical, error, warning, info, resolved]
  status:
    description:
      - Incident status shown in the message, for example C(investigating) or C(mitigated).
    type: str
  clusters:
    description:
      - Clusters affected.
    type: list
    elements: str
  incident_id:
    description:
      - Incident id shown in the message and used to key the record in O(incident_dir).
    type: str
  links:
    description:
      - Links shown under the message (the same list as the pagerduty module's O(mataresit.emergency.pagerduty#module:links)
        works, C(href) being an alias of C(url)).
    type: list
    elements: dict
    suboptions:
      url:
        description: The URL.
        type: str
        required: true
        aliases: [href]
      text:
        description: Text shown for the link.
        type: str
  mention_channel:
    description:
      - Prefix the message with C(<!channel>) (an C(@channel) mention).
    type: bool
    default: false
  channel:
    description:
      - Channel override (only honoured by legacy webhooks).
    type: str
  username:
    description:
      - Sender name override (only honoured by legacy webhooks).
    type: str
  icon_emoji:
    description:
      - Sender icon override (only honoured by legacy webhooks).
    type: str
seealso:
  - name: Slack incoming webhooks
    description: Sending messages and the errors webhooks return.
    link: https://api.slack.com/messaging/webhooks
"""

EXAMPLES = r"""
- name: Alert #incident-response
  mataresit.emergency.slack:
    webhook_url: "{{ vault_slack_webhook_url }}"
    title: "P0 - Paperless Maverick outage"
    text: "API health checks failing since {{ detected_at }}; rollback in progress."
    severity: critical
    status: mitigating
    clusters: "{{ ansible_play_hosts }}"
    incident_id: "{{ incident_id }}"
    mention_channel: true
    links:
      - url: https://grafana.example.com/d/maverick
        text: Dashboard
    incident_dir: "{{ incident_dir }}"
"""

RETURN = r"""
message:
  description: The JSON body posted (text and blocks).
  returned: always
  type: dict
  sample: {text: "<!channel> API health checks failing", blocks: [{type: header, text: {type: plain_text, text: P0}}]}
requests:
  description: The request sent (or that would be sent in check mode), the webhook path as C(********).
  returned: always
  type: list
  elements: dict
  sample:
    - method: POST
      url: https://hooks.slack.com/********
      headers: {Content-Type: application/json}
      json: {text: outage}
response:
  description: Slack's answer (C(ok)).
  returned: when the message was posted
  type: str
  sample: ok
attempts:
  description: HTTP attempts made, retries included.
  returned: when the message was posted
  type: int
  sample: 1
record:
  description: Path of the record of the posted message in O(incident_dir).
  returned: when posted and O(incident_dir) is set
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.notifications import SAAS_HTTP_ARG_SPEC
from ansible_collections.mataresit.emergency.plugins.module_utils.services import slack


ARGUMENT_SPEC = dict(
    SAAS_HTTP_ARG_SPEC,
    webhook_url=dict(type="str", required=True, no_log=True, fallback=(env_fallback, ["SLACK_WEBHOOK_URL"])),
    text=dict(type="str"),
    title=dict(type="str"),
    severity=dict(type="str", choices=["critical", "error", "warning", "info", "resolved"]),
    status=dict(type="str"),
    clusters=dict(type="list", elements="str"),
    incident_id=dict(type="str"),
    links=dict(type="list", elements="dict",
               options=dict(url=dict(type="str", required=True, aliases=["href"]), text=dict(type="str"))),
    mention_channel=dict(type="bool", default=False),
    channel=dict(type="str"),
    username=dict(type="str"),
    icon_emoji=dict(type="str"),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True, required_one_of=[("text", "title")]), slack.operation)


if __name__ == "__main__":
    main()
