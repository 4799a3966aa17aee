"""Known REST paths for the kinds the collection touches (no discovery), and
the one place a namespace or name is checked before it becomes part of a path."""
from __future__ import annotations

from urllib.parse import quote

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError

# kind -> (API prefix, plural, namespaced)
KINDS = {
    "Namespace": ("api/v1", "namespaces", False),
    "Node": ("api/v1", "nodes", False),
    "Pod": ("api/v1", "pods", True),
    "Service": ("api/v1", "services", True),
    "Endpoints": ("api/v1", "endpoints", True),
    "Event": ("api/v1", "events", True),
    "ConfigMap": ("api/v1", "configmaps", True),
    "Secret": ("api/v1", "secrets", True),
    "ServiceAccount": ("api/v1", "serviceaccounts", True),
    "ResourceQuota": ("api/v1", "resourcequotas", True),
    "LimitRange": ("api/v1", "limitranges", True),
    "PersistentVolumeClaim": ("api/v1", "persistentvolumeclaims", True),
    "Deployment": ("apis/apps/v1", "deployments", True),
    "ReplicaSet": ("apis/apps/v1", "replicasets", True),
    "StatefulSet": ("apis/apps/v1", "statefulsets", True),
    "DaemonSet": ("apis/apps/v1", "daemonsets", True),
    "ControllerRevision": ("apis/apps/v1", "controllerrevisions", True),
    "EndpointSlice": ("apis/discovery.k8s.io/v1", "endpointslices", True),
    "NetworkPolicy": ("apis/networking.k8s.io/v1", "networkpolicies", True),
    "Ingress": ("apis/networking.k8s.io/v1", "ingresses", True),
    "HorizontalPodAutoscaler": ("apis/autoscaling/v2", "horizontalpodautoscalers", True),
    "PodDisruptionBudget": ("apis/policy/v1", "poddisruptionbudgets", True),
    "CronJob": ("apis/batch/v1", "cronjobs", True),
    "Job": ("apis/batch/v1", "jobs", True),
    "Role": ("apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "PriorityClass": ("apis/scheduling.k8s.io/v1", "priorityclasses", False),
    "Lease": ("apis/coordination.k8s.io/v1", "leases", True),
    "PodMetrics": ("apis/metrics.k8s.io/v1beta1", "pods", True),
    "NodeMetrics": ("apis/metrics.k8s.io/v1beta1", "nodes", False),
}

API_VERSIONS = {kind: prefix.split("/", 1)[1] if prefix.startswith("apis/") else "v1" for kind, (prefix, plural_unused, namespaced_unused) in KINDS.items()}


def segment(value, what):
    """A namespace or object name as one path segment; ConfigError for one that cannot be.

    Every name that goes into a request path passes here (an empty name must never turn an object
    request into a request on the whole collection).
    """
    text = str(value) if value is not None else ""
    if not text or text in (".", ".."):
        raise ConfigError(f"Failed to build a request: {what} {text!r} is not a valid name; check '{what}'.")
    return quote(text, safe="")


def path(kind, namespace=None, name=None, subresource=None):
    """REST path of a collection (name None) or an object, optionally a subresource.

    A namespaced kind without a namespace (None) gives the all-namespaces collection.
    """
    try:
        prefix, plural, namespaced = KINDS[kind]
    except KeyError as exc:
        raise ConfigError(f"Failed to build a request: kind '{kind}' is not one the collection knows "
                          f"(known: {', '.join(sorted(KINDS))}).") from exc
    parts = ["", prefix]
    if namespaced and namespace is not None:
        parts += ["namespaces", segment(namespace, "namespace")]
    parts.append(plural)
    if name is not None:
        parts.append(segment(name, "name"))
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


def service_proxy_path(namespace, service, port, path_="/", scheme=""):
    """Path through the API server's service proxy to one Service port."""
    target = f"{scheme + ':' if scheme else ''}{segment(service, 'service')}:{quote(str(port), safe='')}"
    return f"/api/v1/namespaces/{segment(namespace, 'namespace')}/services/{target}/proxy/{path_.lstrip('/')}"


def pod_proxy_path(namespace, pod, port, path_="/"):
    return (f"/api/v1/namespaces/{segment(namespace, 'namespace')}/pods/{segment(pod, 'pod')}:{port}"
            f"/proxy/{path_.lstrip('/')}")
