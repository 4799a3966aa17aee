"""Rotation and restore against a fake API: backup before change, re-run after an interruption, restore."""
from __future__ import annotations

import base64
import json
import os

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ApiError
from ansible_collections.mataresit.emergency.plugins.module_utils import secret_backup as backup
from ansible_collections.mataresit.emergency.plugins.module_utils.services import secret_rotation as rotation
from tests.unit.security.builders import BACKUP_KEY, b64, deployment, secret

OLD = {"ai-secrets": {"openai-api-key": "sk-old-openai-1"}, "security-secrets": {"jwt-secret": "old-jwt-secret-1"}}


def params(tmp_path, **over):
    base = dict(namespace="ns", incident_dir=str(tmp_path), backup_key=BACKUP_KEY, state="rotated", plan=[],
                secrets=["ai-secrets", "security-secrets"], default_rule={"action": "generate", "length": 24,
                                                                          "alphabet": "alnum"},
                restart_consumers=True, reason=None, wait=True, wait_timeout=5, wait_sleep=0.01)
    base.update(over)
    return base


def run(context, params, no_log_values, check_mode=False):
    """One module run of secret_rotation; the secret values it derives go to no_log_values."""
    return rotation.operation(context("secret_rotation", check_mode=check_mode, no_log_values=no_log_values, **params))


@pytest.fixture
def seeded(api):
    for name, data in OLD.items():
        api.add("secrets", secret(name, data))
    api.add("secrets", secret("default-token", {"token": "tok"}, stype="kubernetes.io/service-account-token"))
    api.add("deployments", deployment("app", {"containers": [{"name": "c", "env": [
        {"name": "K", "valueFrom": {"secretKeyRef": {"name": "ai-secrets", "key": "openai-api-key"}}}]}]}))
    api.add("deployments", deployment("worker", {"containers": [{"name": "c", "envFrom": [
        {"secretRef": {"name": "security-secrets"}}]}]}))
    api.add("deployments", deployment("other", {"containers": [{"name": "c"}]}))
    return api


def values(api, name):
    return {k: base64.b64decode(v).decode() for k, v in api.get("secrets", name)["data"].items()}


def restarted(api, name):
    return "kubectl.kubernetes.io/restartedAt" in (api.get("deployments", name)["spec"]["template"]["metadata"]
                                                   .get("annotations") or {})


def test_rotate_backs_up_first_then_rotates_and_restarts_consumers(seeded, context, tmp_path):
    no_log = set()
    result = run(context, params(tmp_path), no_log)
    assert result["changed"] and result["rotated"] == ["ai-secrets", "security-secrets"]
    assert result["restarted"] == ["app", "worker"] and not restarted(seeded, "other")
    for name, old in OLD.items():
        new = values(seeded, name)
        assert new.keys() == old.keys() and all(new[k] != old[k] and len(new[k]) == 24 for k in new)
        assert all(v in no_log for v in new.values())
    assert backup.read(result["backup"], BACKUP_KEY)["ai-secrets"]["data"] == {
        "openai-api-key": b64("sk-old-openai-1")}
    # the backup was written before the first secret update
    first_put = next(i for i, r in enumerate(seeded.requests) if r[0] == "PUT")
    assert os.path.getmtime(result["backup"]) <= os.path.getmtime(result["state_file"])
    assert first_put > 0
    text = json.dumps(result)
    for name in OLD:
        for value in list(values(seeded, name).values()) + list(OLD[name].values()):
            assert value not in text
    again = run(context, params(tmp_path), set())
    assert not again["changed"] and again["rotated"] == [] and again["restarted"] == []
    assert {s["action"] for s in again["secrets"]} == {"already_rotated"}


def test_check_mode_writes_nothing(seeded, context, tmp_path):
    result = run(context, params(tmp_path), set(), check_mode=True)
    assert result["changed"] and result["rotated"] == ["ai-secrets", "security-secrets"]
    assert seeded.writes(dry_run=False) == [] and not os.path.exists(tmp_path / "secrets")
    assert values(seeded, "ai-secrets") == OLD["ai-secrets"]


