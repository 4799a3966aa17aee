#!/usr/bin/env python3
"""Deploy the Paperless Maverick reference workload into a cluster.

    python tools/workload.py deploy [--namespace paperless-maverick] [--kubeconfig PATH]

From tools/reference-system (a copy of the production manifests):
namespace, ConfigMaps, Secrets (placeholders replaced by generated test
values), ServiceAccounts, the app Deployment `paperless-maverick` and the
worker Deployment `embedding-queue-workers` (workers/ manifest), Services,
PodDisruptionBudgets and the worker NetworkPolicy. HPAs, the ResourceQuota,
Ingress, CronJob, RBAC and the monitoring CRDs are left out unless full=True:
with no metrics API an HPA only fights the runbook's scaling, and the quota
caps the runbook's scale-ups. Also the runbook's dependencies: a PostgreSQL
StatefulSet labelled app=postgresql in `database` and ingress-nginx pods
labelled app=ingress-nginx in `kube-system`.
"""
from __future__ import annotations

import argparse
import base64
import copy
import json
import re
import secrets
import sys
import time
from pathlib import Path

import yaml

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "tools" / "reference-system" / "kubernetes"
# Apply order: what others reference first.
CORE_KINDS = ["Namespace", "ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment",
              "PodDisruptionBudget", "NetworkPolicy"]
# The reference LimitRange is rejected by the API server (a PVC limit without min/max), so it stays out.
FULL_KINDS = CORE_KINDS + ["HorizontalPodAutoscaler", "ResourceQuota", "Ingress", "CronJob", "Role", "RoleBinding"]
CORE_DEPLOYMENTS = {"paperless-maverick", "embedding-queue-workers"}
# deployment.yaml also holds an older copy of the worker Deployment; workers/ holds the production one.
SKIP = {("deployment.yaml", "Deployment", "embedding-queue-workers")}
PLACEHOLDER = re.compile(r"^<.*>$")


def manifests(full: bool = False):
    """(file, document) pairs of the reference manifests the workload uses."""
    kinds = FULL_KINDS if full else CORE_KINDS
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") not in kinds:
                continue
            if (path.name, doc["kind"], doc["metadata"]["name"]) in SKIP:
                continue
            if doc["kind"] == "Deployment" and not full and doc["metadata"]["name"] not in CORE_DEPLOYMENTS:
                continue
            yield path.name, doc


def _test_secret_values(doc: dict, generated: dict) -> dict:
    doc = copy.deepcopy(doc)
    for field in ("data", "stringData"):
        for key, value in list((doc.get(field) or {}).items()):
            if isinstance(value, str) and PLACEHOLDER.match(value.strip()):
                plain = f"test-{doc['metadata']['name']}-{key}-{secrets.token_hex(12)}"
                generated.setdefault(doc["metadata"]["name"], {})[key] = plain
                doc.setdefault("data", {})[key] = base64.b64encode(plain.encode()).decode()
                if field == "stringData":
                    del doc["stringData"][key]
    return doc


def _retarget(doc: dict, namespace: str) -> dict:
    doc = copy.deepcopy(doc)
    if doc["kind"] == "Namespace":
        doc["metadata"]["name"] = namespace
    elif resources.KINDS[doc["kind"]][2]:
        doc["metadata"]["namespace"] = namespace
    if doc["kind"] == "CronJob":
        doc["spec"]["suspend"] = True
    doc["metadata"].pop("resourceVersion", None)
    return doc


def apply(client: K8sClient, doc: dict) -> dict:
    ns = doc["metadata"].get("namespace")
    path = resources.path(doc["kind"], ns, doc["metadata"]["name"])
    return client.patch(path, json.dumps(doc), patch_type="apply", force=True)


