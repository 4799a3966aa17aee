#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: recover
short_description: Recover every affected workload of a triage plan, escalating per workload, within guardrails
version_added: 0.1.0
description:
  - Takes the C(findings) of M(mataresit.emergency.triage) (O(plan)) and recovers
    each affected workload or dependency with the runbook's options for its cause - C(rollback) (to the revision the
    finding names), C(restart), C(scale_up), and for a dependency C(recycle_pods) then C(restart) of its pods'
    controller. A workload without a finding is never touched; findings with no option (a NotReady node, a Service
    without endpoints) are returned in RV(reported) for a human.
  - Workloads are recovered in parallel; findings of the same workload in order. Each option is acted on and then
    validated - the rollout completes, the replicas are ready, the replacement pods are Ready - with waits that watch
    the object and fail fast when new pods stay in C(CrashLoopBackOff), C(ImagePullBackOff),
    C(CreateContainerConfigError) or C(OOMKilled) (O(fail_fast_grace)). When the action or its validation fails,
    the next option is tried, until the workload is healthy or every option was tried.
  - Every step is a line of the incident timeline (phase C(recover), with what it did and how it ended, so the
    postmortem lists each action) and what it replaces is recorded in the cluster's part of the workspace, as the
    M(mataresit.emergency.rollout), M(mataresit.emergency.scale), M(mataresit.emergency.container_patch) and
    M(mataresit.emergency.pod_recycle) modules record it (C(playbooks/revert-changes.yml) puts it back).
  - "Guardrails: O(hold) changes nothing; at most O(max_workloads) workloads are changed; at most
    O(max_remediations_per_hour) automatic changes are made on a cluster in any hour, across incidents (counted in
    the workspace root). A limit reached is a warning, a timeline entry and a line of RV(still_broken); beyond the
    hourly limit nothing is changed, so a human must act."
  - A workload that stays broken does not fail the task - RV(recovered) is false and RV(still_broken) says what was
    tried - so that the play can page the next escalation level and write the report before it fails. Bad input and
    an unusable workspace fail at once.
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
    details:
      - The first option of each workload is sent as a server-side dry run (C(dryRun=All)); nothing waits, escalates
        or is recorded.
  diff_mode:
    support: none
  platform:
    platforms: kubernetes
