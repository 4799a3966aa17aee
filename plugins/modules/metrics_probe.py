#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: metrics_probe
short_description: Read named samples from a Prometheus metrics endpoint and check thresholds
description:
  - Replaces the runbook's C(kubectl exec ... curl -s localhost:3000/metrics | grep queue_depth).
  - Fetches a Prometheus text exposition from a direct O(url), from a Service through the Kubernetes API
    server's service proxy (O(service)), or from every pod behind that Service through the pod proxy
    (O(all_pods)), and parses it with C(prometheus_client)'s text parser.
  - Returns the samples named in O(names) with their labels and values, and a breach for every sample
    outside O(thresholds).
  - The module only reads, so it reports C(changed=false) and reads in check mode too.
version_added: 0.1.0
author:
  - mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.k8s_auth
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.K8S
attributes:
  check_mode:
    support: full
    details: Reading metrics changes nothing, so the module reads in check mode as well.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  url:
    description:
      - http(s) URL of the metrics endpoint, for example V(https://api.mataresit.com/metrics).
      - Mutually exclusive with O(service).
    type: str
  url_validate_certs:
    description:
      - Whether to verify the TLS certificate of an https O(url).
      - (O(validate_certs) is the connection option for the API server.)
    type: bool
    default: true
  service:
    description:
      - A Service whose metrics to read through the API server's service proxy, using the connection options.
      - Needs C(get) on C(services/proxy) (and on C(services), C(endpointslices), C(pods) and C(pods/proxy)
        with O(all_pods)).
    type: dict
    suboptions:
      namespace:
        description: Namespace of the Service.
        type: str
        required: true
      name:
        description: Name of the Service.
        type: str
        required: true
      port:
        description:
          - Service port, as a number or a port name.
          - With O(all_pods), the pods are read on the target port this Service port maps to.
        type: raw
        required: true
      path:
        description: Path of the metrics endpoint.
        type: str
        default: /metrics
      scheme:
        description: Scheme the API server uses towards the Service or pods.
        type: str
        choices: [http, https]
        default: http
  all_pods:
    description:
      - Read every pod behind O(service) (from its EndpointSlices, ready or not, or else from the pods its
        selector matches) through the pod proxy, concurrently, and report samples per pod.
      - A pod that cannot be read is reported in RV(pods[].error) and RV(errors); the module fails only when
        no pod can be read.
    type: bool
    default: false
  names:
    description:
      - Sample names (V(embedding_jobs_processed_total), V(embedding_processing_duration_seconds_bucket)) or
        metric family names (V(embedding_processing_duration_seconds) selects its buckets, sum and count) to return.
      - Names in O(thresholds) are always included. Without either, every sample is returned.
    type: list
    elements: str
    default: []
  thresholds:
    description:
      - "Bounds per sample or family name, for example C({embedding_queue_depth: {max: 100}}); each sample of that
        name above C(max) or below C(min) is a breach."
    type: dict
    default: {}
  timeout:
    description: Seconds the request (each request with O(all_pods)) may take.
    type: float
    default: 10
  fail_on_breach:
    description: Fail the task when any threshold is breached; the message lists the breaches.
    type: bool
    default: false
requirements:
  - httpx
  - prometheus-client
"""

EXAMPLES = r"""
- name: Check queue depth (runbook embedding backlog step)
  mataresit.emergency.metrics_probe:
    service:
      namespace: paperless-maverick
      name: paperless-maverick-service
      port: 9090
    names: [embedding_queue_depth]
    thresholds:
      embedding_queue_depth: {max: 100}
  register: queue

- name: Size the workers from the depth
  ansible.builtin.debug:
    msg: "queue depth {{ queue.metrics.embedding_queue_depth }}, breached: {{ queue.breaches | length > 0 }}"

- name: Every worker pod's counters, failing over the alert threshold
  mataresit.emergency.metrics_probe:
    service:
      namespace: paperless-maverick
      name: embedding-worker-service
      port: 9091
    all_pods: true
    names: [worker_jobs_processed_total, embedding_processing_duration_seconds]
    thresholds:
      embedding_queue_depth: {max: 100}
    fail_on_breach: true

- name: A metrics URL outside the cluster
  mataresit.emergency.metrics_probe:
    url: https://api.mataresit.com/metrics
    names: [api_quota_usage_percent]
    thresholds:
      api_quota_usage_percent: {max: 80}
"""

RETURN = r"""
source:
  description: Where the metrics were read.
  returned: always
  type: str
  sample: service paperless-maverick/paperless-maverick-service:9090
proxy_path:
  description: API server path used for O(service) without O(all_pods).
  returned: with service and not all_pods
  type: str
samples:
  description: The selected samples (from every pod with O(all_pods), each with its C(pod)).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Sample name.
      type: str
      sample: embedding_queue_depth
    labels:
      description: Sample labels.
      type: dict
      sample: {"queue": "embedding"}
    value:
      description: Sample value (V(NaN), V(+Inf) and V(-Inf) as strings).
      type: raw
      sample: 42.0
    type:
      description: Metric type (counter, gauge, histogram, summary, untyped...).
      type: str
      sample: gauge
    family:
      description: Metric family name (counters without C(_total)).
      type: str
      sample: embedding_queue_depth
    pod:
      description: Pod the sample came from.
      type: str
      returned: with all_pods
metrics:
  description:
    - "C({name: value}) for every sample name that occurs exactly once, for example
      C(result.metrics.embedding_queue_depth) (empty with O(all_pods): see RV(pods[].metrics))."
  returned: always
  type: dict
  sample: {"embedding_queue_depth": 42.0}
missing:
  description: Requested names that matched no sample.
  returned: always
  type: list
  elements: str
  sample: []
breaches:
  description: Samples outside O(thresholds).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "embedding_queue_depth", "labels": {}, "value": 150.0, "bound": "max", "limit": 100.0}]
