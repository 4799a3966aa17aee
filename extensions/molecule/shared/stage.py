"""Stage the faults of the molecule scenarios on the local cluster (the scenarios' create step).

    stage.py deploy --namespace NS --db-namespace DB      the reference workload (tools/workload.py)
    stage.py break-app --namespace NS                     roll out a bad image and wait for the crash loop
    stage.py break-db --db-namespace DB                   crash-loop the database pod, then put the image right:
                                                          the pod stays not ready until someone recycles it
    stage.py backlog --namespace NS --depth N             the worker queue holds N jobs (health server)
    stage.py drain-when-scaled --namespace NS --workers W --depth N
                                                          the queue drains to N once the workers are scaled to W
    stage.py overload --namespace NS --latency-ms L --replicas R
                                                          the app answers after L ms until it has R replicas
    stage.py secret-digests --namespace NS                SHA-256 of each Secret's data, as JSON (never the values)
    stage.py delete --namespace NS [NS...]                delete namespaces and wait until they are gone

Developer tooling (not in the built collection): it uses tools/ of the checkout and the kubeconfig of
MRE_KUBECONFIG (default run/cluster/kubeconfig).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient
from tools import localcluster, workload

REPO = Path(__file__).resolve().parents[3]

APP, WORKERS, BAD_APP, BAD_DB = "paperless-maverick", "embedding-queue-workers", "paperless-maverick:v2-bad", "-bad"
KUBECONFIG = os.environ.get("MRE_KUBECONFIG") or str(REPO / "run" / "cluster" / "kubeconfig")


def wait_for(what, check, timeout=120):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"Failed to stage the fault: {what} within {timeout}s")
        time.sleep(0.5)


def crash_looping(client, namespace, selector, image_suffix):
    pods = client.list(f"/api/v1/namespaces/{namespace}/pods", label_selector=selector)
    return any(p["spec"]["containers"][0]["image"].endswith(image_suffix)
               and any((s.get("state") or {}).get("waiting") for s in (p.get("status") or {}).get("containerStatuses") or [])
               for p in pods)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["deploy", "break-app", "break-db", "backlog", "drain-when-scaled",
                                            "overload", "secret-digests", "delete"])
    parser.add_argument("--namespace", nargs="*", default=[])
    parser.add_argument("--db-namespace")
    parser.add_argument("--depth", type=float)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--latency-ms", type=float)
    parser.add_argument("--replicas", type=int)
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args(argv)
    ns = args.namespace[0] if args.namespace else None

    if args.command == "deploy":
        workload.deploy(KUBECONFIG, namespace=ns, db_namespace=args.db_namespace)
        return 0
    if args.command in ("backlog", "drain-when-scaled", "overload"):
        import httpx

        health = localcluster.ensure_up()["health_url"]
        if args.command == "overload":
            httpx.post(f"{health}/control/overload", json={"namespace": ns, "latency_ms": args.latency_ms,
                                                           "until_replicas": args.replicas}).raise_for_status()
            return 0
        control = f"{health}/control/queue_depth"
        if args.command == "drain-when-scaled":
            with K8sClient.from_params({"kubeconfig": KUBECONFIG}) as client:
                path = f"/apis/apps/v1/namespaces/{ns}/deployments/{WORKERS}"
                wait_for(f"{WORKERS} scaled to {args.workers}",
                         lambda: client.get(path)["spec"]["replicas"] >= args.workers, args.timeout)
        httpx.post(control, json={"namespace": ns, "value": args.depth}).raise_for_status()
        return 0
    with K8sClient.from_params({"kubeconfig": KUBECONFIG}) as client:
        if args.command == "break-app":
            client.patch(f"/apis/apps/v1/namespaces/{ns}/deployments/{APP}", {
                "metadata": {"annotations": {"kubernetes.io/change-cause": f"deploy {BAD_APP}"}},
                "spec": {"template": {"spec": {"containers": [{"name": APP, "image": BAD_APP}]}}}},
                patch_type="strategic")
            wait_for(f"{BAD_APP} crash-looping", lambda: crash_looping(client, ns, f"app={APP}", BAD_APP))
        elif args.command == "break-db":
            path = f"/apis/apps/v1/namespaces/{args.db_namespace}/statefulsets/postgresql"

            def image(tag):
                return {"spec": {"template": {"spec": {"containers": [{"name": "postgresql", "image": tag}]}}}}

            client.patch(path, image("postgres:15.8" + BAD_DB), patch_type="strategic")
            wait_for("the database pod crash-looping",
                     lambda: crash_looping(client, args.db_namespace, "app=postgresql", BAD_DB))
            client.patch(path, image("postgres:15.8"), patch_type="strategic")
        elif args.command == "secret-digests":
            secrets = client.list(f"/api/v1/namespaces/{ns}/secrets")
            print(json.dumps({s["metadata"]["name"]: hashlib.sha256(json.dumps(s.get("data") or {}, sort_keys=True)
                                                                    .encode()).hexdigest() for s in secrets}))
        elif args.command == "delete":
            for name in args.namespace:
                if client.get_or_none(f"/api/v1/namespaces/{name}"):
                    client.delete(f"/api/v1/namespaces/{name}")
            wait_for("the namespaces gone",
                     lambda: not any(client.get_or_none(f"/api/v1/namespaces/{n}") for n in args.namespace), args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
