"""Known REST paths for the kinds the collection touches (no discovery), and
the one place a namespace or name is checked before it becomes part of a path."""
from __future__ import annotations

import re
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


# What Kubernetes accepts as a name (apimachinery validation): DNS-1123 labels for namespaces and Services,
# DNS-1123 subdomains for most objects, and any path segment for the RBAC kinds ("system:node").
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_KINDS = frozenset({"Namespace", "Service"})
PATH_SEGMENT_KINDS = frozenset({"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})
RULES = {
    "label": (DNS1123_LABEL, 63, "lowercase letters, digits and '-', at most 63 characters, starting and ending "
                                 "with a letter or digit"),
    "subdomain": (DNS1123_SUBDOMAIN, 253, "lowercase letters, digits, '-' and '.', at most 253 characters, "
                                          "starting and ending with a letter or digit"),
    "segment": (re.compile(r"^[^/%]+$"), 253, "no '/' or '%', at most 253 characters"),
}


def valid_name(text, rule="subdomain"):
    """Whether text is a name Kubernetes accepts under rule (label, subdomain or segment)."""
    pattern, limit, _allowed = RULES[rule]
    return isinstance(text, str) and text not in ("", ".", "..") and len(text) <= limit and bool(pattern.fullmatch(text))


def segment(value, what, rule="subdomain"):
    """A namespace or object name checked and quoted as one path segment; ConfigError for one that cannot be.

    Every name that goes into a request path passes here, before any request: an empty or malformed name
    must never turn an object request into a request on a whole collection (or on every namespace).
    `what` names the option to fix; `rule` is label (namespaces, Services), subdomain or segment.
    """
    text = value if isinstance(value, str) else "" if value is None or isinstance(value, bool) else str(value)
    if not valid_name(text, rule):
        allowed = RULES[rule][2]
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ConfigError(f"Failed to build a request: {what} {shown!r} is not a valid Kubernetes name ({allowed}); "
                          f"check '{what}'.")
    return quote(text, safe="")


def namespace_segment(namespace, what="namespace"):
    return segment(namespace, what, "label")


def name_segment(kind, name, what="name"):
    """An object name of a kind, checked by the rule Kubernetes applies to that kind."""
    if kind in LABEL_KINDS:
        return segment(name, "namespace" if kind == "Namespace" and what == "name" else what, "label")
    return segment(name, what, "segment" if kind in PATH_SEGMENT_KINDS else "subdomain")


def path(kind, namespace=None, name=None, subresource=None):
    """REST path of a collection (name None) or an object, optionally a subresource.

    A namespaced kind without a namespace (None, never "") gives the all-namespaces collection.
    """
    try:
        prefix, plural, namespaced = KINDS[kind]
    except KeyError as exc:
        raise ConfigError(f"Failed to build a request: kind '{kind}' is not one the collection knows "
                          f"(known: {', '.join(sorted(KINDS))}).") from exc
    parts = ["", prefix]
    if namespaced and namespace is not None:
        parts += ["namespaces", namespace_segment(namespace)]
    parts.append(plural)
    if name is not None:
        parts.append(name_segment(kind, name))
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


def service_proxy_path(namespace, service, port, path_="/", scheme=""):
    """Path through the API server's service proxy to one Service port."""
    target = f"{scheme + ':' if scheme else ''}{segment(service, 'service', 'label')}:{quote(str(port), safe='')}"
    return f"/api/v1/namespaces/{namespace_segment(namespace)}/services/{target}/proxy/{path_.lstrip('/')}"


def pod_proxy_path(namespace, pod, port, path_="/"):
    return (f"/api/v1/namespaces/{namespace_segment(namespace)}/pods/{segment(pod, 'pod')}:{port}"
            f"/proxy/{path_.lstrip('/')}")