def dependencies(db_namespace: str = "database", with_ingress: bool = True):
    """The runbook's PostgreSQL (app=postgresql) and ingress-nginx (app=ingress-nginx) workloads."""
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": db_namespace}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "postgresql", "namespace": db_namespace,
                                                             "labels": {"app": "postgresql"}},
         "spec": {"selector": {"app": "postgresql"}, "ports": [{"name": "postgres", "port": 5432}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet",
         "metadata": {"name": "postgresql", "namespace": db_namespace, "labels": {"app": "postgresql"}},
         "spec": {"serviceName": "postgresql", "replicas": 1, "selector": {"matchLabels": {"app": "postgresql"}},
                  "template": {"metadata": {"labels": {"app": "postgresql"}},
                               "spec": {"containers": [{"name": "postgresql", "image": "postgres:15.8",
                                                        "ports": [{"containerPort": 5432, "name": "postgres"}]}]}}}},
    ]
    if with_ingress:
        docs.append(
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "ingress-nginx-controller", "namespace": "kube-system", "labels": {"app": "ingress-nginx"}},
             "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ingress-nginx"}},
                      "template": {"metadata": {"labels": {"app": "ingress-nginx"}},
                                   "spec": {"containers": [{"name": "controller",
                                                            "image": "registry.k8s.io/ingress-nginx/controller:v1.11.2",
                                                            "ports": [{"containerPort": 80}, {"containerPort": 443}]}]}}}})
    return docs


def wait_available(client: K8sClient, namespace: str, names, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            dep = client.get(resources.path("Deployment", namespace, name))
            st = dep.get("status") or {}
            want = dep["spec"].get("replicas", 1)
            if (st.get("observedGeneration") == dep["metadata"]["generation"] and st.get("updatedReplicas", 0) == want
                    and st.get("availableReplicas", 0) == want and st.get("readyReplicas", 0) == want):
                pending.discard(name)
        if pending:
            time.sleep(0.5)
    if pending:
        raise SystemExit(f"Failed to deploy the workload: {', '.join(sorted(pending))} in {namespace} "
                         f"not available within {timeout:.0f}s")


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def wait_endpoints(client: K8sClient, namespace: str, timeout: float = 60) -> None:
    """Wait until every Service's EndpointSlices list as ready exactly the Ready pods it selects.

    The endpoint controller follows the pods a moment later; a test that reads the workload right after
    deploy() must find the Services as the pods are.
    """
    deadline = time.monotonic() + timeout
    while True:
        behind = []
        pods = client.list(resources.path("Pod", namespace))
        for svc in client.list(resources.path("Service", namespace)):
            selector = (svc.get("spec") or {}).get("selector")
            if not selector:
                continue
            want = sum(1 for p in pods if _ready(p) and selector.items() <= (p["metadata"].get("labels") or {}).items())
            slices = client.list(resources.path("EndpointSlice", namespace),
                                 label_selector=f"kubernetes.io/service-name={svc['metadata']['name']}")
            ready = len({ep["targetRef"]["name"] for sl in slices for ep in sl.get("endpoints") or []
                         if (ep.get("conditions") or {}).get("ready") and ep.get("targetRef")})
            if ready != want:
                behind.append(svc["metadata"]["name"])
        if not behind:
            return
        if time.monotonic() >= deadline:
            raise SystemExit(f"Failed to deploy the workload: the endpoints of {', '.join(behind)} in {namespace} "
                             f"did not follow the Ready pods within {timeout:.0f}s")
        time.sleep(0.3)


def deploy(kubeconfig: str, namespace: str = "paperless-maverick", db_namespace: str | None = "database",
           full: bool = False, wait: bool = True) -> dict:
    """Deploy; return {'namespace', 'secrets': {secret: {key: plain value}}, 'deployments': [...]}."""
    generated: dict = {}
    with K8sClient.from_params({"kubeconfig": kubeconfig}) as client:
        docs = [_retarget(doc, namespace) for _, doc in manifests(full)]
        docs = [_test_secret_values(d, generated) if d["kind"] == "Secret" else d for d in docs]
        order = FULL_KINDS if full else CORE_KINDS
        docs.sort(key=lambda d: order.index(d["kind"]))
        for doc in docs:
            apply(client, doc)
        deployments = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "Deployment")
        if db_namespace:
            for doc in dependencies(db_namespace, with_ingress=True):
                apply(client, doc)
        if wait:
            wait_available(client, namespace, deployments)
            wait_endpoints(client, namespace)
    return {"namespace": namespace, "secrets": generated, "deployments": deployments}


def main() -> int:
    parser = argparse.ArgumentParser(description="Deploy the reference workload")
    parser.add_argument("command", choices=["deploy"])
    parser.add_argument("--kubeconfig", default=str(REPO / "run" / "cluster" / "kubeconfig"))
    parser.add_argument("--namespace", default="paperless-maverick")
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    result = deploy(args.kubeconfig, args.namespace, full=args.full)
    print(json.dumps({k: v for k, v in result.items() if k != "secrets"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
