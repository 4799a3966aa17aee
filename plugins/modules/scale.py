#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: scale
short_description: Scale a Deployment or StatefulSet, restore its recorded count, or drain-cycle it
description:
  - Sets the replica count through the C(/scale) subresource and waits until exactly that many replicas are ready.
  - The count can be exact (V(6)) or relative (V("+3"), V("-1"), strings with a sign) and is kept within O(min_replicas)
    and O(max_replicas).
  - The count it replaces is returned as RV(previous_replicas) and, with O(incident_dir), recorded so that
    O(state=restore) can put back the count the workload had before the incident's first change.
  - O(state=drain_cycle) is the runbook's connection-pool drain (scale to 2, wait 60 s, scale back). It scales to
    O(drain_replicas), holds for O(drain_seconds), and restores the count it found, whatever that was.
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
    details: The scale request is sent as a server-side dry run (C(dryRun=All)); nothing changes, no wait, no sleep.
  diff_mode:
    support: full
    details: Returns the replica count before and after.
  platform:
    platforms: kubernetes
options:
  kind:
    choices: [Deployment, StatefulSet, ReplicaSet]
  state:
    description:
      - V(present) sets O(replicas).
      - V(restore) sets O(previous_replicas) or, without it, the original count recorded in O(incident_dir).
      - V(drain_cycle) scales to O(drain_replicas), waits O(drain_seconds) and scales back to the current count.
    type: str
    default: present
    choices: [present, restore, drain_cycle]
  replicas:
    description:
      - Replica count with O(state=present), exact (V(6)) or relative to the current count (V("+3"), V("-1")).
      - A relative count is a string with an explicit sign, so quote it (V("+3"), V("-1")); YAML reads an unquoted
        C(+3) as the number 3 and an unquoted C(-1) as a negative number, which is an error (a count is never
        negative).
      - A relative count changes the workload on every run.
    type: raw
  min_replicas:
    description:
      - Lower bound for the result of O(replicas) or O(state=restore).
    type: int
  max_replicas:
    description:
      - Upper bound for the result of O(replicas) or O(state=restore).
    type: int
  previous_replicas:
    description:
      - Count to put back with O(state=restore), instead of the one recorded in O(incident_dir).
    type: int
  drain_replicas:
    description:
      - Replica count while draining with O(state=drain_cycle).
    type: int
    default: 2
  drain_seconds:
    description:
      - Seconds to hold the drained count with O(state=drain_cycle), after its replicas are ready.
    type: float
    default: 60
notes:
  - With O(state=drain_cycle) the drained count is always waited for; O(wait) only decides whether to wait for the
    restored count. If anything fails while drained, the original count is still put back.
  - Waits check quickly at first (after 0.1 s, doubling) and then every O(wait_sleep) seconds.
"""

EXAMPLES = r"""
- name: Scale up for resource exhaustion (runbook option 3)
  mataresit.emergency.scale:
    namespace: paperless-maverick
    name: paperless-maverick
    replicas: 6
    incident_dir: /var/lib/incidents/INC-1234

- name: Add three workers, never more than 10
  mataresit.emergency.scale:
    namespace: paperless-maverick
    name: embedding-queue-workers
    replicas: "+3"
    max_replicas: 10

- name: Drain the connection pool (2 replicas for 60 s, then back to the count found)
  mataresit.emergency.scale:
    namespace: paperless-maverick
    name: paperless-maverick
    state: drain_cycle

- name: Put back the count recorded before the incident
  mataresit.emergency.scale:
    namespace: paperless-maverick
    name: paperless-maverick
    state: restore
    incident_dir: /var/lib/incidents/INC-1234
"""

RETURN = r"""
previous_replicas:
  description: The replica count found before this run.
  returned: success
  type: int
  sample: 4
replicas:
  description: The replica count set (for O(state=drain_cycle), the count restored).
  returned: success
  type: int
  sample: 6
bounded:
  description: Whether O(min_replicas) or O(max_replicas) changed the requested count.
  returned: success
  type: bool
  sample: false
autoscaler:
  description:
    - The HorizontalPodAutoscaler that manages the workload (C(name), C(min_replicas), C(max_replicas)), or null.
    - A count outside its range comes with a warning, since the autoscaler will move it back (as it would after
      the runbook's C(kubectl scale)).
  returned: success
  type: dict
  sample: {"name": "paperless-maverick-hpa", "min_replicas": 3, "max_replicas": 10}
drain_replicas:
  description: The drained count.
  returned: state is drain_cycle
  type: int
  sample: 2
steps:
  description: The steps of a drain cycle.
  returned: state is drain_cycle
  type: list
  elements: dict
  sample: [{"replicas": 2}, {"sleep": 60}, {"replicas": 4}]
backup_path:
  description: File in O(incident_dir) recording the replaced count, when one was written.
  returned: success
  type: str
elapsed:
  description: Seconds spent waiting (and draining).
  returned: success
  type: float
  sample: 3.1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import K8S_WAIT_ARG_SPEC, k8s_spec, workload_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import scale
from ansible_collections.mataresit.emergency.plugins.module_utils.workspace import INCIDENT_DIR_ARG_SPEC

ARGUMENT_SPEC = k8s_spec(
    K8S_WAIT_ARG_SPEC, INCIDENT_DIR_ARG_SPEC, workload_spec(["Deployment", "StatefulSet", "ReplicaSet"]),
    state=dict(type="str", default="present", choices=["present", "restore", "drain_cycle"]),
    replicas=dict(type="raw"),
    min_replicas=dict(type="int"),
    max_replicas=dict(type="int"),
    previous_replicas=dict(type="int"),
    drain_replicas=dict(type="int", default=2),
    drain_seconds=dict(type="float", default=60),
)


def main():
    module = AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True, required_if=[("state", "present", ["replicas"])])
    run(module, scale.operation)


if __name__ == "__main__":
    main()
