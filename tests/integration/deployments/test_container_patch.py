"""container_patch against the local control plane: env and resources, idempotence, check mode, revert."""
from __future__ import annotations

import json

from tests.integration.deployments.helpers import APP, WORKERS, assert_secrets_absent, module_args, rollout_complete

CM_REF = {"configMapKeyRef": {"name": "paperless-maverick-config", "key": "LOG_LEVEL"}}


def container(k8s, ns, name=APP, container_name=APP):
    dep = k8s.apps.read_namespaced_deployment(name, ns)
    return dep, next(c for c in dep.spec.template.spec.containers if c.name == container_name)


def env_dict(c):
    return {e.name: e.value if e.value_from is None else "<ref>" for e in c.env or []}


def test_env_set_idempotent_check_mode_and_revert(app, k8s, run_module, tmp_path):
    ns, incident = app["namespace"], str(tmp_path)
    dep, original = container(k8s, ns)
    original_env = [e.to_dict() for e in original.env]
    args = module_args(app, container=APP, incident_dir=incident,
                       env={"DB_RETRY_ATTEMPTS": 10, "DB_RETRY_DELAY": "5000", "LOG_LEVEL": "debug"})

    checked = run_module("container_patch", args, check_mode=True, diff=True)
    assert checked["changed"] and checked["previous"]["env"]["LOG_LEVEL"] == {"valueFrom": CM_REF}
    assert k8s.apps.read_namespaced_deployment(APP, ns).metadata.resource_version == dep.metadata.resource_version

    result = run_module("container_patch", args)
    assert result["changed"] and result["backup_path"]
    assert result["previous"]["env"] == {"DB_RETRY_ATTEMPTS": None, "DB_RETRY_DELAY": None,
                                         "LOG_LEVEL": {"valueFrom": CM_REF}}
    patched, c = container(k8s, ns)
    env = env_dict(c)
    assert (env["DB_RETRY_ATTEMPTS"], env["DB_RETRY_DELAY"], env["LOG_LEVEL"]) == ("10", "5000", "debug")
    assert [e.name for e in c.env][:len(original_env)] == [e["name"] for e in original_env]  # order kept
    assert rollout_complete(k8s, ns, APP)

    again = run_module("container_patch", args)
    assert again["changed"] is False and again["generation"] == patched.metadata.generation
    assert k8s.apps.read_namespaced_deployment(APP, ns).metadata.generation == patched.metadata.generation

    revert_args = module_args(app, container=APP, incident_dir=incident, state="revert")
    checked = run_module("container_patch", revert_args, check_mode=True)
    assert checked["changed"]
    assert k8s.apps.read_namespaced_deployment(APP, ns).metadata.resource_version == \
        patched.metadata.resource_version
    reverted = run_module("container_patch", revert_args)
    assert reverted["changed"]
    c = container(k8s, ns)[1]
    assert [e.to_dict() for e in c.env] == original_env
    assert rollout_complete(k8s, ns, APP)
    assert run_module("container_patch", revert_args)["changed"] is False
    assert_secrets_absent(app, json.dumps(result), json.dumps(checked), json.dumps(reverted))


def test_secret_reference_is_reported_never_resolved(app, k8s, run_module):
    ns = app["namespace"]
    result = run_module("container_patch", module_args(app, container=APP, env={"SUPABASE_URL": None}),
                        check_mode=True, diff=True)
    assert result["previous"]["env"]["SUPABASE_URL"] == {
        "valueFrom": {"secretKeyRef": {"name": "supabase-secrets", "key": "url"}}}
    assert_secrets_absent(app, json.dumps(result))
    assert "SUPABASE_URL" in env_dict(container(k8s, ns)[1])


def test_worker_resources_and_quantity_equality(app, k8s, run_module, tmp_path):
    ns = app["namespace"]
    args = module_args(app, name=WORKERS, container="embedding-worker", incident_dir=str(tmp_path),
                       resources={"requests": {"cpu": "500m", "memory": "1Gi"},
                                  "limits": {"cpu": "2000m", "memory": "4Gi"}})
    before = container(k8s, ns, WORKERS, "embedding-worker")[1]
    result = run_module("container_patch", args)
    assert result["changed"]
    assert result["previous"]["resources"] == {"requests": {k: before.resources.requests.get(k) for k in ("cpu", "memory")},
                                               "limits": {k: before.resources.limits.get(k) for k in ("cpu", "memory")}}
    c = container(k8s, ns, WORKERS, "embedding-worker")[1]
    assert c.resources.requests == dict(before.resources.requests, cpu="500m", memory="1Gi")  # others kept
    assert c.resources.limits == dict(before.resources.limits, cpu="2", memory="4Gi")  # 2000m is canonicalised
    assert rollout_complete(k8s, ns, WORKERS)
    args["resources"]["limits"] = {"cpu": "2", "memory": "4096Mi"}
    assert run_module("container_patch", args)["changed"] is False
    run_module("container_patch", dict(args, state="revert"))
    c = container(k8s, ns, WORKERS, "embedding-worker")[1]
    assert c.resources.to_dict() == before.resources.to_dict()


def test_unknown_container_fails_clearly(app, run_module):
    result = run_module("container_patch", module_args(app, container="nope", env={"A": "1"}), expect_failure=True)
    assert "container 'nope' is not in the pod template (containers: paperless-maverick)" in result["msg"]
