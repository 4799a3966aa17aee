#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: incident_records
short_description: Read what an incident's steps recorded in its workspace
description:
  - Reads the part of an incident workspace that belongs to one cluster - the records of what its steps
    replaced (replica counts, container env and resources, rollout backups, isolation policies, sent
    notifications) and its forensic evidence bundles - so that a playbook can put things back without knowing
    the workspace's file layout.
  - For each object only its newest record is returned; that record keeps the values found before the
    incident's first change (for example C(original_replicas)).
version_added: 0.1.0
author: mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.READ_ONLY
attributes:
  platform:
    platforms: posix
options:
  incident_dir:
    description: The incident workspace (C(incident_dir) returned by M(mataresit.emergency.incident)).
    type: path
    required: true
  cluster:
    description:
      - Inventory name of the cluster whose records to read.
      - Omitted, the records of the incident as a whole are read (C(notifications) - which channels were told of
        it, as the notification modules record them with the incident's own O(incident_dir)).
    type: str
  categories:
    description: What to read.
    type: list
    elements: str
    choices: [rollout, scale, container_patch, pod_recycle, isolation, notifications, evidence]
    default: [rollout, scale, container_patch, pod_recycle, isolation, notifications, evidence]
seealso:
  - module: mataresit.emergency.incident
"""

EXAMPLES = r"""
- name: Read the recorded replica counts and container patches of this cluster
  mataresit.emergency.incident_records:
    incident_dir: "{{ incident_info.incident_dir }}"
    cluster: "{{ inventory_hostname }}"
    categories: [scale, container_patch]
  register: recorded
  delegate_to: localhost

- name: Read which channels were told of the incident (to send the resolution to each)
  mataresit.emergency.incident_records:
    incident_dir: "{{ incident_info.incident_dir }}"
    categories: [notifications]
  register: told

- name: Put back the replica counts found before the incident's first change
  mataresit.emergency.scale:
    kind: "{{ item.kind }}"
    namespace: "{{ item.namespace }}"
    name: "{{ item.name }}"
    state: restore
    incident_dir: "{{ incident_cluster_dir }}"
  loop: "{{ recorded.records.scale }}"
"""

RETURN = r"""
records:
  description:
    - Per category asked for, the newest record of each object (in name order); for C(evidence), the bundles
      (C(path), C(namespace), C(captured_at)), oldest first.
  returned: always
  type: dict
  sample: {"scale": [{"kind": "Deployment", "namespace": "paperless-maverick", "name": "paperless-maverick",
           "previous_replicas": 3, "replicas": 8, "original_replicas": 3}]}
cluster_dir:
  description: The part of the workspace that holds the cluster's records (the incident's own without O(cluster)).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import incident_records

CATEGORIES = ["rollout", "scale", "container_patch", "pod_recycle", "isolation", "notifications", "evidence"]
ARGUMENT_SPEC = dict(
    incident_dir=dict(type="path", required=True),
    cluster=dict(type="str"),
    categories=dict(type="list", elements="str", choices=CATEGORIES, default=CATEGORIES),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), incident_records.operation, requires=())


if __name__ == "__main__":
    main()
