"""Helpers for the deployments integration tests (effects are checked with the `kubernetes` client)."""
from __future__ import annotations

import time

APP = "paperless-maverick"
WORKERS = "embedding-queue-workers"


def module_args(app, **extra):
    return dict({k: v for k, v in app.items() if not k.startswith("_")}, **extra)


def poll(check, timeout=120, sleep=0.5, what="condition"):
    """Return check()'s first truthy value; fail the test at the deadline (a setup wait, not an assertion on time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s")
        time.sleep(sleep)


def is_ready(pod):
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def live_pods(k8s, namespace, selector):
    return [p for p in k8s.core.list_namespaced_pod(namespace, label_selector=selector).items
            if not p.metadata.deletion_timestamp]


def owned_replicasets(k8s, namespace, deployment):
    dep = k8s.apps.read_namespaced_deployment(deployment, namespace)
    return [rs for rs in k8s.apps.list_namespaced_replica_set(namespace).items
            if any(ref.uid == dep.metadata.uid for ref in rs.metadata.owner_references or [])]


def rollout_complete(k8s, namespace, name):
    dep = k8s.apps.read_namespaced_deployment(name, namespace)
    st = dep.status
    want = dep.spec.replicas
    return (st.observed_generation == dep.metadata.generation and (st.updated_replicas or 0) == want
            and (st.replicas or 0) == want and (st.ready_replicas or 0) == want
            and (st.available_replicas or 0) == want) and dep


def assert_secrets_absent(app, *outputs):
    values = [v for secret in app["_secrets"].values() for v in secret.values()]
    assert values, "the workload generated no secret values to look for"
    text = "\n".join(str(o) for o in outputs)
    leaked = [v for v in values if v in text]
    assert not leaked, f"secret values in module output: {len(leaked)}"
