"""The notification modules in a real ansible-playbook run: FQCNs, the notify
action group with module_defaults, check mode, and no secret in the output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.helpers import REPO, assert_clean

PLAYBOOK = """
- name: Notify
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/mataresit.emergency.notify:
      request_timeout: 10
      incident_dir: "{{ incident_dir }}"
  tasks:
    - name: Page
      mataresit.emergency.pagerduty:
        routing_key: "{{ s.pagerduty_routing_key }}"
        events_url: "{{ s.pagerduty_events_url }}"
        incident_id: INC-PB
        summary: "P0: playbook"
    - name: Status page
      mataresit.emergency.statuspage:
        api_key: "{{ s.statuspage_api_key }}"
        api_url: "{{ s.statuspage_api_url }}"
        page_id: "{{ s.statuspage_page_id }}"
        name: Service Disruption
        components: {API: major_outage}
        request_interval: 0
    - name: Slack
      mataresit.emergency.slack:
        webhook_url: "{{ s.slack_webhook_url }}"
        text: API down
        incident_id: INC-PB
"""


def run_playbook(tmp_path, sandbox, *extra):
    (tmp_path / "ansible.cfg").write_text(f"[defaults]\ninterpreter_python = {sys.executable}\n")
    (tmp_path / "pb.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"), ANSIBLE_NOCOLOR="1")
    variables = {"s": sandbox.settings(), "incident_dir": str(tmp_path / "incident")}
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           str(tmp_path / "pb.yml"), "-e", json.dumps(variables), "-vv", *extra],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def secrets_of(sb):
    return [sb.pd_routing_key, sb.sp_api_key, sb.slack_path.rsplit("/", 1)[1]]


def test_playbook_check_then_run_then_rerun(sandbox, tmp_path):
    checked = run_playbook(tmp_path, sandbox, "--check")
    assert sandbox.writes() == []
    first = run_playbook(tmp_path, sandbox)
    assert "changed=3" in first and len(sandbox.accepted_writes()) == 3
    second = run_playbook(tmp_path, sandbox)
    assert "changed=0" in second and len(sandbox.writes()) == 3
    assert_clean([checked, first, second], *secrets_of(sandbox))
