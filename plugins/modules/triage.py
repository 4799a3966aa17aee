#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: triage
short_description: Assess a namespace and the cluster in one call and name the likely cause of an outage
version_added: 0.1.0
description:
  - Replaces the runbook's assessment commands (C(kubectl get nodes/pods/services), C(rollout history),
    C(logs --tail), C(top nodes/pods), C(describe nodes), C(get events), C(grep -i error)) with one read-only call.
  - Gathers nodes (Ready, MemoryPressure/DiskPressure/PIDPressure, unschedulable); pods (phase, restarts,
    CrashLoopBackOff, ImagePullBackOff/ErrImagePull, CreateContainerConfigError, OOMKilled, not Ready, Pending with
    the scheduler's reason); Services without ready endpoints (EndpointSlices); Deployments (desired, updated, ready,
    available, ProgressDeadlineExceeded) with their rollout history (revision, creation time, images, change-cause);
    the newest warning events; log tails with error-line counts; usage from the metrics API
    (C(/apis/metrics.k8s.io/v1beta1)) when the cluster serves it; and pods of O(extra_targets) such as the database.
  - Lists are paginated (500 items a page) and summarised as they stream, keeping counters and at most
    O(max_samples) example pods per problem class, so a namespace of thousands of pods stays fast and small.
    Independent reads run concurrently; no discovery calls are made.
  - "Returns a verdict with evidence sentences that name the objects, and a recommended action.
    Rules, in order of precedence (the first that matches wins; all that match are in RV(verdict_candidates)):"
  - "1. C(node_failure) (action C(restart)): a node is not Ready and runs pods of the namespace.
    It comes first because a failed node also makes pods not ready, Pending and dependencies unreachable."
  - "2. C(dependency_down) (action C(restart), of the dependency): a required extra target has no ready pod
    (or no pod matches its selector); or a Service of the namespace has no ready endpoint while the Deployments
    its selector picks are fully available (a Service that selects no Deployment is reported, never evidence).
    It comes before a bad deploy because an application that loses its database crash-loops whatever revision it runs."
  - "3. C(recent_bad_deploy) (action C(rollback)): the newest revision of a Deployment is younger than
    O(recent_deploy_window) and pods of its ReplicaSet are crash-looping, failing to pull their image, failing with
    CreateContainerConfigError, OOMKilled or running but not Ready, or its rollout stalled (ProgressDeadlineExceeded)
    without pods Pending for resources. Pods on NotReady nodes are not counted. The target names the revision to
    roll back to; when the Deployment has a single revision there is none and the action is C(none)."
  - "4. C(resource_exhaustion) (action C(scale_up)): pods Pending because the scheduler found insufficient cpu,
    memory or other resources, containers OOMKilled, pressure conditions on nodes running pods of the namespace,
    or (with the metrics API) containers at or above O(usage_threshold) of a limit, or nodes running pods of the
    namespace at or above O(usage_threshold) of their allocatable cpu or memory."
  - "5. C(unknown) (action C(none)): nothing above matched. Problems seen anyway are listed as evidence;
    with none, RV(healthy) is true."
  - "The verdict is the headline. RV(findings) is the plan: one entry per affected workload or dependency, each
    with its cause, evidence and the runbook's options for that cause in the order they are tried (the first is
    its C(action)). A workload that is healthy gets no finding, so nothing acts on it. Per Deployment or
    StatefulSet, the first cause that holds is its cause (the others are in C(also)):"
  - "a. C(recent_bad_deploy) (C(rollback), C(restart), C(scale_up)): as rule 3, for that Deployment; C(rollback) goes
    to its previous revision and is left out when there is none (and for StatefulSets)."
  - "b. C(node_failure) (C(restart), C(scale_up)): it lost ready replicas to NotReady nodes and has fewer than
    desired ready elsewhere (a restart puts the replicas on healthy nodes). A workload with enough ready replicas
    elsewhere is left alone."
  - "c. C(resource_exhaustion) (C(scale_up), C(restart)): its pods are Pending for insufficient resources, OOMKilled,
    or (with the metrics API) at or above O(usage_threshold) of a limit."
  - "d. C(unknown) (C(restart), C(scale_up)): its pods fail otherwise (crash-looping, image pull, config error,
    not Ready once the rollout updated every replica) or its rollout failed, while replicas are missing."
  - "A required extra target without a ready pod is C(dependency_down) with the dependency's procedure
    (C(recycle_pods) - delete its pods that are not ready and wait for Ready replacements - then C(restart) of
    their controller). NotReady nodes running pods of the namespace (with the Deployments that have pods there)
    and Services without ready endpoints in front of available Deployments are findings with action C(none):
    no option of the runbook repairs them, they are reported for a human."
  - Never changes anything, so C(changed) is always false; in check mode it runs the same reads.
author:
  - mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.k8s_auth
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.K8S
  - mataresit.emergency.attributes.READ_ONLY
attributes:
  platform:
    platforms: kubernetes
