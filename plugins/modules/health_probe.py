#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: health_probe
short_description: Probe many HTTP health endpoints concurrently and judge latency and status
description:
  - Replaces the runbook's C(curl -f .../health), C(curl -w %{time_total}) loops and
    C(kubectl exec ... curl localhost:3000/health/database) with one call.
  - Probes every target concurrently with one HTTP/1.1 keep-alive client; the O(samples) of one target are
    taken one after another, and their latency (time to the full response, in milliseconds) is summarised as
    min, p50, p95 (linear interpolation between closest ranks) and max.
  - A target is either a direct O(targets[].url) or an in-cluster Service reached through the Kubernetes
    API server's service proxy (O(targets[].service)), which needs no C(kubectl exec) and no network route
    to the cluster; only then are the connection options used.
  - A target is unhealthy when any sample fails to connect (V(refused), V(unreachable), V(timeout), V(tls),
    V(connection)), answers a status outside O(targets[].expected_status) (V(unexpected_status)), lacks
    O(targets[].contains) (V(body_mismatch)), or the latency is over a threshold (V(slow)).
  - Connection failures (refused, unreachable, connect timeout) are retried O(retries) times with
    jittered exponential backoff; nothing else is retried, so a 503 or a slow answer counts as it is.
  - The module only reads, so it reports C(changed=false) and probes in check mode too.
  - Per-target options fall back to the module-level option of the same name.
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
    details: Probing only reads, so the module probes in check mode as well and never reports a change.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  targets:
    description:
      - The endpoints to probe. Each needs exactly one of O(targets[].url) or O(targets[].service).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the target in results and messages; defaults to the URL or C(namespace/service:port/path).
          - Must be unique among the targets.
        type: str
      url:
        description:
          - http(s) URL to GET, for example V(https://api.mataresit.com/health).
          - Redirects are not followed (a 3xx is the answer).
        type: str
      service:
        description:
          - An in-cluster Service to GET through the API server's service proxy
            (C(/api/v1/namespaces/<namespace>/services/<name>:<port>/proxy/<path>)).
          - Needs C(get) permission on C(services/proxy); uses the connection options.
          - When the API server itself cannot be reached or refuses the request (credentials,
            permissions, unknown namespace or Service) the module fails instead of giving a verdict.
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
            description: Service port, as a number or a port name.
            type: raw
            required: true
          path:
            description: Path (and query) to GET on the Service, for example V(/health/database).
            type: str
            default: /
          scheme:
            description: Scheme the API server uses towards the Service.
            type: str
            choices: [http, https]
            default: http
      expected_status:
        description: Status codes that count as healthy (an int or a list). Defaults to O(expected_status).
        type: list
        elements: int
      samples:
        description: Number of requests to time. Defaults to O(samples).
        type: int
      timeout:
        description: Seconds each request may take (connect, and each read). Defaults to O(timeout).
        type: float
      retries:
        description: Retries of a request whose connection failed. Defaults to O(retries).
        type: int
      max_latency_ms:
        description: Unhealthy (V(slow)) when the p95 latency exceeds this. Defaults to O(max_latency_ms).
        type: float
      max_peak_latency_ms:
        description: Unhealthy (V(slow)) when the maximum latency exceeds this. Defaults to O(max_peak_latency_ms).
        type: float
      contains:
        description: Unhealthy (V(body_mismatch)) when a response with an expected status lacks this substring.
        type: str
      validate_certs:
        description: Whether to verify the TLS certificate of an https O(targets[].url).
        type: bool
        default: true
  expected_status:
    description: Status codes that count as healthy, for targets that do not set their own.
    type: list
    elements: int
    default: [200]
  samples:
    description: Requests to time per target, for targets that do not set their own.
    type: int
    default: 1
  timeout:
    description: Seconds each request may take, for targets that do not set their own.
    type: float
    default: 5
  retries:
    description: Retries of a request whose connection failed, for targets that do not set their own.
    type: int
    default: 2
  max_latency_ms:
    description: Threshold on the p95 latency in milliseconds, for targets that do not set their own.
    type: float
  max_peak_latency_ms:
    description: Threshold on the maximum latency in milliseconds, for targets that do not set their own.
    type: float
  fail_on_unhealthy:
    description:
      - Fail the task when any target is unhealthy; the message names each failing target and why.
      - When V(false) (the default) the verdict is only returned in RV(healthy), for the play to decide.
    type: bool
    default: false
notes:
  - Latency is measured from the managed node (usually C(localhost)); through the service proxy it includes
    the API server hop.
requirements:
  - httpx
"""

EXAMPLES = r"""
- name: Verify outage scope (runbook step 1) and response times (10 samples)
  mataresit.emergency.health_probe:
    samples: 10
    max_latency_ms: 500
    targets:
      - url: https://api.mataresit.com/health
      - url: https://app.mataresit.com
      - url: https://api.mataresit.com/health/live
      - url: https://api.mataresit.com/health/ready
  register: health

- name: Database connectivity without kubectl exec, through the API server's service proxy
  mataresit.emergency.health_probe:
    kubeconfig: "{{ cluster_kubeconfig }}"
    context: production
    targets:
      - name: database
        service:
          namespace: paperless-maverick
          name: paperless-maverick-service
          port: 3000
          path: /health/database
        contains: '"ok"'
    fail_on_unhealthy: true

- name: The metrics endpoint answers, and a 503 during maintenance is acceptable for /health
  mataresit.emergency.health_probe:
    targets:
      - url: https://api.mataresit.com/metrics
        contains: embedding_queue_depth
      - url: https://api.mataresit.com/health
        expected_status: [200, 503]
        retries: 0
        timeout: 2
"""

RETURN = r"""
healthy:
  description: Whether every target is healthy.
  returned: always
  type: bool
  sample: false
unhealthy:
  description: Names of the unhealthy targets.
  returned: always
  type: list
  elements: str
  sample: [https://api.mataresit.com/health]
duration_ms:
  description: Wall time of the whole probe in milliseconds.
  returned: always
  type: float
  sample: 48.2
targets:
  description: One result per target, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the target.
      type: str
      sample: https://api.mataresit.com/health
    url:
      description: The URL probed (null for a service target).
      type: str
    service:
      description: The Service probed (null for a URL target).
      type: dict
    proxy_path:
      description: API server path used for a service target.
      type: str
      returned: for service targets
      sample: /api/v1/namespaces/paperless-maverick/services/paperless-maverick-service:3000/proxy/health/database
    healthy:
      description: Verdict for this target.
      type: bool
    error:
      description:
        - The most severe problem seen, or null when healthy. One of V(tls), V(refused), V(unreachable),
          V(timeout), V(connection), V(unexpected_status), V(body_mismatch), V(slow).
      type: str
      sample: unexpected_status
    message:
      description: What was wrong, in words (V(healthy) when nothing was).
      type: str
      sample: status 503 in 10 of 10 samples (expected 200)
    errors:
      description: Number of samples per error kind (V(slow) counts once).
      type: dict
      sample: {"unexpected_status": 10}
    status_codes:
      description: Distinct HTTP status codes seen.
      type: list
      elements: int
      sample: [503]
    expected_status:
      description: Status codes that count as healthy.
      type: list
      elements: int
      sample: [200]
    samples:
      description: Number of samples taken.
      type: int
      sample: 10
    responses:
      description: Number of samples that got an HTTP response.
      type: int
      sample: 10
    retries:
      description: Connection retries made across all samples.
      type: int
      sample: 0
    latency_ms:
      description: Latency statistics in milliseconds over the samples that got a response (null if none did).
      type: dict
      sample: {"min": 1.2, "p50": 1.5, "p95": 3.1, "max": 3.4, "mean": 1.8}
    max_latency_ms:
      description: p95 threshold applied.
      type: float
    max_peak_latency_ms:
      description: Maximum-latency threshold applied.
      type: float
    body:
      description: Start of the last response body, for V(unexpected_status) and V(body_mismatch).
      type: str
      returned: when the status or body was wrong
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import k8s_spec, service_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import health_probe

SERVICE_SPEC = service_spec()

TARGET_SPEC = dict(
    name=dict(type="str"),
    url=dict(type="str"),
    service=dict(type="dict", options=SERVICE_SPEC),
    expected_status=dict(type="list", elements="int"),
    samples=dict(type="int"),
    timeout=dict(type="float"),
    retries=dict(type="int"),
    max_latency_ms=dict(type="float"),
    max_peak_latency_ms=dict(type="float"),
    contains=dict(type="str"),
    validate_certs=dict(type="bool", default=True),
)

ARGUMENT_SPEC = k8s_spec(
    targets=dict(type="list", elements="dict", required=True, options=TARGET_SPEC,
                 mutually_exclusive=[("url", "service")], required_one_of=[("url", "service")]),
    expected_status=dict(type="list", elements="int", default=[200]),
    samples=dict(type="int", default=1),
    timeout=dict(type="float", default=5),
    retries=dict(type="int", default=2),
    max_latency_ms=dict(type="float"),
    max_peak_latency_ms=dict(type="float"),
    fail_on_unhealthy=dict(type="bool", default=False),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), health_probe.operation)


if __name__ == "__main__":
    main()
