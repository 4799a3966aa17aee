#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: isolation
short_description: Isolate a namespace with a default-deny NetworkPolicy and an allow-list
version_added: 0.1.0
description:
  - Creates (or removes) one NetworkPolicy that selects every pod of the namespace (an empty C(podSelector)) and denies
    all ingress and egress except an allow-list - DNS to O(dns_namespace), ingress from the monitoring namespaces
    to the metrics ports, egress to the evidence store - replacing the runbook's
    C(kubectl patch networkpolicy default-deny).
  - The policy is labelled C(app.kubernetes.io/managed-by=mataresit.emergency). The module only ever touches that
    policy; other NetworkPolicies in the namespace are left untouched (and listed in RV(untouched_policies)).
  - Idempotent - the spec is compared with the desired one; check mode uses a server-side dry run.
  - NetworkPolicies only take effect with a network plugin that enforces them.
author:
  - mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.k8s_auth
  - mataresit.emergency.incident_dir
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.K8S
attributes:
  check_mode:
    support: full
    details: Writes are sent as a server-side dry run (C(dryRun=All)).
  diff_mode:
    support: full
    details: Returns the policy before and after.
  platform:
    platforms: kubernetes
options:
  namespace:
    description:
      - Namespace to isolate.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the isolation policy, V(absent) removes it (and only it).
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - Name of the isolation NetworkPolicy. An existing policy of that name that the collection does not manage is
        an error, never overwritten.
    type: str
    default: mataresit-emergency-isolation
  allow_dns:
    description:
      - Allow egress to DNS (UDP and TCP port 53) in O(dns_namespace).
    type: bool
    default: true
  dns_namespace:
    description:
      - Namespace of the cluster DNS.
    type: str
    default: kube-system
  monitoring_namespaces:
    description:
      - Namespaces (by name) allowed to reach the pods, for example Prometheus scraping. An empty list allows none.
    type: list
    elements: str
    default: [monitoring]
  monitoring_ports:
    description:
      - TCP ports the monitoring namespaces may reach (the metrics ports). An empty list allows every port.
    type: list
    elements: int
    default: [9090, 9091]
  evidence_store_cidrs:
    description:
      - CIDRs of the evidence store the pods may send to (egress).
    type: list
    elements: str
    default: []
  evidence_store_namespaces:
    description:
      - Namespaces (by name) of the evidence store the pods may send to (egress).
    type: list
    elements: str
    default: []
  evidence_store_ports:
    description:
      - TCP ports of the evidence store. An empty list allows every port.
    type: list
    elements: int
    default: []
  allow_same_namespace:
    description:
      - Also allow traffic between the pods of the namespace (contain, but keep the application talking to itself).
    type: bool
    default: false
  extra_ingress:
    description:
      - Further ingress rules (NetworkPolicyIngressRule objects), appended as given.
    type: list
    elements: dict
    default: []
  extra_egress:
    description:
      - Further egress rules (NetworkPolicyEgressRule objects), appended as given.
    type: list
    elements: dict
    default: []
notes:
  - The isolation replaces nothing it does not own, so removing it with O(state=absent) restores the previous
    traffic rules exactly.
seealso:
  - module: mataresit.emergency.forensics
  - module: mataresit.emergency.secret_rotation
"""

EXAMPLES = r"""
- name: Capture evidence, then isolate the namespace
  mataresit.emergency.isolation:
    namespace: paperless-maverick
    incident_dir: "/var/lib/incidents/{{ incident_id }}"
    evidence_store_cidrs: [10.20.0.15/32]
    evidence_store_ports: [443]

- name: Lift the isolation after the incident
  mataresit.emergency.isolation:
    namespace: paperless-maverick
    state: absent
"""

RETURN = r"""
namespace:
  description: The namespace.
  returned: always
  type: str
name:
  description: Name of the isolation policy.
  returned: always
  type: str
policy:
  description: The isolation policy after the change (metadata and spec); null when absent.
  returned: always
  type: dict
  sample: {"metadata": {"name": "mataresit-emergency-isolation"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
previous:
  description: The isolation policy before the change (metadata and spec), null if there was none.
  returned: always
  type: dict
untouched_policies:
  description: Names of the other NetworkPolicies in the namespace, which were left as they are.
  returned: always
  type: list
  elements: str
  sample: [allow-frontend]
record:
  description: Path of the workspace record of the change (with the previous policy), when O(incident_dir) is set.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import k8s_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import isolation
from ansible_collections.mataresit.emergency.plugins.module_utils.workspace import INCIDENT_DIR_ARG_SPEC

ARGUMENT_SPEC = k8s_spec(
    INCIDENT_DIR_ARG_SPEC,
    namespace=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    name=dict(type="str", default="mataresit-emergency-isolation"),
    allow_dns=dict(type="bool", default=True),
    dns_namespace=dict(type="str", default="kube-system"),
    monitoring_namespaces=dict(type="list", elements="str", default=["monitoring"]),
    monitoring_ports=dict(type="list", elements="int", default=[9090, 9091]),
    evidence_store_cidrs=dict(type="list", elements="str", default=[]),
    evidence_store_namespaces=dict(type="list", elements="str", default=[]),
    evidence_store_ports=dict(type="list", elements="int", default=[]),
    allow_same_namespace=dict(type="bool", default=False),
    extra_ingress=dict(type="list", elements="dict", default=[]),
    extra_egress=dict(type="list", elements="dict", default=[]),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), isolation.operation)


if __name__ == "__main__":
    main()