options:
  namespace:
    description:
      - Namespace to assess (the application's namespace).
    type: str
    required: true
  recent_deploy_window:
    description:
      - How young the newest revision of a Deployment must be for a C(recent_bad_deploy) verdict.
      - Seconds, or a duration such as C(30m), C(1h), C(1h30m).
    type: str
    default: 1h
  max_events:
    description:
      - How many warning events of the namespace to return, newest first (all are counted).
    type: int
    default: 20
  max_samples:
    description:
      - At most this many example pods per problem class (and nodes, services) are returned; counts stay exact.
    type: int
    default: 20
  usage_threshold:
    description:
      - Fraction of a container limit or a node's allocatable at which usage counts as exhausted
        (metrics API only).
    type: float
    default: 0.9
  history_limit:
    description:
      - How many revisions of each Deployment's rollout history to return, newest first.
    type: int
    default: 10
  logs:
    description:
      - Which log tails to read. Without O(logs.pods) and O(logs.deployments), one pod of every Deployment is read
        (a failing pod of the newest ReplicaSet first), up to O(logs.max_pods).
      - Lines containing C(error) (any case) are counted. A crash-looping container's previous instance is read.
    type: dict
    suboptions:
      enabled:
        description: Whether to read log tails at all.
        type: bool
        default: true
      deployments:
        description: Names of Deployments to read one pod's log of.
        type: list
        elements: str
      pods:
        description: Names of pods to read the log of.
        type: list
        elements: str
      tail_lines:
        description: Lines to read from the end of each log.
        type: int
        default: 100
      limit_bytes:
        description: Bytes to read at most from each log.
        type: int
        default: 65536
      max_pods:
        description: Logs of at most this many pods of the namespace (extra targets add one pod each).
        type: int
        default: 5
  extra_targets:
    description:
      - Pods elsewhere that the application depends on, such as the database (C(namespace=database),
        C(label_selector=app=postgresql)) or the ingress controller (C(namespace=kube-system),
        C(label_selector=app=ingress-nginx)).
    type: list
    elements: dict
    default: []
    suboptions:
      namespace:
        description: Namespace of the pods.
        type: str
        required: true
      label_selector:
        description: Label selector of the pods.
        type: str
        required: true
      name:
        description: Name used in the evidence; defaults to C(<namespace>/<label_selector>).
        type: str
      required:
        description: Whether no ready pod here means the dependency is down (C(dependency_down) verdict).
        type: bool
        default: true
      logs:
        description: Whether to read the log tail of one of its pods (a failing one first).
        type: bool
        default: true
  health_targets:
    description:
      - Endpoints to probe while the namespace is read, each as a target of M(mataresit.emergency.health_probe)
        (C(name), C(url) or C(service), C(expected_status), C(timeout), C(contains), ...), so that the runbook's
        health curls and the assessment are one step. The probe's result is RV(health); it never changes the verdict.
    type: list
    elements: dict
    default: []
    version_added: 0.2.0
  health_samples:
    description: Requests per endpoint of O(health_targets) (latency percentiles).
    type: int
    default: 3
    version_added: 0.2.0
notes:
  - Without the metrics API, RV(metrics_available) is false and RV(metrics_reason) says why.
  - Needs list access to pods, replicasets, deployments, services, endpointslices and events of the namespace;
    without list access to nodes, the node facts carry an C(error) instead.
"""

EXAMPLES = r"""
- name: Assess the application namespace, the database and the ingress controller
  mataresit.emergency.triage:
    namespace: paperless-maverick
    extra_targets:
      - {name: database, namespace: database, label_selector: app=postgresql}
      - {name: ingress, namespace: kube-system, label_selector: app=ingress-nginx, required: false}
  register: triage

- name: Show the verdict and its evidence
  ansible.builtin.debug:
    msg: "{{ triage.verdict }} -> {{ triage.recommended_action }}: {{ triage.verdict_evidence }}"

- name: Logs of the application only, 200 lines, with a 30 minute deploy window
  mataresit.emergency.triage:
    namespace: paperless-maverick
    recent_deploy_window: 30m
    logs:
      deployments: [paperless-maverick]
      tail_lines: 200
"""

RETURN = r"""
health:
  description:
    - The probe of O(health_targets), as M(mataresit.emergency.health_probe) returns it (C(healthy), C(unhealthy),
      C(targets) with status codes and latency percentiles).
  returned: when O(health_targets) is given
  type: dict
  version_added: 0.2.0
verdict:
  description: C(recent_bad_deploy), C(resource_exhaustion), C(node_failure), C(dependency_down) or C(unknown).
  returned: success
  type: str
  sample: recent_bad_deploy
verdict_evidence:
  description: Sentences naming the objects that support the verdict (problems seen, for C(unknown)).
  returned: success
  type: list
  elements: str
  sample:
    - "Deployment shop/paperless-maverick revision 2 (ReplicaSet paperless-maverick-6d4f, images
      paperless-maverick=paperless-maverick:v2-bad) was rolled out 3m ago, within the 60m window;
      1 pod(s) of the new ReplicaSet paperless-maverick-6d4f are crash-looping (CrashLoopBackOff): paperless-maverick-6d4f-x2k."
