#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: rollout
short_description: Restart, undo, wait for or list the rollouts of a Deployment
description:
  - The C(kubectl rollout) commands as one idempotent module, with a backup of the object before any change.
  - O(action=restart) stamps the pod template with C(kubectl.kubernetes.io/restartedAt), like C(kubectl rollout restart).
  - O(action=undo) copies the pod template of an earlier revision back into the Deployment, like
    C(kubectl rollout undo); the revisions are the ReplicaSets the Deployment owns (by owner reference uid,
    never by labels alone). The C(pod-template-hash) label is dropped and the Deployment's own annotations kept.
    The undo is guarded by the Deployment's C(resourceVersion); one that lost the race with a status update is
    chosen again from a fresh read, up to three times.
  - O(action=status) waits until the rollout is complete (observed generation, updated, ready and available
    replicas, no old replicas left) and fails with the controller's reason on C(ProgressDeadlineExceeded).
  - O(action=history) returns the revisions, newest first, with images and change-cause.
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
    details: Writes are sent as a server-side dry run (C(dryRun=All)); nothing is persisted or recorded.
  diff_mode:
    support: full
    details: Returns the pod template before and after the change.
  platform:
    platforms: kubernetes
options:
  action:
    description:
      - What to do. V(undo) and V(history) support O(kind=Deployment) only.
    type: str
    required: true
    choices: [restart, undo, status, history]
  kind:
    choices: [Deployment, StatefulSet, DaemonSet]
  to_revision:
    description:
      - Revision to go back to with O(action=undo); defaults to the revision before the current one.
      - An undo gives the reused revision a new number; its former number still finds it (the controller keeps it
        in C(deployment.kubernetes.io/revision-history)), so re-running the same task changes nothing.
      - Without it, re-running an undo that already went back from a revision changes nothing (the revision
        undone is recorded in the C(mataresit.emergency/rolled-back-from) annotation).
    type: int
  reason:
    description:
      - Why; recorded as the C(kubernetes.io/change-cause) annotation, which the rollout history shows.
      - Without it a restart leaves the annotation as it is.
    type: str
notes:
  - With O(wait=true) (the default) V(restart) and V(undo) wait until the rollout is complete.
  - A failure while waiting after a change reports C(changed=true) and the O(incident_dir) backup path.
  - Waits check quickly at first (after 0.1 s, doubling) and then every O(wait_sleep) seconds.
"""

EXAMPLES = r"""
- name: Roll back the last deploy and wait until the pods run the previous image
  mataresit.emergency.rollout:
    action: undo
    namespace: paperless-maverick
    name: paperless-maverick
    reason: P0 outage recovery
    incident_dir: /var/lib/incidents/INC-1234

- name: Restart the workers (kubectl rollout restart)
  mataresit.emergency.rollout:
    action: restart
    namespace: paperless-maverick
    name: embedding-queue-workers
    reason: stuck workers

- name: Go back to a named revision
  mataresit.emergency.rollout:
    action: undo
    namespace: paperless-maverick
    name: paperless-maverick
    to_revision: 3

- name: Fail unless the rollout completes within five minutes
  mataresit.emergency.rollout:
    action: status
    namespace: paperless-maverick
    name: paperless-maverick
    wait_timeout: 300

- name: Read the rollout history
  mataresit.emergency.rollout:
    action: history
    namespace: paperless-maverick
    name: paperless-maverick
  register: history
"""

RETURN = r"""
before:
  description: The workload as it was before the change (the backup; without managedFields).
  returned: action is restart or undo
  type: dict
after:
  description: The workload as the server returned it after the change (the dry-run answer in check mode).
  returned: action is restart or undo
  type: dict
backup_path:
  description: File in O(incident_dir) holding the backup, when one was written.
  returned: action is restart or undo
  type: str
  sample: /var/lib/incidents/INC-1234/rollout/20261127T181500Z-paperless-maverick-deployment-paperless-maverick-undo.json
revision:
  description: With V(undo), the revision gone back to; with V(status) and V(history), the current revision.
  returned: success
  type: int
  sample: 3
from_revision:
  description: The revision that was current before an undo.
  returned: action is undo
  type: int
  sample: 4
images:
  description: Container name to image of the target (undo) or current (status) pod template.
  returned: action is undo or status
  type: dict
  sample: {"paperless-maverick": "paperless-maverick:v1"}
history:
  description: Revisions newest first.
  returned: action is history
  type: list
  elements: dict
  sample:
    - revision: 2
      replicaset: paperless-maverick-5d9c7b
      created: "2026-11-27T18:01:02Z"
      images: {"paperless-maverick": "paperless-maverick:v2-bad"}
      change_cause: deploy v2
      replicas: 1
      ready_replicas: 0
state:
  description: Rollout state after the wait (or now, for V(status) without wait).
  returned: when a rollout was waited for, and with action status
  type: dict
  sample: {"complete": true, "failed": false, "reason": "Complete", "message": "rollout complete", "desired": 3,
           "updated": 3, "ready": 3, "available": 3, "observed_generation_ok": true}
msg:
  description: Why an undo changed nothing.
  returned: action is undo and nothing was to be done
  type: str
  sample: "Nothing to undo: revision 2 was already undone (now at revision 4)"
elapsed:
  description: Seconds spent waiting.
  returned: action is restart, undo or status
  type: float
  sample: 4.2
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import K8S_WAIT_ARG_SPEC, k8s_spec, workload_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import rollout
from ansible_collections.mataresit.emergency.plugins.module_utils.workspace import INCIDENT_DIR_ARG_SPEC

ARGUMENT_SPEC = k8s_spec(
    K8S_WAIT_ARG_SPEC, INCIDENT_DIR_ARG_SPEC, workload_spec(["Deployment", "StatefulSet", "DaemonSet"]),
    action=dict(type="str", required=True, choices=["restart", "undo", "status", "history"]),
    to_revision=dict(type="int"),
    reason=dict(type="str"),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), rollout.operation)


if __name__ == "__main__":
    main()
