#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: pod_recycle
short_description: Delete pods by selector, phase or readiness and wait for their replacements to be Ready
description:
  - Deletes the pods of a namespace that match O(label_selector) and every filter given (O(not_running),
    O(phases), O(not_ready)); pods already terminating are left alone.
  - Deletes at most O(max_concurrent) pods at a time and, with O(wait), waits after each batch until the deleted
    pods are gone, their owning controllers have created replacements, every replacement is Ready and the number
    of Ready pods matching the selector is back to what it was before the batch.
  - Each delete carries the pod's uid as a precondition, so a replacement that reuses the name (StatefulSet) is
    never deleted by mistake.
  - Replaces C(kubectl delete pod -l app=postgresql) with C(kubectl wait --for=condition=ready), and
    C(kubectl delete pods -l app=paperless-maverick --field-selector=status.phase!=Running).
version_added: 0.1.0
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
    details: Deletes are sent as a server-side dry run (C(dryRun=All)); no pod is deleted, nothing is recorded.
  diff_mode:
    support: full
    details: Returns the names of the pods that are (or would be) deleted.
  platform:
    platforms: kubernetes
options:
  namespace:
    description:
      - Namespace of the pods.
    type: str
    required: true
  label_selector:
    description:
      - Label selector of the pods, as for C(kubectl -l) (V(app=postgresql), V(app in (a,b)), V(!canary)).
    type: str
  not_running:
    description:
      - Only pods whose phase is not V(Running) (C(--field-selector=status.phase!=Running)).
    type: bool
    default: false
  phases:
    description:
      - Only pods in one of these phases.
    type: list
    elements: str
    choices: [Pending, Running, Succeeded, Failed, Unknown]
  not_ready:
    description:
      - Only pods that are not Ready, which includes crash-looping pods (phase V(Running), not Ready).
    type: bool
    default: false
  max_concurrent:
    description:
      - How many pods to delete at a time; with O(wait) the next batch starts once the previous one's replacements
        are Ready. V(0) deletes all chosen pods at once.
    type: int
    default: 0
notes:
  - At least one of O(label_selector), O(not_running), O(phases) or O(not_ready) is required.
  - Pods without a controller are deleted but not replaced; they are listed in RV(unowned).
  - With O(incident_dir) the chosen pods (spec and status, as evidence of what was wrong) are recorded there
    before any is deleted.
  - Waits check quickly at first (after 0.1 s, doubling) and then every O(wait_sleep) seconds.
"""

EXAMPLES = r"""
- name: Restart unhealthy app pods (runbook P1)
  mataresit.emergency.pod_recycle:
    namespace: paperless-maverick
    label_selector: app=paperless-maverick
    not_running: true

- name: Recycle the database pod and wait until it is Ready again (runbook P0 database)
  mataresit.emergency.pod_recycle:
    namespace: database
    label_selector: app=postgresql
    wait_timeout: 300

- name: Replace crash-looping workers two at a time
  mataresit.emergency.pod_recycle:
    namespace: paperless-maverick
    label_selector: app=embedding-queue-worker
    not_ready: true
    max_concurrent: 2
"""

RETURN = r"""
deleted:
  description: Names of the pods deleted (in check mode, that would be deleted).
  returned: success
  type: list
  elements: str
  sample: [paperless-maverick-7d4b9c-x2x9k]
matched:
  description: Number of pods the label selector matched before any filter.
  returned: success
  type: int
  sample: 3
unowned:
  description: Deleted pods that have no controller, so nothing replaces them.
  returned: success
  type: list
  elements: str
  sample: []
replacements:
  description: The pods created to replace the deleted ones, as they were when the wait ended.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "postgresql-0", "phase": "Running", "ready": true, "reason": null,
            "controller": "StatefulSet/postgresql"}]
backup_path:
  description: File in O(incident_dir) recording the deleted pods, when one was written.
  returned: success
  type: str
elapsed:
  description: Seconds spent deleting and waiting.
  returned: success
  type: float
  sample: 2.5
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import K8S_WAIT_ARG_SPEC, k8s_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import pod_recycle
from ansible_collections.mataresit.emergency.plugins.module_utils.workspace import INCIDENT_DIR_ARG_SPEC

ARGUMENT_SPEC = k8s_spec(
    K8S_WAIT_ARG_SPEC, INCIDENT_DIR_ARG_SPEC,
    namespace=dict(type="str", required=True),
    label_selector=dict(type="str"),
    not_running=dict(type="bool", default=False),
    phases=dict(type="list", elements="str", choices=["Pending", "Running", "Succeeded", "Failed", "Unknown"]),
    not_ready=dict(type="bool", default=False),
    max_concurrent=dict(type="int", default=0),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), pod_recycle.operation)


if __name__ == "__main__":
    main()
