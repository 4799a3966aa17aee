"""secret_rotation against the local control plane: backup first, new values, consumers restarted,
re-run after an interruption, restore; no value ever in the module's output."""
from __future__ import annotations

import base64
import os
import time

import pytest
from kubernetes import client as kclient

from ansible_collections.mataresit.emergency.plugins.module_utils import secret_backup as backup
from ansible_collections.mataresit.emergency.plugins.module_utils.services import secret_rotation as rotation

KEY = "integration-backup-key-7f3a"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
CONSUMERS = {"supabase-secrets": {"paperless-maverick", "embedding-queue-workers"},
             "security-secrets": {"paperless-maverick"}, "ai-secrets": {"paperless-maverick", "embedding-queue-workers"}}


def values(k8s, ns, name):
    data = k8s.core.read_namespaced_secret(name, ns).data or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def restarted_at(k8s, ns):
    return {d.metadata.name: (d.spec.template.metadata.annotations or {}).get(RESTARTED_AT)
            for d in k8s.apps.list_namespaced_deployment(ns).items}


def assert_no_values(texts, *value_sets):
    blob = "\n".join(texts)
    for value_set in value_sets:
        for keys in value_set.values():
            for value in keys.values():
                assert value not in blob, "a secret value appears in the module output"
                assert base64.b64encode(value.encode()).decode() not in blob


@pytest.fixture
def deployed(namespace, workload):
    return workload(namespace)["secrets"]


def base_args(kubeconfig, ns, incident_dir, **extra):
    return dict(kubeconfig=kubeconfig, namespace=ns, incident_dir=str(incident_dir), backup_key=KEY,
                wait_timeout=120, wait_sleep=0.5, reason="integration test rotation", **extra)


def run_ok(run_module_output, name, args, check_mode=False, diff=False):
    result, stdout, stderr = run_module_output(name, args, check_mode=check_mode, diff=diff)
    assert not result.get("failed"), result.get("msg")
    assert "Traceback" not in stderr
    return result, [stdout, stderr]


