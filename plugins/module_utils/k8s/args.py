"""Argument specs shared by the Kubernetes modules, each documented once in
doc_fragments/k8s_auth.py: K8S_AUTH_ARG_SPEC (DOCUMENTATION), K8S_WAIT_ARG_SPEC
(WAIT), workload_spec() (WORKLOAD; each module documents its own kind choices)."""
from __future__ import annotations

from ansible.module_utils.basic import env_fallback

K8S_AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="raw", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
    client_key=dict(type="path", aliases=["key_file"], no_log=False, fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
    request_timeout=dict(type="float", default=30),
    api_outage_wait=dict(type="float", default=60),
)

K8S_WAIT_ARG_SPEC = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=300),
    wait_sleep=dict(type="float", default=1),
    fail_fast_grace=dict(type="float", default=15),
)


def workload_spec(kinds):
    """The workload a module acts on: kind (one of `kinds`, Deployment by default), name and namespace."""
    return dict(
        kind=dict(type="str", default="Deployment", choices=list(kinds)),
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
    )


def service_spec(path="/"):
    """A Service port to reach through the API server's service proxy (health_probe, metrics_probe)."""
    return dict(
        namespace=dict(type="str", required=True),
        name=dict(type="str", required=True),
        port=dict(type="raw", required=True),
        path=dict(type="str", default=path),
        scheme=dict(type="str", choices=["http", "https"], default="http"),
    )


def k8s_spec(*specs, **extra):
    """Compose the connection options with other specs and module options."""
    out = dict(K8S_AUTH_ARG_SPEC)
    for spec in specs:
        out.update(spec)
    out.update(extra)
    return out
