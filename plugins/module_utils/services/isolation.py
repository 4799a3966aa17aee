"""Namespace isolation: one default-deny NetworkPolicy (ingress and egress,
every pod) with an allow-list, owned by the collection and reversible. Other
NetworkPolicies in the namespace are never touched."""
from __future__ import annotations

import copy

from ansible_collections.mataresit.emergency.plugins.module_utils import workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, failing_to
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources

MANAGED_BY = "mataresit.emergency"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
NAME_LABEL = "kubernetes.io/metadata.name"


def _namespaces_peer(names):
    return {"namespaceSelector": {"matchExpressions": [{"key": NAME_LABEL, "operator": "In", "values": sorted(names)}]}}


def _ports(ports, protocols=("TCP",)):
    return [{"protocol": proto, "port": port} for port in ports for proto in protocols]


def build_spec(allow_dns=True, dns_namespace="kube-system", monitoring_namespaces=(), monitoring_ports=(),
               evidence_store_cidrs=(), evidence_store_namespaces=(), evidence_store_ports=(),
               allow_same_namespace=False, namespace=None, extra_ingress=(), extra_egress=()):
    """The NetworkPolicy spec: deny everything for every pod, then the allow-list."""
    ingress, egress = [], []
    if allow_dns:
        egress.append({"to": [_namespaces_peer([dns_namespace])], "ports": _ports([53], ("UDP", "TCP"))})
    if monitoring_namespaces:
        rule = {"from": [_namespaces_peer(monitoring_namespaces)]}
        if monitoring_ports:
            rule["ports"] = _ports(monitoring_ports)
        ingress.append(rule)
    peers = [{"ipBlock": {"cidr": cidr}} for cidr in evidence_store_cidrs]
    if evidence_store_namespaces:
        peers.append(_namespaces_peer(evidence_store_namespaces))
    if peers:
        rule = {"to": peers}
        if evidence_store_ports:
            rule["ports"] = _ports(evidence_store_ports)
        egress.append(rule)
    if allow_same_namespace:
        if not namespace:
            raise ConfigError("Failed to build the isolation policy: allow_same_namespace needs the namespace.")
        ingress.append({"from": [{"podSelector": {}}]})
        egress.append({"to": [{"podSelector": {}}]})
    ingress.extend(copy.deepcopy(list(extra_ingress)))
    egress.extend(copy.deepcopy(list(extra_egress)))
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": ingress, "egress": egress}


def build_policy(namespace, name, spec):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {MANAGED_LABEL: MANAGED_BY, "app.kubernetes.io/component": "isolation"},
            "annotations": {"mataresit.emergency/purpose": "emergency namespace isolation (default deny)"},
        },
        "spec": spec,
    }


def _prune(value):
    """Drop empty containers and None so a spec compares equal to the server's echo of it."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def specs_equal(current, desired):
    return _prune(current or {}) == _prune(desired or {})


def is_managed(policy):
    return ((policy.get("metadata") or {}).get("labels") or {}).get(MANAGED_LABEL) == MANAGED_BY


def _summary(policy):
    if not policy:
        return None
    meta = policy.get("metadata") or {}
    return {"metadata": {k: meta.get(k) for k in ("name", "namespace", "labels", "annotations", "resourceVersion",
                                                  "creationTimestamp") if meta.get(k) is not None},
            "spec": policy.get("spec") or {}}


def operation(ctx):
    """The isolation module: make the isolation policy present or absent."""
    client, params = ctx.client, ctx.params
    namespace, name, state = params["namespace"], params["name"], params["state"]
    with failing_to(f"read the network policies of namespace {namespace}"):
        ns_obj, policies = client.parallel([
            lambda: client.get_or_none(resources.path("Namespace", name=namespace)),
            lambda: client.list(resources.path("NetworkPolicy", namespace)),
        ])
    if ns_obj is None:
        raise ConfigError(f"Failed to isolate namespace {namespace}: the namespace does not exist; check the "
                          "namespace name and the kubeconfig context.")
    current = next((p for p in policies if p["metadata"]["name"] == name), None)
    others = sorted(p["metadata"]["name"] for p in policies if p["metadata"]["name"] != name)
    if current is not None and not is_managed(current):
        raise ConfigError(f"Failed to isolate namespace {namespace}: NetworkPolicy {name} exists and is not managed "
                          f"by {MANAGED_BY} (label {MANAGED_LABEL}); choose another 'name', the module never "
                          "changes policies it does not own.")
    result = {"changed": False, "namespace": namespace, "name": name, "previous": _summary(current),
              "untouched_policies": others, "policy": None, "record": None}
    desired = _desired(params) if state == "present" else None
    if (state == "present" and current is not None and specs_equal(current.get("spec"), desired["spec"])) or \
            (state == "absent" and current is None):
        result["policy"] = _summary(current)
        return result
    after = _summary(desired)
    if not ctx.check_mode:  # what is replaced is recorded before it is replaced
        result["record"] = workspace.record(params.get("incident_dir"), workspace.ISOLATION, [namespace, name],
                                            {"action": state, "namespace": namespace, "name": name,
                                             "previous": current, "applied": after})
    if state == "present":
        applied = _apply(client, desired, current, ctx.check_mode)
        result["policy"] = after = _summary(applied)
    else:
        with failing_to(f"delete NetworkPolicy {namespace}/{name}"):
            client.delete(resources.path("NetworkPolicy", namespace, name), dry_run=ctx.check_mode,
                          preconditions={"resourceVersion": current["metadata"]["resourceVersion"]})
    result["changed"] = True
    result["diff"] = {"before": _summary(current) or {}, "after": after or {},
                      "before_header": f"NetworkPolicy {namespace}/{name}", "after_header": f"NetworkPolicy {namespace}/{name}"}
    return result


def _desired(params):
    """The isolation policy the options ask for."""
    namespace, name = params["namespace"], params["name"]
    spec = build_spec(
        allow_dns=params["allow_dns"], dns_namespace=params["dns_namespace"],
        monitoring_namespaces=params["monitoring_namespaces"], monitoring_ports=params["monitoring_ports"],
        evidence_store_cidrs=params["evidence_store_cidrs"],
        evidence_store_namespaces=params["evidence_store_namespaces"],
        evidence_store_ports=params["evidence_store_ports"],
        allow_same_namespace=params["allow_same_namespace"], namespace=namespace,
        extra_ingress=params.get("extra_ingress") or (), extra_egress=params.get("extra_egress") or ())
    return build_policy(namespace, name, spec)


def _apply(client, desired, current, check_mode):
    """Create or replace the policy; return what the API server answered."""
    namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
    with failing_to(f"{'create' if current is None else 'update'} NetworkPolicy {namespace}/{name}"):
        if current is None:
            return client.create(resources.path("NetworkPolicy", namespace), desired, dry_run=check_mode)
        desired["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        desired["metadata"]["labels"] = dict((current["metadata"].get("labels") or {}), **desired["metadata"]["labels"])
        return client.replace(resources.path("NetworkPolicy", namespace, name), desired, dry_run=check_mode)
