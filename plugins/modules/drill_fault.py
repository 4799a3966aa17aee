#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: drill_fault
short_description: Stage the fault of a recovery drill on a staging cluster
version_added: 0.2.0
description:
  - Stages one fault and waits until it shows, so that a drill (C(playbooks/drill.yml)) can time the detection and
    the recovery of the runbook procedure from the moment the fault is real.
  - O(fault=bad_image) deploys an image tag that does not work (O(image_tag)) to a workload's container, with a
    C([DRILL]) change-cause, and waits until one of its pods fails (crash loop, image pull) - a bad deploy.
  - O(fault=not_ready_pod) crash-loops a StatefulSet's pod with O(image_tag), then puts the image right; a
    StatefulSet never replaces a pod that never became Ready, so the pod stays not Ready until it is recycled
    (the runbook's "database pod issues").
  - O(fault=node_not_ready) labels a node with O(node_label), which the cluster's fault injector turns into NotReady
    (the local cluster's kwok does for C(mataresit.test/fault=notready)), and waits until the node is NotReady. The
    node is O(node), or the one that runs most Ready pods of the workload.
  - What each fault replaces is recorded in O(incident_dir); M(mataresit.emergency.snapshot) puts the cluster back.
  - Images are set with a patch guarded by the workload's C(resourceVersion); a patch that lost the race with a
    status update is made again on a fresh read, up to three times.
author:
  - mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.k8s_auth
  - mataresit.emergency.k8s_auth.WAIT
  - mataresit.emergency.incident_dir
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.K8S
attributes:
  check_mode:
    support: full
    details: The patch is sent as a server-side dry run (C(dryRun=All)); nothing waits and nothing is recorded.
  diff_mode:
    support: none
  platform:
    platforms: kubernetes
options:
  fault:
    description: The fault to stage.
    type: str
    choices: [bad_image, not_ready_pod, node_not_ready]
    required: true
  kind:
    description: Kind of the workload (V(not_ready_pod) always uses a StatefulSet).
    type: str
    choices: [Deployment, StatefulSet]
    default: Deployment
  name:
    description: The workload. Required for the image faults, and for V(node_not_ready) without O(node).
    type: str
  namespace:
    description: The workload's namespace.
    type: str
  container:
    description: The container whose image is changed; the first one when omitted.
    type: str
  image_tag:
    description: The tag that does not work (the local cluster crash-loops tags containing C(bad)).
    type: str
    default: drill-bad
  node:
    description: The node to fail (V(node_not_ready)).
    type: str
  node_label:
    description: The C(key=value) label the cluster's fault injector turns into a NotReady node.
    type: str
    default: mataresit.test/fault=notready
  wait:
    description: Not used; the fault is always waited for until it shows.
"""

EXAMPLES = r"""
- name: Stage a bad deploy of the app
  mataresit.emergency.drill_fault:
    fault: bad_image
    namespace: paperless-maverick
    name: paperless-maverick
    incident_dir: "{{ incident_cluster_dir }}"
  register: staged
"""

RETURN = r"""
target:
  description: What was faulted (C(namespace/Kind/name) or C(Node/name)).
  returned: always
  type: str
  sample: paperless-maverick/Deployment/paperless-maverick
staged_at:
  description: When the fault showed (UTC), the start of the drill's clock.
  returned: always
  type: str
previous:
  description: What the fault replaced (the image, the node label).
  returned: always
  type: dict
image:
  description: The image the workload runs after staging.
  returned: image faults
  type: str
failing_pods:
  description: The pods that showed the fault.
  returned: image faults, when staged
  type: list
  elements: str
node:
  description: The node made NotReady.
  returned: O(fault=node_not_ready)
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import K8S_WAIT_ARG_SPEC, k8s_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import drill_fault
from ansible_collections.mataresit.emergency.plugins.module_utils.workspace import INCIDENT_DIR_ARG_SPEC

ARGUMENT_SPEC = k8s_spec(
    K8S_WAIT_ARG_SPEC, INCIDENT_DIR_ARG_SPEC,
    fault=dict(type="str", choices=["bad_image", "not_ready_pod", "node_not_ready"], required=True),
    kind=dict(type="str", choices=["Deployment", "StatefulSet"], default="Deployment"),
    name=dict(type="str"),
    namespace=dict(type="str"),
    container=dict(type="str"),
    image_tag=dict(type="str", default="drill-bad"),
    node=dict(type="str"),
    node_label=dict(type="str", default="mataresit.test/fault=notready"),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), drill_fault.operation)


if __name__ == "__main__":
    main()
