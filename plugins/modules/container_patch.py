#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: container_patch
short_description: Set env vars and resources of one container of a Deployment, and revert them
description:
  - Sets, replaces or removes environment variables and resource requests/limits of a named container in a
    workload's pod template, like C(kubectl set env) and C(kubectl patch), then waits for the rollout.
  - Returns the values it replaced as RV(previous); a variable that came from C(valueFrom) is reported as that
    reference (for example the Secret name and key), never as the resolved value.
  - With O(incident_dir) the replaced values are recorded, and O(state=revert) puts back the values the
    container had before the first patch recorded there.
  - Compares before it acts; with nothing to change it sends no patch, so no new rollout starts.
  - The patch is guarded by the object's C(resourceVersion). When another write lands between the read and the
    patch (most often a controller's status update), nothing is written; the container is read and planned
    again, up to three times, before the module fails with a conflict. The record of an attempt that lost the
    race is taken back, so O(incident_dir) keeps one record per patch made.
version_added: 0.1.0
author:
  - mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.k8s_auth
  - mataresit.emergency.k8s_auth.WAIT
  - mataresit.emergency.k8s_auth.WORKLOAD
  - mataresit.emergency.incident_dir
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.K8S
attributes:
  check_mode:
    support: full
    details: The patch is sent as a server-side dry run (C(dryRun=All)); nothing is persisted or recorded.
  diff_mode:
    support: full
    details: Returns the container's env and resources before and after.
  platform:
    platforms: kubernetes
options:
  kind:
    choices: [Deployment, StatefulSet, DaemonSet]
  container:
    description:
      - Name of the container in the pod template.
    type: str
    required: true
  state:
    description:
      - V(present) applies O(env) and O(resources).
      - V(revert) restores the values recorded in O(incident_dir) before the first patch of this container.
    type: str
    default: present
    choices: [present, revert]
  env:
    description:
      - Variable name to value. A value is set as a string (V(true)/V(false) for booleans); V(null) removes the
        variable; a dict with the single key C(valueFrom) sets a reference to a ConfigMap or Secret key.
      - Existing variables keep their place; new ones are appended.
      - Put secret values in a Secret and reference them with C(valueFrom); plain values appear in the result.
    type: dict
  resources:
    description:
      - C(requests) and/or C(limits), each a dict of resource name to quantity (V(500m), V(1Gi)). V(null) removes
        a key, and V(null) as the whole C(requests) or C(limits) removes that section.
      - Quantities are compared by value (V(2000m) equals V(2)).
    type: dict
notes:
  - One of O(env) or O(resources) is required with O(state=present).
  - Waits check quickly at first (after 0.1 s, doubling) and then every O(wait_sleep) seconds.
"""

EXAMPLES = r"""
- name: Restart the app with database retries (runbook P0 database)
  mataresit.emergency.container_patch:
    namespace: paperless-maverick
    name: paperless-maverick
    container: paperless-maverick
    env:
      DB_RETRY_ATTEMPTS: 10
      DB_RETRY_DELAY: 5000
    incident_dir: /var/lib/incidents/INC-1234

- name: More resources for the embedding workers (runbook P1 backlog)
  mataresit.emergency.container_patch:
    namespace: paperless-maverick
    name: embedding-queue-workers
    container: embedding-worker
    resources:
      requests: {cpu: 500m, memory: 1Gi}
      limits: {cpu: 2000m, memory: 4Gi}
    incident_dir: /var/lib/incidents/INC-1234

- name: Post-incident, put back what the incident changed
  mataresit.emergency.container_patch:
    namespace: paperless-maverick
    name: paperless-maverick
    container: paperless-maverick
    state: revert
    incident_dir: /var/lib/incidents/INC-1234
"""

RETURN = r"""
previous:
  description:
    - The values replaced, for the keys this run touched; V(null) when a key was absent.
    - A variable from C(valueFrom) is reported as a dict with the single key C(valueFrom).
  returned: success
  type: dict
  sample: {"env": {"LOG_LEVEL": {"valueFrom": {"configMapKeyRef": {"name": "paperless-maverick-config",
           "key": "LOG_LEVEL"}}}, "DB_RETRY_ATTEMPTS": null}, "resources": {"limits": {"cpu": "500m"}}}
generation:
  description: The workload's metadata.generation after the run (unchanged when nothing changed).
  returned: success
  type: int
  sample: 3
backup_path:
  description: File in O(incident_dir) recording the replaced values, when one was written.
  returned: success
  type: str
elapsed:
  description: Seconds spent waiting for the rollout.
  returned: success
  type: float
  sample: 5.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import K8S_WAIT_ARG_SPEC, k8s_spec, workload_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import container_patch
from ansible_collections.mataresit.emergency.plugins.module_utils.workspace import INCIDENT_DIR_ARG_SPEC

ARGUMENT_SPEC = k8s_spec(
    K8S_WAIT_ARG_SPEC, INCIDENT_DIR_ARG_SPEC, workload_spec(["Deployment", "StatefulSet", "DaemonSet"]),
    container=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "revert"]),
    env=dict(type="dict"),
    resources=dict(type="dict"),
)


def main():
    module = AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("state", "present", ["env", "resources"], True)])
    run(module, container_patch.operation)


if __name__ == "__main__":
    main()