options:
  plan:
    description:
      - The findings to act on, as M(mataresit.emergency.triage) returns them in its C(findings) - C(kind)
        (Deployment, StatefulSet, DaemonSet, ExtraTarget, Service or Node), C(namespace), C(name), C(cause),
        C(options), C(evidence), C(signals), C(rollback_to) and for an ExtraTarget C(label_selector).
      - Names are checked before any request path is built from them.
    type: list
    elements: dict
    required: true
  options_by_cause:
    description:
      - Options to use instead of a finding's own, by cause (C(recent_bad_deploy), C(node_failure),
        C(resource_exhaustion), C(dependency_down), C(unknown)); the key C(oom_killed) applies to findings whose pods
        are OOMKilled and wins over the cause.
      - Options are C(rollback), C(restart), C(scale_up), C(scale_to), C(increase_resources) and C(recycle_pods).
    type: dict
    default: {}
  first_option:
    description:
      - An option to try first on every workload it applies to (the others follow in their order).
    type: str
    choices: ["", rollback, restart, scale_up, scale_to, increase_resources, recycle_pods]
    default: ""
  scale_up_replicas:
    description:
      - Replicas that C(scale_up) sets, by workload name (the runbook's 6 for the app); others are doubled.
      - Never more than O(max_replicas); a workload already there makes C(scale_up) fail, so the next option is tried.
    type: dict
    default: {}
  max_replicas:
    description:
      - The most replicas C(scale_up) sets.
    type: int
    default: 10
  scale_to:
    description:
      - Replicas that C(scale_to) sets, by workload name (the queue backlog's count); never scales down.
    type: dict
    default: {}
  resources:
    description:
      - For C(increase_resources), by workload name, C(container) and C(resources) (C(requests) / C(limits)),
        as M(mataresit.emergency.container_patch) takes them; the values replaced are recorded for the revert.
    type: dict
    default: {}
  reason:
    description:
      - Recorded as the change-cause of rollbacks and restarts.
    type: str
  incident_dir:
    description:
      - The cluster's part of the incident workspace (C(incident_cluster_dir) of the mataresit.emergency.incident role).
      - What each step replaces is recorded there; each step is a line of the incident's timeline; each change is
        counted in the remediation log of the workspace root. Without it nothing is recorded and
        O(max_remediations_per_hour) cannot be applied.
    type: path
  cluster:
    description:
      - Name of the cluster (the inventory host) in the timeline and the remediation log; defaults to the name of
        the O(incident_dir) folder.
    type: str
  hold:
    description:
      - When set, nothing is changed and every workload is reported still broken for this reason (a wave gate that an
        earlier wave did not pass, the cap on clusters); the reason is a warning and a timeline entry.
    type: str
    default: ""
  max_workloads:
    description:
      - At most this many workloads are changed in this run (the first in plan order); the others are left for a
        human. V(0) sets no cap.
    type: int
    default: 0
  max_remediations_per_hour:
    description:
      - At most this many automatic changes on this cluster in any hour, across incidents; when they are used up,
        nothing more is changed. V(0) sets no limit.
    type: int
    default: 0
  job:
    description:
      - The C(ansible_job_id) of this recovery, started by an earlier task in the background (C(async), C(poll=0))
        with the same options. The task waits for it to end and returns its result - or fails with its message -
        as if it had run here; nothing is started again. The other options are not used.
      - The C(p0_outage) role starts the first wave this way before the incident is declared, so the recovery does
        not wait for the declaration's steps, and reports it in the step that always reports the recovery.
    type: str
  job_timeout:
    description: Seconds to wait for O(job) to end (give the C(async) limit it was started with).
    type: int
    default: 3600
  async_dir:
    description:
      - Directory of the background jobs' records, the C(async_dir) O(job) was started with.
      - Can also be set with E(ANSIBLE_ASYNC_DIR).
    type: path
    default: ~/.ansible_async
"""

EXAMPLES = r"""
- name: Assess
  mataresit.emergency.triage:
    namespace: paperless-maverick
    extra_targets:
      - {namespace: database, label_selector: app=postgresql}
  register: triage

- name: Recover each affected workload
  mataresit.emergency.recover:
    plan: "{{ triage.findings }}"
    scale_up_replicas: {paperless-maverick: 6}
    reason: P0 outage recovery
    incident_dir: "{{ incident_cluster_dir }}"
    max_workloads: 4
    max_remediations_per_hour: 6
    fail_fast_grace: 20
  register: recovery

- name: Say what is still broken
  ansible.builtin.debug:
    msg: "{{ recovery.still_broken }}"
  when: not recovery.recovered
"""

RETURN = r"""
recovered:
  description: Whether every workload that was to be recovered is healthy (false in check mode when anything would act).
  returned: success
  type: bool
  sample: true
still_broken:
  description: One line per workload still broken, with what was tried or why nothing was (a guardrail).
  returned: success
  type: list
  elements: str
  sample: ["Deployment shop/web (recent_bad_deploy): tried rollback: ... CrashLoopBackOff ...; restart: ...; scale_up: ..."]
workloads:
  description:
    - Per finding acted on - C(kind), C(namespace), C(name), C(cause), C(evidence), C(options), C(healthy),
      C(recovered_by) (the option that made it healthy), C(held) (a guardrail's reason) and C(steps).
    - Each step has C(option), C(action), C(started), C(elapsed), C(changed), C(ok), C(msg) and what it set
      (C(revision), C(replicas), C(deleted)).
  returned: success
  type: list
  elements: dict
reported:
  description: Findings that no option repairs (NotReady nodes, Services without endpoints), for a human.
  returned: success
  type: list
  elements: dict
limits:
  description: The guardrails that were reached, one sentence each.
  returned: success
  type: list
  elements: str
  sample: ["at most 1 workload(s) may be changed in one run (max_workloads); Deployment shop/worker left for a human"]
summary:
  description: One line per workload - its cause, each option tried and how it ended.
  returned: success
  type: list
  elements: str
  sample: ["Deployment shop/embedding-queue-workers: recent_bad_deploy -> rollback ok -> healthy"]
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import K8S_WAIT_ARG_SPEC, k8s_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import recover

ARGUMENT_SPEC = k8s_spec(
    K8S_WAIT_ARG_SPEC,
    plan=dict(type="list", elements="dict", required=True),
    options_by_cause=dict(type="dict", default={}),
    first_option=dict(type="str", default="", choices=["", "rollback", "restart", "scale_up", "scale_to",
                                                       "increase_resources", "recycle_pods"]),
    scale_up_replicas=dict(type="dict", default={}),
    max_replicas=dict(type="int", default=10),
    scale_to=dict(type="dict", default={}),
    resources=dict(type="dict", default={}),
    reason=dict(type="str"),
    incident_dir=dict(type="path"),
    cluster=dict(type="str"),
    hold=dict(type="str", default=""),
    max_workloads=dict(type="int", default=0),
    max_remediations_per_hour=dict(type="int", default=0),
    job=dict(type="str"),
    job_timeout=dict(type="int", default=3600),
    async_dir=dict(type="path", default="~/.ansible_async", fallback=(env_fallback, ["ANSIBLE_ASYNC_DIR"])),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), recover.operation)


if __name__ == "__main__":
    main()
