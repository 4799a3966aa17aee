#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot
short_description: Capture the workloads and nodes a recovery drill touches, compare with them, and put them back
version_added: 0.2.0
description:
  - O(action=capture) records, in O(incident_dir), the state of the workloads of O(namespaces) and of the nodes -
    Deployments and StatefulSets (labels, annotations, spec), the ReplicaSets and ControllerRevisions they own,
    digests of Services, ConfigMaps, Secrets (data only, never a value), NetworkPolicies and ServiceAccounts, the
    Ready pods of each workload with their images, and the labels, taints, unschedulable and readiness of each node
    that runs their pods.
    A snapshot that exists is kept, so a re-run never captures a state in the middle of a drill.
  - O(action=compare) captures again and returns the differences, object by object (RV(differences)).
  - O(action=restore) puts the captured state back - node labels, taints and unschedulable; each workload's spec,
    labels and annotations (a rollback to the same template is the same workload); the history the drill added
    (ReplicaSets scaled to zero, unused ControllerRevisions) deleted; StatefulSet pods left not Ready on an old
    revision recycled - waits until nodes are Ready and rollouts complete, then compares.
  - Bookkeeping of the API server and the controllers (resourceVersion, generation, status, revision annotations,
    pod names) is not compared.
author:
  - mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.k8s_auth
  - mataresit.emergency.k8s_auth.WAIT
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.K8S
attributes:
  check_mode:
    support: full
    details: Nothing is recorded; a restore sends its writes as a server-side dry run (C(dryRun=All)).
  diff_mode:
    support: none
  platform:
    platforms: kubernetes
options:
  action:
    description: Capture, compare or restore.
    type: str
    choices: [capture, compare, restore]
    required: true
  namespaces:
    description: The namespaces whose workloads are captured (with O(action=capture)).
    type: list
    elements: str
    default: []
  nodes:
    description: Capture the nodes that run pods of O(namespaces) too (the nodes a drill may fail).
    type: bool
    default: true
  name:
    description: Name of the snapshot in the workspace.
    type: str
    default: drill
  incident_dir:
    description: Where the snapshot is recorded - the cluster's part of the incident workspace (C(incident_cluster_dir)).
    type: path
    required: true
  wait:
    description: Not used; a restore always waits for the nodes and the rollouts.
notes:
  - A restore replaces each changed workload with a PUT guarded by its resourceVersion, so a concurrent change fails
    it instead of being overwritten.
"""

EXAMPLES = r"""
- name: Capture the state before the drill
  mataresit.emergency.snapshot:
    action: capture
    namespaces: [paperless-maverick, database]
    incident_dir: "{{ incident_cluster_dir }}"

- name: Put everything back after the drill
  mataresit.emergency.snapshot:
    action: restore
    incident_dir: "{{ incident_cluster_dir }}"
  register: put_back

- name: Fail unless the cluster is as it was
  ansible.builtin.assert:
    that: put_back.same
    fail_msg: "{{ put_back.differences }}"
"""

RETURN = r"""
captured_at:
  description: When the snapshot was captured (UTC).
  returned: always
  type: str
snapshot:
  description: How many objects of each section were captured, per namespace.
  returned: O(action=capture)
  type: dict
restored:
  description: What the restore put back, one sentence per object.
  returned: O(action=restore)
  type: list
  elements: str
  sample: ["Node/kwok-node-1: labels put back (mataresit.test/fault)",
           "paperless-maverick/Deployment/paperless-maverick: spec, labels and annotations put back"]
differences:
  description: What differs from the snapshot, one sentence per difference (empty when nothing does).
  returned: O(action=compare) or O(action=restore)
  type: list
  elements: str
same:
  description: Whether the cluster is as captured.
  returned: O(action=compare) or O(action=restore)
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import K8S_WAIT_ARG_SPEC, k8s_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import snapshot

ARGUMENT_SPEC = k8s_spec(
    K8S_WAIT_ARG_SPEC,
    action=dict(type="str", choices=["capture", "compare", "restore"], required=True),
    namespaces=dict(type="list", elements="str", default=[]),
    nodes=dict(type="bool", default=True),
    name=dict(type="str", default="drill"),
    incident_dir=dict(type="path", required=True),
)


def main():
    module = AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("action", "capture", ("namespaces",))])
    run(module, snapshot.operation)


if __name__ == "__main__":
    main()
