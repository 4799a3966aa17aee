#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: recovery_check
short_description: Validate a recovery in one step - rollouts, workloads, endpoints, queue depth and a load burst
version_added: 0.2.0
description:
  - The runbook's quick check after a recovery as one read-only step, each part done by the service of its own module
    and the independent parts at once.
  - First every Deployment of O(deployments) is waited for until fully rolled out (as M(mataresit.emergency.rollout)
    with O(mataresit.emergency.rollout#module:action=status)); a rollout that does not complete is a failure of the
    check, not of the step.
  - Then, at once, M(mataresit.emergency.triage) of O(namespace) (a workload still crash-looping, not ready or short
    of replicas fails the check; a NotReady node or a Service that no option repairs is reported, not failed),
    M(mataresit.emergency.metrics_probe) with O(metrics), and M(mataresit.emergency.health_probe) of
    O(health_targets) with O(samples) latency samples, followed by a burst of O(load_requests) requests to the first
    target.
  - RV(failures) lists what failed, one line each; RV(passed) is true when nothing did. The step itself fails only
    when a part cannot run at all (bad options, the API unreachable).
author:
  - mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.k8s_auth
  - mataresit.emergency.k8s_auth.WAIT
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.K8S
  - mataresit.emergency.attributes.READ_ONLY
attributes:
  platform:
    platforms: kubernetes
options:
  namespace:
    description:
      - Namespace of the recovered workloads.
    type: str
    required: true
  deployments:
    description:
      - Deployments of O(namespace) to wait for until fully rolled out.
    type: list
    elements: str
    default: []
  health_targets:
    description:
      - Endpoints to probe, each as a target of M(mataresit.emergency.health_probe) (C(name), C(url) or C(service),
        C(expected_status), C(timeout), C(contains), ...).
    type: list
    elements: dict
    default: []
  samples:
    description:
      - Requests per endpoint for the latency percentiles.
    type: int
    default: 5
  max_latency_ms:
    description:
      - An endpoint whose p95 latency is above this is unhealthy.
    type: float
  load_requests:
    description:
      - Requests of the load burst to the first of O(health_targets); V(0) sends none.
    type: int
    default: 0
  metrics:
    description:
      - The metrics to read, as the options of M(mataresit.emergency.metrics_probe) (C(url) or C(service),
        C(names), C(thresholds)); a breach of a threshold fails the check. Omitted, no metrics are read.
    type: dict
notes:
  - Runs the same code as M(mataresit.emergency.rollout), M(mataresit.emergency.triage),
    M(mataresit.emergency.health_probe) and M(mataresit.emergency.metrics_probe); their results are returned whole.
seealso:
  - module: mataresit.emergency.rollout
  - module: mataresit.emergency.triage
  - module: mataresit.emergency.health_probe
  - module: mataresit.emergency.metrics_probe
"""

EXAMPLES = r"""
- name: Validate the recovery of the application and its workers
  mataresit.emergency.recovery_check:
    namespace: paperless-maverick
    deployments: [paperless-maverick, embedding-queue-workers]
    health_targets:
      - {name: api /health, url: "https://api.mataresit.com/health"}
    samples: 10
    max_latency_ms: 500
    load_requests: 20
    metrics:
      service: {namespace: paperless-maverick, name: embedding-worker-service, port: 9091, path: /metrics}
      thresholds:
        embedding_queue_depth: {max: 100}
  register: check

- name: Fail naming what is still wrong
  ansible.builtin.fail:
    msg: "{{ check.failures }}"
  when: not check.passed
"""

RETURN = r"""
passed:
  description: Whether every part of the check passed.
  returned: success
  type: bool
  sample: true
failures:
  description: What failed, one line each.
  returned: success
  type: list
  elements: str
  sample: ["endpoints unhealthy: api /health"]
rollouts:
  description:
    - One result per Deployment of O(deployments), as M(mataresit.emergency.rollout) returns it; one that did not
      complete has C(failed) and C(msg).
  returned: success
  type: list
  elements: dict
triage:
  description: The result of M(mataresit.emergency.triage) for O(namespace).
  returned: success
  type: dict
health:
  description: The result of M(mataresit.emergency.health_probe) for O(health_targets); null without targets.
  returned: success
  type: dict
load:
  description: The result of the load burst (as M(mataresit.emergency.health_probe) returns it); null without one.
  returned: success
  type: dict
metrics:
  description: The result of M(mataresit.emergency.metrics_probe); null without O(metrics).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import K8S_WAIT_ARG_SPEC, k8s_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import recovery_check

ARGUMENT_SPEC = k8s_spec(
    K8S_WAIT_ARG_SPEC,
    namespace=dict(type="str", required=True),
    deployments=dict(type="list", elements="str", default=[]),
    health_targets=dict(type="list", elements="dict", default=[]),
    samples=dict(type="int", default=5),
    max_latency_ms=dict(type="float"),
    load_requests=dict(type="int", default=0),
    metrics=dict(type="dict"),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), recovery_check.operation,
        requires=("httpx", "yaml", "prometheus_client"))


if __name__ == "__main__":
    main()
