#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: email
short_description: Email the incident lists over SMTP
version_added: 0.1.0
description:
  - Sends a plain-text email (for example to C(incident-response@mataresit.com)) with the Python standard library -
    no other collection is needed.
  - SMTP without encryption, with STARTTLS, or over implicit TLS; optional login.
  - With O(incident_dir) the module records what it sent and an identical re-run reports C(changed=false) without
    sending again.
author:
  - mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.incident_dir
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.NOTIFY
attributes:
  check_mode:
    support: full
    details: Nothing is sent; RV(message) holds the message that would be sent.
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  host:
    description:
      - SMTP server.
    type: str
    default: localhost
  port:
    description:
      - SMTP port; defaults to 25 for O(secure=never), 587 for V(starttls) and 465 for V(tls).
    type: int
  secure:
    description:
      - V(never) sends in clear, V(starttls) upgrades the connection (failing when the server cannot), V(tls) connects
        over TLS.
    type: str
    choices: [never, starttls, tls]
    default: starttls
  validate_certs:
    description:
      - Verify the server's TLS certificate.
    type: bool
    default: true
  ca_cert:
    description:
      - CA bundle that signed the server's certificate.
    type: path
  username:
    description:
      - Login user name (no login when unset). Can also be set with E(SMTP_USERNAME).
    type: str
  password:
    description:
      - Login password. Can also be set with E(SMTP_PASSWORD).
    type: str
  sender:
    description:
      - The C(From) address.
    type: str
    default: mataresit-emergency@localhost
    aliases: [from]
  to:
    description:
      - Recipients.
    type: list
    elements: str
    required: true
  cc:
    description:
      - Copy recipients.
    type: list
    elements: str
  bcc:
    description:
      - Blind copy recipients (not shown in the headers).
    type: list
    elements: str
  subject:
    description:
      - Subject line.
    type: str
    required: true
  body:
    description:
      - Plain-text body.
    type: str
    default: ""
  calendar:
    description:
      - An iCalendar invitation (RFC 5545, METHOD REQUEST), sent as the C(text/calendar; method=REQUEST) alternative
        of the body, as calendar clients expect an invitation - for example the C(invitation) that
        M(mataresit.emergency.incident_report) returns.
    type: str
    version_added: 0.2.0
  incident_id:
    description:
      - Incident id, sent as the C(X-Mataresit-Incident) header and used, with the subject, to key the record in
        O(incident_dir).
    type: str
  request_timeout:
    description:
      - Seconds the SMTP connection and each command may take.
    type: float
    default: 30
"""

EXAMPLES = r"""
- name: Email the incident list
  mataresit.emergency.email:
    host: smtp.mataresit.com
    username: "{{ vault_smtp_user }}"
    password: "{{ vault_smtp_password }}"
    sender: oncall@mataresit.com
    to: [incident-response@mataresit.com]
    subject: "[P0] Paperless Maverick outage - {{ incident_id }}"
    body: "{{ lookup('ansible.builtin.template', 'incident-email.txt.j2') }}"
    incident_id: "{{ incident_id }}"
    incident_dir: "{{ incident_dir }}"
"""

RETURN = r"""
message:
  description: The message sent (or that would be sent) - server, recipients, headers and body; never the password.
  returned: always
  type: dict
  sample: {host: smtp.mataresit.com, port: 587, secure: starttls, from: oncall@mataresit.com,
           recipients: [incident-response@mataresit.com], headers: {Subject: "[P0] outage"}, body: "..."}
refused:
  description: Recipients the server refused (the others were accepted).
  returned: when sent
  type: dict
  sample: {}
record:
  description: Path of the record of the sent email in O(incident_dir).
  returned: when sent and O(incident_dir) is set
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import email
from ansible_collections.mataresit.emergency.plugins.module_utils.workspace import INCIDENT_DIR_ARG_SPEC


ARGUMENT_SPEC = dict(
    INCIDENT_DIR_ARG_SPEC,
    host=dict(type="str", default="localhost"),
    port=dict(type="int"),
    secure=dict(type="str", choices=["never", "starttls", "tls"], default="starttls"),
    validate_certs=dict(type="bool", default=True),
    ca_cert=dict(type="path"),
    username=dict(type="str", fallback=(env_fallback, ["SMTP_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["SMTP_PASSWORD"])),
    sender=dict(type="str", default="mataresit-emergency@localhost", aliases=["from"]),
    to=dict(type="list", elements="str", required=True),
    cc=dict(type="list", elements="str"),
    bcc=dict(type="list", elements="str"),
    subject=dict(type="str", required=True),
    body=dict(type="str", default=""),
    calendar=dict(type="str"),
    incident_id=dict(type="str"),
    request_timeout=dict(type="float", default=30),
)


def main():
    module = AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True, required_together=[("username", "password")])
    run(module, email.operation, requires=())


if __name__ == "__main__":
    main()
