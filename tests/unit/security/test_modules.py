"""The three modules run as Ansible runs them: argument handling and clear failures without a cluster."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils import secret_backup as backup
from ansible_collections.mataresit.emergency.plugins.module_utils.services import secret_rotation as rotation
from tests.unit.security.builders import BACKUP_KEY

# api_outage_wait 0: a refused connection is reported at once instead of waited out as an API server restart
UNREACHABLE = {"host": "https://127.0.0.1:1", "api_key": "unit-test-token-123", "validate_certs": False,
               "request_timeout": 2, "api_outage_wait": 0}


def test_restore_with_wrong_key_fails_cleanly_before_any_request(run_module, tmp_path):
    path = backup.write(str(tmp_path / "secrets"), "ns", BACKUP_KEY, {"s": {"type": "Opaque", "data": {}}},
                        {"namespace": "ns", "secrets": ["s"]})
    rotation.save_state(rotation.state_path(str(tmp_path), "ns"),
                        {"namespace": "ns", "secrets": {"s": {"status": "done", "backup": path}}, "events": []})
    result = run_module("secret_rotation", dict(UNREACHABLE, namespace="ns", incident_dir=str(tmp_path),
                                                backup_key="not-the-right-key", state="restored"),
                        expect_failure=True)
    assert result["failed"]
    assert result["msg"] == (f"Failed to decrypt the secret backup {path}: backup_key is not the key the backup was "
                             "written with (or the file was altered); give the original backup_key.")
    assert "not-the-right-key" not in str(result) and "unit-test-token-123" not in str(result)


def test_restore_without_a_rotation_says_which_directory(run_module, tmp_path):
    result = run_module("secret_rotation", dict(UNREACHABLE, namespace="ns", incident_dir=str(tmp_path),
                                                backup_key="k", state="restored"), expect_failure=True)
    assert "there is no rotation state at" in result["msg"] and str(tmp_path) in result["msg"]


def test_unreachable_api_server_is_one_clear_line(run_module, tmp_path):
    for name, args in [("isolation", {}), ("forensics", {"dest": str(tmp_path)}),
                       ("secret_rotation", {"incident_dir": str(tmp_path), "backup_key": BACKUP_KEY, "secrets": ["s"]})]:
        result = run_module(name, dict(UNREACHABLE, namespace="ns", **args), expect_failure=True)
        assert result["failed"] and "is unreachable" in result["msg"] and "\n" not in result["msg"], name


def test_forensics_needs_a_destination(run_module):
    result = run_module("forensics", dict(UNREACHABLE, namespace="ns"), expect_failure=True)
    assert "one of the following is required: dest, incident_dir" in result["msg"]


def test_plan_values_are_no_log(run_module, tmp_path):
    result = run_module("secret_rotation", dict(UNREACHABLE, namespace="ns", incident_dir=str(tmp_path),
                                                backup_key=BACKUP_KEY,
                                                plan=[{"secret": "s", "key": "k", "value": "supplied-value-xyz"}]),
                        expect_failure=True)
    assert "supplied-value-xyz" not in str(result) and BACKUP_KEY not in str(result)