recommended_action:
  description: C(rollback), C(scale_up), C(restart) or C(none).
  returned: success
  type: str
  sample: rollback
verdict_target:
  description: The object the verdict is about (kind, name, namespace; for a bad deploy C(revision) and C(rollback_to)).
  returned: success
  type: dict
  sample: {kind: Deployment, namespace: shop, name: paperless-maverick, revision: 2, rollback_to: 1}
verdict_candidates:
  description: Every rule that matched, in precedence order, each with its verdict, evidence and target.
  returned: success
  type: list
  elements: dict
healthy:
  description: True when no rule matched and no problem was seen.
  returned: success
  type: bool
nodes:
  description: Node counts; NotReady nodes (with how many pods of the namespace they run), pressure, unschedulable.
  returned: success
  type: dict
pods:
  description: Pod counts by phase, readiness, restarts, problem classes with example pods, Pending reasons.
  returned: success
  type: dict
services:
  description: Services with their ready / not-ready endpoint counts and those without a ready endpoint.
  returned: success
  type: dict
deployments:
  description: >-
    Each Deployment's desired/updated/ready/available replicas, rollout state, rollout history (newest first),
    newest revision with its age, previous revision, the pods of its newest ReplicaSet (C(new_pods)) and the
    counts of its pods over all its ReplicaSets (C(pods), with those on NotReady nodes).
  returned: success
  type: list
  elements: dict
statefulsets:
  description: Each StatefulSet's desired/updated/ready/available replicas, rollout state and the counts of its pods.
  returned: success
  type: list
  elements: dict
findings:
  description:
    - One entry per affected workload or dependency (see the rules above), in the order Deployments, StatefulSets,
      extra targets, Services, nodes.
    - Each has C(kind) (Deployment, StatefulSet, ExtraTarget, Service or Node), C(namespace), C(name), C(cause),
      C(also) (other causes that hold), C(evidence), C(signals) (problem classes of its pods), C(action) and
      C(options) (empty for findings reported for a human); Deployments add C(desired), C(revision) and
      C(rollback_to); extra targets add C(label_selector); nodes add C(workloads) with pods on NotReady nodes.
  returned: success
  type: list
  elements: dict
  sample:
    - {kind: Deployment, namespace: shop, name: embedding-queue-workers, cause: recent_bad_deploy, also: [],
       evidence: ["Deployment shop/embedding-queue-workers revision 4 (images worker=w:v2-bad) was rolled out 2m ago;
       3 pod(s) of the new ReplicaSet embedding-queue-workers-5d8 are crash-looping (CrashLoopBackOff)."],
       signals: [crash_loop], action: rollback, options: [rollback, restart, scale_up], desired: 3, revision: 4,
       rollback_to: 3}
    - {kind: Node, namespace: null, name: node-3, cause: node_failure, action: none, options: [],
       evidence: ["Node node-3 is NotReady (NodeStatusUnknown) and runs 1 pod(s) of the assessed workloads."],
       workloads: [embedding-queue-workers]}
events:
  description: Warning events of the namespace, total, counts by reason, and the newest O(max_events).
  returned: success
  type: dict
logs:
  description: Log tails read, each with pod, container, line and error-line counts, error samples and text (or an error).
  returned: success
  type: list
  elements: dict
metrics_available:
  description: Whether the metrics API answered.
  returned: success
  type: bool
metrics_reason:
  description: Why there are no usage figures.
  returned: when metrics_available is false
  type: str
metrics:
  description: Node usage (cores, bytes, percent of allocatable), nodes near capacity, containers near their limits.
  returned: success
  type: dict
extra_targets:
  description: Each extra target's pod and ready counts, phases and example problem pods.
  returned: success
  type: list
  elements: dict
api_requests:
  description: API requests made.
  returned: success
  type: int
duration_seconds:
  description: Time the assessment took.
  returned: success
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import k8s_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import triage

LOGS_SPEC = dict(
    enabled=dict(type="bool", default=True),
    deployments=dict(type="list", elements="str"),
    pods=dict(type="list", elements="str"),
    tail_lines=dict(type="int", default=100),
    limit_bytes=dict(type="int", default=65536),
    max_pods=dict(type="int", default=5),
)

EXTRA_TARGET_SPEC = dict(
    namespace=dict(type="str", required=True),
    label_selector=dict(type="str", required=True),
    name=dict(type="str"),
    required=dict(type="bool", default=True),
    logs=dict(type="bool", default=True),
)


ARGUMENT_SPEC = k8s_spec(
    namespace=dict(type="str", required=True),
    recent_deploy_window=dict(type="str", default="1h"),
    max_events=dict(type="int", default=20),
    max_samples=dict(type="int", default=20),
    usage_threshold=dict(type="float", default=0.9),
    history_limit=dict(type="int", default=10),
    logs=dict(type="dict", options=LOGS_SPEC, apply_defaults=True),
    extra_targets=dict(type="list", elements="dict", options=EXTRA_TARGET_SPEC, default=[]),
    health_targets=dict(type="list", elements="dict", default=[]),
    health_samples=dict(type="int", default=3),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), triage.operation)


if __name__ == "__main__":
    main()
