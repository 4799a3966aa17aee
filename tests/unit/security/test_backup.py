"""Encrypted backup: round trip, wrong key, tampering, file mode."""
from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils import secret_backup as backup
from tests.unit.security.builders import BACKUP_KEY

PAYLOAD = {"ai-secrets": {"type": "Opaque", "data": {"openai-api-key": "c2stb2xkLXZhbHVl"}}}


def test_round_trip_and_file_is_private_and_value_free(tmp_path):
    path = backup.write(str(tmp_path / "secrets"), "ns", BACKUP_KEY, PAYLOAD,
                        {"namespace": "ns", "secrets": ["ai-secrets"]})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path, encoding="utf-8").read()
    assert "c2stb2xkLXZhbHVl" not in text and "sk-old-value" not in text
    envelope = json.loads(text)
    assert envelope["header"]["secrets"] == ["ai-secrets"]
    assert len(__import__("base64").b64decode(envelope["cipher"]["nonce"])) == 12
    assert backup.read(path, BACKUP_KEY) == PAYLOAD


def test_each_backup_has_its_own_salt_and_nonce():
    one = backup.encrypt(BACKUP_KEY, PAYLOAD, {"namespace": "ns"})
    two = backup.encrypt(BACKUP_KEY, PAYLOAD, {"namespace": "ns"})
    assert one["kdf"]["salt"] != two["kdf"]["salt"] and one["cipher"]["nonce"] != two["cipher"]["nonce"]


def test_wrong_key_is_a_clear_one_line_error(tmp_path):
    path = backup.write(str(tmp_path), "ns", BACKUP_KEY, PAYLOAD, {"namespace": "ns"})
    with pytest.raises(ConfigError) as err:
        backup.read(path, "wrong key")
    message = str(err.value)
    assert message.startswith(f"Failed to decrypt the secret backup {path}: backup_key is not the key")
    assert "\n" not in message and "Traceback" not in message and "InvalidTag" not in message


def test_altered_header_is_detected():
    envelope = backup.encrypt(BACKUP_KEY, PAYLOAD, {"namespace": "ns", "secrets": ["ai-secrets"]})
    envelope["header"]["namespace"] = "other"
    with pytest.raises(ConfigError, match="or the file was altered"):
        backup.decrypt("k", envelope)


@pytest.mark.parametrize("content", ["not json", json.dumps({"header": {}})])
def test_not_a_backup(tmp_path, content):
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="Failed to read"):
        backup.read(str(path), "k")


@pytest.mark.parametrize("key", ["", "k", "correct horse battery", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                 "Short-1x"])
def test_weak_keys_are_refused_before_anything_is_written(tmp_path, key):
    with pytest.raises(ConfigError, match="backup_key: it is too weak .* give at least 24 random characters"):
        backup.write(str(tmp_path / "secrets"), "ns", key, PAYLOAD, {})
    assert not (tmp_path / "secrets").exists()


@pytest.mark.parametrize("key", [BACKUP_KEY, "Tr0ub4dor&3-Horse", "x8Kq2vLm9Zp4Rt7Yw3Nb6Hj1"])
def test_strong_keys_pass(key):
    assert backup.check_backup_key(key) == key


@pytest.mark.parametrize("field, value", [("n", 2 ** 30), ("n", 2), ("n", 3 * 2 ** 14), ("r", 1), ("p", 64),
                                          ("n", "32768"), ("r", None)])
def test_kdf_parameters_of_a_backup_are_checked_before_use(tmp_path, field, value):
    """A tampered backup must not make the restore spend unbounded memory or derive a weak key."""
    path = backup.write(str(tmp_path), "ns", BACKUP_KEY, PAYLOAD, {"namespace": "ns"})
    envelope = json.load(open(path, encoding="utf-8"))
    envelope["kdf"][field] = value
    (tmp_path / "tampered.json").write_text(json.dumps(envelope))
    with pytest.raises(ConfigError, match=f"scrypt parameter {field}=.* is outside what this collection writes"):
        backup.read(str(tmp_path / "tampered.json"), BACKUP_KEY)
