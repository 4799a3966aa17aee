"""forensics against the local control plane: a private, verifiable bundle with no secret values."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import tarfile

import pytest
import yaml
from kubernetes import client as kclient

YEAR = 400 * 86400  # the simulated containers' log lines are dated 2026-01-01


def read_bundle(path):
    with tarfile.open(path) as tar:
        members = {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers()}
        modes = {m.mode for m in tar.getmembers()}
    return members, modes


def secret_needles(generated):
    for keys in generated.values():
        for value in keys.values():
            yield value.encode()
            yield base64.b64encode(value.encode())


@pytest.fixture
def deployed(namespace, workload, k8s):
    info = workload(namespace)
    jwt = info["secrets"]["security-secrets"]["jwt-secret"]
    # A leak the bundle must not carry: a secret value copied into a ConfigMap.
    k8s.core.create_namespaced_config_map(namespace, kclient.V1ConfigMap(
        metadata=kclient.V1ObjectMeta(name="leaky-config"), data={"JWT_COPY": jwt}))
    return info


def test_bundle_is_private_verified_complete_and_free_of_secret_values(
        run_module_output, kubeconfig, k8s, namespace, deployed, tmp_path):
    result, stdout, stderr = run_module_output("forensics", {"kubeconfig": kubeconfig, "namespace": namespace,
                                                             "incident_dir": str(tmp_path), "since_seconds": YEAR})
    assert not result.get("failed"), result.get("msg")
    path = result["path"]
    assert os.path.dirname(path) == str(tmp_path / "evidence")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path + ".sha256").st_mode) == 0o600
    data = open(path, "rb").read()
    assert hashlib.sha256(data).hexdigest() == result["sha256"]
    assert open(path + ".sha256").read().split() == [result["sha256"], os.path.basename(path)]

    members, modes = read_bundle(path)
    assert modes == {0o600}
    manifest = json.loads(members.pop("manifest.json"))
    assert {f["path"]: (f["sha256"], f["size"]) for f in manifest["files"]} == {
        name: (hashlib.sha256(blob).hexdigest(), len(blob)) for name, blob in members.items()}
    assert result["file_count"] == len(members) + 1 and result["uncompressed_size"] == sum(map(len, members.values()))

    pods = k8s.core.list_namespaced_pod(namespace).items
    for pod in pods:
        for container in pod.spec.containers:
            assert f"logs/{pod.metadata.name}/{container.name}.log" in members
    app_pod = next(p for p in pods if p.metadata.labels.get("app") == "paperless-maverick")
    assert b"server listening" in members[f"logs/{app_pod.metadata.name}/paperless-maverick.log"]
    assert result["log_errors"] == []
    assert members["events.yaml"].count(b"involvedObject") == result["events"] > 0
    for kind_file, name in [("deployments", "paperless-maverick"), ("replicasets", "paperless-maverick-"),
                            ("services", "paperless-maverick-service"), ("pods", app_pod.metadata.name),
                            ("networkpolicies", "embedding-queue-workers-netpol"), ("configmaps", "leaky-config")]:
        assert name.encode() in members[f"objects/{kind_file}.yaml"], kind_file
    assert b"revision: 1" in members["rollout-history.yaml"]
    assert b"jwt-secret" in members["secrets-metadata.yaml"]

    everything = b"\n".join(members.values()) + data
    output = (stdout + stderr).encode()
    for needle in secret_needles(deployed["secrets"]):
        assert needle not in everything, "a secret value is in the bundle"
        assert needle not in output, "a secret value is in the module output"
    assert result["redactions"] >= 1  # the ConfigMap copy


def test_previous_container_logs_of_crashing_pods(run_module, kubeconfig, k8s, namespace, workload, tmp_path):
    import time

    workload(namespace)
    k8s.apps.patch_namespaced_deployment("paperless-maverick", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "paperless-maverick", "image": "paperless-maverick:v2-bad"}]}}}})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        crashing = [p for p in k8s.core.list_namespaced_pod(namespace).items
                    if any((s.restart_count or 0) > 0 for s in p.status.container_statuses or [])]
        if crashing:
            break
        time.sleep(1)
    assert crashing, "the fault injection did not produce a restarting pod"
    result = run_module("forensics", {"kubeconfig": kubeconfig, "namespace": namespace, "dest": str(tmp_path),
                                      "since_seconds": YEAR})
    members, modes_unused = read_bundle(result["path"])
    restarted = [(pod["metadata"]["name"], status["name"])
                 for pod in yaml.safe_load(members["objects/pods.yaml"])["items"]
                 for status in pod["status"].get("containerStatuses") or [] if status.get("restartCount", 0) > 0]
    assert restarted
    for pod, container in restarted:
        # kwok serves previous logs only when configured with a previousLogsFile; otherwise the bundle notes why.
        assert {f"logs/{pod}/{container}.previous.log", f"logs/{pod}/{container}.previous.log.error"} & set(members)
        assert f"logs/{pod}/{container}.log" in members
    assert all(error["previous"] for error in result["log_errors"])


def test_check_mode_writes_nothing(run_module, kubeconfig, namespace, deployed, tmp_path):
    result = run_module("forensics", {"kubeconfig": kubeconfig, "namespace": namespace, "dest": str(tmp_path / "out")},
                        check_mode=True)
    assert result["changed"] and result["sha256"] is None
    assert "events.yaml" in result["files"] and any(f.startswith("logs/") for f in result["files"])
    assert not (tmp_path / "out").exists()


def test_missing_namespace(run_module, kubeconfig, tmp_path, cluster):
    result = run_module("forensics", {"kubeconfig": kubeconfig, "namespace": "no-such-namespace-x2",
                                      "dest": str(tmp_path)}, expect_failure=True)
    assert "the namespace does not exist" in result["msg"] and not os.listdir(tmp_path)


def encodings(value):
    from urllib.parse import quote, quote_plus

    raw = value.encode()
    return {value, base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode(), quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}


def test_secrets_outside_secrets_and_in_any_encoding_stay_out_of_the_bundle(
        run_module_output, kubeconfig, k8s, namespace, deployed, tmp_path):
    """Issue 7: env values named like *PASSWORD*/*TOKEN*/*KEY*, DSNs in ConfigMaps, and the namespace's secret
    values copied in base64, URL-encoded or JSON-escaped form are all masked before anything is written."""
    jwt = deployed["secrets"]["security-secrets"]["jwt-secret"]
    inline = {"DB_PASSWORD": "inline-Pa55/word+1", "API_TOKEN": "inline-token-2b7", "SIGNING_KEY": "inline-key-9e4"}
    dsn_password = "dsn-Pa55word-77"
    k8s.core.create_namespaced_config_map(namespace, kclient.V1ConfigMap(
        metadata=kclient.V1ObjectMeta(name="encoded-copies", annotations={"copied-jwt": quote_plus_of(jwt)}),
        data={"base64": base64.b64encode(jwt.encode()).decode(), "json": json.dumps({"jwt": jwt}),
              "DATABASE_URL": f"postgresql://app:{dsn_password}@db.internal:5432/main",
              "settings.ini": f"[db]\nhost=db\npassword={dsn_password}\n"}))
    k8s.apps.patch_namespaced_deployment("paperless-maverick", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "paperless-maverick", "env": [{"name": k, "value": v} for k, v in inline.items()]}]}}}})

    result, stdout, stderr = run_module_output("forensics", {"kubeconfig": kubeconfig, "namespace": namespace,
                                                             "incident_dir": str(tmp_path), "since_seconds": YEAR})
    assert not result.get("failed"), result.get("msg")
    members, _modes = read_bundle(result["path"])
    everything = b"\n".join(members.values()).decode("utf-8", "replace") + open(result["path"], "rb").read().decode(
        "latin-1")
    output = stdout + stderr
    known = [jwt, dsn_password, *inline.values()]
    known += [v for keys in deployed["secrets"].values() for v in keys.values() if len(v) >= 6]
    for value in known:
        for encoded in encodings(value):
            assert encoded not in everything, "a secret value is in the bundle"
            assert encoded not in output, "a secret value is in the module output"
    # What is evidence stays: the names of the env vars, the DSN's host, the ConfigMap's keys.
    assert "DB_PASSWORD" in members["objects/deployments.yaml"].decode()
    assert "db.internal:5432" in members["objects/configmaps.yaml"].decode()


def quote_plus_of(value):
    from urllib.parse import quote_plus

    return quote_plus(value)