def test_interrupted_run_is_finished_by_a_rerun_and_restore_brings_back_the_originals(seeded, context, tmp_path):
    broken = params(tmp_path, secrets=[], plan=[{"secret": "ai-secrets"},
                                                {"secret": "security-secrets", "key": "bad key!"}])
    with pytest.raises(ApiError) as err:
        run(context, broken, set())
    message = str(err.value)
    assert message.startswith("Failed to rotate secret ns/security-secrets:")
    assert "1 secret(s) were rotated before this one (ai-secrets)" in message and "re-run" in message
    first_new = values(seeded, "ai-secrets")
    assert first_new != OLD["ai-secrets"] and values(seeded, "security-secrets") == OLD["security-secrets"]
    backups = os.listdir(tmp_path / "secrets")

    rerun = run(context, params(tmp_path), set())
    assert rerun["rotated"] == ["security-secrets"] and rerun["backup"] is None
    assert os.listdir(tmp_path / "secrets") == backups  # the original backup is kept, no new one
    assert values(seeded, "ai-secrets") == first_new  # not rotated twice
    assert rerun["restarted"] == ["app", "worker"]  # the interrupted run's consumers too

    restored = run(context, params(tmp_path, state="restored", secrets=[]), set())
    assert restored["restored"] == ["ai-secrets", "security-secrets"]
    assert all(values(seeded, n) == OLD[n] for n in OLD)
    assert not run(context, params(tmp_path, state="restored", secrets=[]), set())["changed"]


def test_write_applied_but_answer_lost_is_rerun_without_losing_the_originals(seeded, context, tmp_path):
    seeded.lose_response = lambda method, path: path.endswith("/secrets/security-secrets")
    with pytest.raises(ApiError, match="Failed to rotate secret ns/security-secrets"):
        run(context, params(tmp_path), set())
    seeded.lose_response = None
    assert values(seeded, "security-secrets") != OLD["security-secrets"]  # applied, though the run failed
    rerun = run(context, params(tmp_path), set())
    assert rerun["rotated"] == ["security-secrets"] and rerun["backup"] is None
    run(context, params(tmp_path, state="restored"), set())
    assert all(values(seeded, n) == OLD[n] for n in OLD)


def test_restore_with_a_wrong_key_changes_nothing(seeded, context, tmp_path):
    run(context, params(tmp_path), set())
    writes = len(seeded.writes(dry_run=False))
    with pytest.raises(Exception) as err:
        run(context, params(tmp_path, state="restored", backup_key="wrong"), set())
    assert "backup_key is not the key the backup was written with" in str(err.value)
    assert len(seeded.writes(dry_run=False)) == writes


def test_restore_recreates_a_deleted_secret(seeded, context, tmp_path):
    run(context, params(tmp_path), set())
    del seeded.objects[seeded.path("secrets", "ai-secrets")]
    result = run(context, params(tmp_path, state="restored"), set())
    assert values(seeded, "ai-secrets") == OLD["ai-secrets"]
    assert [s["recreated"] for s in result["secrets"] if s["name"] == "ai-secrets"] == [True]


def test_conflict_on_update_is_reported(seeded, context, tmp_path):
    def another_writer(method, path):
        if method == "PUT":
            seeded.add(path, seeded.get(path))  # somebody else wrote it meanwhile
    seeded.before_write = another_writer
    with pytest.raises(ApiError, match="the object has been modified"):
        run(context, params(tmp_path), set())


def test_rotation_leaves_no_old_value_anywhere_in_the_secret(api, context, tmp_path):
    """kubectl's last-applied-configuration (and any annotation copying a value) must not keep the old values."""
    old = {"openai-api-key": "sk-old-openai-1"}
    applied = json.dumps({"apiVersion": "v1", "kind": "Secret", "data": {"openai-api-key": b64("sk-old-openai-1")},
                          "metadata": {"name": "ai-secrets"}})
    api.add("secrets", secret("ai-secrets", old, annotations={"kubectl.kubernetes.io/last-applied-configuration": applied,
                                                              "note": "rotated from sk-old-openai-1", "team": "ai"}))
    api.get("secrets", "ai-secrets")["stringData"] = {"openai-api-key": "sk-old-openai-1"}
    run(context, params(tmp_path, secrets=["ai-secrets"]), set())
    after = json.dumps(api.get("secrets", "ai-secrets"))
    for needle in ("sk-old-openai-1", b64("sk-old-openai-1")):
        assert needle not in after
    assert api.get("secrets", "ai-secrets")["metadata"]["annotations"] == {"team": "ai"}


def test_secrets_left_alone_are_never_reported_under_ansibles_skipped_key(seeded, context, tmp_path):
    """A result key `skipped` makes Ansible report the whole task as skipped (and ignore changed_when)."""
    result = run(context, params(tmp_path, secrets=["all"]), set())
    assert "skipped" not in result and result["changed"]
    assert {s["name"] for s in result["skipped_secrets"]} == {"default-token"}