def test_rotate_restart_backup_and_restore(run_module_output, kubeconfig, k8s, namespace, deployed, tmp_path):
    originals = {name: values(k8s, namespace, name) for name in CONSUMERS}
    assert originals["ai-secrets"] == deployed["ai-secrets"]
    supplied = "supplied-openai-key-from-vault-91c2"
    args = base_args(kubeconfig, namespace, tmp_path, secrets=["supabase-secrets"], plan=[
        {"secret": "security-secrets", "key": "jwt-secret", "length": 64, "alphabet": "urlsafe"},
        {"secret": "security-secrets", "key": "api-key-encryption-key", "alphabet": "hex", "length": 32},
        {"secret": "ai-secrets", "key": "openai-api-key", "value": supplied},
        {"secret": "ai-secrets", "key": "gemini-api-key", "action": "keep"},
    ])
    before_restart = restarted_at(k8s, namespace)

    result, output = run_ok(run_module_output, "secret_rotation", args, diff=True)
    assert result["changed"]
    assert result["rotated"] == ["security-secrets", "ai-secrets", "supabase-secrets"]
    rotated = {name: values(k8s, namespace, name) for name in CONSUMERS}
    for key, old in originals["supabase-secrets"].items():
        assert rotated["supabase-secrets"][key] != old and len(rotated["supabase-secrets"][key]) == 32
    jwt = rotated["security-secrets"]["jwt-secret"]
    assert len(jwt) == 64 and jwt != originals["security-secrets"]["jwt-secret"]
    assert set(rotated["security-secrets"]["api-key-encryption-key"]) <= set("0123456789abcdef")
    assert rotated["ai-secrets"] == {"openai-api-key": supplied,
                                     "gemini-api-key": originals["ai-secrets"]["gemini-api-key"]}
    assert {(e["secret"], e["key"]) for e in result["external_rotation_required"]} == {
        ("ai-secrets", "openai-api-key"), ("ai-secrets", "gemini-api-key")}

    after_restart = restarted_at(k8s, namespace)
    assert set(result["restarted"]) == {"paperless-maverick", "embedding-queue-workers"}
    for name in result["restarted"]:
        assert after_restart[name] and after_restart[name] != before_restart[name]
        assert k8s.apps.read_namespaced_deployment(name, namespace).metadata.annotations[
            "kubernetes.io/change-cause"] == "integration test rotation"

    backup_path = result["backup"]
    assert os.path.dirname(backup_path) == str(tmp_path / "secrets")
    assert oct(os.stat(backup_path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(result["state_file"]).st_mode & 0o777) == "0o600"
    decrypted = backup.read(backup_path, KEY)
    for name, old in originals.items():
        assert {k: base64.b64decode(v).decode() for k, v in decrypted[name]["data"].items()} == old
    for path in (backup_path, result["state_file"]):
        assert_no_values([open(path).read()], originals, rotated)

    again, output2 = run_ok(run_module_output, "secret_rotation", args)
    assert not again["changed"] and again["restarted"] == []
    assert {name: values(k8s, namespace, name) for name in CONSUMERS} == rotated

    restored, output3 = run_ok(run_module_output, "secret_rotation", dict(args, state="restored"), diff=True)
    assert restored["changed"] and sorted(restored["restored"]) == sorted(CONSUMERS)
    assert {name: values(k8s, namespace, name) for name in CONSUMERS} == originals
    after_restore = restarted_at(k8s, namespace)
    assert all(after_restore[n] for n in restored["restarted"])
    assert not run_ok(run_module_output, "secret_rotation", dict(args, state="restored"))[0]["changed"]

    assert_no_values(output + output2 + output3, originals, rotated, {"x": {"k": supplied}}, deployed)


def test_check_mode_changes_nothing(run_module_output, kubeconfig, k8s, namespace, deployed, tmp_path):
    def snapshot():
        return ({s.metadata.name: s.metadata.resource_version for s in k8s.core.list_namespaced_secret(namespace).items},
                {d.metadata.name: d.metadata.generation for d in k8s.apps.list_namespaced_deployment(namespace).items})
    before = snapshot()
    result, output = run_ok(run_module_output, "secret_rotation",
                            base_args(kubeconfig, namespace, tmp_path / "inc", secrets=["all"]), check_mode=True)
    assert result["changed"] and "supabase-secrets" in result["rotated"] and result["backup"] is None
    assert set(result["restarted"]) == {"paperless-maverick", "embedding-queue-workers"}
    assert snapshot() == before
    assert not (tmp_path / "inc").exists()
    assert_no_values(output, deployed)


def test_interrupted_rotation_is_finished_by_a_rerun_with_nothing_lost(
        run_module_output, kubeconfig, k8s, namespace, deployed, tmp_path):
    originals = {name: values(k8s, namespace, name) for name in ("supabase-secrets", "ai-secrets")}
    broken = base_args(kubeconfig, namespace, tmp_path, plan=[
        {"secret": "supabase-secrets"}, {"secret": "ai-secrets", "key": "invalid key!"}])
    failed, stdout, stderr = run_module_output("secret_rotation", broken)
    assert failed["failed"] and "Traceback" not in stderr
    assert failed["msg"].startswith(f"Failed to rotate secret {namespace}/ai-secrets:")
    assert "1 secret(s) were rotated before this one (supabase-secrets)" in failed["msg"]
    first = values(k8s, namespace, "supabase-secrets")
    assert first != originals["supabase-secrets"] and values(k8s, namespace, "ai-secrets") == originals["ai-secrets"]
    backups = sorted(os.listdir(tmp_path / "secrets"))

    fixed = base_args(kubeconfig, namespace, tmp_path, plan=[{"secret": "supabase-secrets"}, {"secret": "ai-secrets"}])
    rerun, output = run_ok(run_module_output, "secret_rotation", fixed)
    assert rerun["rotated"] == ["ai-secrets"] and rerun["backup"] is None
    expected = {"supabase-secrets": "already_rotated", "ai-secrets": "rotated"}
    assert {s["name"]: s["action"] for s in rerun["secrets"]} == expected
    assert sorted(os.listdir(tmp_path / "secrets")) == backups  # the original backup was not overwritten
    assert values(k8s, namespace, "supabase-secrets") == first
    assert values(k8s, namespace, "ai-secrets") != originals["ai-secrets"]
    assert set(rerun["restarted"]) == {"paperless-maverick", "embedding-queue-workers"}
    state = rotation.load_state(rerun["state_file"], namespace)
    assert {n: e["status"] for n, e in state["secrets"].items()} == {"supabase-secrets": "done", "ai-secrets": "done"}

    restored, output2 = run_ok(run_module_output, "secret_rotation", dict(fixed, state="restored"))
    assert {name: values(k8s, namespace, name) for name in originals} == originals
    rotated_values = {"s": first, "a": values(k8s, namespace, "ai-secrets")}
    assert_no_values([stdout, stderr] + output + output2, originals, rotated_values)


def test_service_account_tokens_and_helm_secrets_are_skipped(
        run_module, kubeconfig, k8s, namespace, deployed, tmp_path):
    k8s.core.create_namespaced_secret(namespace, kclient.V1Secret(
        metadata=kclient.V1ObjectMeta(name="sh.helm.release.v1.app.v1", labels={"owner": "helm"}),
        type="helm.sh/release.v1", string_data={"release": "H4sIAAAA-helm-release-payload"}))
    k8s.core.create_namespaced_secret(namespace, kclient.V1Secret(
        metadata=kclient.V1ObjectMeta(name="helm-labelled", labels={"owner": "helm"}), string_data={"x": "helm-owned"}))
    k8s.core.create_namespaced_secret(namespace, kclient.V1Secret(
        metadata=kclient.V1ObjectMeta(name="sa-token", annotations={"kubernetes.io/service-account.name": "default"}),
        type="kubernetes.io/service-account-token"))
    deadline = time.monotonic() + 60  # the token controller fills the token in (a write of its own) first
    while not (k8s.core.read_namespaced_secret("sa-token", namespace).data or {}).get("token"):
        assert time.monotonic() < deadline, "the token controller never populated the service-account token"
        time.sleep(0.2)
    versions = {n: k8s.core.read_namespaced_secret(n, namespace).metadata.resource_version
                for n in ("sh.helm.release.v1.app.v1", "helm-labelled", "sa-token")}
    result = run_module("secret_rotation", base_args(kubeconfig, namespace, tmp_path, secrets=["all"],
                                                     restart_consumers=False))
    skipped = {s["name"] for s in result["skipped_secrets"]}
    assert set(versions) <= skipped
    assert not set(versions) & set(result["rotated"]) and "supabase-secrets" in result["rotated"]
    assert {n: k8s.core.read_namespaced_secret(n, namespace).metadata.resource_version for n in versions} == versions
    assert result["restarted"] == []
    assert set(result["consumers_not_restarted"]) == {"paperless-maverick", "embedding-queue-workers"}


def test_restore_with_the_wrong_key_changes_nothing(run_module, kubeconfig, k8s, namespace, deployed, tmp_path):
    run_module("secret_rotation", base_args(kubeconfig, namespace, tmp_path, secrets=["ai-secrets"],
                                            restart_consumers=False))
    rotated = values(k8s, namespace, "ai-secrets")
    result = run_module("secret_rotation", dict(base_args(kubeconfig, namespace, tmp_path, state="restored"),
                                                backup_key="not-the-key"), expect_failure=True)
    assert "backup_key is not the key the backup was written with" in result["msg"]
    assert values(k8s, namespace, "ai-secrets") == rotated


def test_unknown_secret_fails_before_any_change(run_module, kubeconfig, namespace, deployed, tmp_path):
    result = run_module("secret_rotation", base_args(kubeconfig, namespace, tmp_path,
                                                     secrets=["supabase-secrets", "no-such-secret"]),
                        expect_failure=True)
    assert "no-such-secret do not exist" in result["msg"] and not (tmp_path / "secrets").exists()


def test_after_rotation_no_old_value_is_anywhere_in_the_secret(run_module_output, kubeconfig, k8s, namespace, tmp_path):
    """Issue 7: a Secret created as `kubectl apply` does keeps its values in last-applied-configuration; rotation
    must leave no old value in data, stringData, annotations or managedFields, in any encoding."""
    import json
    from urllib.parse import quote

    old = {"db-password": "old-Pa55word/with+odd=chars", "api-token": "old-token-8c1f2e"}
    applied = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": "app-credentials", "namespace": namespace},
               "stringData": old}
    body = kclient.V1Secret(
        metadata=kclient.V1ObjectMeta(name="app-credentials", annotations={
            "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied),
            "ops/previous-token": base64.b64encode(old["api-token"].encode()).decode(), "team": "payments"}),
        string_data=old, type="Opaque")
    k8s.core.create_namespaced_secret(namespace, body, field_manager="kubectl-client-side-apply")

    run_ok(run_module_output, "secret_rotation", base_args(kubeconfig, namespace, tmp_path, secrets=["app-credentials"]))

    raw = k8s.core.read_namespaced_secret("app-credentials", namespace, _preload_content=False).data.decode()
    obj = json.loads(raw)
    assert obj["metadata"].get("managedFields") and set(obj["data"]) == set(old)
    for value in old.values():
        for encoded in (value, base64.b64encode(value.encode()).decode(), base64.urlsafe_b64encode(value.encode()).decode(),
                        quote(value, safe=""), json.dumps(value)[1:-1]):
            assert encoded not in raw, f"an old value is still in the Secret ({encoded[:4]}...)"
    assert obj["metadata"]["annotations"] == {"team": "payments"}
