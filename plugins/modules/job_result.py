#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: job_result
short_description: Wait for a task started in the background and return its result
description:
  - Waits for a task started with C(async) (and C(poll) set to C(0)) to end and returns its result as the task would have
    returned it in the foreground - or fails with its message - in one step, where C(ansible.builtin.async_status)
    needs C(until) and C(retries).
  - Reads the job's record in O(async_dir), the one C(ansible.builtin.async_status) reads, so it works for any
    module started in the background on the same host.
  - The notification role gathers the channels it told in the background with it, so that a recovery never waits
    on a notification and the report still has every channel's answer.
version_added: 0.1.0
author: mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.READ_ONLY
attributes:
  platform:
    platforms: posix
options:
  jid:
    description: The C(ansible_job_id) the background task registered.
    type: str
    required: true
  wait_timeout:
    description:
      - Seconds to wait for the job to end; C(0) reads its record once.
      - A job still running then fails the task with RV(finished=false), and it goes on running.
    type: int
    default: 120
  wait_sleep:
    description: Seconds between reads of the record once the first quick reads found the job running.
    type: float
    default: 1.0
  async_dir:
    description:
      - Directory of the job records, the C(async_dir) the background task used.
      - Can also be set with E(ANSIBLE_ASYNC_DIR).
    type: path
    default: ~/.ansible_async
seealso:
  - module: ansible.builtin.async_status
"""

EXAMPLES = r"""
- name: Send the Slack message in the background
  mataresit.emergency.slack:
    webhook_url: "{{ vault_slack_webhook_url }}"
    title: P0 outage
  async: 120
  poll: 0
  register: slack_sent

- name: Collect the Slack message sent in the background
  mataresit.emergency.job_result:
    jid: "{{ slack_sent.ansible_job_id }}"
    wait_timeout: 120
  register: slack_result
  ignore_errors: true
"""

RETURN = r"""
finished:
  description: Whether the job ended (C(false) only when the task failed because it had not ended in time).
  returned: always
  type: bool
ansible_job_id:
  description: The job's id.
  returned: always
  type: str
changed:
  description: Whether the job changed something.
  returned: always
  type: bool
msg:
  description: The job's message; for a failed job, why it failed.
  returned: when the job gave one
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import job_result

ARGUMENT_SPEC = dict(
    jid=dict(type="str", required=True),
    wait_timeout=dict(type="int", default=120),
    wait_sleep=dict(type="float", default=1.0),
    async_dir=dict(type="path", default="~/.ansible_async", fallback=(env_fallback, ["ANSIBLE_ASYNC_DIR"])),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), job_result.operation, requires=())


if __name__ == "__main__":
    main()