pods:
  description: One entry per pod read with O(all_pods), sorted by pod name.
  returned: with all_pods
  type: list
  elements: dict
  contains:
    pod:
      description: Pod name.
      type: str
    port:
      description: Pod port read (the Service port's target port).
      type: int
      sample: 9090
    ready:
      description: Whether the endpoint was ready.
      type: bool
    proxy_path:
      description: API server path used for the pod.
      type: str
    error:
      description: Why the pod could not be read, or null.
      type: str
    samples:
      description: The pod's selected samples (as RV(samples), without C(pod)).
      type: list
      elements: dict
    metrics:
      description: "C({name: value}) for the pod's unambiguous sample names."
      type: dict
    missing:
      description: Requested names the pod did not expose.
      type: list
      elements: str
    breaches:
      description: The pod's threshold breaches.
      type: list
      elements: dict
errors:
  description: Pods that could not be read, with the reason.
  returned: with all_pods
  type: list
  elements: str
duration_ms:
  description: Wall time in milliseconds.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import k8s_spec, service_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import metrics_probe

SERVICE_SPEC = service_spec("/metrics")

ARGUMENT_SPEC = k8s_spec(
    url=dict(type="str"),
    url_validate_certs=dict(type="bool", default=True),
    service=dict(type="dict", options=SERVICE_SPEC),
    all_pods=dict(type="bool", default=False),
    names=dict(type="list", elements="str", default=[]),
    thresholds=dict(type="dict", default={}),
    timeout=dict(type="float", default=10),
    fail_on_breach=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(
        ARGUMENT_SPEC,
        mutually_exclusive=[("url", "service")],
        required_one_of=[("url", "service")],
        required_if=[("all_pods", True, ("service",))],
        supports_check_mode=True,
    )
    run(module, metrics_probe.operation, requires=("httpx", "yaml", "prometheus_client"))


if __name__ == "__main__":
    main()
