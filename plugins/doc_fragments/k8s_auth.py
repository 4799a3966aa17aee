# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by the Kubernetes modules, mirroring module_utils/k8s/args.py:
DOCUMENTATION (K8S_AUTH_ARG_SPEC), WAIT (K8S_WAIT_ARG_SPEC), WORKLOAD (workload_spec();
a module adds the `choices` of kind it supports)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file (a C(:)-separated list is merged, first wins), or the kubeconfig as a dict.
      - When neither this nor O(host) is given, E(KUBECONFIG) and then C(~/.kube/config) are used.
      - Can also be set with E(K8S_AUTH_KUBECONFIG).
    type: raw
  context:
    description:
      - The kubeconfig context to use; defaults to the kubeconfig's current-context.
      - Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - API server URL, overriding the kubeconfig's. Can also be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token for the API server. Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate; defaults to the kubeconfig's setting (verify).
      - Can also be set with E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - CA certificate file that signed the API server's certificate. Can also be set with E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Client certificate file. Can also be set with E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Client key file. Can also be set with E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  request_timeout:
    description:
      - Seconds each API request may take.
    type: float
    default: 30
  api_outage_wait:
    description:
      - Seconds to keep retrying, while the API server is down or restarting (connection refused or reset,
        502/503/504), the requests that are safe to repeat - reads, writes guarded by C(resourceVersion) and
        writes that are idempotent by design (scale to a count, undo to a recorded revision, a restart stamp).
      - V(0) fails at once after the few quick retries every request gets.
    type: float
    default: 60
"""

    WAIT = r"""
options:
  wait:
    description:
      - Whether to wait until the change has taken effect (for example the rollout is complete).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait at most; the wait uses a monotonic deadline and reports how long it took.
    type: int
    default: 300
  wait_sleep:
    description:
      - Seconds between checks while waiting. Waits watch the object where the API server serves a watch,
        so a change is seen as it happens; this is then how often the time and the pods are looked at again.
    type: float
    default: 1
  fail_fast_grace:
    description:
      - Seconds the new pods of a rollout may stay in C(CrashLoopBackOff), C(ImagePullBackOff) / C(ErrImagePull),
        C(CreateContainerConfigError) or C(OOMKilled) before the wait fails at once with that cause,
        instead of waiting out O(wait_timeout).
      - Set it to O(wait_timeout) to wait out the deadline whatever the pods do.
    type: float
    default: 15
"""

    WORKLOAD = r"""
options:
  kind:
    description:
      - Kind of the workload.
    type: str
    default: Deployment
  name:
    description:
      - Name of the workload.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the workload.
    type: str
    required: true
"""
